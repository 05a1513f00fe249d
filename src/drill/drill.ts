/**
 * The shutdown drill: replays a scenario against the real configuration on a
 * virtual clock, with every side effect recorded instead of run (OS
 * shutdown, UPS turn-off, command files, notifications), and returns the
 * exact timeline: what would run at which second and why. Minutes of delays
 * take milliseconds. With `[NUT]` on, the timeline shows FSD being set for the
 * NUT secondaries and the wait for them, assumed to last the full
 * hostSyncTimeout (a secondary that never logs out); no server is opened.
 * With `[SNMP]` on and a trapReceiver_N set, it shows each trap the SNMP
 * agent would send (and each repeat) at its second, from the same alarm
 * table and schedule (`snmp/alarmtraps.ts`); no trap is sent.
 *
 * @module
 */
import { createClock } from "@sinonjs/fake-timers";
import { Agent } from "../agent/agent.ts";
import { buildNotifiers, commandFileProblems } from "../agent/wiring.ts";
import type { AgentConfig } from "../config/types.ts";
import type { AgentEvent } from "../events/types.ts";
import { Logger } from "../log/logger.ts";
import { describeMark, notificationMark } from "../notify/mark.ts";
import { RecordingExecutor } from "../shutdown/executor.ts";
import type { CommandRun } from "../shutdown/sequencer.ts";
import { applyStep, SCENARIO_STEPS, type ScenarioStep } from "../sim/scenarios.ts";
import { NmcSimulator } from "../sim/simulator.ts";
import type { HostSyncPort } from "../shutdown/sequencer.ts";
import type { Clock } from "../time/clock.ts";
import type { SshActionOutcome } from "../ssh/actions.ts";
import { sshSequenceSeconds, sshStepText } from "../ssh/plan.ts";
import { activeSetups, setupSequenceSeconds } from "../setups/plan.ts";
import { snmpSettings } from "../agent/network_servers.ts";
import { AlarmTraps, notificationName, servedCard } from "../snmp/alarmtraps.ts";
import { initialUpsState } from "../ups/state.ts";

/** Drill options. */
export interface DrillOptions {
  /** Scenario steps to play. */
  readonly steps: readonly ScenarioStep[];
  /** Seconds between steps. */
  readonly stepSeconds: number;
  /** Cards the steps apply to (default: every configured card). */
  readonly only?: readonly string[];
  /** Virtual seconds to keep running after the last step (default: long enough for every delay). */
  readonly tailSeconds?: number;
}

/** One line of the timeline. */
export interface DrillEntry {
  /** Seconds since the drill started. */
  readonly at: number;
  /** "step" (scenario), "event" (agent event), "action" (what would run) or "warning" (config problem). */
  readonly kind: "step" | "event" | "action" | "warning";
  /** What happened. */
  readonly text: string;
}

/** The drill's result. */
export interface DrillResult {
  /** Everything that happened, in order. */
  readonly timeline: readonly DrillEntry[];
  /** Seconds at which the OS shutdown would run, if it would. */
  readonly osShutdownAt?: number;
}

const STATUS_INTERVAL_MS = 25_000;

/** Runs a drill to its end; needs no root and touches nothing outside a temp dir. */
export async function runDrill(config: AgentConfig, options: DrillOptions): Promise<DrillResult> {
  const fake = createClock(Date.UTC(2026, 0, 1));
  const start = fake.now;
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => fake.clearTimeout(h as ReturnType<typeof fake.setTimeout>),
  };
  const at = () => Math.round(fake.now - start) / 1000;
  const timeline: DrillEntry[] = [];
  const action = (text: string) => timeline.push({ at: at(), kind: "action", text });

  for (const p of commandFileProblems(config)) {
    timeline.push({ at: 0, kind: "warning", text: `${p.key} = ${p.path}: ${p.problem}: it will NOT run` });
  }
  const cards = config.nmc.cards.length ? config.nmc.cards : ["127.0.0.1"];
  const drillConfig: AgentConfig = {
    ...config,
    nmc: { ...config.nmc, cards },
    networking: { ...config.networking, udpPort: 0, udpListenAddresses: ["127.0.0.1"] },
  };
  const channels = buildNotifiers(config, clock, () => {}).map((n) => n.name).join(", ") ||
    "no channel (none is configured)";
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-drill-" });
  const executor = new RecordingExecutor(() => fake.now);
  // Advanced UPS setups: the steps of a setup's own sequence name it.
  const bySetup = (setup: string | undefined) => (setup ? ` for advanced UPS setup ${setup}` : "");
  const setupOfSsh = (name: string) =>
    activeSetups(config).find((s) => s.sshActions.some((n) => n.toLowerCase() === name.toLowerCase()))?.name;
  const recordRun = (path: string, timeoutMs: number, env?: Record<string, string>): Promise<CommandRun> => {
    action(
      `would run command file ${path}${bySetup(env?.PCNS_SETUP)} (the drill assumes it takes its full ${
        timeoutMs / 1000
      } s)`,
    );
    const output = `drill: would run ${path} (assumed to take its full ${timeoutMs / 1000} s)`;
    return new Promise((resolve) =>
      clock.setTimeout(
        () =>
          resolve({
            ok: true,
            skipped: true,
            timedOut: false,
            exitCode: null,
            output,
            durationMs: timeoutMs,
          }),
        timeoutMs,
      )
    );
  };
  const agent = Agent.start({
    servers: false,
    config: drillConfig,
    dataDir,
    logger: new Logger(() => {}, "error"),
    clock,
    dryRun: true,
    executor,
    persistCountdowns: false,
    ports: {
      turnOffUps: (card) => {
        action(
          `would turn the UPS off through NMC ${card} (${config.nmc.protocol}, port ${config.nmc.port})`,
        );
        return Promise.resolve({
          ok: true,
          skipped: true,
          detail: `drill: would send the turn-off command to NMC ${card}; nothing was sent`,
        });
      },
      runCommandFile: recordRun,
      notify: (event) => {
        const mark = describeMark(notificationMark(event));
        action(`would notify ${event.id} via ${channels}${mark ? ` (${mark})` : ""}`);
      },
      hostSync: drillHostSync(config, action),
      // An SSH action: recorded, assumed to take its full duration; nothing is sent.
      sshAction: (ssh, timeoutMs) => {
        const seconds = timeoutMs / 1000;
        action(
          `would ${sshStepText(ssh)}${
            bySetup(setupOfSsh(ssh.name))
          } (the drill assumes it takes its full ${seconds} s)`,
        );
        const outcome: SshActionOutcome = {
          ok: true,
          skipped: true,
          note:
            `drill: would run ${ssh.commandFile} (assumed to take its full ${seconds} s); nothing was sent`,
          timedOut: false,
          hostKeyMismatch: false,
          commands: [],
          durationMs: timeoutMs,
        };
        return new Promise((resolve) => clock.setTimeout(() => resolve(outcome), timeoutMs));
      },
    },
    sshOnStart: false,
  });
  const onEvent = (event: AgentEvent) => {
    if (["MonitoringStarted", "MonitoringStopped", "ConfigWarning"].includes(event.id)) return;
    timeline.push({ at: at(), kind: "event", text: `${event.id}: ${event.message}` });
    if (event.id === "OsShutdown") {
      action(`would shut the OS down: ${executor.calls.at(-1)?.command.join(" ")}`);
    }
  };
  const unsubscribe = agent.bus.subscribe(onEvent);
  const traps = await drillTraps(
    drillConfig,
    agent,
    clock,
    action,
    (text) => timeline.push({ at: at(), kind: "warning", text }),
  );
  const unfollow = traps ? agent.bus.subscribe((event) => traps.follow(event)) : () => {};

  const sims = cards.map((card) =>
    new NmcSimulator({
      address: card,
      username: config.nmc.username,
      authenticationPhrase: config.nmc.authenticationPhrase,
      targets: [{ hostname: "127.0.0.1", port: agent.udpPort }],
      clock,
    })
  );
  const feed = () => {
    for (const sim of sims) if (!sim.silent) agent.receive(sim.buildStatus());
  };
  let heartbeat: ReturnType<typeof fake.setInterval> | undefined;
  try {
    feed();
    heartbeat = fake.setInterval(feed, STATUS_INTERVAL_MS);
    const targets = sims.filter((s) => !options.only || options.only.includes(s.address));
    for (const [index, step] of options.steps.entries()) {
      if (index > 0) await fake.tickAsync(options.stepSeconds * 1000);
      const who = targets.map((s) => s.address).join(", ");
      timeline.push({
        at: at(),
        kind: "step",
        text: `scenario: ${step} on ${who} (${SCENARIO_STEPS[step]})`,
      });
      for (const sim of targets) applyStep(sim, step);
      for (const sim of targets) if (!sim.silent) agent.receive(sim.buildStatus());
    }
    const longestDelay = Math.max(
      0,
      ...Object.values(config.events).map((a) => Math.max(a.shutdownDelay, a.notificationDelay ?? 0)),
    );
    const tail = options.tailSeconds ??
      longestDelay + config.shutdown.shutdownCommandFileDuration + config.shutdown.settleDelay +
        (config.nut?.enabled ? config.nut.hostSyncTimeout : 0) + sshSequenceSeconds(config.sshActions) +
        config.nmc.commLostTimeout + 60 +
        Math.max(0, ...activeSetups(config).map((s) => setupSequenceSeconds(config, s)));
    const deadline = fake.now + tail * 1000;
    while (fake.now < deadline && agent.status().shutdown.phase !== "done") await fake.tickAsync(1000);
  } finally {
    if (heartbeat !== undefined) fake.clearInterval(heartbeat);
    unsubscribe();
    unfollow();
    traps?.stop();
    await agent.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
  const os = executor.calls[0];
  return { timeline, osShutdownAt: os ? Math.round(os.at - start) / 1000 : undefined };
}

/**
 * The SNMP traps the agent would send ([SNMP] on, a trapReceiver_N set): the SNMP agent's own schedule
 * over the served card, each notification recorded as an action (undefined when no trap would be sent).
 */
async function drillTraps(
  config: AgentConfig,
  agent: Agent,
  clock: Clock,
  action: (text: string) => void,
  warn: (text: string) => void,
): Promise<AlarmTraps | undefined> {
  const settings = snmpSettings(config);
  if (!settings || settings.trapReceivers.length === 0) return undefined;
  const { trapProblem } = await import("../snmp/traps.ts");
  const problem = trapProblem(settings);
  let card: string;
  try {
    if (problem) throw new Error(`[SNMP] ${problem}`);
    card = servedCard(settings);
  } catch (error) {
    warn(`${(error as Error).message}: no SNMP trap will be sent`);
    return undefined;
  }
  const to = `${settings.trapReceivers.join(", ")} (${settings.trapVersion})`;
  const every = settings.trapRepeatInterval;
  const traps = new AlarmTraps({
    ups: () => agent.status().ups.find((u) => u.card === card) ?? initialUpsState(card),
    clock,
    repeatSeconds: () => every,
    send: (n, repeat) =>
      action(
        `would send SNMP trap ${notificationName(n)} for NMC ${card} to ${to}${
          repeat ? ` again (repeated every ${every} s while it holds)` : ""
        }`,
      ),
  });
  traps.sync();
  return traps;
}

/** The drill's NUT forced shutdown: records FSD and assumes a secondary that never logs out (the longest wait). */
function drillHostSync(config: AgentConfig, action: (text: string) => void): HostSyncPort {
  const assumed = ["a NUT secondary (the drill assumes one that does not log out)"];
  return {
    forceShutdown: (cards) => {
      const names = (config.nut?.ups ?? []).filter((u) => cards.length === 0 || cards.includes(u.card))
        .map((u) => u.name);
      action(`would set FSD on ${names.join(", ") || "the served UPS"}: stock upsmon secondaries shut down`);
      return { ups: names, loggedIn: 1, clients: assumed };
    },
    clearForcedShutdown: () => {},
    clearForcedShutdownOf: () => {},
    loggedIn: () => assumed,
    onLogout: () => () => {},
  };
}

/** Formats a timeline for the terminal. */
export function formatTimeline(result: DrillResult): string[] {
  const lines = result.timeline.map((e) => {
    const mark = e.kind === "step" ? ">>" : e.kind === "action" ? "=>" : e.kind === "warning" ? "!!" : "  ";
    return `${`+${e.at.toFixed(1)} s`.padStart(10)} ${mark} ${e.text}`;
  });
  lines.push(
    result.osShutdownAt === undefined
      ? "result: the OS would NOT be shut down in this scenario"
      : `result: the OS would be shut down at +${result.osShutdownAt.toFixed(1)} s`,
  );
  return lines;
}
