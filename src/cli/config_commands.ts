/**
 * The `config check|get|set|show` and `passwd` commands. They go through the
 * config store (src/config/); `set` and `passwd` write atomically under the
 * store's lock, so they are safe while the agent runs (it hot-reloads). They
 * are local changes: the web UI/API rules (src/config/remote.ts) do not apply.
 * `check` also reports what the next start would refuse (src/config/requirements.ts).
 *
 * Exit codes, as main.ts maps a thrown {@link CliError}: 0 success (check:
 * only warnings), 1 bad value / invalid configuration / I/O error, 2 usage
 * error. A failure is one CliError line naming the problem; when there are
 * several (several bad keys, unmet password rules), each is printed on its own
 * line first and the CliError sums them up.
 *
 * @module
 */
import type { Command } from "commander";
import { Logger } from "../log/logger.ts";
import { checkPasswordPolicy, checkUsername } from "../config/credentials.ts";
import { unknownKeyMessage } from "../config/evaluate.ts";
import { defaultConfigPath } from "../config/paths.ts";
import { ConfigError, type ConfigProblem } from "../config/problems.ts";
import { maskConfig } from "../config/build.ts";
import { displayValue, keyDef, SCHEMA, SECTIONS } from "../config/schema.ts";
import { checkConfigFile, ConfigStore, inspectConfig } from "../config/store.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE } from "./errors.ts";
import { extraCheckProblems, newExtraProblems } from "./check_rules.ts";
import { configFlagHelp } from "./help_text.ts";

/** The terminal the commands talk to (replaceable in tests). */
export interface CliIo {
  /** Writes one line to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
  /** True when standard input is an interactive terminal. */
  isTerminal(): boolean;
  /** Asks on the terminal; `hidden` turns echo off. Null when the user aborts. */
  ask(question: string, hidden: boolean): Promise<string | null>;
  /** All lines of (non-interactive) standard input. */
  readLines(): Promise<string[]>;
}

const encoder = new TextEncoder();

/** Reads one line from the terminal in raw mode (echo off when hidden); null on Ctrl-C / Ctrl-D. */
async function askTerminal(question: string, hidden: boolean): Promise<string | null> {
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  write(question);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) return null;
      const b = buf[0];
      if (b === 3 || (b === 4 && bytes.length === 0)) return null;
      if (b === 13 || b === 10) break;
      if (b === 127 || b === 8) {
        if (bytes.length > 0 && bytes.pop() !== undefined && !hidden) write("\b \b");
        continue;
      }
      bytes.push(b);
      if (!hidden) write(String.fromCharCode(b));
    }
  } finally {
    Deno.stdin.setRaw(false);
    write("\n");
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The real terminal: Deno's stdin, stdout and stderr. */
export function denoIo(): CliIo {
  return {
    out: (line) => {
      try {
        Deno.stdout.writeSync(encoder.encode(line + "\n"));
      } catch (error) {
        if (!(error instanceof Deno.errors.BrokenPipe)) throw error; // e.g. `config show | head`
      }
    },
    err: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
    isTerminal: () => Deno.stdin.isTerminal(),
    ask: askTerminal,
    readLines: async () => (await new Response(Deno.stdin.readable).text()).split(/\r?\n/),
  };
}

/** Prefix of error lines, as main.ts prints a CliError. */
const PREFIX = "pcns-agent: ";

/**
 * Fails with one line per problem: a single problem becomes the CliError
 * itself; several are printed first and the CliError carries `summary`.
 */
function fail(io: CliIo, lines: readonly string[], summary: string, code = EXIT_FAILED): never {
  if (lines.length === 1) throw new CliError(lines[0], code);
  for (const line of lines) io.err(PREFIX + line);
  throw new CliError(summary, code);
}

/** `-c, --config` of the subcommand, else a global `--config` of the root program, else the default path. */
function configPath(command: Command, program: Command): string {
  const local = command.opts().config as string | undefined;
  const global = program.opts().config as string | undefined;
  return local ?? global ?? defaultConfigPath();
}

/** Logger for the commands: warnings and errors to stderr as `pcns-agent: warning: ...`. */
function cliLogger(io: CliIo): Logger {
  return new Logger(
    (r) =>
      io.err(`${PREFIX}${r.level === "warn" ? "warning" : r.level}: ${r.message.replace(/^config: /, "")}`),
    "warn",
  );
}

/** Runs an action, turning a ConfigError into a CliError (one line per problem). */
async function run(io: CliIo, what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const first = error.message.split("\n")[0];
    const errors = error.problems.filter((p) => p.level === "error").map((p) => p.message);
    fail(io, errors.length > 0 ? errors : [first], `${what}: ${first}`);
  }
}

/** Parses `Section.key=value` arguments; usage errors (exit 2) for malformed ones. */
export function parseAssignments(args: readonly string[]): Record<string, string> {
  if (args.length === 0) {
    throw new CliError("config set: expected at least one <section.key>=<value>", EXIT_USAGE);
  }
  const updates: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq < 0) {
      throw new CliError(
        `config set: expected <section.key>=<value>, got ${JSON.stringify(arg)} (no "=")`,
        EXIT_USAGE,
      );
    }
    const key = arg.slice(0, eq).trim();
    if (!/^[^.\s]+\.[^.\s]+$/.test(key)) {
      throw new CliError(
        `config set: ${JSON.stringify(key)} is not a <section.key> name (e.g. Networking.udpPort)`,
        EXIT_USAGE,
      );
    }
    updates[key] = arg.slice(eq + 1);
  }
  return updates;
}

async function checkCommand(path: string, io: CliIo): Promise<void> {
  const { exists, backupExists, evaluation, problems } = await checkConfigFile(path);
  if (!exists) {
    const then = backupExists
      ? "the agent would restore it from the backup at start"
      : "the agent would write a default configuration at start";
    throw new CliError(`${path} not found; ${then}`);
  }
  const sorted = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const all = [...sorted, ...(evaluation.config ? extraCheckProblems(evaluation.config, path) : [])];
  for (const p of all) io.out(`${p.level}: ${p.message}`);
  const errors = all.filter((p) => p.level === "error").length;
  const warnings = all.length - errors;
  const summary = `${path}: ${errors} error(s), ${warnings} warning(s)`;
  if (errors > 0) throw new CliError(summary);
  io.out(all.length === 0 ? `${path}: OK` : summary);
}

/** What a start would use, read without writing anything; fails on fatal problems. */
async function loadForReading(path: string, io: CliIo) {
  const { exists, evaluation } = await inspectConfig(path, false);
  if (!exists) io.err(`${PREFIX}warning: ${path} not found; showing what the agent would use at start`);
  if (!evaluation.ok) {
    const errors = evaluation.problems.filter((p) => p.level === "error").map((p) => p.message);
    fail(io, errors, `${path}: ${errors.length} error(s); run pcns-agent config check`);
  }
  return evaluation;
}

async function getCommand(path: string, key: string, reveal: boolean, io: CliIo): Promise<void> {
  if (!keyDef(key)) throw new CliError(unknownKeyMessage(key));
  const evaluation = await loadForReading(path, io);
  const value = evaluation.values.get(key) ?? "";
  io.out(reveal ? value : displayValue(key, value));
}

async function showCommand(path: string, json: boolean, reveal: boolean, io: CliIo): Promise<void> {
  const evaluation = await loadForReading(path, io);
  if (json) {
    io.out(JSON.stringify(reveal ? evaluation.config : maskConfig(evaluation.config!), null, 2));
    return;
  }
  SECTIONS.forEach((section, i) => {
    if (i > 0) io.out("");
    io.out(`[${section}]`);
    for (const d of SCHEMA.filter((d) => d.section === section)) {
      const value = evaluation.values.get(d.name) ?? "";
      const shown = reveal ? value : displayValue(d.name, value);
      io.out(shown === "" ? `${d.key} =` : `${d.key} = ${shown}`);
    }
  });
}

async function setCommand(path: string, args: readonly string[], io: CliIo): Promise<void> {
  const updates = parseAssignments(args);
  const store = await ConfigStore.open(path, { logger: cliLogger(io) });
  try {
    // The checks `config check` adds (command files): a change may not bring a new problem.
    let kept: ConfigProblem[] = [];
    await store.set(updates, {
      local: true,
      check: (candidate, current) => {
        const found = newExtraProblems(current, candidate, path);
        kept = found.kept;
        return found.added;
      },
    });
    for (const key of Object.keys(updates)) io.out(`${key} = ${displayValue(key, store.get(key))}`);
    for (const p of kept) {
      io.err(`${PREFIX}warning: ${p.message} (already so before; see pcns-agent config check)`);
    }
  } finally {
    await store.close();
  }
}

/** User name, password and confirmation from the terminal or from stdin lines (null = aborted). */
async function readCredentials(io: CliIo, current: string): Promise<[string, string, string | null] | null> {
  if (io.isTerminal()) {
    const user = await io.ask(`User name [${current}]: `, false);
    const password = user === null ? null : await io.ask("New password: ", true);
    const again = password === null ? null : await io.ask("Retype new password: ", true);
    return user === null || password === null || again === null ? null : [user, password, again];
  }
  const lines = await io.readLines();
  return [lines[0] ?? "", lines[1] ?? "", lines[2] || null];
}

async function passwdCommand(path: string, io: CliIo): Promise<void> {
  const store = await ConfigStore.open(path, { logger: cliLogger(io) });
  try {
    const current = store.current.nmc.username;
    const answers = await readCredentials(io, current);
    if (answers === null) throw new CliError("passwd: aborted");
    const [username, password, again] = answers;
    const user = username.trim() === "" ? current : username.trim();
    const pw = password.trim();
    if (pw === "") {
      throw new CliError(
        "passwd: no password given (stdin: line 1 user name, line 2 password, optional line 3 again)",
      );
    }
    if (again !== null && again.trim() !== pw) throw new CliError("passwd: the two passwords differ");
    const problems = [
      ...checkUsername(user).map((p) => `passwd: user name ${p}`),
      ...checkPasswordPolicy(pw, user).map((p) => `passwd: password ${p}`),
    ];
    if (problems.length > 0) {
      fail(io, problems, `passwd: ${problems.length} rule(s) not met; nothing changed`);
    }
    await store.set({ "NetworkManagementCard.username": user, "NetworkManagementCard.password": pw }, {
      local: true,
    });
    io.out(`password changed for user ${user} in ${store.path}`);
  } finally {
    await store.close();
  }
}

/**
 * Adds `config check|get|set|show` and `passwd` to the root program. Each takes
 * `-c, --config <path>` (else the root's `--config`, else {@link defaultConfigPath}).
 * Failures are thrown as {@link CliError} (exit code 1, or 2 for usage errors).
 */
export function registerConfigCommands(program: Command, io: CliIo = denoIo()): void {
  const configHelp = configFlagHelp();
  const config = program.command("config").description("check, read and change pcnsconfig.ini");

  config.command("check")
    .description("list every problem in the configuration file with line numbers (exit 1 on errors)")
    .option("-c, --config <path>", configHelp)
    .action((_opts: unknown, cmd: Command) =>
      run(io, "config check", () => checkCommand(configPath(cmd, program), io))
    );

  config.command("get")
    .description("print the effective value of <Section.key> (secrets as ***)")
    .argument("<key>", "Section.key, e.g. Networking.udpPort")
    .option("-c, --config <path>", configHelp)
    .option("--reveal", "print secrets in clear")
    .action((key: string, opts: { reveal?: boolean }, cmd: Command) =>
      run(io, "config get", () => getCommand(configPath(cmd, program), key, opts.reveal === true, io))
    );

  config.command("set")
    .description("validate and atomically set values: Section.key=value ...")
    .argument("[assignments...]", "Section.key=value pairs")
    .option("-c, --config <path>", configHelp)
    .action((assignments: string[], _opts: unknown, cmd: Command) =>
      run(io, "config set", () => setCommand(configPath(cmd, program), assignments, io))
    );

  config.command("show")
    .description("print the effective configuration (secrets as ***)")
    .option("-c, --config <path>", configHelp)
    .option("--json", "print the typed configuration as JSON")
    .option("--reveal", "print secrets in clear")
    .action((opts: { json?: boolean; reveal?: boolean }, cmd: Command) =>
      run(
        io,
        "config show",
        () => showCommand(configPath(cmd, program), opts.json === true, opts.reveal === true, io),
      )
    );

  program.command("passwd")
    .description("set the user name and web UI password (prompted, or stdin lines: user, password[, again])")
    .option("-c, --config <path>", configHelp)
    .action((_opts: unknown, cmd: Command) =>
      run(io, "passwd", () => passwdCommand(configPath(cmd, program), io))
    );
}
