/**
 * `token create|list|revoke`: API tokens for scripts and monitoring (src/web/auth/tokens.ts). Like
 * `passwd` they work on the data directory (the configuration file's directory) and need no running
 * agent; a running agent sees the change at its next Bearer request.
 *
 * - `token create --name monitoring [--read-only]` prints the token once on stdout (nothing else goes
 *   to stdout, so `TOKEN=$(pcns-agent token create ...)` works); the file keeps only its hash.
 * - `token list` shows name, id, access and creation time, never a secret.
 * - `token revoke <name or id>` removes it.
 *
 * Exit codes: 0 ok, 1 failed (I/O, unknown token), 2 usage error.
 *
 * @module
 */
import type { Command } from "commander";
import { defaultConfigPath, dirOf } from "../config/paths.ts";
import {
  type ApiToken,
  checkTokenName,
  createToken,
  readTokens,
  revokeToken,
  TOKENS_FILE_NAME,
} from "../web/auth/tokens.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { configFlagHelp } from "./help_text.ts";
import { columnWidths, formatRow } from "./table.ts";

/** Least widths of the `token list` columns: name, id, access, created. */
const TOKEN_MIN_WIDTHS = [20, 8, 9];

function tokenCells(t: ApiToken): string[] {
  return [t.name, t.id, t.readOnly ? "read-only" : "full", t.created];
}

/** One token as a `token list` line (pure). */
export function formatTokenLine(t: ApiToken): string {
  return formatTokenLines([t])[0];
}

/** The `token list` lines (pure): columns as wide as the longest name, id and access. */
export function formatTokenLines(tokens: readonly ApiToken[]): string[] {
  const rows = tokens.map(tokenCells);
  const widths = columnWidths(rows, TOKEN_MIN_WIDTHS);
  return rows.map((r) => formatRow(r, widths));
}

function configPathOf(command: Command, program: Command): string {
  return (command.opts().config as string | undefined) ?? (program.opts().config as string | undefined) ??
    defaultConfigPath();
}

/** The data directory of a configuration path; a CliError when it does not exist. */
async function dataDirOf(configPath: string, what: string): Promise<string> {
  const dir = dirOf(configPath);
  try {
    if ((await Deno.stat(dir)).isDirectory) return dir;
  } catch { /* reported below */ }
  throw new CliError(`${what}: the data directory ${dir} does not exist (give --config <pcnsconfig.ini>)`);
}

async function guarded<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${what}: ${(error as Error).message}`);
  }
}

/** Adds `token create|list|revoke` to the root program. */
export function registerTokenCommands(program: Command, io: CliIo = denoIo()): void {
  const configHelp = configFlagHelp("configuration file; tokens live in its directory");
  const token = program.command("token").description(
    "API tokens for scripts (Authorization: Bearer), kept hashed in the data directory",
  );

  token.command("create")
    .description("create a token and print it once (stdout)")
    .requiredOption("--name <name>", "what it is for, e.g. monitoring (unique)")
    .option("--read-only", "the token may only read (GET)")
    .option("-c, --config <path>", configHelp)
    .action(async (opts: { name: string; readOnly?: boolean }, cmd: Command) => {
      const problems = checkTokenName(opts.name);
      if (problems.length) {
        throw new CliError(`token create --name: "${opts.name}" ${problems[0]}`, EXIT_USAGE);
      }
      const dir = await dataDirOf(configPathOf(cmd, program), "token create");
      const { token: secret, entry } = await guarded(
        "token create",
        () => createToken(dir, { name: opts.name, readOnly: opts.readOnly === true }),
      );
      io.out(secret);
      io.err(
        `pcns-agent: created ${
          entry.readOnly ? "read-only" : "full-access"
        } token "${entry.name}" (id ${entry.id}) ` +
          `in ${dir}/${TOKENS_FILE_NAME}; it is shown only now`,
      );
    });

  token.command("list")
    .description("list the tokens (name, id, access, created; never a secret)")
    .option("-c, --config <path>", configHelp)
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const dir = await dataDirOf(configPathOf(cmd, program), "token list");
      const tokens = await guarded("token list", () => readTokens(dir));
      if (opts.json) {
        io.out(JSON.stringify(tokens.map(({ sha256: _, ...rest }) => rest), null, 2));
        return;
      }
      if (tokens.length === 0) io.err("pcns-agent: no API tokens");
      for (const line of formatTokenLines(tokens)) io.out(line);
    });

  token.command("revoke")
    .description("revoke a token at once (by name or id)")
    .argument("<token>", "the token's name or id")
    .option("-c, --config <path>", configHelp)
    .action(async (nameOrId: string, _opts: unknown, cmd: Command) => {
      const dir = await dataDirOf(configPathOf(cmd, program), "token revoke");
      const revoked = await guarded("token revoke", () => revokeToken(dir, nameOrId));
      if (!revoked) {
        throw new CliError(`token revoke: no token named "${nameOrId}" (see pcns-agent token list)`);
      }
      io.err(`pcns-agent: revoked token "${revoked.name}" (id ${revoked.id})`);
    });
}
