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

/** A timer later than this (ms) means the process did not run: the agent was stalled or the clock jumped. */
export const STALL_THRESHOLD_MS = 2_000;
/** How long a timer that ran that late waits before acting, so the packets queued meanwhile are read first (ms). */
export const STALL_GRACE_MS = 2_000;

/** The real clock: Date.now and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
