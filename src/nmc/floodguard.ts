/**
 * Flood guard: when datagrams no card sends (from addresses that are not
 * configured cards, or longer than any card packet, even from a card's own,
 * possibly spoofed, address) arrive faster than the agent should spend time
 * on (a forged flood), it asks the listener to drop them in the kernel (see
 * `kernelfilter.ts`), and lifts that again once the flood is over, so that
 * ordinary stray traffic stays visible in the log (a NATed card, a wrong
 * address) while a flood costs the agent nothing and never pushes a genuine
 * packet out of the socket's receive queue.
 *
 * While the kernel filter is on, one such datagram in `SAMPLE_ONE_IN` still
 * reaches the agent: the guard counts those to see when the flood ends.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../time/clock.ts";

/** Unwanted datagrams in one 100 ms window that start the kernel filter (2000/s). */
export const FLOOD_START_PER_WINDOW = 200;
/** The window, ms. */
export const FLOOD_WINDOW_MS = 100;
/** While filtering, one unwanted datagram in this many still reaches the agent (a power of two). */
export const SAMPLE_ONE_IN = 256;
/** How often the guard looks at the sampled rate while filtering, ms. */
export const FLOOD_CHECK_MS = 10_000;
/** The filter is lifted after this long below half the start rate, ms. */
export const FLOOD_QUIET_MS = 30_000;
/** After the kernel filter could not be set, the guard tries again after this long, ms. */
export const RETRY_AFTER_FAILURE_MS = 60_000;

/** A refused datagram no card would send: what the guard counts. */
export interface UnwantedDatagram {
  /** Its source address. */
  readonly source: string;
  /** Why no card sent it: from an address that is not a card's, or longer than any card packet. */
  readonly reason: "unknown-source" | "oversize";
  /** Its length, bytes. */
  readonly bytes: number;
}

/** One datagram as the reports name it (pure). */
function describe(datagram: UnwantedDatagram): string {
  return datagram.reason === "oversize"
    ? `${datagram.bytes} bytes from ${datagram.source}, longer than any NMC packet`
    : `from ${datagram.source}, not an NMC address`;
}

/** What the guard does to the outside. */
export interface FloodGuardPorts {
  /** Time source. */
  readonly clock: Clock;
  /** Turns the kernel filter on (sampling one in `SAMPLE_ONE_IN`) or off; returns an error text. */
  filter(on: boolean): string | undefined;
  /** Says what happened (flood started, ended, could not be filtered). */
  report(kind: "started" | "ended" | "unfiltered", text: string): void;
}

/** Watches the rate of unwanted datagrams and switches the kernel filter. */
export class FloodGuard {
  readonly #ports: FloodGuardPorts;
  #windowStart = 0;
  #inWindow = 0;
  #active = false;
  #sampled = 0;
  #droppedEstimate = 0;
  #quietMs = 0;
  #activeSince = 0;
  #retryAt = 0;
  #timer: TimerHandle | undefined;
  /** The last one seen (described only when a report names it: `note` is on the flood's path). */
  #lastSeen: UnwantedDatagram | undefined;

  /** Creates a guard (inactive). */
  constructor(ports: FloodGuardPorts) {
    this.#ports = ports;
  }

  /** True while foreign datagrams are dropped in the kernel. */
  get active(): boolean {
    return this.#active;
  }

  /** Called for every unwanted datagram the agent itself sees. */
  note(datagram: UnwantedDatagram): void {
    this.#lastSeen = datagram;
    if (this.#active) {
      this.#sampled++;
      return;
    }
    const now = this.#ports.clock.now();
    if (now - this.#windowStart >= FLOOD_WINDOW_MS) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (++this.#inWindow < FLOOD_START_PER_WINDOW || now < this.#retryAt) return;
    const error = this.#ports.filter(true);
    if (error !== undefined) {
      this.#retryAt = now + RETRY_AFTER_FAILURE_MS;
      this.#ports.report(
        "unfiltered",
        `more than ${(FLOOD_START_PER_WINDOW * 1000) / FLOOD_WINDOW_MS} datagrams/s that no NMC sends ` +
          `(e.g. ${
            describe(datagram)
          }); they cannot be dropped in the kernel (${error}), so the agent drops them itself`,
      );
      return;
    }
    this.#active = true;
    this.#activeSince = now;
    this.#sampled = 0;
    this.#droppedEstimate = 0;
    this.#quietMs = 0;
    this.#ports.report(
      "started",
      `more than ${(FLOOD_START_PER_WINDOW * 1000) / FLOOD_WINDOW_MS} datagrams/s that no NMC sends ` +
        `(e.g. ${describe(datagram)}): dropping them in the kernel until the flood ends`,
    );
    this.#timer = this.#ports.clock.setTimeout(() => this.#check(), FLOOD_CHECK_MS);
  }

  /** Lifts the kernel filter (config change, stop) without waiting for the flood to end. */
  reset(): void {
    if (this.#timer !== undefined) this.#ports.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#active) this.#ports.filter(false);
    this.#active = false;
  }

  #check(): void {
    this.#timer = undefined;
    if (!this.#active) return;
    const estimate = this.#sampled * SAMPLE_ONE_IN;
    this.#droppedEstimate += estimate;
    this.#sampled = 0;
    const perSecond = estimate / (FLOOD_CHECK_MS / 1000);
    this.#quietMs = perSecond < (FLOOD_START_PER_WINDOW * 1000) / FLOOD_WINDOW_MS / 2
      ? this.#quietMs + FLOOD_CHECK_MS
      : 0;
    if (this.#quietMs < FLOOD_QUIET_MS) {
      this.#timer = this.#ports.clock.setTimeout(() => this.#check(), FLOOD_CHECK_MS);
      return;
    }
    this.#active = false;
    this.#ports.filter(false);
    const seconds = Math.round((this.#ports.clock.now() - this.#activeSince) / 1000);
    this.#ports.report(
      "ended",
      `the flood of datagrams no NMC sends (last seen: ${
        this.#lastSeen ? describe(this.#lastSeen) : "none"
      }) ended; about ` +
        `${this.#droppedEstimate} datagrams were dropped in the kernel over ${seconds} s`,
    );
  }
}
