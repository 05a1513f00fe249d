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
