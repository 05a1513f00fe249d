/**
 * The packet engine: datagram in, accepted packet out. It runs every
 * datagram through the gate, hands accepted packets on, counts and logs
 * rejections (at most once per reason per minute), keeps the cards' replay
 * counters saved across restarts, and reports cards whose counters went back.
 *
 * Saving: the first accepted packet after a quiet second is saved at once
 * (a card sends one every 25 s, so normally every packet is saved when it
 * arrives); packets closer together than `SAVE_INTERVAL_MS` are saved
 * together at the end of that interval, so a flood of valid packets costs
 * at most one write a second. A restart can therefore re-accept at most the
 * packets of the last second before a SIGKILL or power loss.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import { formatCounters } from "./counters.ts";
import type { UnwantedDatagram } from "./floodguard.ts";
import type { CounterStore } from "./counterstore.ts";
import {
  type AcceptedPacket,
  type CardCounterStatus,
  type CounterNotice,
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
  /** Accepted packets that carried unsigned data after `MD=` (ignored). */
  readonly unsignedIgnored: number;
}

/** Optional parts of the engine. */
export interface PacketEngineOptions {
  /** Publishes events about the cards' counters (stuck, reset, not saved). */
  readonly emit?: (draft: EventDraft) => void;
  /** Where the counters survive a restart (none: they start empty). */
  readonly store?: CounterStore;
  /** Told of every datagram refused for its source address or its length (the flood guard counts them). */
  readonly onUnwanted?: (datagram: UnwantedDatagram) => void;
}

/** Saves are at least this far apart. */
export const SAVE_INTERVAL_MS = 1000;

const STUCK_HINT = "if the card was rebooted or replaced, run `pcns-agent counters reset --card <ip>` " +
  "(or Reset counters in the web UI); otherwise someone is replaying recorded packets";

/** Turns datagrams into accepted packets. */
export class PacketEngine {
  readonly #gate: PacketGate;
  readonly #deliver: (packet: AcceptedPacket) => void;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #throttle: LogThrottle;
  readonly #emit: (draft: EventDraft) => void;
  readonly #store: CounterStore | undefined;
  readonly #onUnwanted: ((datagram: UnwantedDatagram) => void) | undefined;
  #unsignedIgnored = 0;
  #lastSaveAt = Number.NEGATIVE_INFINITY;
  #saveTimer: TimerHandle | undefined;
  #saveFailing = false;

  /** Creates an engine delivering accepted packets to `deliver`; loads saved counters from the store. */
  constructor(
    settings: GateSettings,
    deliver: (packet: AcceptedPacket) => void,
    logger: Logger,
    clock: Clock,
    options: PacketEngineOptions = {},
  ) {
    this.#gate = new PacketGate(settings);
    this.#deliver = deliver;
    this.#logger = logger;
    this.#clock = clock;
    this.#throttle = new LogThrottle(60_000, () => clock.now());
    this.#emit = options.emit ?? (() => {});
    this.#store = options.store;
    this.#onUnwanted = options.onUnwanted;
    this.#load();
  }

  /** Applies new credentials and card list. */
  configure(settings: GateSettings): void {
    this.#gate.configure(settings);
  }

  /** Handles one datagram; `from` is only used in log messages. */
  receive(data: Uint8Array, from?: Deno.NetAddr): void {
    const result = this.#gate.check(data, this.#clock.now(), from?.hostname);
    if (result.notice) this.#announce(result.notice);
    if (result.accepted) {
      if (result.packet.unsignedTrailer) this.#reportUnsigned(result.packet.card, from);
      try {
        this.#deliver(result.packet); // first: the save is queued, but its JSON is not on the way to the events
      } finally {
        this.#scheduleSave();
      }
      return;
    }
    if ((result.reason === "unknown-source" || result.reason === "oversize") && from) {
      this.#onUnwanted?.({ source: from.hostname, reason: result.reason, bytes: data.length });
    }
    this.#log(result.reason, `${result.reason}: ${result.detail}`, from);
  }

  /** The card's last accepted replay counters. */
  counters(card: string): ReplayCounters | undefined {
    return this.#gate.lastCounters(card);
  }

  /** A card's counters and, while its packets are refused as replayed, why. */
  cardCounters(card: string): CardCounterStatus {
    return this.#gate.status(card, this.#clock.now());
  }

  /** Moves a card's replay counters forward (after an authenticated kill-power page). */
  advance(card: string, counters: ReplayCounters): void {
    this.#gate.advance(card, counters);
    this.#scheduleSave();
  }

  /**
   * Forgets the counters of `card` (or of every card): the next authenticated
   * packet is accepted whatever its counters. `by` says who asked (event text).
   * Returns the cards reset.
   */
  resetCounters(card: string | undefined, by: string): string[] {
    const cards = this.#gate.reset(card);
    for (const c of cards) {
      this.#emit({
        id: "CardCountersReset",
        nmc: c,
        note: `reset by ${by}: the next authenticated packet is accepted whatever its SR/SU`,
      });
    }
    if (cards.length > 0) this.#saveNow();
    return cards;
  }

  /** Saves pending counters now (at stop). */
  flush(): void {
    if (this.#saveTimer !== undefined) {
      this.#clock.clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      this.#saveNow();
    }
  }

  /** Counters so far. */
  stats(): PacketStats {
    return {
      accepted: this.#gate.accepted,
      rejected: this.#gate.rejections(),
      unsignedIgnored: this.#unsignedIgnored,
    };
  }

  #log(key: string, text: string, from?: Deno.NetAddr): void {
    const suppressed = this.#throttle.admit(key);
    if (suppressed === undefined) return;
    const source = from ? ` from ${from.hostname}:${from.port}` : "";
    const more = suppressed > 0 ? ` (${suppressed} more rejected for this reason since the last report)` : "";
    this.#logger.warn(`packet rejected${source}: ${text}${more}`);
  }

  #reportUnsigned(card: string, from?: Deno.NetAddr): void {
    this.#unsignedIgnored++;
    const suppressed = this.#throttle.admit("unsigned");
    if (suppressed === undefined) return;
    const source = from ? ` from ${from.hostname}:${from.port}` : "";
    const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : "";
    this.#logger.warn(
      `packet of card ${card}${source} carried unsigned data after its MD= line: ignored (only signed ` +
        `bytes are read; a card does not send this, so it was appended on the way)${more}`,
    );
  }

  #announce(notice: CounterNotice): void {
    if (notice.kind === "stuck") {
      const { stuck } = notice;
      const text = `${stuck.refused} authenticated packets refused as replayed since ` +
        `${new Date(stuck.since).toISOString()}: the card now sends ${
          formatCounters(stuck.latest)
        }, not newer ` +
        `than the last accepted ${formatCounters(stuck.last)}; ${STUCK_HINT}`;
      this.#logger.warn(`card ${notice.card}: ${text}`);
      this.#emit({
        id: "CardCountersStuck",
        nmc: notice.card,
        note: text,
        details: { refused: stuck.refused, latest: stuck.latest, last: stuck.last },
      });
      return;
    }
    const seconds = Math.round((notice.run.last.at - notice.run.first.at) / 1000);
    const text = `the card's counters went back from ${formatCounters(notice.from)} to ` +
      `${formatCounters(notice.to)} (card rebooted, replaced, or a counter wrapped): ${notice.run.count} ` +
      `authenticated packets in ${seconds} s counted up from a fresh boot at the card's pace; following it again`;
    this.#logger.warn(`card ${notice.card}: ${text}`);
    this.#emit({ id: "CardCountersReset", nmc: notice.card, note: text, details: { from: notice.from } });
  }

  #load(): void {
    const saved = this.#store?.load();
    if (saved === undefined) return;
    if (typeof saved === "string") {
      this.#unavailable(`saved replay counters not used (${saved}); every card's next packet is accepted`);
      return;
    }
    this.#gate.restore(saved);
  }

  #scheduleSave(): void {
    if (!this.#store || this.#saveTimer !== undefined) return;
    const wait = this.#lastSaveAt + SAVE_INTERVAL_MS - this.#clock.now();
    if (wait <= 0) {
      this.#saveNow();
      return;
    }
    this.#saveTimer = this.#clock.setTimeout(() => {
      this.#saveTimer = undefined;
      this.#saveNow();
    }, wait);
  }

  #saveNow(): void {
    if (!this.#store) return;
    this.#lastSaveAt = this.#clock.now();
    this.#store.save(this.#gate.snapshot(), (error) => {
      if (!error) {
        if (this.#saveFailing) this.#logger.info("replay counters are saved again");
        this.#saveFailing = false;
        return;
      }
      if (this.#saveFailing) return; // reported once per episode
      this.#saveFailing = true;
      this.#unavailable(
        `cannot save the replay counters: ${error.message}; packets are still checked, ` +
          "but a restart would accept older ones again",
      );
    });
  }

  #unavailable(text: string): void {
    this.#logger.error(text);
    this.#emit({ id: "CardCountersUnavailable", note: text });
  }
}
