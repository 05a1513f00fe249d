/**
 * Timing a disk in real time: a write that does not finish is reported once, and a caller that must not wait
 * for a hung disk (a stop) waits a bounded time. The timers are taken at load, before a test's fake clock can
 * replace them: a disk stalls in real time.
 *
 * @module
 */

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** How long a write may take before it is reported as stalled. */
export const STALL_REPORT_MS = 10_000;

/**
 * Runs `operation`, telling `onStall` once if it has not finished after `stallMs`; resolves with the error it
 * failed with, or undefined. Never rejects.
 */
export async function watchedWrite(
  operation: () => Promise<void>,
  stallMs: number,
  onStall: (ms: number) => void,
): Promise<Error | undefined> {
  const timer = realSetTimeout(() => onStall(stallMs), stallMs);
  Deno.unrefTimer(timer);
  try {
    await operation();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  } finally {
    realClearTimeout(timer);
  }
}

/** What `work` resolves with, or `fallback` if it has not after `timeoutMs` (real time; a rejection is `fallback` too). */
export async function resultWithin<T>(work: Promise<T>, timeoutMs: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve) => timer = realSetTimeout(() => resolve(fallback), timeoutMs));
  try {
    return await Promise.race([work.catch(() => fallback), late]);
  } finally {
    realClearTimeout(timer);
  }
}

/** Resolves true when `done` settles within `timeoutMs` (real time), else false. Never rejects. */
export function settledWithin(done: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return resultWithin(done.then(() => true, () => true), timeoutMs, false);
}
