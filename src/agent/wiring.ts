/**
 * How the configuration maps onto the engines' settings (pure), and the real
 * side-effect ports for the action engine and the shutdown sequence (command
 * files, notifications, the NMC turn-off), with the dry-run rules: in a dry
 * run the UPS turn-off and the shutdown command file are only recorded (and
 * reported as not done: UpsTurnOffSkipped, CommandFileSkipped), and the
 * OS-shutdown executor is a recorder.
 *
 * @module
 */
import type { ActionSettings } from "../actions/engine.ts";
import type { RegistrarSettings } from "./registrar.ts";
import { checkCommandFile } from "../actions/commandcheck.ts";
import { eventEnvironment, runCommandFile } from "../actions/commandfile.ts";
import { ALWAYS_SHUTDOWN } from "../actions/policy.ts";
import type { AgentConfig } from "../config/types.ts";
import { type EventId, SHUTDOWN_ROLES } from "../events/types.ts";
import { type KillPowerTarget, turnOffUps } from "../nmc/killpower.ts";
import { type GateSettings, MAX_PACKET_BYTES, type ReplayCounters } from "../nmc/gate.ts";
import type { DatagramFilterRule } from "../nmc/kernelfilter.ts";
import { EmailNotifier } from "../notify/email.ts";
import { type Notifier, NotifierSet } from "../notify/notifier.ts";
import { FailureRuns, trackSuccess } from "../notify/runs.ts";
import { SyslogNotifier } from "../notify/syslog.ts";
import { WebhookNotifier } from "../notify/webhook.ts";
import { shutdownCommands } from "../shutdown/executor.ts";
import {
  type CommandRun,
  sequenceSeconds,
  type SequenceSettings,
  type TurnOffResult,
} from "../shutdown/sequencer.ts";
import type { Clock } from "../time/clock.ts";
import type { MonitorSettings } from "../ups/monitor.ts";
import type { RuntimeSettings } from "../ups/runtime.ts";
import {
  activeSetups,
  hostExternal,
  hostSshActions,
  longestHandOverSeconds,
  setupSequenceSeconds,
} from "../setups/plan.ts";

/**
 * The shutdown-sequence settings of a config. With advanced UPS setups in use (`setups/plan.ts`) the
 * host's sequence turns no UPS off (each setup's turnOffUps does) and runs the SSH actions no setup lists.
 */
export function sequenceSettings(
  config: AgentConfig,
  os: typeof Deno.build.os = Deno.build.os,
): SequenceSettings {
  const setups = activeSetups(config).length > 0;
  const sshActions = setups ? hostSshActions(config) : config.sshActions ?? [];
  return {
    cards: setups ? [] : config.nmc.cards,
    turnOffUps: config.shutdown.turnOffUps && !setups,
    shutdownCommandFile: config.shutdown.shutdownCommandFile,
    shutdownCommandFileDuration: config.shutdown.shutdownCommandFileDuration,
    settleDelay: config.shutdown.settleDelay,
    osCommands: shutdownCommands(os, config.shutdown.osShutdownCommand),
    ...(config.nut?.enabled ? { hostSyncTimeout: config.nut.hostSyncTimeout } : {}),
    ...(sshActions.length ? { sshActions } : {}),
  };
}

/** A configured command file that cannot run. */
export interface CommandFileProblem {
  /** The config key naming it (`Events.event_PowerFailed_commandFilePath`, `Shutdown.shutdownCommandFile`). */
  readonly key: string;
  /** The path configured. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: string;
}

/** Every enabled command file that does not exist or cannot be run (checked on the file system). */
export function commandFileProblems(
  config: AgentConfig,
  check: (path: string) => string | undefined = checkCommandFile,
): CommandFileProblem[] {
  const problems: CommandFileProblem[] = [];
  for (const [id, actions] of Object.entries(config.events)) {
    if (!actions.enableCommandFile) continue;
    const problem = actions.commandFilePath ? check(actions.commandFilePath) : "no commandFilePath is set";
    if (problem) {
      problems.push({ key: `Events.event_${id}_commandFilePath`, path: actions.commandFilePath, problem });
    }
  }
  const file = config.shutdown.shutdownCommandFile;
  const problem = file ? check(file) : undefined;
  if (problem) problems.push({ key: "Shutdown.shutdownCommandFile", path: file, problem });
  for (const setup of activeSetups(config)) {
    const path = setup.shutdownCommandFile;
    const trouble = path ? check(path) : undefined;
    if (trouble) problems.push({ key: `${setup.section}.shutdownCommandFile`, path, problem: trouble });
  }
  return problems;
}

/** Every command file path the configuration would check (those enabled), in the order of the checks. */
export function commandFilePaths(config: AgentConfig): string[] {
  const paths: string[] = [];
  commandFileProblems(config, (path) => void paths.push(path));
  return paths;
}

/** The config with the broken command files disabled (as PCNS does), so nothing tries to run them. */
export function withoutBrokenCommandFiles(
  config: AgentConfig,
  problems: readonly CommandFileProblem[],
): AgentConfig {
  if (problems.length === 0) return config;
  const broken = new Set(problems.map((p) => p.key));
  const events = Object.fromEntries(
    Object.entries(config.events).map(([id, a]) => [
      id,
      broken.has(`Events.event_${id}_commandFilePath`) ? { ...a, enableCommandFile: false } : a,
    ]),
  );
  const shutdown = broken.has("Shutdown.shutdownCommandFile")
    ? { ...config.shutdown, shutdownCommandFile: "" }
    : config.shutdown;
  const upsSetups = config.upsSetups?.map((s) =>
    broken.has(`${s.section}.shutdownCommandFile`) ? { ...s, shutdownCommandFile: "" } : s
  );
  return { ...config, events, shutdown, ...(upsSetups ? { upsSetups } : {}) };
}

/**
 * The action-engine settings of a config: LowBattery and UpsTurnOffInitiated always shut down; other
 * events only if they can (SHUTDOWN_ROLES) and their shutdown action is enabled.
 */
export function actionSettings(config: AgentConfig): ActionSettings {
  const shutdownDelays = new Map<EventId, number>();
  for (const [id, actions] of Object.entries(config.events)) {
    const role = SHUTDOWN_ROLES[id as EventId];
    if (role === "always" || (role === "optional" && actions.enableShutdown)) {
      shutdownDelays.set(id as EventId, actions.shutdownDelay * 1000);
    }
  }
  for (const id of ALWAYS_SHUTDOWN) if (!shutdownDelays.has(id)) shutdownDelays.set(id, 0);
  const external = hostExternal(config, shutdownDelays);
  return {
    ...(external ? { external } : {}),
    policy: {
      mode: config.nmc.mode,
      cards: config.nmc.cards,
      redundantUps: config.nmc.redundantUps,
      shutdownDelays,
    },
    events: config.events,
    sequence: sequenceSettings(config),
  };
}

/**
 * Seconds this host needs from ShutdownStarting to powered off: command file + settle delay + the wait for
 * logged-in NUT secondaries (hostSyncTimeout, when the NUT server is on: a secondary may log in at any
 * time) + the SSH actions of the shutdown phases + the OS's own time.
 */
export function totalShutdownSeconds(config: AgentConfig): number {
  const hostSyncTimeout = config.nut?.enabled ? config.nut.hostSyncTimeout : undefined;
  const host = sequenceSeconds({
    ...config.shutdown,
    hostSyncTimeout,
    sshActions: sequenceSettings(config).sshActions,
  }) +
    config.shutdown.osShutdownDuration;
  // Advanced UPS setups: the longest setup handing over comes first; a setup that does not needs its own.
  const own = activeSetups(config).map((s) => setupSequenceSeconds(config, s));
  return Math.max(host + longestHandOverSeconds(config), ...own);
}

/**
 * The registrar settings of a config: the cards and credentials, this host's
 * configured address, the UDP port actually bound (`udpPort`), the time this
 * host needs to shut down (totalShutdownSeconds) and the configured web ports
 * (the HTTPS port only when the UI uses TLS).
 */
export function registrarSettings(config: AgentConfig, udpPort: number): RegistrarSettings {
  const { nmc, networking } = config;
  return {
    enabled: nmc.registerWithNmc,
    cards: nmc.cards,
    protocol: nmc.protocol,
    port: nmc.port,
    acceptCerts: nmc.acceptCerts,
    username: nmc.username,
    authenticationPhrase: nmc.authenticationPhrase,
    localHostAddress: nmc.localHostAddress,
    udpPort: udpPort || networking.udpPort,
    requiredSeconds: totalShutdownSeconds(config),
    webPorts: {
      httpPort: networking.httpPort,
      httpsPort: networking.uiProtocol === "https" ? networking.httpsPort : 0,
    },
  };
}

/** The runtime-check settings of a config. */
export function runtimeSettings(config: AgentConfig): RuntimeSettings {
  const onBattery = config.events.PowerFailed;
  return {
    thresholdMinutes: config.runtimeThreshold,
    totalShutdownSeconds: totalShutdownSeconds(config),
    onBatteryDelaySeconds: onBattery?.enableShutdown ? onBattery.shutdownDelay : 0,
  };
}

/** Builds the notifiers a config asks for; a bad setting is reported, not thrown. */
export function buildNotifiers(
  config: AgentConfig,
  clock: Clock,
  report: (problem: string) => void,
): Notifier[] {
  const n = config.notifications;
  const notifiers: Notifier[] = [];
  if (n.webhookUrl) {
    try {
      notifiers.push(
        new WebhookNotifier({
          url: n.webhookUrl,
          timeoutMs: n.webhookTimeout * 1000,
          retries: n.webhookRetries,
          clock,
        }),
      );
    } catch (error) {
      report(`[Notifications] webhookUrl: ${(error as Error).message}`);
    }
  }
  if (n.syslog) {
    const remote = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(n.syslog);
    const target = n.syslog === "local"
      ? "local" as const
      : { host: remote?.[1] ?? n.syslog, port: remote?.[2] ? Number(remote[2]) : undefined };
    notifiers.push(new SyslogNotifier({ target, clock }));
  }
  const email = n.email;
  if (email?.smtpHost) {
    try {
      notifiers.push(new EmailNotifier({ settings: email, clock }));
    } catch (error) {
      report(`[Email]: ${(error as Error).message}; no e-mail is sent until this is fixed`);
    }
  }
  return notifiers;
}

/**
 * A notifier set whose failures become NotificationFailed reports, one per failure run of a channel (its
 * first failure; the run ends with its next successful delivery: see `notify/runs.ts`).
 */
export function notifierSet(notifiers: Notifier[], onFailure: (text: string) => void): NotifierSet {
  const runs = new FailureRuns();
  return new NotifierSet(notifiers.map((n) => trackSuccess(n, runs)), (failure) => {
    const text = runs.failed(failure);
    if (text !== undefined) onFailure(text);
  });
}

/** Runs a command file and reports it in the sequencer's terms. */
export async function runCommand(
  path: string,
  timeoutMs: number,
  env: Record<string, string>,
): Promise<CommandRun> {
  const r = await runCommandFile({ path, env, timeoutMs });
  return {
    ok: r.ok,
    timedOut: r.timedOut,
    exitCode: r.exitCode,
    output: r.output,
    error: r.error,
    durationMs: r.durationMs,
  };
}

/** What was recorded instead of run in a dry run (`skipped`: reported as CommandFileSkipped). */
export function dryRunCommand(path: string, timeoutMs: number): Promise<CommandRun> {
  return Promise.resolve({
    ok: true,
    skipped: true,
    timedOut: false,
    exitCode: null,
    output: `dry run: would run ${path} (for up to ${Math.round(timeoutMs / 1000)} s)`,
    durationMs: 0,
  });
}

/** What a dry run records instead of turning the UPS off (`skipped`: reported as UpsTurnOffSkipped). */
export function dryRunTurnOff(config: AgentConfig, card: string): Promise<TurnOffResult> {
  const { protocol, port } = config.nmc;
  return Promise.resolve({
    ok: true,
    skipped: true,
    detail:
      `dry run: would send the turn-off command to NMC ${card} (${protocol}, port ${port}); nothing was sent`,
  });
}

/** How to reach a card per the config: its address, protocol, port, certificate policy and credentials. */
export function cardTarget(config: AgentConfig, card: string): KillPowerTarget {
  const n = config.nmc;
  return {
    card,
    protocol: n.protocol,
    port: n.port,
    acceptCerts: n.acceptCerts,
    username: n.username,
    authenticationPhrase: n.authenticationPhrase,
  };
}

/** Turns a UPS off through its NMC per the config, keeping the packet gate's replay counters in step. */
export async function turnOffThroughNmc(
  config: AgentConfig,
  card: string,
  counters: { get(card: string): ReplayCounters | undefined; advance(card: string, c: ReplayCounters): void },
): Promise<{ ok: boolean; error?: string; detail?: string }> {
  const result = await turnOffUps(cardTarget(config, card), {
    lastCounters: (c) => counters.get(c),
    onAccepted: (c, next) => counters.advance(c, next),
  });
  return { ok: result.ok, error: result.error, detail: result.detail };
}

export { eventEnvironment };

/**
 * The packet gate's settings: the card addresses (and those of the cards given by host name) and the
 * credentials packets are signed with.
 */
export function gateSettings(
  config: AgentConfig,
  cardAddresses: ReadonlyMap<string, string> = new Map(),
): GateSettings {
  return {
    username: config.nmc.username,
    authenticationPhrase: config.nmc.authenticationPhrase,
    cards: config.nmc.cards,
    cardAddresses,
    requireCardSource: config.networking.requireCardSource,
  };
}

/**
 * What the kernel filter lets through while a flood of datagrams no card sends goes on: datagrams no
 * longer than a card packet, and with `requireCardSource` only from the cards' addresses.
 */
export function unwantedDatagramRule(
  config: AgentConfig,
  cardAddresses: ReadonlyMap<string, string>,
): DatagramFilterRule {
  return {
    cards: config.networking.requireCardSource ? [...config.nmc.cards, ...cardAddresses.keys()] : undefined,
    maxPayloadBytes: MAX_PACKET_BYTES,
  };
}

/** The UPS monitor's settings: the cards, the communication-lost timeout, the runtime checks. */
export function monitorSettings(config: AgentConfig): MonitorSettings {
  return {
    cards: config.nmc.cards,
    commLostTimeoutMs: config.nmc.commLostTimeout * 1000,
    runtime: runtimeSettings(config),
  };
}
