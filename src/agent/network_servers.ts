/**
 * The agent's optional servers for other hosts' stock clients: NUT (`[NUT]`, src/nut/), apcupsd's NIS
 * (`[NIS]`, src/nis/) and the SNMP agent with its traps (`[SNMP]`, src/snmp/). Each is imported (dynamic `import()`) only once its section is enabled, so an agent
 * without them loads none of their code; they are started, re-configured and stopped as the
 * configuration changes, without a restart. A server that cannot start (port in use, an unknown
 * `[NIS] nmc`) is reported as ListenerFailed and the agent goes on without it.
 *
 * The forced-shutdown port handed to the shutdown sequence ({@link NetworkServers.hostSync}) works
 * whether or not the NUT server runs yet: FSD set before it is up is applied when it starts.
 *
 * @module
 */
import { join } from "node:path";
import type { AgentConfig } from "../config/types.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import type { NisService, NisServiceSettings } from "../nis/service.ts";
import type { NutService, NutServiceSettings, NutStatus } from "../nut/service.ts";
import type { SnmpService, SnmpServiceSettings } from "../snmp/service.ts";
import type { HostSyncPort, HostSyncStart } from "../shutdown/sequencer.ts";
import type { Clock } from "../time/clock.ts";
import type { UpsState } from "../ups/state.ts";

/** The web UI certificate's default file names in the data directory (src/web/certificate.ts). */
const DEFAULT_CERT = "ui-cert.pem";
const DEFAULT_KEY = "ui-key.pem";

/** What the servers need from the agent. */
export interface NetworkServerDeps {
  /** The monitor's state of a card. */
  upsState(card: string): UpsState | undefined;
  /** Publishes an event. */
  emit(draft: EventDraft): void;
  /** Follows the event stream. */
  subscribe(listener: (event: AgentEvent) => void): () => void;
  /** Operational log. */
  readonly logger: Logger;
  /** Time source. */
  readonly clock: Clock;
  /** The data directory (the web UI's certificate lives there unless configured). */
  readonly dataDir: string;
}

/** The `[NUT]` settings as the NUT service takes them. */
export function nutSettings(config: AgentConfig): NutServiceSettings | undefined {
  const n = config.nut;
  if (!n?.enabled) return undefined;
  return {
    port: n.port,
    listenAddresses: n.listenAddresses,
    users: n.users.map((u) => ({ name: u.name, passwordHash: u.passwordHash })),
    ups: n.ups,
    maxConnections: n.maxConnections,
    maxConnectionsPerAddress: n.maxConnectionsPerAddress,
    idleTimeout: n.idleTimeout,
  };
}

/** The `[SNMP]` settings as the SNMP service takes them. */
export function snmpSettings(config: AgentConfig): SnmpServiceSettings | undefined {
  const s = config.snmp;
  if (!s?.enabled) return undefined;
  const names = config.nut?.ups ?? config.nmc.cards.map((card, i) => ({ name: `nmc${i + 1}`, card }));
  return { ...s, cards: config.nmc.cards, names };
}

/** The `[NIS]` settings as the NIS service takes them. */
export function nisSettings(config: AgentConfig): NisServiceSettings | undefined {
  const n = config.nis;
  if (!n?.enabled) return undefined;
  const names = config.nut?.ups ?? config.nmc.cards.map((card, i) => ({ name: `nmc${i + 1}`, card }));
  return { port: n.port, listenAddresses: n.listenAddresses, nmc: n.nmc, cards: config.nmc.cards, names };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The NUT, NIS and SNMP servers of one agent (see the module documentation). */
export class NetworkServers {
  readonly #deps: NetworkServerDeps;
  #nut: NutService | undefined;
  #nis: NisService | undefined;
  #snmp: SnmpService | undefined;
  #config: AgentConfig | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Cards with FSD asked for, "all" for every served UPS (kept across a NUT server start or restart). */
  #fsd: Set<string> | "all" = new Set();
  readonly #logoutListeners = new Set<() => void>();
  readonly #startedAt: number;

  /** Servers for an agent (none runs until {@link NetworkServers.apply}). */
  constructor(deps: NetworkServerDeps) {
    this.#deps = deps;
    this.#startedAt = deps.clock.now();
  }

  /** Starts, re-configures or stops the servers for `config`; resolves when done (never rejects). */
  apply(config: AgentConfig): Promise<void> {
    this.#queue = this.#queue.then(() => this.#apply(config)).catch((error) => {
      this.#deps.logger.error(`network servers: ${errorText(error)}`);
    });
    return this.#queue;
  }

  /** Resolves once every change asked for so far is in effect. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Stops both servers. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    await this.#nut?.stop().catch(() => {});
    await this.#nis?.stop().catch(() => {});
    await this.#snmp?.stop().catch(() => {});
    this.#nut = this.#nis = this.#snmp = undefined;
  }

  /** The NUT server's state (undefined while it does not run). */
  nutStatus(): NutStatus | undefined {
    return this.#nut?.status();
  }

  /** Where the NUT server listens ([] while it does not run). */
  get nutAddresses(): readonly { hostname: string; port: number }[] {
    return this.#nut?.addresses ?? [];
  }

  /** Where the NIS server listens ([] while it does not run). */
  get nisAddresses(): readonly { hostname: string; port: number }[] {
    return this.#nis?.addresses ?? [];
  }

  /** The SNMP agent, while it runs (its addresses, engine ID, counters; `sendTestTrap`). */
  get snmp(): SnmpService | undefined {
    return this.#snmp;
  }

  /** The NUT server, while it runs (tests, the benchmark). */
  get nut(): NutService | undefined {
    return this.#nut;
  }

  /** The forced-shutdown port for the shutdown sequence. */
  readonly hostSync: HostSyncPort = {
    forceShutdown: (cards): HostSyncStart => {
      if (cards.length === 0) this.#fsd = "all";
      else if (this.#fsd !== "all") { for (const card of cards) this.#fsd.add(card); }
      return this.#nut?.forceShutdown(cards) ?? { ups: [], loggedIn: 0, clients: [] };
    },
    clearForcedShutdown: () => {
      this.#fsd = new Set();
      this.#nut?.clearForcedShutdown();
    },
    clearForcedShutdownOf: (cards) => {
      if (cards.length === 0) return;
      if (this.#fsd === "all") {
        // Every served UPS but these: the other cards keep FSD.
        const rest = (this.#config?.nut?.ups ?? []).map((u) => u.card).filter((c) => !cards.includes(c));
        this.#fsd = new Set(rest);
      } else for (const card of cards) this.#fsd.delete(card);
      this.#nut?.clearForcedShutdownOf(cards);
    },
    loggedIn: (cards) => this.#nut?.loggedIn(cards) ?? [],
    onLogout: (listener) => {
      this.#logoutListeners.add(listener);
      return () => this.#logoutListeners.delete(listener);
    },
  };

  async #apply(config: AgentConfig): Promise<void> {
    if (this.#stopped) return;
    const old = this.#config;
    this.#config = config;
    await this.#applyNut(nutSettings(config), old ? nutSettings(old) : undefined);
    await this.#applyNis(nisSettings(config));
    await this.#applySnmp(snmpSettings(config));
  }

  async #applySnmp(settings: SnmpServiceSettings | undefined): Promise<void> {
    if (!settings) {
      if (this.#snmp) {
        await this.#snmp.stop();
        this.#snmp = undefined;
        this.#deps.logger.info("SNMP agent stopped ([SNMP] enabled = false)");
      }
      return;
    }
    if (this.#snmp) {
      try {
        await this.#snmp.configure(settings);
      } catch (error) {
        this.#failed("SNMP", settings.port, error, `still serving NMC ${this.#snmp.card}`);
      }
      return;
    }
    const { SnmpService } = await import("../snmp/service.ts");
    let hostname = "localhost";
    try {
      hostname = Deno.hostname();
    } catch { /* no --allow-sys */ }
    try {
      this.#snmp = await SnmpService.start(settings, {
        upsState: (card) => this.#deps.upsState(card),
        subscribe: (listener) => this.#deps.subscribe(listener),
        logger: this.#deps.logger,
        clock: this.#deps.clock,
        dataDir: this.#deps.dataDir,
        hostname,
      });
    } catch (error) {
      this.#failed("SNMP", settings.port, error, "the SNMP agent is off until the configuration changes");
      return;
    }
    if (this.#stopped) return void await this.#snmp.stop();
    const where = this.#where(this.#snmp.addresses);
    this.#deps.logger.info(
      `SNMP agent on ${where}: NMC ${this.#snmp.card}, engine ID ${this.#snmp.engineId}`,
    );
  }

  async #applyNut(
    settings: NutServiceSettings | undefined,
    old: NutServiceSettings | undefined,
  ): Promise<void> {
    if (!settings) {
      if (this.#nut) {
        await this.#nut.stop();
        this.#nut = undefined;
        this.#deps.logger.info("NUT server stopped ([NUT] enabled = false)");
        for (const listener of [...this.#logoutListeners]) listener(); // nobody is logged in any more
      }
      return;
    }
    if (this.#nut) {
      if (JSON.stringify(settings) === JSON.stringify(old)) return;
      try {
        await this.#nut.configure(settings);
      } catch (error) {
        this.#failed("NUT", settings.port, error, `still listening on ${this.#where(this.#nut.addresses)}`);
      }
      return;
    }
    const { NutService } = await import("../nut/service.ts");
    try {
      this.#nut = await NutService.start(settings, {
        upsState: (card) => this.#deps.upsState(card),
        emit: (draft) => this.#deps.emit(draft),
        logger: this.#deps.logger,
        clock: this.#deps.clock,
        certificateFiles: () => ({
          cert: this.#config?.webUi.certificateFile || join(this.#deps.dataDir, DEFAULT_CERT),
          key: this.#config?.webUi.keyFile || join(this.#deps.dataDir, DEFAULT_KEY),
        }),
      });
    } catch (error) {
      this.#failed("NUT", settings.port, error, "the NUT server is off until the configuration changes");
      return;
    }
    if (this.#stopped) return void await this.#nut.stop();
    this.#nut.onLogout(() => {
      for (const listener of [...this.#logoutListeners]) listener();
    });
    if (this.#fsd === "all") this.#nut.forceShutdown([]);
    else if (this.#fsd.size > 0) this.#nut.forceShutdown([...this.#fsd]);
    const names = settings.ups.map((u) => `${u.name} (NMC ${u.card})`).join(", ") ||
      "no UPS (no NMC configured)";
    this.#deps.logger.info(`NUT server on ${this.#where(this.#nut.addresses)}: ${names}`);
  }

  async #applyNis(settings: NisServiceSettings | undefined): Promise<void> {
    if (!settings) {
      if (this.#nis) {
        await this.#nis.stop();
        this.#nis = undefined;
        this.#deps.logger.info("NIS server stopped ([NIS] enabled = false)");
      }
      return;
    }
    if (this.#nis) {
      try {
        await this.#nis.configure(settings);
      } catch (error) {
        this.#failed("NIS", settings.port, error, `still serving NMC ${this.#nis.card}`);
      }
      return;
    }
    const { NisService } = await import("../nis/service.ts");
    let hostname = "localhost";
    try {
      hostname = Deno.hostname();
    } catch { /* no --allow-sys */ }
    try {
      this.#nis = await NisService.start(settings, {
        upsState: (card) => this.#deps.upsState(card),
        subscribe: (listener) => this.#deps.subscribe(listener),
        logger: this.#deps.logger,
        clock: this.#deps.clock,
        startedAt: this.#startedAt,
        hostname,
      });
    } catch (error) {
      this.#failed("NIS", settings.port, error, "the NIS server is off until the configuration changes");
      return;
    }
    if (this.#stopped) return void await this.#nis.stop();
    this.#deps.logger.info(`NIS server on ${this.#where(this.#nis.addresses)}: NMC ${this.#nis.card}`);
  }

  #where(addresses: readonly { hostname: string; port: number }[]): string {
    return addresses.map((
      a,
    ) => (a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`))
      .join(", ");
  }

  #failed(what: "NUT" | "NIS" | "SNMP", port: number, error: unknown, outcome: string): void {
    const listener = what === "SNMP" ? "SNMP agent, UDP" : `${what} server, TCP`;
    this.#deps.emit({
      id: "ListenerFailed",
      note: `${listener} port ${port}: ${errorText(error)}; ${outcome}`,
    });
  }
}
