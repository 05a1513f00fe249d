/**
 * Time as the agent sees it. Timers go through a `Clock` so tests can run
 * minutes of comm-lost and shutdown timing in milliseconds with a fake clock
 * (e.g. `createClock()` from npm @sinonjs/fake-timers, which fits this shape).
 *
 * @module
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** The time source and timers the agent uses. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from `setTimeout`. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: Date.now and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
