/**
 * The NUT server inside the agent: serves each configured card's UPS as `nmcN` (or `[NUT] upsName_N`) to
 * stock NUT clients, counts the secondaries logged in, and is the agent's forced-shutdown (FSD) and
 * host-sync port: when the shutdown sequence starts it sets FSD on the UPSs concerned, and the sequence
 * waits until their secondaries have logged out (or `hostSyncTimeout`) before the agent's own OS step,
 * as a NUT primary's upsmon does. The agent imports this module only when `[NUT] enabled = true`.
 *
 * @module
 */
import { resultWithin } from "../fs/stall.ts";
import tls from "node:tls";
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { HostSyncPort, HostSyncStart } from "../shutdown/sequencer.ts";
import type { Clock } from "../time/clock.ts";
import type { UpsState } from "../ups/state.ts";
import { VERSION } from "../version.ts";
import { openFilesLimit } from "../web/connections.ts";
import type { BoundAddress } from "./listeners.ts";
import { NutPasswords, type NutUser } from "./passwords.ts";
import { NET_VERSION } from "./protocol.ts";
import { NutServer } from "./server.ts";
import type { NutSession, SessionContext, SessionUps } from "./session.ts";
import type { ServedUps } from "./variables.ts";

/** What the NUT server needs from `[NUT]`. */
export interface NutServiceSettings {
  /** TCP port (0 = ephemeral, tests). */
  readonly port: number;
  /** Addresses to bind ([] = every address). */
  readonly listenAddresses: readonly string[];
  /** Users that may log in as secondaries. */
  readonly users: readonly NutUser[];
  /** The served UPSs, in ip_N order. */
  readonly ups: readonly ServedUps[];
  /** Connections open at once. */
  readonly maxConnections: number;
  /** Connections open at once from one address. */
  readonly maxConnectionsPerAddress: number;
  /** Seconds a connection may stay silent. */
  readonly idleTimeout: number;
}

/** What the NUT server needs from the agent. */
export interface NutServiceDeps {
  /** The UPS state of a card, as the monitor knows it. */
  upsState(card: string): UpsState | undefined;
  /** Publishes an event. */
  emit(draft: EventDraft): void;
  /** Operational log. */
  readonly logger: Logger;
  /** Time source (login times, login throttling). */
  readonly clock: Clock;
  /** The web UI's certificate and key files (STARTTLS uses the same certificate). */
  certificateFiles(): { readonly cert: string; readonly key: string };
}

/** One logged-in secondary, for `status`, the API and the dashboard. */
export interface NutClientStatus {
  /** The UPS it logged in to. */
  readonly ups: string;
  /** That UPS's card. */
  readonly card: string;
  /** Its address. */
  readonly address: string;
  /** Its user name. */
  readonly user: string;
  /** When it logged in (ISO time). */
  readonly since: string;
  /** The connection uses TLS. */
  readonly tls: boolean;
}

/** The NUT server's state. */
export interface NutStatus {
  /** Bound addresses. */
  readonly listening: readonly BoundAddress[];
  /** UPS names with forced shutdown set. */
  readonly fsd: readonly string[];
  /** Logged-in secondaries. */
  readonly clients: readonly NutClientStatus[];
}

const CERT_CHECK_MS = 2000;
/** How long the start waits for the first look at the certificate files (a disk that does not answer). */
const CERT_LOOK_WAIT_MS = 2000;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The served UPSs with duplicate names dropped (the first keeps it), and the names dropped. */
export function uniqueUps(ups: readonly ServedUps[]): { ups: ServedUps[]; dropped: ServedUps[] } {
  const seen = new Set<string>();
  const out: ServedUps[] = [];
  const dropped: ServedUps[] = [];
  for (const u of ups) {
    const key = u.name.toLowerCase();
    if (seen.has(key)) dropped.push(u);
    else {
      seen.add(key);
      out.push(u);
    }
  }
  return { ups: out, dropped };
}

/** The agent's NUT server (see the module documentation). */
export class NutService implements HostSyncPort {
  readonly #deps: NutServiceDeps;
  readonly #passwords: NutPasswords;
  readonly #fsd = new Set<string>();
  readonly #logoutListeners = new Set<() => void>();
  readonly #warnings = new LogThrottle();
  #settings: NutServiceSettings;
  #ups: ServedUps[] = [];
  #server!: NutServer;
  #cert: { checkedAt: number; mtime: number; context: tls.SecureContext | undefined } = {
    checkedAt: -Infinity,
    mtime: -1,
    context: undefined,
  };
  /** The look at the certificate files under way, if any (one at a time). */
  #certLook: Promise<void> | undefined;

  private constructor(settings: NutServiceSettings, deps: NutServiceDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#passwords = new NutPasswords(settings.users, deps.clock);
    this.#setUps(settings.ups);
  }

  /** Starts serving; throws when the port cannot be bound. */
  static async start(settings: NutServiceSettings, deps: NutServiceDeps): Promise<NutService> {
    const service = new NutService(settings, deps);
    service.#secureContext();
    await resultWithin(service.#certLook ?? Promise.resolve(), CERT_LOOK_WAIT_MS, undefined);
    service.#server = await service.#open(settings);
    return service;
  }

  /** The bound addresses. */
  get addresses(): readonly BoundAddress[] {
    return this.#server.addresses;
  }

  /** Open connections, refused and pushed-out counts (tests, the benchmark). */
  get connectionStats(): { open: number; refused: number; evicted: number } {
    return this.#server.connectionStats;
  }

  /** Applies new settings: users, names and limits at once; a new port or address re-binds. */
  async configure(settings: NutServiceSettings): Promise<void> {
    const old = this.#settings;
    this.#settings = settings;
    this.#passwords.configure(settings.users);
    this.#setUps(settings.ups);
    this.#server.configure(caps(settings), settings.idleTimeout * 1000);
    if (old.port === settings.port && sameList(old.listenAddresses, settings.listenAddresses)) return;
    const previous = this.#server;
    await previous.close(); // the same port cannot be bound twice: release it first
    try {
      this.#server = await this.#open(settings);
    } catch (error) {
      this.#server = await this.#open(old);
      this.#settings = { ...settings, port: old.port, listenAddresses: old.listenAddresses };
      throw error;
    }
  }

  /** Stops serving and closes every connection. */
  async stop(): Promise<void> {
    await this.#server.close();
  }

  /** What the server knows now. */
  status(): NutStatus {
    const card = new Map(this.#ups.map((u) => [u.name, u.card]));
    return {
      listening: this.addresses,
      fsd: [...this.#fsd],
      clients: this.#loggedIn().map((s) => ({
        ups: s.loginUps!,
        card: card.get(s.loginUps!) ?? "",
        address: s.address,
        user: s.username ?? "",
        since: new Date(s.loginAt ?? 0).toISOString(),
        tls: s.tls,
      })),
    };
  }

  // ---- the sequence's host-sync port ------------------------------------------------------------

  /** Sets FSD on the UPSs of `cards` (every served UPS when empty). */
  forceShutdown(cards: readonly string[]): HostSyncStart {
    const names = this.#namesOf(cards);
    for (const name of names) this.#fsd.add(name);
    const clients = this.#clientsOf(cards);
    return { ups: names, loggedIn: clients.length, clients };
  }

  /** Clears FSD on every UPS (the host's shutdown was re-armed). */
  clearForcedShutdown(): void {
    this.#fsd.clear();
  }

  /** Clears FSD on the UPSs of `cards` only (an advanced UPS setup was re-armed; none when empty). */
  clearForcedShutdownOf(cards: readonly string[]): void {
    if (cards.length === 0) return;
    for (const name of this.#namesOf(cards)) this.#fsd.delete(name);
  }

  /** The secondaries logged in to the UPSs of `cards` (every served UPS when empty). */
  loggedIn(cards: readonly string[]): readonly string[] {
    return this.#clientsOf(cards);
  }

  /** Calls `listener` whenever a logged-in secondary leaves; returns the unsubscribe function. */
  onLogout(listener: () => void): () => void {
    this.#logoutListeners.add(listener);
    return () => this.#logoutListeners.delete(listener);
  }

  // ---- internals ---------------------------------------------------------------------------------

  #setUps(ups: readonly ServedUps[]): void {
    const { ups: unique, dropped } = uniqueUps(ups);
    this.#ups = unique;
    for (const d of dropped) {
      this.#deps.emit({
        id: "ConfigWarning",
        note: `[NUT] the UPS name ${d.name} is used twice; the UPS of NMC ${d.card} is not served`,
      });
    }
  }

  #namesOf(cards: readonly string[]): string[] {
    return this.#ups.filter((u) => cards.length === 0 || cards.includes(u.card)).map((u) => u.name);
  }

  #loggedIn(): NutSession[] {
    return this.#server.sessions().filter((s) => s.loginUps !== undefined);
  }

  #clientsOf(cards: readonly string[]): string[] {
    const names = new Set(this.#namesOf(cards));
    return this.#loggedIn()
      .filter((s) => names.has(s.loginUps!))
      .map((s) => `${s.username}@${s.address} (${s.loginUps})`);
  }

  #find(name: string): SessionUps | undefined {
    const lower = name.toLowerCase();
    const served = this.#ups.find((u) => u.name.toLowerCase() === lower);
    if (!served) return undefined;
    return { served, state: this.#deps.upsState(served.card), fsd: this.#fsd.has(served.name) };
  }

  #context(): SessionContext {
    return {
      list: () => this.#ups,
      find: (name) => this.#find(name),
      numLogins: (name) => this.#loggedIn().filter((s) => s.loginUps === name).length,
      clients: (name) => this.#loggedIn().filter((s) => s.loginUps === name).map((s) => s.address),
      verify: (user, password, address) => this.#verify(user, password, address),
      tlsAvailable: () => this.#secureContext() !== undefined,
      version: `pcns-agent ${VERSION} - Network UPS Tools protocol ${NET_VERSION} (read-only server)`,
    };
  }

  async #verify(user: string, password: string, address: string): Promise<boolean> {
    const result = await this.#passwords.check(user, password, address);
    if (result.ok) return true;
    const why = result.reason === "wrong"
      ? `wrong user name or password${result.lockedOut ? "; further attempts are refused for a while" : ""}`
      : result.reason === "locked-out"
      ? "too many failed attempts from this address: refused without checking"
      : "too many password checks at once: refused without checking";
    if (result.reason === "wrong" || this.#warnings.admit(`${result.reason}:${address}`) !== undefined) {
      this.#deps.emit({ id: "NutLoginFailed", note: `user ${user} from ${address}: ${why}` });
    }
    return false;
  }

  #open(settings: NutServiceSettings): Promise<NutServer> {
    return NutServer.open({
      addresses: settings.listenAddresses,
      port: settings.port,
      caps: caps(settings),
      idleTimeoutMs: settings.idleTimeout * 1000,
      context: this.#context(),
      secureContext: () => this.#secureContext(),
      onLogin: (s) =>
        this.#deps.emit({
          id: "NutClientLoggedIn",
          note: `${s.username}@${s.address} on ${s.loginUps}${s.tls ? " (TLS)" : ""}`,
          details: { ups: s.loginUps, address: s.address, user: s.username },
        }),
      onLogout: (s, how) => {
        this.#deps.emit({
          id: "NutClientLoggedOut",
          note: `${s.username}@${s.address} from ${s.loginUps}${
            how === "disconnected" ? " (connection closed)" : ""
          }`,
          details: { ups: s.loginUps, address: s.address, user: s.username },
        });
        for (const listener of [...this.#logoutListeners]) listener();
      },
      report: (text) => {
        if (this.#warnings.admit(text.replace(/from \S+/, "")) !== undefined) this.#deps.logger.warn(text);
      },
      now: () => this.#deps.clock.now(),
    });
  }

  /**
   * The web UI's certificate as a TLS context, undefined when missing. The files are looked at again (at
   * most every CERT_CHECK_MS, asynchronously, one look at a time) and a changed certificate is used from the
   * next connection on: a disk that does not answer leaves the context as it was.
   */
  #secureContext(): tls.SecureContext | undefined {
    const now = Date.now();
    if (now - this.#cert.checkedAt >= CERT_CHECK_MS && this.#certLook === undefined) {
      this.#cert.checkedAt = now;
      this.#certLook = this.#lookAtCertificate(now).finally(() => this.#certLook = undefined);
    }
    return this.#cert.context;
  }

  async #lookAtCertificate(now: number): Promise<void> {
    const files = this.#deps.certificateFiles();
    try {
      const [cert, key] = await Promise.all([Deno.stat(files.cert), Deno.stat(files.key)]);
      const mtime = Math.max(cert.mtime?.getTime() ?? 0, key.mtime?.getTime() ?? 0);
      if (mtime === this.#cert.mtime && this.#cert.context) return;
      const context = tls.createSecureContext({
        cert: await Deno.readTextFile(files.cert),
        key: await Deno.readTextFile(files.key),
        minVersion: "TLSv1.2",
      });
      this.#cert = { checkedAt: now, mtime, context };
    } catch (error) {
      if (this.#cert.context === undefined && this.#warnings.admit("certificate") !== undefined) {
        this.#deps.logger.warn(
          `NUT server: STARTTLS is not available: cannot use ${files.cert} / ${files.key}: ${
            (error as Error).message
          }`,
        );
      }
      this.#cert = { checkedAt: now, mtime: -1, context: undefined };
    }
  }
}

let fdLimit: number | undefined | null = null;

/** The caps of the settings, never more than an eighth of the open-file limit (the web UI takes a quarter). */
function caps(settings: NutServiceSettings) {
  if (fdLimit === null) fdLimit = openFilesLimit();
  const most = fdLimit === undefined ? Infinity : Math.max(8, Math.floor(fdLimit / 8));
  return {
    maxConnections: Math.min(settings.maxConnections, most),
    maxConnectionsPerAddress: Math.min(settings.maxConnectionsPerAddress, settings.maxConnections, most),
  };
}
