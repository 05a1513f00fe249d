/** Agents with advanced UPS setups on a fake clock, with every side effect recorded (tests/setups_*). */
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import { readEventLog } from "../../src/events/eventlog.ts";
import type { UpsSetupSettings } from "../../src/config/schema_setups.ts";
import type { SshActionSettings } from "../../src/config/schema_ssh.ts";
import type { AgentConfig } from "../../src/config/types.ts";
import type { AgentEvent } from "../../src/events/types.ts";
import { memoryLogger } from "../../src/log/logger.ts";
import type { OsShutdownExecutor, OsShutdownResult } from "../../src/shutdown/executor.ts";
import type { SshActionOutcome } from "../../src/ssh/actions.ts";
import { testConfig } from "./agent.ts";
import { fakeClock } from "./clock.ts";
import { statusPacket } from "./packets.ts";

/** Status bytes. */
export const ON_LINE = 0x08, ON_BATTERY = 0x10;

/** A setup with defaults. */
export function setup(section: number, more: Partial<UpsSetupSettings>): UpsSetupSettings {
  return {
    section: `advanced_ups_setup_${section}` as UpsSetupSettings["section"],
    name: `setup${section}`,
    cards: [],
    minimumHealthy: 1,
    shutdownCommandFile: "",
    shutdownCommandFileDuration: 0,
    shutdownThisServer: true,
    sshActions: [],
    turnOffUps: false,
    ...more,
  };
}

/** An enabled SSH action (never connected: the tests record it). */
export function sshAction(
  index: number,
  name: string,
  more: Partial<SshActionSettings> = {},
): SshActionSettings {
  return {
    section: `SSHAction${index}` as SshActionSettings["section"],
    name,
    enabled: true,
    host: "192.0.2.10",
    port: 22,
    user: "pcns",
    keyFile: "/etc/pcns/key",
    keyPassphrase: "",
    password: "",
    commandFile: `/etc/pcns/${name}.txt`,
    delay: 0,
    duration: 20,
    phase: "beforeShutdown",
    hostKeyFingerprint: "",
    ...more,
  };
}

/** An advanced-mode config with these cards, setups and SSH actions (PowerFailed: shutdown after 120 s). */
export function setupsConfig(
  cards: string[],
  upsSetups: UpsSetupSettings[],
  sshActions: SshActionSettings[] = [],
  hostCommandFile = "",
): AgentConfig {
  const base = testConfig({ cards });
  return {
    ...base,
    nmc: { ...base.nmc, mode: "advanced" },
    shutdown: { ...base.shutdown, shutdownCommandFile: hostCommandFile, shutdownCommandFileDuration: 10 },
    sshActions,
    upsSetups,
  };
}

/** Records OS shutdowns without being a dry run, so the state written is a real run's. */
export class RecordingRealExecutor implements OsShutdownExecutor {
  readonly dryRun = false;
  readonly calls: number[] = [];
  constructor(readonly now: () => number) {}
  shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult> {
    this.calls.push(this.now());
    return Promise.resolve({ ok: true, command: commands[0] ?? [] });
  }
}

/** One data directory and fake clock; agents started on it one after the other. */
export async function setupsSite() {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-setups-" });
  // The command files the configs name exist (the agent disables missing ones); the tests record them.
  for (const name of ["storage-down", "lab-down", "servers-down", "host-down"]) {
    Deno.writeTextFileSync(join(dataDir, name), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  }
  /** The path of one of those command files. */
  const script = (name: string) => join(dataDir, name);
  const { fake, clock } = fakeClock();
  const t0 = fake.now;
  const su = new Map<string, number>();
  const agents: Agent[] = [];
  const start = (
    config: AgentConfig,
    o: { dryRun?: boolean; bootId?: string; onBattery?: string[]; servers?: boolean } = {},
  ) => {
    const executor = new RecordingRealExecutor(() => fake.now);
    const at = () => (fake.now - t0) / 1000;
    const record = {
      turnOffs: [] as { card: string; at: number }[],
      commands: [] as { path: string; at: number; setup?: string }[],
      ssh: [] as { name: string; at: number }[],
      events: [] as AgentEvent[],
    };
    const agent = Agent.start({
      config,
      dataDir,
      logger: memoryLogger().logger,
      clock,
      dryRun: o.dryRun ?? false,
      executor,
      bootId: o.bootId ?? "boot-1",
      servers: o.servers ?? false, // the NUT/NIS/SNMP servers: off unless the test serves NUT
      sshOnStart: false,
      persistCounters: false,
      ports: {
        turnOffUps: (card) => {
          record.turnOffs.push({ card, at: at() });
          return Promise.resolve({ ok: true, detail: "test: accepted" });
        },
        runCommandFile: (path, timeoutMs, env) => {
          record.commands.push({ path, at: at(), setup: env.PCNS_SETUP });
          return new Promise((resolve) =>
            clock.setTimeout(
              () => resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: timeoutMs }),
              timeoutMs,
            )
          );
        },
        notify: () => {},
        sshAction: (action, timeoutMs) => {
          record.ssh.push({ name: action.name, at: at() });
          const outcome: SshActionOutcome = {
            ok: true,
            timedOut: false,
            hostKeyMismatch: false,
            commands: [],
            durationMs: 5000,
          };
          return new Promise((resolve) =>
            clock.setTimeout(() => resolve(outcome), Math.min(5000, timeoutMs))
          );
        },
      },
    });
    agent.bus.subscribe((e) => record.events.push(e));
    agents.push(agent);
    const status = new Map<string, number>(
      config.nmc.cards.map((c) => [c, o.onBattery?.includes(c) ? ON_BATTERY : ON_LINE]),
    );
    const send = (card: string) => {
      const next = (su.get(card) ?? 10) + 1;
      su.set(card, next);
      agent.receive(statusPacket({ card, su: next, status: status.get(card) }));
    };
    /** Sets cards' status byte and sends their packets at once. */
    const set = (cards: string[], value: number) => {
      for (const card of cards) {
        status.set(card, value);
        send(card);
      }
    };
    /** Advances `seconds`, every card sending its status every 20 s (no CommunicationLost). */
    const run = async (seconds: number) => {
      for (let left = seconds; left > 0; left -= 20) {
        await fake.tickAsync(Math.min(20, left) * 1000);
        for (const card of config.nmc.cards) send(card);
      }
    };
    for (const card of config.nmc.cards) send(card);
    return { agent, executor, record, set, run, at, stop: () => agent.stop() };
  };
  const pendingFile = (section?: string) =>
    join(dataDir, section ? `pending-shutdown-${section}.json` : "pending-shutdown.json");
  const readPending = (section?: string) => {
    try {
      return JSON.parse(Deno.readTextFileSync(pendingFile(section)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  };
  const close = async () => {
    for (const a of agents) await a.stop();
    await Deno.remove(dataDir, { recursive: true });
  };
  /** The event log since the last MonitoringStarted (the current agent's, start-up included). */
  const sinceStart = async () => {
    for (const a of agents) await a.eventLogWritten(5000);
    const log = await readEventLog(join(dataDir, "EventLog.jsonl"));
    return log.slice(log.findLastIndex((r) => r.id === "MonitoringStarted"));
  };
  return { dataDir, fake, script, start, readPending, sinceStart, close };
}

/** Events of one setup (details.setup), as ids. */
export function setupIds(events: readonly AgentEvent[], name: string): string[] {
  return events.filter((e) => e.details?.setup === name).map((e) => e.id);
}
