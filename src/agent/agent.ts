/**
 * The running agent: wires the one-way pipeline
 * datagram -> packet engine -> UPS monitor -> event stream -> actions, then the event log,
 * and applies configuration pushed to it (including re-binding the UDP
 * listener when its port changes, keeping the old one if the new port
 * cannot be bound). Once `startRegistration()` was called (the service does,
 * the drill does not) it keeps this host registered with the cards and
 * answers their shutdown-time negotiation (`registrar.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { ActionEngine, type ShutdownReset } from "../actions/engine.ts";
import { COMMAND_FILE_CHECK_WAIT_MS, commandFileChecker } from "../actions/commandcheck.ts";
import { prepareExecOutlooks } from "../actions/launch.ts";
import type { AgentConfig } from "../config/types.ts";
import { EventBus } from "../events/bus.ts";
import { type AgentEvent, type EventDraft, makeEvent } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { CounterFile } from "../nmc/counterstore.ts";
import { CardNames, type HostLookup } from "../nmc/cardnames.ts";
import { FloodGuard, SAMPLE_ONE_IN } from "../nmc/floodguard.ts";
import { PacketEngine } from "../nmc/engine.ts";
import { MAX_PACKET_BYTES } from "../nmc/gate.ts";
import { PinStore } from "../nmc/pins.ts";
import { UdpListener } from "../nmc/udp.ts";
import type { NotifierSet } from "../notify/notifier.ts";
import { type OsShutdownExecutor, RecordingExecutor } from "../shutdown/executor.ts";
import { currentBootId } from "../shutdown/boot.ts";
import { ShutdownStateFile } from "../shutdown/persist.ts";
import { StateWrites } from "./statewrites.ts";
import { EventRecorder } from "./recorder.ts";
import { type CommandRun, ShutdownSequencer, type TurnOffResult } from "../shutdown/sequencer.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import type { HistorySample } from "../ups/history.ts";
import { HistoryFile } from "../ups/historyfile.ts";
import { HistoryKeeper } from "../ups/historykeeper.ts";
import { UpsMonitor } from "../ups/monitor.ts";
import type { NegotiationReply } from "./negotiation.ts";
import { Registrar, type RegistrarExchange } from "./registrar.ts";
import type { AgentStatus } from "./status.ts";
import * as wiring from "./wiring.ts";
import { NetworkServers } from "./network_servers.ts";
import type { HostSyncPort } from "../shutdown/sequencer.ts";
import { type SshActionOutcome, SshActionRunner } from "../ssh/actions.ts";
import type { SshActionSettings } from "../config/schema_ssh.ts";
import { AdvancedSetups } from "../setups/setups.ts";

/** Replacements for the agent's side effects (tests, drill). */
export interface AgentPorts {
  /** Turns a UPS off through its NMC. */
  turnOffUps?(card: string): Promise<TurnOffResult>;
  /** Runs a command file (event actions and the shutdown command file). */
  runCommandFile?(path: string, timeoutMs: number, env: Record<string, string>): Promise<CommandRun>;
  /** Sends a notification. */
  notify?(event: AgentEvent): void;
  /** Forced shutdown of NUT secondaries (the drill's recorder; default: the agent's NUT server). */
  hostSync?: HostSyncPort;
  /** Runs one SSH action (the drill's recorder; default: connects, or records in a dry run). */
  sshAction?(action: SshActionSettings, timeoutMs: number): Promise<SshActionOutcome>;
}

/** How the agent registers with the cards (see `Agent.startRegistration`). */
export interface RegistrationStartOptions {
  /** The web ports actually serving negotiation now (default: the configured ones). */
  readonly webPorts?: () => { readonly httpPort: number; readonly httpsPort: number };
  /** Time limit of one exchange with a card, ms (default 10 000). */
  readonly timeoutMs?: number;
  /** Wait this long before the first registration, ms (default 0). */
  readonly initialDelayMs?: number;
  /** Replacement exchanges (tests). */
  readonly exchange?: RegistrarExchange;
}

/** How to start an agent. */
export interface AgentOptions {
  /** The configuration (from the config store). */
  readonly config: AgentConfig;
  /** Data directory: where the config file, the event log and other state live. */
  readonly dataDir: string;
  /** Operational log. */
  readonly logger: Logger;
  /** Time source (a fake clock in tests). */
  readonly clock?: Clock;
  /** Dry run: the OS shutdown, the UPS turn-off and the shutdown command file are only recorded. */
  readonly dryRun?: boolean;
  /** The OS-shutdown executor; default: a recorder (only `main.ts run` passes the real one). */
  readonly executor?: OsShutdownExecutor;
  /** Replacements for other side effects. */
  readonly ports?: AgentPorts;
  /** Persist pending countdowns in the data directory (default true). */
  readonly persistCountdowns?: boolean;
  /** This boot of the host, kept with the persisted state (default: read from the system; tests set it). */
  readonly bootId?: string;
  /** Persist the cards' replay counters in the data directory (default true; the drill does not). */
  readonly persistCounters?: boolean;
  /** Run the `[NUT]` and `[NIS]` servers when enabled (default true; the drill does not). */
  readonly servers?: boolean;
  /** Keep the chart history in the data directory across restarts (default: as `persistCounters`). */
  readonly persistHistory?: boolean;
  /** Writes an SSH host key pinned on first contact to the configuration (the service: the config store). */
  readonly pinSshHostKey?: (section: string, fingerprint: string) => Promise<void>;
  /** Run the `onStartup` SSH actions when the agent starts (default true; the drill does not). */
  readonly sshOnStart?: boolean;
  /** Resolves the cards given by host name (default: the system resolver; tests replace it). */
  readonly lookupHost?: HostLookup;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The agent process's core. */
export class Agent {
  /** Every event the agent raises goes through this stream. */
  readonly bus: EventBus;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #dataDir: string;
  readonly #dryRun: boolean;
  readonly #engine: PacketEngine;
  readonly #monitor: UpsMonitor;
  readonly #history: HistoryKeeper;
  readonly #actions: ActionEngine;
  readonly #sequencer: ShutdownSequencer;
  readonly #setups: AdvancedSetups;
  readonly #stateFile: ShutdownStateFile | undefined;
  readonly #writes: StateWrites;
  readonly #floodGuard: FloodGuard;
  readonly #cardNames: CardNames;
  #notifiers: NotifierSet;
  #config: AgentConfig;
  readonly #recorder: EventRecorder;
  #udp: UdpListener | undefined;
  #registrar: Registrar | undefined;
  readonly #servers: NetworkServers | undefined;
  readonly #ssh: SshActionRunner;
  readonly #sshOnStart: boolean;
  #stopped = false;

  private constructor(options: AgentOptions) {
    this.#config = options.config;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#dataDir = options.dataDir;
    this.#writes = new StateWrites(this.#dataDir, this.#logger, (draft) => this.emit(draft));
    this.#dryRun = options.dryRun ?? false;
    this.bus = new EventBus((error, event) =>
      this.#logger.error(`event listener failed on ${event.id}: ${error}`)
    );
    this.#recorder = new EventRecorder(
      this.#dataDir,
      options.config,
      this.#logger,
      this.#writes.onEventLogStall,
    );
    this.#history = new HistoryKeeper(
      (options.persistHistory ?? options.persistCounters ?? true)
        ? this.#writes.track(new HistoryFile(this.#dataDir, this.#writes.options))
        : undefined,
      this.#clock,
      (draft) => this.emit(draft),
    );
    // Recorded after every other listener has seen the event: formatting its lines is synchronous, and a
    // notification or an action without delay must not wait for it (measured, when the event log was still
    // written synchronously: on-battery -> syslog notification p50 1.2-1.5 -> 0.7-0.9 ms).
    this.bus.subscribeLast((event) => this.#recorder.record(event));
    this.#monitor = new UpsMonitor(
      wiring.monitorSettings(this.#config),
      (draft) => this.emit(draft),
      this.#clock,
    );
    this.#engine = new PacketEngine(
      wiring.gateSettings(this.#config),
      (packet) => {
        const before = this.#monitor.get(packet.card)?.statusPackets;
        this.#monitor.handle(packet);
        const ups = this.#monitor.get(packet.card);
        // A status packet that set values (its events may have taken a while: compare counts, not times).
        if (ups?.lastStatusAt !== undefined && ups.statusPackets !== before) {
          this.#history.record(ups, ups.lastStatusAt);
        }
        // In parallel mode the load decides how many UPSs may fail: re-check on every reading.
        if (this.#config.nmc.mode === "parallel") this.#actions.reevaluate();
      },
      this.#logger,
      this.#clock,
      {
        emit: (draft) => this.emit(draft),
        store: (options.persistCounters ?? true)
          ? this.#writes.track(new CounterFile(this.#dataDir, this.#writes.options))
          : undefined,
        onUnwanted: (datagram) => this.#floodGuard.note(datagram),
      },
    );
    this.#floodGuard = new FloodGuard({
      clock: this.#clock,
      filter: (on) =>
        this.#udp?.filterDatagrams(
          on ? wiring.unwantedDatagramRule(this.#config, this.#cardNames.addresses) : undefined,
          SAMPLE_ONE_IN,
        ) ??
          "not listening",
      report: (kind, text) =>
        this.emit({ id: kind === "ended" ? "PacketFloodEnded" : "PacketFloodStarted", note: text }),
    });
    this.#cardNames = new CardNames({
      clock: this.#clock,
      lookup: options.lookupHost,
      onChange: (addresses) => {
        this.#engine.configure(wiring.gateSettings(this.#config, addresses));
        this.#floodGuard.reset(); // the kernel filter lists the old addresses
      },
      report: (level, text) => level === "warning" ? this.#logger.warn(text) : this.#logger.info(text),
    });
    this.#cardNames.configure(this.#config.nmc.cards);
    const ports = options.ports ?? {};
    const executor = options.executor ?? new RecordingExecutor(() => this.#clock.now());
    this.#notifiers = this.#buildNotifiers(options.config);
    this.#servers = (options.servers ?? true)
      ? new NetworkServers({
        upsState: (card) => this.#monitor.get(card),
        emit: (draft) => this.emit(draft),
        subscribe: (listener) => this.bus.subscribe(listener),
        logger: this.#logger,
        clock: this.#clock,
        dataDir: this.#dataDir,
      })
      : undefined;
    this.#sshOnStart = options.sshOnStart ?? true;
    this.#ssh = new SshActionRunner({
      clock: this.#clock,
      emit: (draft) => this.emit(draft),
      actions: () => this.#config.sshActions ?? [],
      dryRun: this.#dryRun,
      run: ports.sshAction?.bind(ports),
      pin: options.pinSshHostKey,
    });
    this.bus.subscribe((event) => this.#ssh.handle(event));
    const turnOffUps = ports.turnOffUps?.bind(ports) ??
      ((card: string) =>
        this.#dryRun
          ? wiring.dryRunTurnOff(this.#config, card)
          : wiring.turnOffThroughNmc(this.#config, card, {
            get: (c) => this.#engine.counters(c),
            advance: (c, next) => this.#engine.advance(c, next),
          }));
    const runShutdownCommand = ports.runCommandFile?.bind(ports) ??
      (this.#dryRun
        ? (path: string, timeoutMs: number) => wiring.dryRunCommand(path, timeoutMs)
        : wiring.runCommand);
    this.#sequencer = new ShutdownSequencer({
      runSshActions: (phase, actions) => this.#ssh.runPhase(phase, actions),
      clock: this.#clock,
      emit: (draft) => this.emit(draft),
      os: executor,
      turnOffUps,
      runCommandFile: runShutdownCommand,
      hostSync: ports.hostSync ?? this.#servers?.hostSync,
    });
    this.#stateFile = (options.persistCountdowns ?? true)
      ? this.#writes.track(
        new ShutdownStateFile(join(this.#dataDir, "pending-shutdown.json"), this.#writes.options),
      )
      : undefined;
    this.#actions = new ActionEngine(wiring.actionSettings(this.#config), {
      clock: this.#clock,
      emit: (draft) => this.emit(draft),
      notify: ports.notify?.bind(ports) ?? ((event) => void this.#notifiers.notify(event)),
      runCommandFile: ports.runCommandFile?.bind(ports) ?? wiring.runCommand,
      eventEnvironment: (event) => wiring.eventEnvironment(event),
      loads: () => new Map(this.#monitor.snapshot().map((s) => [s.card, s.reading.loadPercent])),
      persist: this.#stateFile,
      // A rehearsal: the agent's dry run, or an OS-shutdown recorder (never resumed by a real run).
      dryRun: this.#dryRun || executor.dryRun,
      bootId: options.bootId ?? currentBootId(),
      reportError: (message) => this.#logger.error(message),
    }, this.#sequencer);
    this.bus.subscribe((event) => this.#actions.handle(event));
    // Advanced UPS setups (src/setups/): an engine and a sequence each; the host's OS step stays here.
    this.#setups = new AdvancedSetups({
      clock: this.#clock,
      emit: (draft) => this.emit(draft),
      runCommandFile: runShutdownCommand,
      turnOffUps,
      os: executor,
      sshRunner: (emit) =>
        new SshActionRunner({
          clock: this.#clock,
          emit,
          actions: () => [],
          dryRun: this.#dryRun,
          run: ports.sshAction?.bind(ports),
          pin: options.pinSshHostKey,
        }),
      startHostSequence: (trigger) => this.#actions.startSequence(trigger),
      hostSync: ports.hostSync ?? this.#servers?.hostSync, // FSD for the NUT secondaries of the setup's UPSs
      loads: () => new Map(this.#monitor.snapshot().map((s) => [s.card, s.reading.loadPercent])),
      stateFile: (section) =>
        this.#stateFile
          ? this.#writes.track(
            new ShutdownStateFile(
              join(this.#dataDir, `pending-shutdown-${section}.json`),
              this.#writes.options,
            ),
          )
          : undefined,
      dryRun: this.#dryRun || executor.dryRun,
      bootId: options.bootId ?? currentBootId(),
      reportError: (message) => this.#logger.error(message),
    });
    this.#setups.configure(this.#config, wiring.actionSettings(this.#config));
    this.bus.subscribe((event) => this.#setups.handle(event));
  }

  /** Starts the agent: binds the UDP listener and starts watching the configured cards. */
  static start(options: AgentOptions): Agent {
    const agent = new Agent(options);
    const { networking, nmc } = agent.#config;
    agent.#udp = UdpListener.open(
      networking.udpPort,
      networking.udpListenAddresses,
      (data, from) => agent.receive(data, from),
      MAX_PACKET_BYTES, // a longer one is refused by its length: no copy (see UdpListener.open)
    );
    agent.#monitor.start();
    agent.#notifiers.prepare();
    agent.#ssh.prepare();
    const where = agent.#udp.addresses.map((a) => `${a.hostname}:${a.port}`).join(", ");
    const cards = nmc.cards.length ? nmc.cards.join(", ") : "none configured yet";
    agent.emit({
      id: "MonitoringStarted",
      note: `UDP ${where}; NMCs: ${cards}${agent.#dryRun ? "; dry run: the OS will not be shut down" : ""}`,
      details: { udp: where, cards: nmc.cards, dryRun: agent.#dryRun },
    });
    if (nmc.cards.length === 0) {
      agent.#logger.warn(
        "no NMC address is configured ([NetworkManagementCard] ip_1): every packet is rejected",
      );
    }
    agent.#history.restore(agent.#config.nmc.cards);
    // Read the persisted countdowns before anything re-evaluates (and rewrites) them.
    agent.#restoreCountdowns();
    agent.#setups.restore();
    agent.#applyCommandFileChecks(agent.#config);
    void agent.#servers?.apply(agent.#config);
    if (agent.#sshOnStart) void agent.#ssh.runPhase("onStartup");
    return agent;
  }

  /** The NUT and NIS servers (tests wait on `settled()`; undefined when the agent runs none). */
  get servers(): NetworkServers | undefined {
    return this.#servers;
  }

  /** The bound UDP port. */
  get udpPort(): number {
    return this.#udp?.port ?? 0;
  }

  /** The configuration in effect. */
  get config(): AgentConfig {
    return this.#config;
  }

  /**
   * Handles one datagram (the UDP listener calls this; tests may too). Nothing of `data` is kept after the
   * call: an oversize one is a view of the listener's buffer.
   */
  receive(data: Uint8Array, from?: Deno.NetAddr): void {
    if (!this.#stopped) this.#engine.receive(data, from);
  }

  /** Publishes an event (stamped with the agent's clock). */
  emit(draft: EventDraft): AgentEvent {
    const event = makeEvent(draft, this.#clock.now());
    this.bus.publish(event);
    return event;
  }

  /** The last 24 h of battery, load and line voltage of a card (oldest first). */
  history(card: string): HistorySample[] {
    return this.#history.samples(card);
  }

  /** The last hour of a card's history at the fine interval (10 s), oldest first. */
  recentHistory(card: string): HistorySample[] {
    return this.#history.recent(card);
  }

  /**
   * Starts registering this host with every configured card (and answering
   * their negotiation), following config changes from then on. Certificate
   * pins go to `nmc-pins.json` in the data directory.
   */
  startRegistration(options: RegistrationStartOptions = {}): void {
    if (this.#registrar || this.#stopped) return;
    this.#registrar = new Registrar(wiring.registrarSettings(this.#config, this.udpPort), {
      clock: this.#clock,
      emit: (draft) => this.emit(draft),
      pins: new PinStore(this.#dataDir),
      lastCounters: (card) => this.#engine.counters(card),
      clientList: (card) => this.#monitor.get(card)?.clients,
      cardAddresses: () => this.#cardNames.addresses,
      webPorts: options.webPorts,
      timeoutMs: options.timeoutMs,
      exchange: options.exchange,
    });
    this.#registrar.start(options.initialDelayMs ?? 0);
  }

  /** The registrar, once registration was started (tests wait on its `idle()`). */
  get registrar(): Registrar | undefined {
    return this.#registrar;
  }

  /**
   * Answers a card's shutdown-time negotiation request (the query of
   * `GET /pcnsnegotiate.htm`); 503 while registration is not started.
   */
  answerNegotiation(query: URLSearchParams, remoteAddress: string): NegotiationReply {
    if (!this.#registrar || this.#stopped) {
      return { status: 503, body: "negotiation is not available (registration is not running)\n" };
    }
    return this.#registrar.negotiate(query, remoteAddress);
  }

  /** Where the event log is written. */
  get eventLogPath(): string {
    return this.#recorder.path;
  }

  /** What the agent knows now. */
  status(): AgentStatus {
    const nut = this.#servers?.nutStatus();
    return {
      udp: this.#udp?.addresses ?? [],
      packets: this.#engine.stats(),
      ups: this.#monitor.snapshot(),
      counters: this.#config.nmc.cards.map((card) => ({ card, ...this.#engine.cardCounters(card) })),
      registration: this.#registrar?.status() ?? [],
      dryRun: this.#dryRun,
      upsNames: this.#config.nut?.ups ??
        this.#config.nmc.cards.map((card, i) => ({ name: `nmc${i + 1}`, card })),
      ...(nut ? { nut } : {}),
      shutdown: {
        phase: this.#sequencer.phase,
        step: this.#sequencer.step,
        trigger: this.#actions.trigger,
        countdowns: this.#actions.countdowns(),
        ...(this.#sequencer.outcome ? { outcome: this.#sequencer.outcome } : {}),
        ...(this.#actions.rearmsWhen !== undefined ? { rearms: this.#actions.rearmsWhen } : {}),
        ...(this.#sequencer.startedAt !== undefined ? { startedAt: this.#sequencer.startedAt } : {}),
        ...(this.#sequencer.stepSince !== undefined ? { stepSince: this.#sequencer.stepSince } : {}),
        active: this.#actions.active(),
      },
      setups: this.#setups.status(),
    };
  }

  /**
   * Re-arms the shutdown after a finished sequence (`by` names who asked); refused while the sequence
   * runs. The web API raises a ShutdownResetRequested event instead, which the action engine handles.
   */
  resetShutdown(by: string): ShutdownReset {
    return this.#actions.reset(by);
  }

  /**
   * Forgets the replay counters of `card` (or of every card), so a card whose counters went back (rebooted
   * or replaced) is followed again from its next authenticated packet. `by` names who asked. Returns the
   * cards reset.
   */
  resetCounters(card: string | undefined, by: string): string[] {
    return this.#engine.resetCounters(card, by);
  }

  /** Applies a new configuration without a restart. */
  async applyConfig(config: AgentConfig): Promise<void> {
    if (this.#stopped) return;
    // The command files are looked at first, asynchronously and bounded: their disk may not answer.
    const files = await commandFileChecker(wiring.commandFilePaths(config));
    // A reload that raced a stop applies nothing: it would open listeners and sockets nobody closes.
    if (this.#stopped) return;
    const old = this.#config;
    this.#config = config;
    this.#recorder.configure(config); // first: what the reload reports is logged as the new file says
    this.#engine.configure(wiring.gateSettings(config, this.#cardNames.addresses));
    // The kernel filter lists the old cards: lift it (it comes back at once if the flood goes on).
    this.#floodGuard.reset();
    this.#cardNames.configure(config.nmc.cards);
    this.#monitor.configure(wiring.monitorSettings(config));
    this.#history.retain(config.nmc.cards);
    this.#applyCommandFileChecks(config, files.check);
    for (const path of files.unanswered) {
      this.emit({
        id: "ConfigWarning",
        note: `command file ${path} could not be checked: its disk did not answer within ${
          COMMAND_FILE_CHECK_WAIT_MS / 1000
        } s; it stays enabled (a run is bounded by its time limit)`,
        details: { path },
      });
    }
    if (JSON.stringify(old.notifications) !== JSON.stringify(config.notifications)) {
      this.#notifiers.close();
      this.#notifiers = this.#buildNotifiers(config);
      this.#notifiers.prepare();
    }
    const udpChanged = old.networking.udpPort !== config.networking.udpPort ||
      !sameList(old.networking.udpListenAddresses, config.networking.udpListenAddresses);
    if (udpChanged) await this.#rebindUdp(old);
    this.#registrar?.configure(wiring.registrarSettings(config, this.udpPort));
    this.#ssh.prepare();
    await this.#servers?.apply(config);
  }

  /** Stops listening, stops the timers and closes the event log. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    // Stopped by the very OS shutdown the sequence started: let that step log its OsShutdown first (bounded).
    await this.#osStepSettled(5000);
    if (this.#stopped) return;
    this.emit({ id: "MonitoringStopped" });
    this.#stopped = true;
    await this.#registrar?.stop();
    this.#monitor.stop();
    this.#cardNames.stop();
    this.#floodGuard.reset();
    this.#setups.abort(); // first: a setup waiting for the host's sequence must not see it end
    this.#sequencer.abort();
    await this.#actions.stop();
    await this.#setups.stop();
    await this.#ssh.stop();
    await this.#servers?.stop();
    await this.#udp?.close();
    this.#engine.flush();
    this.#history.save(true);
    await Promise.all([this.#writes.beforeStop(), this.#recorder.close()]);
    this.#notifiers.close();
  }

  /**
   * Resolves true once everything saved so far to the state files (replay counters, pending shutdown, chart
   * history) is on disk or failed, false if that takes longer than `timeoutMs` (a disk that does not answer).
   */
  stateSaved(timeoutMs: number): Promise<boolean> {
    return this.#writes.settled(timeoutMs);
  }

  /**
   * Resolves true once every event so far is in the event log (or counted as lost), false if that takes
   * longer than `timeoutMs` (a disk that does not answer).
   */
  eventLogWritten(timeoutMs: number): Promise<boolean> {
    return this.#recorder.written(timeoutMs);
  }

  /** Waits (at most `timeoutMs`, real time) while the sequence's OS-shutdown command runs. */
  async #osStepSettled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#sequencer.step === "OS shutdown" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Checks the configured command files; a broken one is reported and disabled (as PCNS does). */
  #applyCommandFileChecks(config: AgentConfig, check?: (path: string) => string | undefined): void {
    const problems = wiring.commandFileProblems(config, check);
    for (const p of problems) {
      this.emit({
        id: "ConfigWarning",
        note: `${p.key} = ${p.path}: ${p.problem}; that command file is disabled until this is fixed`,
        details: { key: p.key, path: p.path },
      });
    }
    const usable = wiring.withoutBrokenCommandFiles(config, problems);
    prepareExecOutlooks(wiring.commandFilePaths(usable)); // their first start need not look at the disk
    this.#actions.configure(wiring.actionSettings(usable));
    this.#setups.configure(usable, wiring.actionSettings(usable));
  }

  #buildNotifiers(config: AgentConfig): NotifierSet {
    const notifiers = wiring.buildNotifiers(config, this.#clock, (problem) => this.#logger.error(problem));
    return wiring.notifierSet(notifiers, (text) => this.emit({ id: "NotificationFailed", note: text }));
  }

  #restoreCountdowns(): void {
    const saved = this.#stateFile?.load();
    if (saved === undefined) return;
    if (typeof saved === "string") {
      this.emit({ id: "CountdownDropped", note: `pending-shutdown.json ignored: ${saved}` });
      this.#stateFile?.clear((error) => error && this.emit({ id: "StateNotSaved", note: error.message }));
      return;
    }
    this.#actions.restore(saved);
  }

  async #rebindUdp(old: AgentConfig): Promise<void> {
    const { udpPort, udpListenAddresses } = this.#config.networking;
    const open = (port: number, hosts: readonly string[]) =>
      UdpListener.open(port, hosts, (data, from) => this.receive(data, from), MAX_PACKET_BYTES);
    const previous = this.#udp;
    // The same port on other addresses cannot be bound while the old sockets hold it: release them first.
    const samePort = udpPort !== 0 && udpPort === previous?.port;
    if (samePort) await previous?.close();
    if (this.#stopped) return; // stopped meanwhile: bind nothing
    try {
      this.#udp = open(udpPort, udpListenAddresses);
    } catch (error) {
      if (samePort) this.#udp = open(old.networking.udpPort, old.networking.udpListenAddresses);
      this.emit({
        id: "ListenerFailed",
        note: `${(error as Error).message}; still listening on UDP port ${this.#udp?.port}`,
      });
      return;
    }
    if (!samePort) await previous?.close();
    this.#logger.info(
      `UDP listener now on ${this.#udp.addresses.map((a) => `${a.hostname}:${a.port}`).join(", ")}`,
    );
  }
}
