/**
 * The packet engine: datagram in, accepted packet out. It runs every
 * datagram through the gate, hands accepted packets on, and counts and logs
 * rejections (at most once per reason per minute).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { Clock } from "../time/clock.ts";
import {
  type AcceptedPacket,
  type GateSettings,
  PacketGate,
  type RejectReason,
  type ReplayCounters,
} from "./gate.ts";

/** Packet counters, for status output and the UI. */
export interface PacketStats {
  /** Packets accepted. */
  readonly accepted: number;
  /** Packets rejected, by reason. */
  readonly rejected: Readonly<Record<RejectReason, number>>;
}

/** Turns datagrams into accepted packets. */
export class PacketEngine {
  readonly #gate: PacketGate;
  readonly #deliver: (packet: AcceptedPacket) => void;
  readonly #logger: Logger;
  readonly #throttle: LogThrottle;

  /** Creates an engine delivering accepted packets to `deliver`. */
  constructor(
    settings: GateSettings,
    deliver: (packet: AcceptedPacket) => void,
    logger: Logger,
    clock: Clock,
  ) {
    this.#gate = new PacketGate(settings);
    this.#deliver = deliver;
    this.#logger = logger;
    this.#throttle = new LogThrottle(60_000, () => clock.now());
  }

  /** Applies new credentials and card list. */
  configure(settings: GateSettings): void {
    this.#gate.configure(settings);
  }

  /** Handles one datagram; `from` is only used in log messages. */
  receive(data: Uint8Array, from?: Deno.NetAddr): void {
    const verdict = this.#gate.check(data);
    if (verdict.accepted) {
      this.#deliver(verdict.packet);
      return;
    }
    const suppressed = this.#throttle.admit(verdict.reason);
    if (suppressed === undefined) return;
    const source = from ? ` from ${from.hostname}:${from.port}` : "";
    const more = suppressed > 0 ? ` (${suppressed} more rejected for this reason since the last report)` : "";
    this.#logger.warn(`packet rejected${source}: ${verdict.reason}: ${verdict.detail}${more}`);
  }

  /** The card's last accepted replay counters. */
  counters(card: string): ReplayCounters | undefined {
    return this.#gate.lastCounters(card);
  }

  /** Moves a card's replay counters forward (after an authenticated kill-power page). */
  advance(card: string, counters: ReplayCounters): void {
    this.#gate.advance(card, counters);
  }

  /** Counters so far. */
  stats(): PacketStats {
    return { accepted: this.#gate.accepted, rejected: this.#gate.rejections() };
  }
}
