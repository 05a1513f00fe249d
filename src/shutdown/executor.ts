/**
 * The OS-shutdown step, injected: a recorder (dry run, demo, drill and every
 * test) that only logs "would run: ...", or the system executor that really
 * powers the host off. Only `main.ts run` without `--dry-run` creates the
 * system executor, and it refuses to act when PCNS_AGENT_NO_SHUTDOWN is set
 * (the test task sets it), so no test can ever reach the real command.
 *
 * @module
 */

/** Outcome of the OS-shutdown step. */
export interface OsShutdownResult {
  /** True if a command ran successfully (or was recorded). */
  readonly ok: boolean;
  /** The command that ran (or would have run). */
  readonly command: readonly string[];
  /** What went wrong. */
  readonly error?: string;
}

/** Runs (or records) the OS shutdown. */
export interface OsShutdownExecutor {
  /** True if nothing really runs. */
  readonly dryRun: boolean;
  /** Tries the commands in order until one succeeds. */
  shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult>;
}

/**
 * Splits a command line into words: blanks separate, "double" and 'single'
 * quotes group (no other shell syntax). Throws on an unterminated quote.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let current = "";
  let quote: string | undefined;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in "${line}"`);
  if (inWord) words.push(current);
  return words;
}

/** The OS shutdown commands to try, in order: the configured one, else the platform default. */
export function shutdownCommands(os: typeof Deno.build.os, configured: string): string[][] {
  if (configured.trim() !== "") return [splitCommandLine(configured)];
  switch (os) {
    case "windows":
      return [["shutdown.exe", "/s", "/t", "0"]];
    case "darwin":
      return [["shutdown", "-h", "now"]];
    default:
      return [["systemctl", "poweroff"], ["shutdown", "-h", "now"]];
  }
}

/** Records shutdown requests instead of running them. */
export class RecordingExecutor implements OsShutdownExecutor {
  /** Always true. */
  readonly dryRun = true;
  /** Every recorded request, with the time it was made. */
  readonly calls: { readonly command: readonly string[]; readonly at: number }[] = [];
  readonly #now: () => number;

  /** Creates a recorder using `now` for timestamps. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Records the first command. */
  shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult> {
    const command = commands[0] ?? [];
    this.calls.push({ command, at: this.#now() });
    return Promise.resolve({ ok: true, command });
  }
}

/** The environment variable that forbids the system executor (set by the test task). */
export const NO_SHUTDOWN_ENV = "PCNS_AGENT_NO_SHUTDOWN";

/** Really shuts the host down. Never constructed by tests, the demo or the drill. */
export class SystemExecutor implements OsShutdownExecutor {
  /** Always false. */
  readonly dryRun = false;
  readonly #refuse: () => boolean;

  /** Creates the executor; `refuse` (default: the PCNS_AGENT_NO_SHUTDOWN guard) vetoes every run. */
  constructor(refuse: () => boolean = () => Boolean(Deno.env.get(NO_SHUTDOWN_ENV))) {
    this.#refuse = refuse;
  }

  /** Runs the commands in order until one exits 0. */
  async shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult> {
    if (this.#refuse()) {
      return { ok: false, command: commands[0] ?? [], error: `refused: ${NO_SHUTDOWN_ENV} is set` };
    }
    const errors: string[] = [];
    for (const command of commands) {
      try {
        const out = await new Deno.Command(command[0], { args: command.slice(1), stdin: "null" }).output();
        if (out.success) return { ok: true, command };
        errors.push(`${command.join(" ")} exited with code ${out.code}`);
      } catch (error) {
        errors.push(`${command.join(" ")}: ${(error as Error).message}`);
      }
    }
    return { ok: false, command: commands.at(-1) ?? [], error: errors.join("; ") };
  }
}
