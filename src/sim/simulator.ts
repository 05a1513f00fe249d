/**
 * A simulated Network Management Card: sends correctly signed MASTATUS
 * packets (every 25 s by default) and MACONFIG client notifications (every
 * 100 s) to one or more agents, with a monotonically increasing uptime
 * counter, and plays scripted scenarios (power failure, low battery, UPS
 * turn-off, card reboot, silence, ...). Used by `main.ts nmc-sim`, the demo,
 * the tests and the benchmarks.
 *
 * Like a real card it keeps a PowerChute client list of at most 50 entries:
 * the clients given at construction (default: the targets' addresses) plus the
 * clients that registered through its web server (`src/sim/http.ts`).
 * Registered clients also receive the packets (at their UDP port), and the
 * list is what its MACONFIG `CL=` lines carry.
 *
 * @module
 */
import { buildPacket } from "../nmc/packet.ts";
import { MAX_CARD_CLIENTS } from "../nmc/protocol.ts";
import { encodeClientAddress, encodeStatusByte, type UpsStatusFlags } from "../nmc/status.ts";
import { type Clock, systemClock, type TimerHandle } from "../time/clock.ts";

/** Where the simulated card sends its packets. */
export interface SimTarget {
  /** Agent address. */
  readonly hostname: string;
  /** Agent UDP port. */
  readonly port: number;
}

/** The simulated UPS, as the card reports it. */
export interface SimUps {
  /** Status flags (the status byte). */
  flags: Partial<UpsStatusFlags>;
  /** SD=1: the UPS is shutting down. */
  shuttingDown: boolean;
  /** Input line voltage, V. */
  lineVoltage: number;
  /** Output voltage, V. */
  outputVoltage: number;
  /** Battery charge, %. */
  batteryPercent: number;
  /** Battery voltage, V. */
  batteryVoltage: number;
  /** Load, %. */
  loadPercent: number;
  /** Runtime remaining, minutes. */
  runtimeMinutes: number;
  /** Internal temperature, deg C. */
  temperature: number;
  /** Line frequency, Hz. */
  frequency: number;
  /** Last transfer cause letter (O, S, K, L, H, R, T, N). */
  lastTransfer: string;
  /** Self-test result code (OK, BT, NG, NO). */
  selfTest: string;
  /** Model name. */
  model: string;
  /** UPS name. */
  name: string;
  /** Serial number. */
  serial: string;
  /** UPS firmware. */
  firmware: string;
  /** The card's Low Battery Duration, minutes. */
  lowBatteryDurationMinutes: number;
}

/** A healthy UPS on line. */
export function normalUps(): SimUps {
  return {
    flags: { online: true },
    shuttingDown: false,
    lineVoltage: 230,
    outputVoltage: 230,
    batteryPercent: 100,
    batteryVoltage: 27.3,
    loadPercent: 25,
    runtimeMinutes: 45,
    temperature: 28,
    frequency: 50,
    lastTransfer: "O",
    selfTest: "NO",
    model: "Smart-UPS 1500 RM",
    name: "SIMUPS",
    serial: "AS0000000001",
    firmware: "617.3.D",
    lowBatteryDurationMinutes: 5,
  };
}

/** Options of a simulated card. */
export interface NmcSimulatorOptions {
  /** The card's own address, sent as `PC=`. */
  readonly address: string;
  /** PowerChute user name configured on the card. */
  readonly username: string;
  /** Authentication phrase configured on the card. */
  readonly authenticationPhrase: string;
  /** Agents to send to. */
  readonly targets: readonly SimTarget[];
  /** Interval between status packets, ms (default 25 000). */
  readonly statusIntervalMs?: number;
  /** Interval between client notifications, ms (default 100 000). */
  readonly configIntervalMs?: number;
  /** Reboot counter to start with (default 1). */
  readonly rebootCounter?: number;
  /** Uptime counter to start with, hundredths of a second (default 1000). */
  readonly uptimeStart?: number;
  /** Line ending (real AP9617 cards use LF). */
  readonly lineEnding?: "\n" | "\r\n";
  /** The card's configured client list (IPv4 addresses); default: the targets. Registered clients are added. */
  readonly clients?: readonly string[];
  /** Clock for timers and counters. */
  readonly clock?: Clock;
}

/** A client that registered through the card's web server. */
export interface RegisteredClient {
  /** The address it registered (listed in CL= when IPv4). */
  readonly address: string;
  /** UDP port the card sends to. */
  readonly udpPort: number;
  /** Its plain HTTP port (negotiation), 0 = none. */
  readonly httpPort: number;
  /** Its HTTPS port, 0 = none. */
  readonly httpsPort: number;
  /** Seconds it said it needs to shut down. */
  readonly seconds: number;
  /** When it (last) registered, epoch ms. */
  readonly registeredAt: number;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");
const fixed = (n: number, digits: number, width: number) => n.toFixed(digits).padStart(width, "0");

/** A simulated NMC. */
export class NmcSimulator {
  /** The UPS the card reports; change it with `update()` or a scenario step. */
  readonly ups: SimUps = normalUps();
  readonly #options: NmcSimulatorOptions;
  readonly #clock: Clock;
  #sr: number;
  #su: number;
  #uptimeBase: number;
  #uptimeEpoch: number;
  #silent = false;
  #socket4: Deno.DatagramConn | undefined;
  #socket6: Deno.DatagramConn | undefined;
  #statusTimer: TimerHandle | undefined;
  #configTimer: TimerHandle | undefined;
  #sent = { status: 0, config: 0 };
  readonly #registered = new Map<string, RegisteredClient>();

  /** Creates a card; nothing is sent before `start()` or an explicit send. */
  constructor(options: NmcSimulatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#sr = options.rebootCounter ?? 1;
    this.#su = options.uptimeStart ?? 1000;
    this.#uptimeBase = this.#su;
    this.#uptimeEpoch = this.#clock.now();
  }

  /** The card's address. */
  get address(): string {
    return this.#options.address;
  }

  /**
   * The card's client list, at most 50 addresses: the configured clients
   * (default: the targets' addresses), then the registered ones, each once.
   */
  get clients(): string[] {
    const fixed = this.#options.clients ?? this.#options.targets.map((t) => t.hostname);
    return [...new Set([...fixed, ...this.#registered.keys()])].slice(0, MAX_CARD_CLIENTS);
  }

  /** The clients that registered, in registration order. */
  get registeredClients(): RegisteredClient[] {
    return [...this.#registered.values()];
  }

  /**
   * Adds (or updates) a registered client. "full" when the list already holds
   * 50 addresses and this one is not among them.
   */
  registerClient(client: Omit<RegisteredClient, "registeredAt">): "ok" | "full" {
    const listed = this.clients.includes(client.address);
    if (!listed && this.clients.length >= MAX_CARD_CLIENTS) return "full";
    this.#registered.set(client.address, { ...client, registeredAt: this.#clock.now() });
    return "ok";
  }

  /** Removes a registered client; false if it was not registered. */
  unregisterClient(address: string): boolean {
    return this.#registered.delete(address);
  }

  /** Where the packets go: the targets, plus every registered client at its UDP port (each once). */
  get allTargets(): SimTarget[] {
    const out = new Map<string, SimTarget>();
    for (const t of this.#options.targets) out.set(`${t.hostname}|${t.port}`, t);
    for (const c of this.#registered.values()) {
      const key = `${c.address}|${c.udpPort}`;
      if (!out.has(key)) out.set(key, { hostname: c.address, port: c.udpPort });
    }
    return [...out.values()];
  }

  /** Current reboot counter. */
  get rebootCounter(): number {
    return this.#sr;
  }

  /** Packets sent so far. */
  get sent(): { readonly status: number; readonly config: number } {
    return { ...this.#sent };
  }

  /** True while the card is silenced. */
  get silent(): boolean {
    return this.#silent;
  }

  /** Starts the periodic sends; the first status and client notification go out at once. */
  async start(): Promise<void> {
    this.stop();
    await this.sendStatus();
    await this.sendConfig();
    const statusEvery = this.#options.statusIntervalMs ?? 25_000;
    const configEvery = this.#options.configIntervalMs ?? 100_000;
    const loop = (every: number, send: () => Promise<void>, set: (h: TimerHandle) => void) => {
      const tick = () => {
        send().catch(() => {}).finally(() => set(this.#clock.setTimeout(tick, every)));
      };
      set(this.#clock.setTimeout(tick, every));
    };
    loop(statusEvery, () => this.sendStatus(), (h) => this.#statusTimer = h);
    loop(configEvery, () => this.sendConfig(), (h) => this.#configTimer = h);
  }

  /** Stops the periodic sends. */
  stop(): void {
    if (this.#statusTimer !== undefined) this.#clock.clearTimeout(this.#statusTimer);
    if (this.#configTimer !== undefined) this.#clock.clearTimeout(this.#configTimer);
    this.#statusTimer = this.#configTimer = undefined;
  }

  /** Stops sending and closes the sockets. */
  close(): void {
    this.stop();
    this.#socket4?.close();
    this.#socket6?.close();
    this.#socket4 = this.#socket6 = undefined;
  }

  /** Changes the simulated UPS. */
  update(change: Partial<SimUps>): void {
    Object.assign(this.ups, change);
  }

  /** Silences the card (no packets at all) or lets it talk again. */
  setSilent(silent: boolean): void {
    this.#silent = silent;
  }

  /** Simulates a card reboot: the reboot counter goes up by one and the uptime counter restarts small. */
  reboot(): void {
    this.#sr++;
    this.#su = 100;
    this.#uptimeBase = 100;
    this.#uptimeEpoch = this.#clock.now();
  }

  /** The PowerChute user name and authentication phrase configured on the card (its web pages sign with them). */
  get credentials(): { readonly username: string; readonly authenticationPhrase: string } {
    return { username: this.#options.username, authenticationPhrase: this.#options.authenticationPhrase };
  }

  /**
   * Advances the uptime counter exactly like a packet send and returns the
   * card's counters, for signed content served outside UDP (the kill-power
   * page): they are newer than every packet sent before, older than every one after.
   */
  nextCounters(): { readonly sr: number; readonly su: number } {
    const su = this.#nextUptime();
    return { sr: this.#sr, su };
  }

  /** Builds the next signed MASTATUS (advancing the uptime counter) for `target`. */
  buildStatus(target?: SimTarget): Uint8Array {
    const u = this.ups;
    const items: [string, string][] = [
      ...this.#header(target),
      ["UC", "1"],
      ["SD", u.shuttingDown ? "1" : "0"],
      ["SM", "2"],
      ["4F", u.outputVoltage.toFixed(1)],
      ["51", encodeStatusByte(u.flags).toString(16).toUpperCase().padStart(2, "0")],
      ["4C", u.lineVoltage.toFixed(1)],
      ["50", fixed(u.loadPercent, 1, 5)],
      ["43", fixed(u.temperature, 1, 5)],
      ["6A", `${pad(Math.max(0, Math.round(u.runtimeMinutes)), 4)}:`],
      ["47", u.lastTransfer],
      ["63", u.name],
      ["66", fixed(u.batteryPercent, 1, 5)],
      ["58", u.selfTest],
      ["6E", u.serial],
      ["62", u.firmware],
      ["01", u.model],
      ["42", u.batteryVoltage.toFixed(2)],
      ["46", u.frequency.toFixed(2)],
      ["71", pad(u.lowBatteryDurationMinutes, 2)],
      ["MC", "0"],
      ["I0", "0"],
    ];
    return this.#sign("MASTATUS", items);
  }

  /** Builds the next signed MACONFIG (client notification) for `target`. */
  buildConfig(target?: SimTarget): Uint8Array {
    const slots: string[] = [];
    for (const client of this.clients) {
      try {
        slots.push(encodeClientAddress(client));
      } catch {
        // only IPv4 clients fit the 8-hex-digit list
      }
    }
    while (slots.length < 50) slots.push("00");
    const items: [string, string][] = [
      ...this.#header(target),
      ["PT", String(target?.port ?? this.#options.targets[0]?.port ?? 3052)],
      ...slots.slice(0, 50).map((slot): [string, string] => ["CL", slot]),
    ];
    return this.#sign("MACONFIG", items);
  }

  /** Sends one status packet to every target (unless silenced). */
  async sendStatus(): Promise<void> {
    if (this.#silent) return;
    await this.#sendEach((target) => this.buildStatus(target));
    this.#sent.status++;
  }

  /** Sends one client notification to every target (unless silenced). */
  async sendConfig(): Promise<void> {
    if (this.#silent) return;
    await this.#sendEach((target) => this.buildConfig(target));
    this.#sent.config++;
  }

  /** Sends raw bytes to a target (for tests that need hand-made packets). */
  async sendRaw(data: Uint8Array, target: SimTarget = this.#options.targets[0]): Promise<void> {
    await this.#send(data, target);
  }

  /** Sends to every target; one that fails does not stop the others (the first error is thrown after). */
  async #sendEach(build: (target: SimTarget) => Uint8Array): Promise<void> {
    let failure: unknown;
    for (const target of this.allTargets) {
      try {
        await this.#send(build(target), target);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  #nextUptime(): number {
    const elapsed = Math.floor((this.#clock.now() - this.#uptimeEpoch) / 10);
    this.#su = Math.max(this.#su + 1, this.#uptimeBase + elapsed);
    return this.#su;
  }

  #header(target?: SimTarget): [string, string][] {
    const now = new Date(this.#clock.now());
    const date = `${pad(now.getUTCMonth() + 1, 2)}/${pad(now.getUTCDate(), 2)}/${now.getUTCFullYear()}`;
    const time = `${pad(now.getUTCHours(), 2)}:${pad(now.getUTCMinutes(), 2)}:${pad(now.getUTCSeconds(), 2)}`;
    const nonce = Math.floor(Math.random() * 0x10000).toString(16).toUpperCase().padStart(4, "0");
    return [
      ["MV", "v1.7.0"],
      ["PC", this.#options.address],
      ["DT", date],
      ["TM", time],
      ["SR", this.#sr.toString(16).toUpperCase().padStart(2, "0")],
      ["SU", this.#nextUptime().toString(16).toUpperCase()],
      ["RD", nonce],
      ["TA", target?.hostname ?? ""],
    ];
  }

  #sign(kind: "MASTATUS" | "MACONFIG", items: [string, string][]): Uint8Array {
    const { username, authenticationPhrase, lineEnding } = this.#options;
    return buildPacket({ kind, items, lineEnding }, username, authenticationPhrase);
  }

  async #send(data: Uint8Array, target: SimTarget): Promise<void> {
    const v6 = target.hostname.includes(":");
    let socket = v6 ? this.#socket6 : this.#socket4;
    if (!socket) {
      socket = Deno.listenDatagram({ hostname: v6 ? "::" : "0.0.0.0", port: 0, transport: "udp" });
      if (v6) this.#socket6 = socket;
      else this.#socket4 = socket;
    }
    await socket.send(data, { hostname: target.hostname, port: target.port, transport: "udp" });
  }
}
