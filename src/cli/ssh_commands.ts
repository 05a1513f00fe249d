/**
 * `pcns-agent ssh test NAME [--config path] [--json]`: runs one SSH action (`[SSHActionN]`, found by its
 * `name` or its section name) now, whatever its phase and even when disabled, and prints what the remote
 * side answered, line by line. A host key seen for the first time (empty `hostKeyFingerprint`) is pinned
 * and written to the file, as the agent does. Exit codes: 0 every command ran and exited 0, 1 anything
 * else (no such action, unreachable, refused, a line failed, cut off at its duration), 2 usage.
 *
 * @module
 */
import type { Command } from "commander";
import { defaultConfigPath } from "../config/paths.ts";
import type { SshActionSettings } from "../config/schema_ssh.ts";
import { ConfigStore } from "../config/store.ts";
import { type EventDraft, makeEvent } from "../events/types.ts";
import { Logger } from "../log/logger.ts";
import { type SshActionOutcome, SshActionRunner, sshTarget } from "../ssh/actions.ts";
import { systemClock } from "../time/clock.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError } from "./errors.ts";
import { configFlagHelp } from "./help_text.ts";

/** The action called `name` (its `name`, else its section name; case-insensitive). Pure. */
export function findSshAction(
  actions: readonly SshActionSettings[],
  name: string,
): SshActionSettings | undefined {
  const lower = name.toLowerCase();
  return actions.find((a) => a.name.toLowerCase() === lower) ??
    actions.find((a) => a.section.toLowerCase() === lower);
}

/** The lines `ssh test` prints for an outcome. Pure. */
export function formatSshOutcome(action: SshActionSettings, outcome: SshActionOutcome): string[] {
  const lines = [
    `SSH action ${action.name} [${action.section}] on ${sshTarget(action)}, phase ${action.phase}` +
    (action.enabled ? "" : " (disabled: the agent does not run it)"),
  ];
  if (outcome.fingerprint) {
    const state = outcome.hostKeyMismatch
      ? `does NOT match the pinned ${action.hostKeyFingerprint}`
      : outcome.pinned
      ? "pinned on first contact"
      : "matches the pinned fingerprint";
    lines.push(`host key ${outcome.fingerprint} (${outcome.keyType}): ${state}`);
  }
  for (const c of outcome.commands) {
    lines.push(`$ ${c.command}`);
    const output = c.output.replace(/\n$/, "");
    if (output !== "") lines.push(...output.split("\n"));
    lines.push(
      c.signal
        ? `(killed by ${c.signal})`
        : c.exitCode === null
        ? "(no exit status)"
        : `(exit ${c.exitCode})`,
    );
  }
  const seconds = (outcome.durationMs / 1000).toFixed(1);
  lines.push(
    outcome.ok
      ? `result: ok: ${outcome.commands.length} command(s) ran in ${seconds} s`
      : `result: FAILED${outcome.timedOut ? " (cut off at its duration)" : ""}: ${outcome.error ?? "failed"}`,
  );
  return lines;
}

interface SshTestFlags {
  config?: string;
  json?: boolean;
}

async function testAction(name: string, flags: SshTestFlags, configPath: string, io: CliIo): Promise<void> {
  try {
    await Deno.stat(configPath);
  } catch {
    throw new CliError(`ssh test: no configuration file at ${configPath}`);
  }
  const logger = new Logger(
    (r) => io.err(`pcns-agent: ${r.level === "warn" ? "warning" : r.level}: ${r.message}`),
    "warn",
  );
  const store = await ConfigStore.open(configPath, { logger });
  try {
    const actions = store.current.sshActions ?? [];
    const action = findSshAction(actions, name);
    if (!action) {
      const known = actions.map((a) => `${a.name} [${a.section}]`).join(", ") || "none is configured";
      throw new CliError(`ssh test: no SSH action named ${name} in ${configPath} (${known})`);
    }
    for (const p of store.problems.filter((p) => p.key?.startsWith(`${action.section}.`))) {
      io.err(`pcns-agent: warning: ${p.message}`);
    }
    const events: EventDraft[] = [];
    const runner = new SshActionRunner({
      clock: systemClock,
      emit: (draft) => events.push(draft),
      actions: () => actions,
      dryRun: false,
      pin: async (section, fingerprint) => {
        await store.set({ [`${section}.hostKeyFingerprint`]: fingerprint }, { local: true });
      },
    });
    const outcome = await runner.runAction(action);
    if (flags.json) {
      io.out(JSON.stringify({ name: action.name, section: action.section, ...outcome }, null, 2));
    } else {
      for (const line of formatSshOutcome(action, outcome)) io.out(line);
      for (const e of events.filter((e) => e.id === "SshHostKeyPinned")) {
        io.out(makeEvent(e, Date.now()).message);
      }
    }
    if (!outcome.ok) throw new CliError(`ssh test ${action.name}: ${outcome.error ?? "failed"}`);
  } finally {
    await store.close();
  }
}

/** Adds `ssh test NAME`. */
export function registerSshCommands(program: Command, io: CliIo = denoIo()): void {
  const ssh = program.command("ssh").description("SSH actions ([SSHAction0] ... [SSHAction9])");
  ssh.command("test")
    .description("run one SSH action now and print what the remote side answered (exit 0 ok, 1 failed)")
    .argument("<name>", "the action's name (or its section, e.g. SSHAction0)")
    .option("--config <path>", configFlagHelp())
    .option("--json", "print the outcome as JSON")
    .action((name: string, flags: SshTestFlags) =>
      testAction(
        name,
        flags,
        flags.config ?? (program.opts().config as string | undefined) ?? defaultConfigPath(),
        io,
      )
    );
}
