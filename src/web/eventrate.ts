/**
 * Rate limits for events a client can cause (failed logins, failed setup attempts, lockouts), so that
 * nobody can fill the event log: at most `perKey` events per key (a source address) and `total` events
 * in all per window; the rest are counted and the count is told with the next event that gets through.
 * Memory stays bounded: at most `maxKeys` keys are remembered (the oldest window is dropped first).
 *
 * @module
 */

/** Answer of {@link EventRateLimit.admit}. */
export type RateDecision =
  | {
    readonly admitted: true; /** Events suppressed for this key since its last admitted one. */
    readonly suppressed: number;
  }
  | { readonly admitted: false };

interface Window {
  openedAt: number;
  count: number;
  suppressed: number;
}

/** Options of an {@link EventRateLimit}. */
export interface EventRateLimitOptions {
  /** Events per key per window (default 5). */
  readonly perKey?: number;
  /** Events in all per window (default 60). */
  readonly total?: number;
  /** Window length (default one minute). */
  readonly windowMs?: number;
  /** Keys remembered at most (default 1000). */
  readonly maxKeys?: number;
  /** Time source. */
  readonly now: () => number;
}

/** A bounded per-key and total event rate limit (see module doc). */
export class EventRateLimit {
  readonly #perKey: number;
  readonly #total: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** Insertion order = window age (a key is re-inserted when its window restarts). */
  readonly #windows = new Map<string, Window>();
  #all: Window = { openedAt: -Infinity, count: 0, suppressed: 0 };

  /** A limit with these options. */
  constructor(options: EventRateLimitOptions) {
    this.#perKey = options.perKey ?? 5;
    this.#total = options.total ?? 60;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 1000;
    this.#now = options.now;
  }

  /** Whether an event for `key` may be raised now (counted either way). */
  admit(key: string): RateDecision {
    const now = this.#now();
    if (now - this.#all.openedAt >= this.#windowMs) this.#all = { openedAt: now, count: 0, suppressed: 0 };
    let window = this.#windows.get(key);
    if (!window || now - window.openedAt >= this.#windowMs) {
      const carried = window?.suppressed ?? 0;
      this.#windows.delete(key);
      while (this.#windows.size >= this.#maxKeys) {
        this.#windows.delete(this.#windows.keys().next().value as string);
      }
      window = { openedAt: now, count: 0, suppressed: carried };
      this.#windows.set(key, window);
    }
    if (window.count >= this.#perKey || this.#all.count >= this.#total) {
      window.suppressed++;
      this.#all.suppressed++;
      return { admitted: false };
    }
    window.count++;
    this.#all.count++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return { admitted: true, suppressed };
  }
}
