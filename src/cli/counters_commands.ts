/**
 * `counters show` and `counters reset [--card IP]`: the NMCs' replay
 * counters. A card whose counters went back (rebooted or replaced, a counter
 * wrapped) has its authenticated packets refused as replayed until its
 * counters are reset. Both talk to the running agent through its API (same
 * connection options and password rules as `status`); `reset --offline`
 * edits the saved counters in the data directory of a stopped agent instead.
 *
 * @module
 */
import type { Command } from "commander";
import { dirOf } from "../config/paths.ts";
import { formatCounters } from "../nmc/counters.ts";
import { CounterFile } from "../nmc/counterstore.ts";
import {
  alignStatusLines,
  apiGet,
  configPathOf,
  connection,
  type ConnectionFlags,
  connectionOptions,
  httpClient,
} from "./agent_commands.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { configFlagHelp } from "./help_text.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** One card's counters as a line (pure). */
export function formatCardCounters(c: Json): string {
  const counters = c.counters ? formatCounters(c.counters) : "none yet (its next packet is accepted)";
  const stuck = c.stuck
    ? `; STUCK: ${c.stuck.refused} authenticated packets refused as replayed since ${
      new Date(c.stuck.since).toISOString()
    } (the card sends ${formatCounters(c.stuck.latest)}): if it was rebooted or replaced, run ` +
      `pcns-agent counters reset --card ${c.card}`
    : "";
  return `NMC ${c.card}: last accepted ${counters}${stuck}`;
}

interface CountersFlags extends ConnectionFlags {
  card?: string;
  offline?: boolean;
}

const checkCard = (card: string | undefined) => {
  if (card !== undefined && !/^[0-9A-Fa-f.:]+$/.test(card)) {
    throw new CliError(`counters reset --card: "${card}" is not an IP address`, EXIT_USAGE);
  }
};

async function showAction(flags: CountersFlags, configPath: string, io: CliIo): Promise<void> {
  const c = await connection(flags, "counters show", configPath);
  const client = httpClient(c);
  try {
    const status = await apiGet(c, "/api/v1/status", "counters show", client);
    if (flags.json) io.out(JSON.stringify(status.counters ?? [], null, 2));
    else for (const line of alignStatusLines((status.counters ?? []).map(formatCardCounters))) io.out(line);
  } finally {
    client?.close();
  }
}

async function resetAction(flags: CountersFlags, configPath: string, io: CliIo): Promise<void> {
  checkCard(flags.card);
  if (flags.offline) {
    const file = new CounterFile(dirOf(configPath));
    const saved = file.load();
    if (typeof saved === "string") throw new CliError(`counters reset: ${saved}`);
    const cards = saved ?? new Map();
    const reset = flags.card === undefined ? [...cards.keys()] : cards.has(flags.card) ? [flags.card] : [];
    for (const card of reset) cards.delete(card);
    const failed = await new Promise<Error | undefined>((resolve) => file.save(cards, resolve));
    if (failed) throw new CliError(`counters reset: cannot write ${file.path}: ${failed.message}`);
    io.out(
      reset.length ? `counters reset for ${reset.join(", ")} in ${file.path}` : "no saved counters to reset",
    );
    return;
  }
  const c = await connection(flags, "counters reset", configPath);
  const client = httpClient(c);
  try {
    const query = flags.card === undefined ? "" : `?card=${encodeURIComponent(flags.card)}`;
    const answer = await apiGet(c, `/api/v1/counters/reset${query}`, "counters reset", client, "POST");
    if (flags.json) {
      io.out(JSON.stringify(answer, null, 2));
      return;
    }
    io.out(
      answer.reset?.length
        ? `counters reset for ${answer.reset.join(", ")}: the next authenticated packet is accepted`
        : "no counters to reset",
    );
  } finally {
    client?.close();
  }
}

/** Adds `counters show` and `counters reset`. Exit codes: 0 done, 1 refused or unreachable, 2 usage. */
export function registerCountersCommands(program: Command, io: CliIo = denoIo()): void {
  const counters = program.command("counters").description("the NMCs' replay counters (SR/SU)");
  const configHelp = configFlagHelp("configuration file, to find the agent");
  connectionOptions(
    counters.command("show").description("show each NMC's last accepted counters and whether it is stuck"),
    configHelp,
  ).action((flags: CountersFlags, cmd: Command) => showAction(flags, configPathOf(cmd, program), io));
  connectionOptions(
    counters.command("reset")
      .description(
        "forget an NMC's counters (after a card reboot or replacement): its next packet is accepted",
      )
      .option("--card <ip>", "only this NMC (default: every NMC)")
      .option("--offline", "edit the saved counters of a stopped agent in its data directory"),
    configHelp,
  ).action((flags: CountersFlags, cmd: Command) => resetAction(flags, configPathOf(cmd, program), io));
}
