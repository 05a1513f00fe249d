/**
 * The OS-shutdown step, injected: a recorder (dry run, demo, drill and every
 * test) that only logs "would run: ...", or the system executor that really
 * powers the host off. Only `main.ts run` without `--dry-run` creates the
 * system executor, and it refuses to act when PCNS_AGENT_NO_SHUTDOWN is set
 * (the test task sets it), so no test can ever reach the real command.
 *
 * The OS step must run even when the process is out of file descriptors (a
 * flood of connections, a leak): the system executor holds a reserve of
 * {@link FD_RESERVE} descriptors (`/dev/null` handles) from its creation and
 * closes them right before it starts the command (in the same synchronous
 * step, so nothing else can take them), then takes them again; a start that
 * still fails for lack of descriptors is retried with backoff. It also sets
 * up Deno's signal handling at creation ({@link primeSignalHandling}).
 *
 * @module
 */
import { isResourceExhaustion, spawnRetrying } from "../actions/commandfile.ts";

/** Outcome of the OS-shutdown step. */
export interface OsShutdownResult {
  /** True if a command ran successfully (or was recorded). */
  readonly ok: boolean;
  /** The command that ran (or would have run). */
  readonly command: readonly string[];
  /** What went wrong. */
  readonly error?: string;
  /** When a later command ran: why the ones before it failed (e.g. `systemctl poweroff exited with code 1: ...`). */
  readonly failures?: readonly string[];
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

/** File descriptors the system executor keeps for starting the OS shutdown command (one start needs 3-5). */
export const FD_RESERVE = 16;
/** Waits between attempts to start the OS shutdown command while descriptors are exhausted. */
export const OS_SPAWN_RETRY_DELAYS_MS: readonly number[] = [100, 250, 500, 1000, 2000, 4000];
/** How long the OS step keeps retrying to start its command for lack of descriptors, in ms. */
export const OS_SPAWN_BUDGET_MS = 15_000;
/** Bytes of the command's stderr kept for the error message. */
const STDERR_KEPT = 2048;

/**
 * Open `/dev/null` handles held in reserve, so that a process out of file
 * descriptors can still start one command: {@link release} frees them just
 * before the start, {@link refill} takes them again (as many as it can).
 */
export class FdReserve {
  readonly #size: number;
  readonly #path: string;
  #files: Deno.FsFile[] = [];

  /** Takes `size` descriptors now (fewer if not available; none on Windows). */
  constructor(size: number, path = "/dev/null") {
    this.#size = Deno.build.os === "windows" ? 0 : Math.max(0, Math.floor(size));
    this.#path = path;
    this.refill();
  }

  /** Descriptors held now. */
  get held(): number {
    return this.#files.length;
  }

  /** Takes descriptors until the reserve is full or none is left. */
  refill(): void {
    while (this.#files.length < this.#size) {
      try {
        this.#files.push(Deno.openSync(this.#path, { read: true }));
      } catch {
        return;
      }
    }
  }

  /** Closes every reserved descriptor. */
  release(): void {
    for (const file of this.#files.splice(0)) {
      try {
        file.close();
      } catch {
        // already closed
      }
    }
  }
}

/**
 * Sets up Deno's signal handling now, while descriptors are free: Deno does
 * it on first use, and aborts the whole process (a panic in ext/signals,
 * seen with Deno 2.9.5) when that first use finds no free descriptor, as a
 * child process's wait or a timer can. A SIGCHLD listener is added and
 * removed at once (SIGCHLD is ignored by default, so nothing changes).
 */
export function primeSignalHandling(): void {
  if (Deno.build.os === "windows") return;
  const noop = () => {};
  try {
    Deno.addSignalListener("SIGCHLD", noop);
    Deno.removeSignalListener("SIGCHLD", noop);
  } catch {
    // not allowed here: the process's own listeners (run: SIGINT/SIGTERM) do the same
  }
}

/** Reads a stream until its end or `stop` resolves, keeping the first `max` bytes as text. */
async function keepStart(
  stream: ReadableStream<Uint8Array>,
  max: number,
  stop: Promise<void>,
): Promise<string> {
  const kept: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  void stop.then(() => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size < max) kept.push(value.subarray(0, max - size));
      size += value.length;
    }
  } catch {
    // cancelled or the pipe broke: keep what we have
  }
  const bytes = new Uint8Array(Math.min(size, max));
  let at = 0;
  for (const chunk of kept) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes).trim();
}

/** How the system executor starts commands (tests shorten the waits). */
export interface SystemExecutorOptions {
  /** Descriptors held in reserve (default {@link FD_RESERVE}). */
  readonly reserveFds?: number;
  /** Waits between start attempts (default {@link OS_SPAWN_RETRY_DELAYS_MS}). */
  readonly retryDelaysMs?: readonly number[];
  /** Longest total wait for a start (default {@link OS_SPAWN_BUDGET_MS}). */
  readonly retryBudgetMs?: number;
}

/** The environment variable that forbids the system executor (set by the test task). */
export const NO_SHUTDOWN_ENV = "PCNS_AGENT_NO_SHUTDOWN";

/** Really shuts the host down. Never constructed by tests, the demo or the drill. */
export class SystemExecutor implements OsShutdownExecutor {
  /** Always false. */
  readonly dryRun = false;
  readonly #refuse: () => boolean;
  readonly #reserve: FdReserve;
  readonly #retryDelaysMs: readonly number[];
  readonly #retryBudgetMs: number;

  /**
   * Creates the executor and takes its descriptor reserve; `refuse`
   * (default: the PCNS_AGENT_NO_SHUTDOWN guard) vetoes every run.
   */
  constructor(
    refuse: () => boolean = () => Boolean(Deno.env.get(NO_SHUTDOWN_ENV)),
    options: SystemExecutorOptions = {},
  ) {
    this.#refuse = refuse;
    primeSignalHandling();
    this.#reserve = new FdReserve(options.reserveFds ?? FD_RESERVE);
    this.#retryDelaysMs = options.retryDelaysMs ?? OS_SPAWN_RETRY_DELAYS_MS;
    this.#retryBudgetMs = options.retryBudgetMs ?? OS_SPAWN_BUDGET_MS;
  }

  /** Descriptors held in reserve now. */
  get reservedFds(): number {
    return this.#reserve.held;
  }

  /** Runs the commands in order until one exits 0. */
  async shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult> {
    if (this.#refuse()) {
      return { ok: false, command: commands[0] ?? [], error: `refused: ${NO_SHUTDOWN_ENV} is set` };
    }
    const errors: string[] = [];
    for (const command of commands) {
      const problem = await this.#run(command);
      if (problem === undefined) return { ok: true, command, ...(errors.length ? { failures: errors } : {}) };
      errors.push(`${command.join(" ")}${problem}`);
    }
    return { ok: false, command: commands.at(-1) ?? [], error: errors.join("; ") };
  }

  /** Releases the descriptor reserve (the executor still works, without it). */
  close(): void {
    this.#reserve.release();
  }

  /** Runs one command; undefined when it exited 0, else the problem (starting with ": " or " "). */
  async #run(command: readonly string[]): Promise<string | undefined> {
    let child: Deno.ChildProcess;
    try {
      const cmd = new Deno.Command(command[0], {
        args: command.slice(1),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      });
      ({ value: child } = await spawnRetrying(() => {
        // Free the reserve and start at once: no other code runs in between.
        this.#reserve.release();
        try {
          return cmd.spawn();
        } finally {
          this.#reserve.refill();
        }
      }, { delaysMs: this.#retryDelaysMs, budgetMs: this.#retryBudgetMs }));
    } catch (error) {
      const text = (error as Error).message;
      const { attempts } = error as { attempts?: number };
      const tried = isResourceExhaustion(error) && attempts && attempts > 1
        ? ` (tried ${attempts} times)`
        : "";
      return `: ${text}${tried}`;
    }
    // A background process the command leaves behind may hold stderr open: read it until 0.5 s after the exit.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = child.status.then(() => new Promise<void>((resolve) => timer = setTimeout(resolve, 500)));
    const [status, stderr] = await Promise.all([child.status, keepStart(child.stderr, STDERR_KEPT, stop)]);
    clearTimeout(timer);
    if (status.success) return undefined;
    const why = status.signal ? `was killed by signal ${status.signal}` : `exited with code ${status.code}`;
    return ` ${why}${stderr ? `: ${stderr.split("\n")[0]}` : ""}`;
  }
}
