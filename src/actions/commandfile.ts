/**
 * Command files: the per-event "execute command file" action. A command file
 * is run directly (no shell), with the event described in environment
 * variables added to the agent's own environment, stdin closed, and its
 * output captured (bounded). A command that overruns its time limit gets
 * SIGTERM, then SIGKILL 2 s later, sent to its whole process group on
 * Linux/macOS (it is started in its own session, through setsid(1) where
 * that is certain to work, see launch.ts), so child processes it started go
 * too.
 *
 * A command that cannot start because the process is out of file
 * descriptors (or processes) is retried with backoff within its time limit
 * (the wait counts against it), so a short burst of descriptor pressure
 * does not lose it.
 *
 * {@linkcode runCommandFile} runs one; the config-load check (full path,
 * exists, executable) is in commandcheck.ts.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { AgentEvent } from "../events/types.ts";
import { type Clock, systemClock, type TimerHandle } from "../time/clock.ts";
import { sessionLaunch, setsidExecFailed } from "./launch.ts";

/** Default limit on captured output, in bytes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 8192;
/** Wait between SIGTERM and SIGKILL after a timeout. */
export const DEFAULT_KILL_GRACE_MS = 2000;
/** How long output is still read after the command exits (a background child may hold the pipes open). */
const OUTPUT_GRACE_MS = 200;
/** How long to wait for the exit after SIGKILL before giving up on the process. */
const KILL_WAIT_MS = 1000;
/** Waits between attempts to start a command while descriptors are exhausted (the last one repeats). */
export const SPAWN_RETRY_DELAYS_MS: readonly number[] = [50, 100, 200, 400, 800, 1600];
/** How long a background command file (time limit 0) may wait to start under descriptor pressure. */
const BACKGROUND_START_BUDGET_MS = 2000;
/** `onBattery` -> `ON_BATTERY`, `HTTPStatus` -> `HTTP_STATUS`, `load-pct` -> `LOAD_PCT`. */
export function upperSnake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .toUpperCase();
}

/** A scalar detail value as text; undefined for null, objects, arrays, functions. */
function scalarText(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    default:
      return undefined;
  }
}

/**
 * Environment variables describing `event` for a command file:
 * `PCNS_EVENT_ID`, `PCNS_EVENT_SEVERITY`, `PCNS_EVENT_MESSAGE`,
 * `PCNS_EVENT_TIME` (ISO 8601), `PCNS_NMC` (empty if none), and `PCNS_<KEY>`
 * for each scalar detail (key upper-snake-cased; the fixed names win on a
 * clash). `extra` is added last, as given. NUL characters are dropped.
 */
export function eventEnvironment(
  event: AgentEvent,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(event.details ?? {})) {
    const name = upperSnake(key);
    const text = scalarText(value);
    if (name && text !== undefined) env[`PCNS_${name}`] = text;
  }
  env.PCNS_EVENT_ID = event.id;
  env.PCNS_EVENT_SEVERITY = event.severity;
  env.PCNS_EVENT_MESSAGE = event.message;
  env.PCNS_EVENT_TIME = Number.isFinite(event.time) ? new Date(event.time).toISOString() : "";
  env.PCNS_NMC = event.nmc ?? "";
  Object.assign(env, extra);
  for (const key of Object.keys(env)) env[key] = env[key].replaceAll("\0", "");
  return env;
}

/** How to run one command file. */
export interface CommandFileOptions {
  /** Absolute path of the file (run directly, no shell, no arguments). */
  readonly path: string;
  /** Variables added to the agent's environment (see {@linkcode eventEnvironment}). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Time limit in ms; on expiry the command is killed. 0 means "do not wait":
   * the command is started in the background (output discarded) and the
   * result comes back at once with ok true and exitCode null; its real end is
   * in `result.completion` (the process stays tracked, not detached from the
   * event loop, until it ends).
   */
  readonly timeoutMs: number;
  /** Limit on captured output, in bytes. Default 8192. */
  readonly maxOutputBytes?: number;
  /** Clock for the time limit and kill timers. Default the system clock. */
  readonly clock?: Clock;
  /** Wait between SIGTERM and SIGKILL. Default 2000. */
  readonly killGraceMs?: number;
}

/** The outcome of running a command file. */
export interface CommandFileResult {
  /** True when it ran to completion with exit code 0 within the time limit (or was started, for timeoutMs 0). */
  readonly ok: boolean;
  /** Exit code, or null (killed by a signal, not started, or not waited for). */
  readonly exitCode: number | null;
  /** Signal that ended it (e.g. `SIGTERM`), or null. */
  readonly signal: string | null;
  /** True when it overran the time limit and was killed. */
  readonly timedOut: boolean;
  /**
   * stdout and stderr, interleaved in the order the chunks arrived; when longer
   * than the limit, the start and the end are kept around a `[... N bytes truncated]` marker.
   */
  readonly output: string;
  /** Time from start to end (or to the give-up point), in ms. */
  readonly durationMs: number;
  /** What went wrong, e.g. `exited with code 3`, `did not finish within 5 s and was killed`. */
  readonly error?: string;
  /** Only for timeoutMs 0: resolves (never rejects) when the background command ends. */
  readonly completion?: Promise<CommandFileResult>;
}

/**
 * Keeps the start and the end of a byte stream within `max` bytes, and counts
 * the total.
 */
export class OutputBuffer {
  readonly #headMax: number;
  readonly #tailMax: number;
  readonly #head: Uint8Array;
  #headLength = 0;
  #tail: Uint8Array[] = [];
  #tailLength = 0;
  #total = 0;

  /** A buffer keeping at most `max` bytes (half start, half end). */
  constructor(max: number) {
    const limit = Math.max(0, Math.floor(max));
    this.#tailMax = Math.floor(limit / 2);
    this.#headMax = limit - this.#tailMax;
    this.#head = new Uint8Array(this.#headMax);
  }

  /** Bytes seen so far. */
  get total(): number {
    return this.#total;
  }

  /** Adds a chunk. */
  push(chunk: Uint8Array): void {
    this.#total += chunk.length;
    let rest = chunk;
    if (this.#headLength < this.#headMax) {
      const take = Math.min(this.#headMax - this.#headLength, rest.length);
      this.#head.set(rest.subarray(0, take), this.#headLength);
      this.#headLength += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.#tailMax === 0) return;
    this.#tail.push(rest.slice(Math.max(0, rest.length - this.#tailMax)));
    this.#tailLength += Math.min(rest.length, this.#tailMax);
    while (this.#tail.length > 1 && this.#tailLength - this.#tail[0].length >= this.#tailMax) {
      this.#tailLength -= this.#tail[0].length;
      this.#tail.shift();
    }
  }

  /** The kept text, with a `[... N bytes truncated]` marker where bytes were dropped. */
  text(): string {
    const tailAll = Buffer.concat(this.#tail);
    let tail = tailAll.subarray(Math.max(0, tailAll.length - this.#tailMax));
    let head = this.#head.subarray(0, this.#headLength);
    const dropped = this.#total - head.length - tail.length;
    const decoder = new TextDecoder();
    if (dropped === 0) return decoder.decode(Buffer.concat([head, tail]));
    // Do not cut characters in half at the marker.
    head = head.subarray(0, utf8Boundary(head, head.length));
    let start = 0;
    while (start < tail.length && (tail[start] & 0xc0) === 0x80) start++;
    tail = tail.subarray(start);
    const truncated = this.#total - head.length - tail.length;
    const headText = decoder.decode(head);
    const before = headText === "" || headText.endsWith("\n") ? "" : "\n";
    return `${headText}${before}[... ${truncated} bytes truncated]\n${decoder.decode(tail)}`;
  }
}

/** Largest index <= `end` that does not split a UTF-8 character in `bytes`. */
function utf8Boundary(bytes: Uint8Array, end: number): number {
  if (end >= bytes.length) {
    // Back off over an incomplete final character.
    let i = bytes.length - 1;
    while (i >= 0 && (bytes[i] & 0xc0) === 0x80) i--;
    if (i < 0) return bytes.length;
    const lead = bytes[i];
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return bytes.length - i >= need ? bytes.length : i;
  }
  let i = end;
  while (i > 0 && (bytes[i] & 0xc0) === 0x80) i--;
  return i;
}

/** `300` -> `0.3 s`, `5000` -> `5 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** The error text for a finished (not timed-out) run, or undefined when it succeeded. */
export function exitProblem(exitCode: number | null, signal: string | null): string | undefined {
  if (signal !== null) return `was killed by signal ${signal}`;
  if (exitCode !== 0) return `exited with code ${exitCode}`;
  return undefined;
}

/**
 * True if `error` says the process or the system is out of file descriptors
 * (EMFILE, ENFILE) or processes (EAGAIN): worth another try a moment later.
 */
export function isResourceExhaustion(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /too many open files|os error (11|23|24)\b|resource temporarily unavailable/i.test(text);
}

/**
 * Calls `spawn` until it succeeds, retrying only while it fails with
 * {@link isResourceExhaustion}: after each delay of `delaysMs` (the last one
 * repeats) as long as `budgetMs` allows, the last wait cut to fit. Returns
 * the result and the time waited; other errors, and the last exhaustion
 * error, are thrown with `attempts` and `waitedMs` set.
 */
export async function spawnRetrying<T>(
  spawn: () => T,
  options: {
    readonly delaysMs?: readonly number[];
    readonly budgetMs: number;
    readonly clock?: Clock;
  },
): Promise<{ readonly value: T; readonly waitedMs: number }> {
  const clock = options.clock ?? systemClock;
  const delays = options.delaysMs ?? SPAWN_RETRY_DELAYS_MS;
  let waited = 0;
  for (let attempt = 0;; attempt++) {
    try {
      return { value: spawn(), waitedMs: waited };
    } catch (error) {
      const wait = Math.min(delays[Math.min(attempt, delays.length - 1)] ?? 0, options.budgetMs - waited);
      if (!isResourceExhaustion(error) || wait <= 0) {
        throw Object.assign(error instanceof Error ? error : new Error(String(error)), {
          attempts: attempt + 1,
          waitedMs: waited,
        });
      }
      await new Promise<void>((resolve) => clock.setTimeout(resolve, wait));
      waited += wait;
    }
  }
}

/** A clear message for a failure to start `path`. */
export function spawnProblem(path: string, error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof Deno.errors.NotFound) return `could not start ${path}: file not found`;
  if (isResourceExhaustion(error)) {
    const { attempts, waitedMs } = error as { attempts?: number; waitedMs?: number };
    const tried = attempts && attempts > 1
      ? `; tried ${attempts} times over ${formatSeconds(waitedMs ?? 0)}`
      : "";
    return `could not start ${path}: ${text} (the agent is out of file descriptors or processes${tried})`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `could not start ${path}: permission denied (is it executable?)`;
  }
  if (/exec format error|os error 8\b/i.test(text)) {
    return `could not start ${path}: ${text} (does the script start with a #! line?)`;
  }
  return `could not start ${path}: ${text}`;
}

/** Program and arguments that run `path` without a shell (Windows: .ps1 goes through PowerShell). */
function invocation(path: string): { program: string; args: string[] } {
  if (Deno.build.os === "windows" && path.toLowerCase().endsWith(".ps1")) {
    return { program: "powershell.exe", args: ["-NoProfile", "-ExecutionPolicy", "Bypass", "-File", path] };
  }
  return { program: path, args: [] };
}

/**
 * Runs a command file and reports how it went; never throws. The command
 * gets `env` on top of the agent's environment and no stdin. With a time
 * limit, a command still running at the limit is sent SIGTERM (to its process
 * group), then SIGKILL after `killGraceMs`; output is only read until the
 * command has exited (plus a short grace), so a background child holding the
 * pipes open cannot hang the caller. `timeoutMs` 0: see
 * {@linkcode CommandFileOptions.timeoutMs}.
 */
export function runCommandFile(options: CommandFileOptions): Promise<CommandFileResult> {
  return run(options, true);
}

/** {@linkcode runCommandFile}; `preferSetsid` false starts the file with Deno's `detached` (see launch.ts). */
async function run(options: CommandFileOptions, preferSetsid: boolean): Promise<CommandFileResult> {
  const clock = options.clock ?? systemClock;
  const start = clock.now();
  const failed = (error: string): CommandFileResult => ({
    ok: false,
    exitCode: null,
    signal: null,
    timedOut: false,
    output: "",
    durationMs: clock.now() - start,
    error,
  });
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs < 0) {
    return failed(`not started: the time limit must be 0 or more milliseconds, got ${options.timeoutMs}`);
  }
  const background = options.timeoutMs === 0;
  const { program, args } = invocation(options.path);
  const unix = Deno.build.os !== "windows";
  // Own session = own process group, so a timeout can kill its children too.
  // Known at once for a file looked at before: it then starts within this turn (no await before the spawn).
  const pending = sessionLaunch(program, args, preferSetsid);
  const launch = pending instanceof Promise ? await pending : pending;
  let child: Deno.ChildProcess;
  let waitedMs: number;
  try {
    const command = new Deno.Command(launch.program, {
      args: [...launch.args],
      env: { ...(options.env ?? {}) },
      stdin: "null",
      stdout: background ? "null" : "piped",
      stderr: background ? "null" : "piped",
      detached: launch.detached,
    });
    ({ value: child, waitedMs } = await spawnRetrying(() => command.spawn(), {
      budgetMs: background ? BACKGROUND_START_BUDGET_MS : options.timeoutMs,
      clock,
    }));
  } catch (error) {
    return failed(spawnProblem(options.path, error));
  }

  if (background) {
    const completion = child.status.then(
      (status): CommandFileResult => finished(status, "", clock.now() - start),
      (error): CommandFileResult =>
        failed(`lost track of the process: ${error instanceof Error ? error.message : error}`),
    );
    return { ok: true, exitCode: null, signal: null, timedOut: false, output: "", durationMs: 0, completion };
  }

  const timeoutMs = options.timeoutMs;
  // Time spent waiting to start counts against the limit (at least 1 ms is left to run).
  const runLimitMs = Math.max(1, timeoutMs - waitedMs);
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const output = new OutputBuffer(options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const pumps = readers.map((reader) => pump(reader, (chunk) => output.push(chunk)));
  const stopReading = () => readers.forEach((r) => r.cancel().catch(() => {}));
  const signalGroup = (signal: Deno.Signal) => {
    try {
      if (unix) Deno.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  };

  const timers = new Set<TimerHandle>();
  const after = (ms: number, fn: () => void) => {
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      fn();
    }, ms);
    timers.add(handle);
  };

  let timedOut = false;
  let exited = false;
  let giveUp!: () => void;
  const gaveUp = new Promise<"gave up">((resolve) => giveUp = () => resolve("gave up"));
  after(runLimitMs, () => {
    if (exited) return;
    timedOut = true;
    signalGroup("SIGTERM");
    after(killGraceMs, () => {
      if (exited) return;
      signalGroup("SIGKILL");
      after(KILL_WAIT_MS, giveUp);
    });
  });

  try {
    const status = await Promise.race([child.status, gaveUp]);
    if (status === "gave up") {
      stopReading();
      await Promise.all(pumps);
      return {
        ok: false,
        exitCode: null,
        signal: null,
        timedOut: true,
        output: output.text(),
        durationMs: clock.now() - start,
        error: `did not finish within ${formatSeconds(timeoutMs)} and could not be killed (pid ${child.pid})`,
      };
    }
    exited = true;
    for (const handle of timers) clock.clearTimeout(handle);
    timers.clear();
    // Leftovers of a killed command (children that ignored SIGTERM) go now.
    if (timedOut) signalGroup("SIGKILL");
    const durationMs = clock.now() - start;
    // Read what is left, but not forever: a background child may hold the pipes.
    let graceTimer: TimerHandle | undefined;
    await Promise.race([
      Promise.all(pumps),
      new Promise<void>((resolve) => graceTimer = clock.setTimeout(resolve, OUTPUT_GRACE_MS)),
    ]);
    clock.clearTimeout(graceTimer);
    stopReading();
    await Promise.all(pumps);
    if (timedOut) {
      return {
        ok: false,
        exitCode: status.signal ? null : status.code,
        signal: status.signal,
        timedOut: true,
        output: output.text(),
        durationMs,
        error: `did not finish within ${formatSeconds(timeoutMs)} and was killed`,
      };
    }
    const text = output.text();
    if (launch.viaSetsid && !launch.unanswered && setsidExecFailed(status.code, text, options.path)) {
      // setsid could not exec the file (it never ran): start it the old way for the usual report. Not when
      // its disk did not answer: the old way would wait for that disk in the spawn, holding up the agent.
      return run(options, false);
    }
    return finished(status, text, durationMs);
  } finally {
    for (const handle of timers) clock.clearTimeout(handle);
  }
}

/** The result for a command that ended by itself. */
function finished(status: Deno.CommandStatus, output: string, durationMs: number): CommandFileResult {
  const exitCode = status.signal ? null : status.code;
  const error = exitProblem(exitCode, status.signal);
  return {
    ok: error === undefined,
    exitCode,
    signal: status.signal,
    timedOut: false,
    output,
    durationMs,
    ...(error !== undefined ? { error } : {}),
  };
}

/** Reads `reader` to the end (or until cancelled), handing each chunk to `sink`. */
async function pump(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  sink: (chunk: Uint8Array) => void,
): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      sink(value);
    }
  } catch {
    // cancelled or the pipe broke: keep what we have
  } finally {
    reader.releaseLock();
  }
}
