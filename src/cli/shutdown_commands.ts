/**
 * `shutdown reset`: re-arms a running agent's shutdown after a sequence that
 * left the host up (`POST /api/v1/shutdown/reset`, same connection options
 * and password rules as `status`). Refused while the sequence runs.
 *
 * @module
 */
import type { Command } from "commander";
import {
  apiGet,
  configPathOf,
  connection,
  type ConnectionFlags,
  connectionOptions,
  httpClient,
} from "./agent_commands.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError } from "./errors.ts";
import { configFlagHelp } from "./help_text.ts";

async function resetAction(flags: ConnectionFlags, configPath: string, io: CliIo): Promise<void> {
  const c = await connection(flags, "shutdown reset", configPath);
  const client = httpClient(c);
  try {
    let answer;
    try {
      answer = await apiGet(c, "/api/v1/shutdown/reset", "shutdown reset", client, "POST");
    } catch (error) {
      // 409: the sequence runs; say so without the HTTP detail around it.
      const message = (error as Error).message;
      throw new CliError(message.replace(/the agent answered HTTP 409: /, ""));
    }
    if (flags.json) {
      io.out(JSON.stringify(answer, null, 2));
      return;
    }
    const pending = (answer.shutdown?.countdowns ?? []).map((
      cd: { eventId: string; remainingMs: number },
    ) => `${cd.eventId} pending, starts in ${Math.round(cd.remainingMs / 1000)} s`);
    if (!answer.rearmed) io.out(`shutdown: ${answer.message}`);
    else {
      io.out(
        `shutdown: re-armed${
          answer.shutdown?.phase === "running" ? "; a condition still holds: it runs again" : ""
        }`,
      );
    }
    for (const line of pending) io.out(`shutdown: ${line}`);
  } finally {
    client?.close();
  }
}

/** Adds `shutdown reset`. Exit codes: 0 re-armed or nothing to reset, 1 refused or unreachable, 2 usage. */
export function registerShutdownCommands(program: Command, io: CliIo = denoIo()): void {
  const shutdown = program.command("shutdown").description("act on the running agent's shutdown engine");
  connectionOptions(
    shutdown.command("reset").description(
      "re-arm the shutdown after a sequence that left the host up (a dry run, a failed OS shutdown)",
    ),
    configFlagHelp("configuration file, to find the agent"),
  ).action((flags: ConnectionFlags, cmd: Command) => resetAction(flags, configPathOf(cmd, program), io));
}
