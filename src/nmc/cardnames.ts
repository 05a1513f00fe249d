/**
 * Cards given by host name (`ip_2 = nmc-b.example.net`). A card names itself
 * by its IP address in every status packet (`PC=`) and sends from that
 * address, so the packet gate matches such a card by the addresses its name
 * resolves to (see `GateSettings.cardAddresses`); everywhere else (the UPS
 * state, the log, registration, turn-off) the card keeps its configured name.
 *
 * Names are looked up when the configuration names them and again every
 * {@link CARD_NAMES_REFRESH_MS}. A lookup that fails or does not answer within
 * {@link LOOKUP_TIMEOUT_MS} keeps the name's last addresses (a name server
 * that is down during an outage must not make the agent deaf to its card);
 * a name that never resolved is reported, and its packets are refused until
 * it resolves.
 *
 * @module
 */
import { lookup as dnsLookup } from "node:dns/promises";
import type { Clock, TimerHandle } from "../time/clock.ts";
import { isCardName, normalizeSource } from "./gate.ts";

/** How often the names are looked up again, ms. */
export const CARD_NAMES_REFRESH_MS = 5 * 60_000;
/** How long one lookup may take, ms. */
export const LOOKUP_TIMEOUT_MS = 5_000;

/** Resolves a host name to its addresses (IPv4 and IPv6 text). */
export type HostLookup = (name: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, DNS, whatever the host is set up for). */
export const systemLookup: HostLookup = async (name) =>
  (await dnsLookup(name, { all: true, verbatim: true })).map((a) => a.address);

/** What {@link CardNames} works with. */
export interface CardNamesPorts {
  /** Time source (refresh timer, lookup timeout). */
  readonly clock: Clock;
  /** The resolver (default {@link systemLookup}). */
  readonly lookup?: HostLookup;
  /** Told of the new address -> card map whenever it changes. */
  onChange(addresses: ReadonlyMap<string, string>): void;
  /** Says what a lookup found or why it failed (once per change). */
  report(level: "info" | "warning", text: string): void;
}

/** The addresses of the cards given by host name, kept up to date. */
export class CardNames {
  readonly #ports: CardNamesPorts;
  readonly #lookup: HostLookup;
  #names: string[] = [];
  /** Each name's last addresses (absent: never resolved). */
  #resolved = new Map<string, readonly string[]>();
  /** Each name's last report, so a state that goes on is reported once. */
  #reported = new Map<string, string>();
  #addresses: ReadonlyMap<string, string> = new Map();
  #generation = 0;
  #timer: TimerHandle | undefined;
  /** The time limits of the lookups under way (cleared at stop: a hung lookup must not hold a timer). */
  readonly #limits = new Set<TimerHandle>();
  #stopped = false;

  /** Creates the resolver (nothing is looked up before {@link configure}). */
  constructor(ports: CardNamesPorts) {
    this.#ports = ports;
    this.#lookup = ports.lookup ?? systemLookup;
  }

  /** Normalized address -> the configured card it stands for (cards given by name only). */
  get addresses(): ReadonlyMap<string, string> {
    return this.#addresses;
  }

  /** Looks up the names among `cards` now (and every 5 min); forgets the names no longer configured. */
  configure(cards: readonly string[]): void {
    if (this.#stopped) return;
    this.#names = [...new Set(cards.filter(isCardName))];
    for (const name of [...this.#resolved.keys()]) {
      if (!this.#names.includes(name)) this.#resolved.delete(name);
    }
    for (const name of [...this.#reported.keys()]) {
      if (!this.#names.includes(name)) this.#reported.delete(name);
    }
    this.#publish();
    this.#refresh();
  }

  /** Stops the refresh (the map is kept). */
  stop(): void {
    this.#stopped = true;
    this.#generation++;
    if (this.#timer !== undefined) this.#ports.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const limit of this.#limits) this.#ports.clock.clearTimeout(limit);
    this.#limits.clear();
  }

  #refresh(): void {
    if (this.#timer !== undefined) this.#ports.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const generation = ++this.#generation;
    if (this.#names.length === 0) return;
    void Promise.all(this.#names.map((name) => this.#resolve(name, generation))).then(() => {
      if (generation !== this.#generation) return;
      this.#publish();
      this.#timer = this.#ports.clock.setTimeout(() => this.#refresh(), CARD_NAMES_REFRESH_MS);
    });
  }

  async #resolve(name: string, generation: number): Promise<void> {
    let outcome: string[] | string;
    try {
      outcome = await this.#within(this.#lookup(name));
      if (outcome.length === 0) outcome = "no address";
    } catch (error) {
      outcome = (error as Error).message;
    }
    if (generation !== this.#generation) return;
    const last = this.#resolved.get(name);
    if (typeof outcome !== "string") {
      const addresses = [...new Set(outcome.map(normalizeSource))];
      this.#resolved.set(name, addresses);
      this.#say(name, "info", `NMC ${name} is ${addresses.join(", ")} (its packets are matched by address)`);
      return;
    }
    this.#say(
      name,
      "warning",
      `NMC ${name}: its name did not resolve (${outcome}); ` +
        (last
          ? `its packets are still matched by its last addresses, ${last.join(", ")}`
          : "its packets are refused until it resolves"),
    );
  }

  /** The lookup, or a rejection after {@link LOOKUP_TIMEOUT_MS}. */
  #within(lookup: Promise<string[]>): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const limit = this.#ports.clock.setTimeout(() => {
        this.#limits.delete(limit);
        reject(new Error(`no answer within ${LOOKUP_TIMEOUT_MS / 1000} s`));
      }, LOOKUP_TIMEOUT_MS);
      this.#limits.add(limit);
      lookup.then(resolve, reject).finally(() => {
        this.#limits.delete(limit);
        this.#ports.clock.clearTimeout(limit);
      });
    });
  }

  /** Reports `text` for `name` unless its last report was of the same kind and, for success, the same text. */
  #say(name: string, level: "info" | "warning", text: string): void {
    const key = level === "warning" ? "warning" : text;
    if (this.#reported.get(name) === key) return;
    this.#reported.set(name, key);
    this.#ports.report(level, text);
  }

  /** Rebuilds the address map; tells the owner if it changed. */
  #publish(): void {
    const next = new Map<string, string>();
    for (const name of this.#names) {
      for (const address of this.#resolved.get(name) ?? []) if (!next.has(address)) next.set(address, name);
    }
    const same = next.size === this.#addresses.size &&
      [...next].every(([address, card]) => this.#addresses.get(address) === card);
    if (same) return;
    this.#addresses = next;
    this.#ports.onChange(next);
  }
}
