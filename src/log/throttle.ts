/**
 * Log throttling: at most one message per key per interval, so a packet
 * flood cannot flood the log. Suppressed messages are counted and the count
 * is reported with the next message that gets through.
 *
 * @module
 */

/** Decides which keyed messages may be logged now. */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { openedAt: number; suppressed: number }>();

  /** Allows one message per key every `intervalMs` (default one minute). */
  constructor(intervalMs = 60_000, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Returns undefined if a message for `key` must be suppressed now, else the
   * number of messages suppressed since the last one that got through.
   */
  admit(key: string): number | undefined {
    const now = this.#now();
    const window = this.#windows.get(key);
    if (window && now - window.openedAt < this.#intervalMs) {
      window.suppressed++;
      return undefined;
    }
    const suppressed = window?.suppressed ?? 0;
    this.#windows.set(key, { openedAt: now, suppressed: 0 });
    return suppressed;
  }
}

/**
 * A token bucket per key: `capacity` messages at once, then one more every
 * `refillMs`. Time comes from the caller (the event's own time), so the
 * limiter has no clock of its own and is pure over its inputs.
 */
export class BurstLimiter {
  readonly #capacity: number;
  readonly #refillMs: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** Allows `capacity` messages per key at once, refilled by one every `refillMs`. */
  constructor(capacity: number, refillMs: number) {
    if (!(capacity >= 1) || !(refillMs > 0)) {
      throw new RangeError(
        `BurstLimiter: capacity must be >= 1 and refillMs > 0, got ${capacity}, ${refillMs}`,
      );
    }
    this.#capacity = capacity;
    this.#refillMs = refillMs;
  }

  /** Tokens of `key` at `now` (without taking one). */
  #refill(key: string, now: number): { tokens: number; at: number } {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#capacity, at: now };
    // A clock that went back refills nothing (and does not go negative).
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#capacity, bucket.tokens + elapsed / this.#refillMs);
    bucket.at = Math.max(bucket.at, now);
    this.#buckets.set(key, bucket);
    return bucket;
  }

  /** True (and one token used) if a message for `key` may go through at `now`. */
  take(key: string, now: number): boolean {
    const bucket = this.#refill(key, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
