/**
 * The idle timeout of a server connection (NUT, NIS): the connection is closed once the client has been
 * silent for the timeout. One timer per silent period, not one per request: re-arming a timer for every
 * poll made V8 grow its heap by 18 MiB in 30 s under 500 polling secondaries (bench/nut.ts). When the
 * timer fires it checks when the client was last heard and, if that was recent, waits for the rest.
 *
 * @module
 */

/** Calls `onIdle` once the client was not heard for `timeoutMs`, until stopped. */
export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #lastHeard = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Starts timing from now. */
  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#arm(timeoutMs);
  }

  /** The client was heard just now. */
  heard(): void {
    this.#lastHeard = performance.now();
  }

  /** Stops the timer for good (the connection ended). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const silentMs = performance.now() - this.#lastHeard;
      if (silentMs >= this.#timeoutMs - 1) this.#onIdle();
      else this.#arm(this.#timeoutMs - silentMs);
    }, ms);
  }
}
