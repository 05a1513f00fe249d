/**
 * `notify test [--channel email|webhook|syslog|snmp]`: sends a test message
 * now through the configured notification channels (all of them, or the one
 * named) and prints, per channel, ok or the error. Exit code 1 when any
 * channel failed, when the named channel is not configured, or when none is.
 * The message is a NotificationTest event; nothing is sent to the running
 * agent and nothing is written to its event log. No retries: the first
 * failure is the answer (the agent itself retries as configured).
 *
 * @module
 */
import type { Command } from "commander";
import { buildNotifiers } from "../agent/wiring.ts";
import { dirOf } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import type { AgentConfig } from "../config/types.ts";
import { type AgentEvent, makeEvent } from "../events/types.ts";
import type { Notifier, NotifyResult } from "../notify/notifier.ts";
import { localHostname } from "../notify/webhook.ts";
import { systemClock } from "../time/clock.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { configFlagHelp, platformConfigPath } from "./help_text.ts";

/** The channels `notify test` knows. */
export const NOTIFY_CHANNELS = ["email", "webhook", "syslog", "snmp"] as const;

/** One notification channel. */
export type NotifyChannel = typeof NOTIFY_CHANNELS[number];

/** What happened on one channel. */
export interface ChannelOutcome {
  /** The channel. */
  readonly channel: NotifyChannel;
  /** Its name with the target (`email smtp://host:587 (starttls) to 1 recipient`), or the channel. */
  readonly name: string;
  /** Not configured: nothing was sent. */
  readonly configured: boolean;
  /** The delivery result, when something was sent (or could not be built). */
  readonly result?: NotifyResult;
  /** Why it is not configured, or what is wrong with its settings. */
  readonly note?: string;
}

/** The test event (pure over `time` and `host`). */
export function testEvent(time: number, host: string): AgentEvent {
  return makeEvent({
    id: "NotificationTest",
    note: `sent from ${host} by pcns-agent notify test to check this channel; nothing happened to any UPS`,
    details: { host },
  }, time);
}

/** What leaves a channel unconfigured (pure), or undefined when it is configured. */
export function unconfigured(config: AgentConfig, channel: NotifyChannel): string | undefined {
  const n = config.notifications;
  switch (channel) {
    case "email":
      return n.email?.smtpHost ? undefined : "not configured ([Email] smtpHost is empty)";
    case "webhook":
      return n.webhookUrl ? undefined : "not configured ([Notifications] webhookUrl is empty)";
    case "syslog":
      return n.syslog ? undefined : "not configured ([Notifications] syslog is empty)";
    case "snmp":
      return config.snmp?.trapReceivers.length
        ? undefined
        : "SNMP traps are not configured ([SNMP] trapReceiver_1 is empty)";
  }
}

/** The notifier of one channel (webhook, syslog, e-mail: as the agent builds them, without retries). */
function channelNotifier(config: AgentConfig, channel: Exclude<NotifyChannel, "snmp">): Notifier | string {
  const problems: string[] = [];
  const only: AgentConfig = {
    ...config,
    notifications: {
      ...config.notifications,
      webhookUrl: channel === "webhook" ? config.notifications.webhookUrl : "",
      webhookRetries: 0,
      syslog: channel === "syslog" ? config.notifications.syslog : "",
      ...(config.notifications.email
        ? { email: channel === "email" ? { ...config.notifications.email, retries: 0 } : undefined }
        : {}),
    },
  };
  const [notifier] = buildNotifiers(only, systemClock, (problem) => problems.push(problem));
  return notifier ?? (problems.join("; ") || `${channel}: cannot be set up`);
}

/** Sends one SNMP test trap (upsTrapTestCompleted) to every configured receiver, through the SNMP helper's sender. */
async function snmpTest(
  config: AgentConfig,
  dataDir: string,
): Promise<{ name: string; result: NotifyResult }> {
  const snmpSettings = config.snmp!;
  const receivers = snmpSettings.trapReceivers.join(", ");
  const name = `snmp ${snmpSettings.trapVersion} traps to ${receivers}`;
  try {
    const [{ TrapSender, testNotification }, { snmp }, { ENGINE_FILE, parseEngineFile }] = await Promise.all([
      import("../snmp/traps.ts"),
      import("../snmp/netsnmp.ts"),
      import("../snmp/engine.ts"),
    ]);
    let engineId = "8000b98305000000000000000000000000";
    if (snmpSettings.trapVersion === "v3") {
      const saved = await Deno.readTextFile(`${dataDir}/${ENGINE_FILE}`).then(
        parseEngineFile,
        () => undefined,
      );
      if (!saved) {
        return {
          name,
          result: {
            ok: false,
            attempts: 0,
            error:
              `no SNMP engine ID yet (${ENGINE_FILE} in ${dataDir}): start the agent once, then test v3 traps`,
          },
        };
      }
      engineId = saved.engineId;
    }
    const failures: string[] = [];
    const sender = new TrapSender(
      snmp,
      snmpSettings,
      engineId,
      (receiver, text) => failures.push(`${receiver}: ${text}`),
    );
    try {
      const outcomes = await sender.send(testNotification(), 1);
      const errors = outcomes.filter((o) => o.error).map((o) => `${o.receiver}: ${o.error}`);
      return errors.length === 0 && outcomes.length > 0 ? { name, result: { ok: true, attempts: 1 } } : {
        name,
        result: {
          ok: false,
          attempts: 1,
          error: [...new Set([...errors, ...failures])].join("; ") || "no receiver",
        },
      };
    } finally {
      sender.close();
    }
  } catch (error) {
    return { name, result: { ok: false, attempts: 0, error: (error as Error).message ?? String(error) } };
  }
}

/** Sends the test message through `channels` (default all), one outcome per channel, in order. */
export async function runNotifyTest(
  config: AgentConfig,
  options: { channels?: readonly NotifyChannel[]; dataDir: string; now?: number; host?: string },
): Promise<ChannelOutcome[]> {
  const host = options.host ?? localHostname();
  const event = testEvent(options.now ?? Date.now(), host);
  const channels = options.channels ?? NOTIFY_CHANNELS;
  return await Promise.all(channels.map(async (channel): Promise<ChannelOutcome> => {
    const missing = unconfigured(config, channel);
    if (missing) return { channel, name: channel, configured: false, note: missing };
    if (channel === "snmp") {
      const { name, result } = await snmpTest(config, options.dataDir);
      return { channel, name, configured: true, result };
    }
    const notifier = channelNotifier(config, channel);
    if (typeof notifier === "string") {
      return {
        channel,
        name: channel,
        configured: true,
        result: { ok: false, attempts: 0, error: notifier },
      };
    }
    try {
      return { channel, name: notifier.name, configured: true, result: await notifier.notify(event) };
    } finally {
      notifier.close?.();
    }
  }));
}

/** One line per outcome (pure): `ok  email smtp://... (1 attempt)`, `FAILED  webhook ...: why`, `-  syslog: not configured ...`. */
export function formatOutcome(o: ChannelOutcome): string {
  if (!o.configured) return `-       ${o.channel}: ${o.note}`;
  if (o.result?.ok) return `ok      ${o.name}`;
  return `FAILED  ${o.name}: ${o.result?.error ?? "unknown error"}`;
}

/** Exit status of a test run: failed when any configured channel failed, or nothing was sent at all. */
export function notifyTestFailed(outcomes: readonly ChannelOutcome[], named: boolean): boolean {
  if (outcomes.some((o) => o.configured && !o.result?.ok)) return true;
  if (named) return outcomes.some((o) => !o.configured);
  return !outcomes.some((o) => o.configured);
}

/** Adds `notify test`. */
export function registerNotifyCommands(program: Command, io: CliIo = denoIo()): void {
  const notify = program.command("notify").description(
    "notification channels (e-mail, webhook, syslog, SNMP traps)",
  );
  notify
    .command("test")
    .description(
      "send a test message now through the configured channels; prints ok or the error per channel",
    )
    .option("--channel <name>", `only this channel: ${NOTIFY_CHANNELS.join(", ")}`)
    .option("-c, --config <path>", configFlagHelp())
    .action(async (opts: { channel?: string; config?: string }) => {
      const channel = opts.channel?.trim().toLowerCase();
      if (channel !== undefined && !(NOTIFY_CHANNELS as readonly string[]).includes(channel)) {
        throw new CliError(
          `--channel: "${opts.channel}" is not a channel (use ${NOTIFY_CHANNELS.join(", ")})`,
          EXIT_USAGE,
        );
      }
      const path = opts.config ?? Deno.env.get("PCNS_AGENT_CONFIG") ?? platformConfigPath();
      const inspection = await inspectConfig(path, false);
      if (!inspection.exists && !inspection.backupExists) {
        throw new CliError(`${path}: no such configuration file (and no backup)`);
      }
      const config = inspection.evaluation.config;
      if (!inspection.evaluation.ok || !config) {
        const first = inspection.evaluation.problems.find((p) => p.level === "error");
        throw new CliError(`${path}: the configuration has errors (${first?.message ?? "see config check"})`);
      }
      const outcomes = await runNotifyTest(config, {
        channels: channel ? [channel as NotifyChannel] : undefined,
        dataDir: dirOf(path),
      });
      for (const o of outcomes) io.out(formatOutcome(o));
      if (!notifyTestFailed(outcomes, channel !== undefined)) return;
      const configured = outcomes.filter((o) => o.configured);
      const failed = configured.filter((o) => !o.result?.ok).length;
      throw new CliError(
        configured.length === 0
          ? channel
            ? `the ${channel} channel is not configured`
            : "no notification channel is configured ([Email], [Notifications] webhookUrl / syslog, [SNMP] trapReceiver_N)"
          : `${failed} of ${configured.length} channel(s) failed`,
      );
    });
}
