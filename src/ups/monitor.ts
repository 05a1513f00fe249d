/**
 * Keeps the UPS state of every configured NMC, feeds it accepted packets,
 * and declares communication lost when a card falls silent for
 * `commLostTimeout` (only status packets count: a MACONFIG does not keep
 * the link alive). Events go out through the `publish` callback.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { AcceptedPacket } from "../nmc/gate.ts";
import { decodeClientNotification, decodeStatus } from "../nmc/status.ts";
import {
  type Clock,
  STALL_GRACE_MS,
  STALL_THRESHOLD_MS,
  systemClock,
  type TimerHandle,
} from "../time/clock.ts";
import type { RuntimeSettings } from "./runtime.ts";
import {
  applyClientNotification,
  applyCommLost,
  applyStatus,
  initialUpsState,
  recheckRuntime,
  type Transition,
  type UpsState,
} from "./state.ts";

/** What the monitor needs from the configuration. */
export interface MonitorSettings {
  /** Card addresses to watch. */
  readonly cards: readonly string[];
  /** Silence after which communication is lost, in milliseconds. */
  readonly commLostTimeoutMs: number;
  /** Runtime checks (none if absent). */
  readonly runtime?: RuntimeSettings;
}

/** Per-card UPS state plus comm-lost timers. */
export class UpsMonitor {
  #settings: MonitorSettings;
  readonly #publish: (draft: EventDraft) => void;
  readonly #clock: Clock;
  readonly #states = new Map<string, UpsState>();
  readonly #timers = new Map<string, TimerHandle>();
  /** When each card started being watched (start, or when a reload added it). */
  readonly #watchedSince = new Map<string, number>();
  #running = false;

  /** Creates a monitor; call `start()` to arm the comm-lost timers. */
  constructor(settings: MonitorSettings, publish: (draft: EventDraft) => void, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#publish = publish;
    this.#clock = clock;
    for (const card of settings.cards) this.#states.set(card, initialUpsState(card));
  }

  /** Starts watching: each card must be heard within the timeout. */
  start(): void {
    this.#running = true;
    for (const card of this.#settings.cards) {
      this.#watchedSince.set(card, this.#clock.now());
      this.#arm(card);
    }
  }

  /** Stops all timers. */
  stop(): void {
    this.#running = false;
    for (const handle of this.#timers.values()) this.#clock.clearTimeout(handle);
    this.#timers.clear();
  }

  /** Applies new settings: new cards start waiting, removed cards are forgotten, timers follow the new timeout. */
  configure(settings: MonitorSettings): void {
    this.#settings = settings;
    for (const card of [...this.#states.keys()]) {
      if (!settings.cards.includes(card)) {
        this.#states.delete(card);
        this.#watchedSince.delete(card);
        this.#disarm(card);
      }
    }
    for (const card of settings.cards) {
      if (!this.#states.has(card)) {
        this.#states.set(card, initialUpsState(card));
        this.#watchedSince.set(card, this.#clock.now());
      }
      if (this.#running) this.#arm(card);
      const state = this.#states.get(card);
      if (state && settings.runtime) this.#commit(recheckRuntime(state, settings.runtime));
    }
  }

  /** Feeds one accepted packet. */
  handle(packet: AcceptedPacket): void {
    const state = this.#states.get(packet.card);
    if (!state) return;
    const now = this.#clock.now();
    if (packet.kind === "MACONFIG") {
      this.#commit(applyClientNotification(state, decodeClientNotification(packet.lines), now));
    } else {
      // Only a packet that set a value proves the UPS link is alive (wire.md §6).
      const { reading, applied } = decodeStatus(packet.lines);
      if (applied === 0) return;
      this.#commit(applyStatus(state, reading, now, this.#settings.runtime));
      if (this.#running) this.#arm(packet.card, true);
    }
  }

  /** The state of one card. */
  get(card: string): UpsState | undefined {
    return this.#states.get(card);
  }

  /** The state of every card, in configuration order. */
  snapshot(): UpsState[] {
    return this.#settings.cards.map((card) => this.#states.get(card)).filter((s): s is UpsState => !!s);
  }

  #commit(transition: Transition): void {
    this.#states.set(transition.state.card, transition.state);
    for (const draft of transition.events) this.#publish(draft);
  }

  #disarm(card: string): void {
    const handle = this.#timers.get(card);
    if (handle !== undefined) this.#clock.clearTimeout(handle);
    this.#timers.delete(card);
  }

  /**
   * (Re)starts the card's comm-lost timer from its last status packet (or from when watching began).
   * The timer fires at the deadline of the time it was set; if a packet arrived meanwhile it simply
   * re-arms for the rest, so a status packet costs no timer work (`keepIfArmed`).
   */
  #arm(card: string, keepIfArmed = false): void {
    if (keepIfArmed && this.#timers.has(card)) return;
    this.#disarm(card);
    const state = this.#states.get(card);
    if (!state || state.comm === "lost") return;
    const since = state.lastStatusAt ?? this.#watchedSince.get(card) ?? this.#clock.now();
    const wait = Math.max(0, since + this.#settings.commLostTimeoutMs - this.#clock.now());
    const expectedAt = this.#clock.now() + wait;
    this.#timers.set(
      card,
      this.#clock.setTimeout(() => {
        this.#timers.delete(card);
        // A timer that ran much too late means the agent was stalled (SIGSTOP, a VM pause): the card's
        // packets from that time are still queued. Read them before declaring the card lost.
        if (this.#clock.now() - expectedAt > STALL_THRESHOLD_MS) {
          this.#timers.set(card, this.#clock.setTimeout(() => this.#expire(card, since), STALL_GRACE_MS));
          return;
        }
        this.#expire(card, since);
      }, wait),
    );
  }

  /** The comm-lost timer of `card` ran: declare it lost, or re-arm if a status packet came meanwhile. */
  #expire(card: string, since: number): void {
    this.#timers.delete(card);
    const current = this.#states.get(card);
    if (!current) return;
    const last = current.lastStatusAt ?? this.#watchedSince.get(card) ?? since;
    if (this.#clock.now() - last < this.#settings.commLostTimeoutMs) this.#arm(card);
    else this.#commit(applyCommLost(current, this.#clock.now() - last));
  }
}
