/**
 * The SNMP agent inside pcns-agent: serves the UPS-MIB (RFC 1628) of one card (`[SNMP] nmc`, default the
 * first; the standard MIB describes one UPS, so with several cards the others are read through the NUT
 * or NIS servers, the web UI or the API) to v1/v2c communities and v3 users, read-only, and sends
 * upsTrapOnBattery / upsTrapAlarmEntryAdded / Removed to the trap receivers, repeating the conditions of
 * {@link REPEATED_ALARMS} every `trapRepeatInterval` seconds until they clear. The agent imports this
 * module only when `[SNMP] enabled = true`.
 *
 * npm net-snmp parses and builds the messages and does USM (authentication, privacy, discovery
 * reports); this module puts gate.ts in front of it (through net-snmp's `dgramModule` option), answers
 * the requests itself from buildMib (net-snmp's own MIB is left empty: it cannot hold objects that come
 * and go with the card's readings) and keeps engine boots and time current. Engine-ID discovery is
 * answered; a v3 request must name this engine's ID. Timeliness (RFC 3414 3.2 step 7) is not checked,
 * as net-snmp's agent does not: the agent is read-only, and a replayed request only yields an answer
 * encrypted for the user who made it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import type { SnmpSettings } from "../config/types.ts";
import type { AgentEvent } from "../events/types.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { Logger } from "../log/logger.ts";
import type { BoundAddress } from "../nut/listeners.ts";
import type { Clock } from "../time/clock.ts";
import { initialUpsState, type UpsState } from "../ups/state.ts";
import type { Notification } from "./alarms.ts";
import { AlarmTraps, servedCard } from "./alarmtraps.ts";
import { startEngine } from "./engine.ts";
import { admit, type DropReason, type GateView } from "./gate.ts";
import { buildMib, timeTicks } from "./mib.ts";
import { snmp, snmpUser } from "./netsnmp.ts";
import { answer } from "./responder.ts";
import { testNotification, TrapSender } from "./traps.ts";

/** What the SNMP service needs from the configuration. */
export interface SnmpServiceSettings extends SnmpSettings {
  /** The configured cards, in ip_N order. */
  readonly cards: readonly string[];
  /** The cards' NUT names (`nmcN` or `[NUT] upsName_N`), for `nmc` and upsIdentName. */
  readonly names: readonly { readonly name: string; readonly card: string }[];
}

/** What the SNMP service needs from the agent. */
export interface SnmpServiceDeps {
  /** The UPS state of a card. */
  upsState(card: string): UpsState | undefined;
  /** Follows the event stream; returns the unsubscribe function. */
  subscribe(listener: (event: AgentEvent) => void): () => void;
  /** Operational log. */
  readonly logger: Logger;
  /** Time source (timers of the trap repeats). */
  readonly clock: Clock;
  /** Where snmp-engine.json lives. */
  readonly dataDir: string;
  /** This host's name (sysName). */
  readonly hostname: string;
}

/** The card `[SNMP] nmc` names (pure; see `alarmtraps.ts`). */
export { servedCard };

/** Requests answered and datagrams dropped, by reason, since the start. */
export type SnmpCounters = Record<DropReason | "answered" | "refused" | "engine", number>;

// deno-lint-ignore no-explicit-any
type Any = any;

/** The agent's SNMP service (see the module documentation). */
export class SnmpService {
  readonly #deps: SnmpServiceDeps;
  #settings: SnmpServiceSettings;
  #card: string;
  #engineId = "";
  #boots = 0;
  readonly #startedAt: number;
  #agent: Any;
  #addresses: BoundAddress[] = [];
  #view: GateView = { communities: new Set(), users: new Map() };
  #traps!: TrapSender;
  readonly #alarms: AlarmTraps;
  readonly #unsubscribe: () => void;
  readonly #throttle: LogThrottle;
  readonly #counters: SnmpCounters = {
    answered: 0,
    malformed: 0,
    community: 0,
    user: 0,
    securityLevel: 0,
    refused: 0,
    engine: 0,
  };

  private constructor(settings: SnmpServiceSettings, deps: SnmpServiceDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#card = servedCard(settings);
    this.#startedAt = deps.clock.now();
    this.#throttle = new LogThrottle(60_000, () => deps.clock.now());
    this.#alarms = new AlarmTraps({
      ups: () => this.#ups(),
      clock: deps.clock,
      repeatSeconds: () => this.#settings.trapRepeatInterval,
      send: (n) => this.#send(n),
    });
    this.#unsubscribe = deps.subscribe((event) => this.#alarms.follow(event));
  }

  /** Starts serving; throws when the card is unknown or the port cannot be bound. */
  static async start(settings: SnmpServiceSettings, deps: SnmpServiceDeps): Promise<SnmpService> {
    const service = new SnmpService(settings, deps);
    try {
      const engine = await startEngine(deps.dataDir, (text) => deps.logger.warn(text));
      service.#engineId = engine.engineId;
      service.#boots = engine.boots;
      service.#agent = await service.#open(settings);
      service.#authorize(settings);
      service.#traps = service.#trapSender(settings);
      service.#alarms.sync();
    } catch (error) {
      service.#unsubscribe();
      service.#agent?.close();
      throw error;
    }
    return service;
  }

  /** The bound addresses. */
  get addresses(): readonly BoundAddress[] {
    return this.#addresses;
  }

  /** The card served. */
  get card(): string {
    return this.#card;
  }

  /** snmpEngineID (hex), for v3 trap receivers. */
  get engineId(): string {
    return this.#engineId;
  }

  /** Counts since the start. */
  counters(): Readonly<SnmpCounters> {
    return { ...this.#counters };
  }

  /** Applies new settings: users, communities and receivers at once; a new port or address re-binds. */
  async configure(settings: SnmpServiceSettings): Promise<void> {
    const card = servedCard(settings);
    const old = this.#settings;
    if (old.port !== settings.port || old.listenAddresses.join(",") !== settings.listenAddresses.join(",")) {
      await this.#close(this.#agent); // first: the new addresses may overlap the old ones ("::" and 127.0.0.1)
      try {
        this.#agent = await this.#open(settings);
      } catch (error) {
        this.#agent = await this.#open(old); // back to the old addresses; the error says why
        this.#settings = { ...settings, port: old.port, listenAddresses: old.listenAddresses };
        this.#authorize(this.#settings);
        throw error;
      }
    }
    this.#settings = settings;
    this.#authorize(settings);
    this.#traps.close();
    this.#traps = this.#trapSender(settings);
    if (card !== this.#card) {
      this.#card = card;
      this.#alarms.resetLineBads();
    }
    this.#alarms.reschedule();
    this.#alarms.sync();
  }

  /** Stops serving and sending. */
  stop(): Promise<void> {
    this.#unsubscribe();
    this.#alarms.stop();
    this.#traps?.close();
    return this.#close(this.#agent);
  }

  #close(agent: Any): Promise<void> {
    return new Promise((resolve) => {
      let open = Object.keys(agent?.listener?.sockets ?? {}).length;
      if (open === 0) return resolve();
      agent.close(() => {
        if (--open === 0) resolve();
      });
    });
  }

  /** Sends upsTrapTestCompleted ("pcns-agent notification test") to every receiver now. */
  sendTestTrap(): Promise<{ receiver: string; error?: string }[]> {
    return this.#traps.send(testNotification(), this.#upTime());
  }

  #upTime(): number {
    return timeTicks(this.#deps.clock.now(), this.#startedAt);
  }

  #ups(): UpsState {
    return this.#deps.upsState(this.#card) ?? initialUpsState(this.#card);
  }

  #send(notification: Notification): void {
    void this.#traps.send(notification, this.#upTime());
  }

  #authorize(settings: SnmpServiceSettings): void {
    const auth = this.#agent.getAuthorizer();
    for (const c of [...auth.getCommunities()]) auth.deleteCommunity(c);
    for (const u of [...auth.getUsers()]) auth.deleteUser(u.name);
    for (const c of settings.communities) auth.addCommunity(c);
    for (const u of settings.users) auth.addUser(snmpUser(snmp, u));
    this.#view = {
      communities: new Set(settings.communities),
      users: new Map(settings.users.map((u) => [u.name, { priv: u.privProtocol !== "none" }])),
    };
  }

  #trapSender(settings: SnmpServiceSettings): TrapSender {
    return new TrapSender(snmp, settings, this.#engineId, (receiver, text) => {
      this.#warn(`trap:${receiver}`, `SNMP: trap to ${receiver} not sent: ${text}`);
    });
  }

  #warn(key: string, text: string): void {
    const suppressed = this.#throttle.admit(key);
    if (suppressed === undefined) return;
    this.#deps.logger.warn(suppressed > 0 ? `${text} (and ${suppressed} more in the last minute)` : text);
  }

  #drop(reason: keyof SnmpCounters, from: string): void {
    this.#counters[reason]++;
    const why: Record<keyof SnmpCounters, string> = {
      answered: "",
      malformed: "not a well-formed SNMP message",
      community: "unknown community",
      user: "unknown SNMPv3 user",
      securityLevel: "less security than the SNMPv3 user requires",
      refused: "authentication or decryption failed, or not a request",
      engine: "not addressed to this engine ID",
    };
    this.#warn(`drop:${reason}`, `SNMP: datagram from ${from} dropped: ${why[reason]}`);
  }

  /** net-snmp reports a request it did not serve (wrong digest, decryption, parse, PDU type). */
  #onLibraryError(error: Any): void {
    if (!error) return;
    const from = error.rinfo?.address ?? "?";
    if (error.code === "EADDRINUSE" || error.syscall) return; // socket errors: handled at bind
    this.#drop(error.name === "ProcessingError" ? "malformed" : "refused", from);
  }

  /** Answers one request (net-snmp calls this after USM accepted the message). */
  #answer(agent: Any, socket: Any, message: Any, rinfo: { address: string; port: number }): void {
    if (message.version === 3) {
      if (!message.user?.name) return this.#drop("user", rinfo.address);
      const id = Buffer.from(message.msgSecurityParameters?.msgAuthoritativeEngineID ?? []).toString("hex");
      if (id !== this.#engineId) return this.#drop("engine", rinfo.address);
    }
    this.#alarms.sync();
    const ups = this.#ups();
    const name = this.#settings.names.find((n) => n.card === this.#card)?.name ?? this.#card;
    const mib = buildMib({
      ups,
      upsName: name,
      hostname: this.#deps.hostname,
      now: this.#deps.clock.now(),
      startedAt: this.#startedAt,
      alarms: this.#alarms.table.rows(),
      lineBads: this.#alarms.lineBads,
    });
    const pdu = message.pdu;
    const result = answer(mib, {
      version: message.version,
      type: pdu.type,
      varbinds: pdu.varbinds ?? [],
      nonRepeaters: pdu.nonRepeaters,
      maxRepetitions: pdu.maxRepetitions,
    });
    if (!result) return this.#drop("refused", rinfo.address);
    const response = pdu.getResponsePduForRequest();
    response.varbinds = result.varbinds.map((v) => ({ oid: v.oid, type: v.type, value: v.value }));
    response.errorStatus = result.errorStatus;
    response.errorIndex = result.errorIndex;
    agent.listener.send(message.createResponseForRequest(response), rinfo, socket);
    this.#counters.answered++;
  }

  /** A net-snmp agent on every configured address, its sockets gated; resolves once all are bound. */
  async #open(settings: SnmpServiceSettings): Promise<Any> {
    const wanted = settings.listenAddresses.length > 0 ? settings.listenAddresses : ["::"];
    const box: { agent?: Any } = {}; // the agent, once made (its sockets are made inside createAgent)
    const bound: Promise<BoundAddress>[] = [];
    const sockets: dgram.Socket[] = [];
    const gated = {
      createSocket: (type: string) => {
        const socket = dgram.createSocket(type === "udp6" ? { type: "udp6" } : { type: "udp4" });
        sockets.push(socket);
        const on = socket.on.bind(socket);
        const bind = socket.bind.bind(socket);
        Object.assign(socket, {
          on: (event: string, listener: (...args: Any[]) => void) =>
            event === "message"
              ? on(
                "message",
                (msg: Buffer, rinfo: dgram.RemoteInfo) => this.#receive(box.agent, msg, rinfo, listener),
              )
              : on(event, listener),
          bind: (_port: number, address: string) => {
            bound.push(
              new Promise((resolve, reject) => {
                socket.once("error", reject);
                bind(settings.port, address, () => {
                  socket.off("error", reject);
                  const a = socket.address();
                  resolve({ hostname: a.address, port: a.port });
                });
              }),
            );
            return socket;
          },
        });
        return socket;
      },
    };
    const agent = snmp.createAgent(
      {
        dgramModule: gated,
        sockets: wanted.map((address) => ({
          transport: address.includes(":") ? "udp6" : "udp4",
          address: address.replace(/^\[(.*)\]$/, "$1"),
          port: settings.port || 1, // net-snmp turns port 0 into 161; bind above uses the real port
        })),
        engineID: this.#engineId,
      },
      (error: unknown) => this.#onLibraryError(error),
    );
    box.agent = agent;
    const handler = (socket: Any, message: Any, rinfo: Any) => this.#answer(agent, socket, message, rinfo);
    Object.assign(agent, {
      getRequest: handler,
      getNextRequest: handler,
      getBulkRequest: handler,
      setRequest: handler,
      onProxyRequest: (_s: Any, _m: Any, rinfo: Any) => this.#drop("refused", rinfo.address),
    });
    try {
      this.#addresses = await Promise.all(bound);
    } catch (error) {
      for (const s of sockets) {
        try {
          s.close();
        } catch { /* not open */ }
      }
      throw error;
    }
    return agent;
  }

  #receive(
    agent: Any,
    msg: Buffer,
    rinfo: dgram.RemoteInfo,
    next: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  ) {
    const verdict = admit(msg, this.#view);
    if (!verdict.ok) return this.#drop(verdict.reason, rinfo.address);
    agent.engine.engineBoots = this.#boots;
    agent.engine.engineTime = Math.floor(Math.max(0, this.#deps.clock.now() - this.#startedAt) / 1000);
    try {
      next(msg, rinfo);
    } catch (error) {
      this.#onLibraryError(Object.assign(error as object, { name: "ProcessingError", rinfo }));
    }
  }
}
