/**
 * apcupsd's NIS server inside the agent: serves one card's UPS (`[NIS] nmc`, default the first) to
 * `apcaccess`, Home Assistant's apcupsd integration and other NIS readers, with apcupsd's `status` and
 * `events` answers. It follows the event stream for the transfer counts and the last 50 events. The agent
 * imports this module only when `[NIS] enabled = true`.
 *
 * @module
 */
import type { AgentEvent } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import type { BoundAddress } from "../nut/listeners.ts";
import type { Clock } from "../time/clock.ts";
import { initialUpsState, type UpsState } from "../ups/state.ts";
import { encodeAnswer, INVALID_COMMAND } from "./protocol.ts";
import { NisServer } from "./server.ts";
import { eventLine, statusMessages, type TransferHistory } from "./status.ts";

/** apcupsd keeps and sends the last 50 events. */
export const MAX_EVENTS = 50;

/** What the NIS server needs from the configuration. */
export interface NisServiceSettings {
  /** TCP port (0 = ephemeral). */
  readonly port: number;
  /** Addresses to bind ([] = every address). */
  readonly listenAddresses: readonly string[];
  /** The card to serve: its address, its NUT name, or "" for the first. */
  readonly nmc: string;
  /** The configured cards, in ip_N order. */
  readonly cards: readonly string[];
  /** The cards' NUT names (`nmcN` or `[NUT] upsName_N`), for `nmc` and UPSNAME. */
  readonly names: readonly { readonly name: string; readonly card: string }[];
}

/** What the NIS server needs from the agent. */
export interface NisServiceDeps {
  /** The UPS state of a card. */
  upsState(card: string): UpsState | undefined;
  /** Follows the event stream; returns the unsubscribe function. */
  subscribe(listener: (event: AgentEvent) => void): () => void;
  /** Operational log. */
  readonly logger: Logger;
  /** Time source. */
  readonly clock: Clock;
  /** When the agent started (STARTTIME). */
  readonly startedAt: number;
  /** This host's name (HOSTNAME). */
  readonly hostname: string;
}

/** The card `[NIS] nmc` names (pure); throws with a clear message when it names none. */
export function servedCard(settings: Pick<NisServiceSettings, "nmc" | "cards" | "names">): string {
  const wanted = settings.nmc.trim();
  if (wanted === "") {
    if (settings.cards.length === 0) {
      throw new Error("[NIS] no NMC is configured ([NetworkManagementCard] ip_1)");
    }
    return settings.cards[0];
  }
  const byName = settings.names.find((n) => n.name.toLowerCase() === wanted.toLowerCase());
  if (byName) return byName.card;
  if (settings.cards.includes(wanted)) return wanted;
  throw new Error(
    `[NIS] nmc = ${wanted} is neither a configured NMC address (${settings.cards.join(", ") || "none"}) ` +
      `nor a UPS name (${settings.names.map((n) => n.name).join(", ") || "none"})`,
  );
}

const EVENTS_WITHOUT_CARD = new Set([
  "ShutdownStarting",
  "ShutdownCancelled",
  "OsShutdown",
  "NutForcedShutdown",
]);

/** The agent's NIS server (see the module documentation). */
export class NisService {
  readonly #deps: NisServiceDeps;
  #settings: NisServiceSettings;
  #card: string;
  #server!: NisServer;
  #transfers: TransferHistory = { count: 0, cumulativeMs: 0 };
  readonly #events: string[] = [];
  readonly #unsubscribe: () => void;

  private constructor(settings: NisServiceSettings, deps: NisServiceDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#card = servedCard(settings);
    this.#unsubscribe = deps.subscribe((event) => this.#follow(event));
  }

  /** Starts serving; throws when the card is unknown or the port cannot be bound. */
  static async start(settings: NisServiceSettings, deps: NisServiceDeps): Promise<NisService> {
    const service = new NisService(settings, deps);
    try {
      service.#server = await service.#open(settings);
    } catch (error) {
      service.#unsubscribe();
      throw error;
    }
    return service;
  }

  /** The bound addresses. */
  get addresses(): readonly BoundAddress[] {
    return this.#server.addresses;
  }

  /** The card served. */
  get card(): string {
    return this.#card;
  }

  /** Applies new settings (another card starts its counts afresh; a new port or address re-binds). */
  async configure(settings: NisServiceSettings): Promise<void> {
    const card = servedCard(settings);
    if (card !== this.#card) {
      this.#card = card;
      this.#transfers = { count: 0, cumulativeMs: 0 };
      this.#events.length = 0;
    }
    const old = this.#settings;
    this.#settings = settings;
    const same = old.port === settings.port &&
      old.listenAddresses.join(",") === settings.listenAddresses.join(",");
    if (same) return;
    await this.#server.close();
    try {
      this.#server = await this.#open(settings);
    } catch (error) {
      this.#server = await this.#open(old);
      this.#settings = { ...settings, port: old.port, listenAddresses: old.listenAddresses };
      throw error;
    }
  }

  /** Stops serving. */
  async stop(): Promise<void> {
    this.#unsubscribe();
    await this.#server.close();
  }

  /** The answer to one request (apcupsd compares the first letters only, as here). */
  answer(request: string): Uint8Array {
    if (request.startsWith("status")) return encodeAnswer(this.#status());
    if (request.startsWith("events")) return encodeAnswer(this.#events);
    return INVALID_COMMAND;
  }

  #status(): string[] {
    const card = this.#card;
    const ups = this.#deps.upsState(card) ?? initialUpsState(card);
    const name = this.#settings.names.find((n) => n.card === card)?.name ?? card;
    return statusMessages({
      ups,
      upsName: name,
      hostname: this.#deps.hostname,
      startedAt: this.#deps.startedAt,
      now: this.#deps.clock.now(),
      transfers: this.#transfers,
    });
  }

  #follow(event: AgentEvent): void {
    if (event.nmc !== this.#card && !(event.nmc === undefined && EVENTS_WITHOUT_CARD.has(event.id))) return;
    this.#events.push(eventLine(event.time, event.message));
    if (this.#events.length > MAX_EVENTS) this.#events.shift();
    const t = this.#transfers;
    if (event.id === "PowerFailed" && t.onBatterySince === undefined) {
      this.#transfers = { ...t, count: t.count + 1, lastOnBattery: event.time, onBatterySince: event.time };
    } else if (event.id === "PowerRestored" && t.onBatterySince !== undefined) {
      this.#transfers = {
        count: t.count,
        lastOnBattery: t.lastOnBattery,
        lastOffBattery: event.time,
        cumulativeMs: t.cumulativeMs + Math.max(0, event.time - t.onBatterySince),
      };
    }
  }

  #open(settings: NisServiceSettings): Promise<NisServer> {
    return NisServer.open({
      addresses: settings.listenAddresses,
      port: settings.port,
      answer: (request) => this.answer(request),
      report: (text) => this.#deps.logger.warn(text),
    });
  }
}
