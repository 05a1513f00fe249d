/**
 * The SSH actions (`[SSHActionN]`): reading an action's command file and key, running it within its
 * duration, pinning the host key on first contact, and the events that say how it went
 * (SshActionSucceeded, SshActionFailed, SshActionTimedOut, SshHostKeyMismatch, SshHostKeyPinned,
 * SshActionSkipped). {@link SshActionRunner} runs the actions of one phase in parallel, each after its
 * delay and bounded by its duration; nothing it does ever throws into the shutdown sequence, which goes
 * on whatever the remote hosts do.
 *
 * `onStartup` actions run when the agent starts and when power returns after a shutdown sequence started
 * (ShutdownStarting, then PowerRestored: the host was not shut down, e.g. a dry run).
 *
 * @module
 */
import type { SshActionSettings, SshPhase } from "../config/schema_ssh.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { Clock } from "../time/clock.ts";
import { checkPrivateKey, prepareSshClient, runSshCommands, type SshRunResult } from "./client.ts";

/** How one action went. */
export interface SshActionOutcome extends SshRunResult {
  /** Not run at all (a dry run, the drill, or still running): `note` says what would have run. */
  readonly skipped?: boolean;
  /** What was recorded instead of running. */
  readonly note?: string;
  /** The fingerprint pinned by this run (first contact). */
  readonly pinned?: string;
}

/** Largest command file, bytes, and most lines in it. */
export const MAX_COMMAND_FILE_BYTES = 64 * 1024;
/** Most commands in one command file. */
export const MAX_COMMANDS = 100;

/** The commands of a command file's text: one per line, blank lines and `#` comments skipped. Pure. */
export function parseCommandFile(text: string): { commands: string[] } | { error: string } {
  const commands = text.split("\n").map((l) => l.replace(/\r$/, "").trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  if (commands.length === 0) return { error: "holds no command (only blank lines and # comments)" };
  if (commands.length > MAX_COMMANDS) {
    return { error: `holds ${commands.length} commands, at most ${MAX_COMMANDS}` };
  }
  // deno-lint-ignore no-control-regex
  const bad = commands.findIndex((c) => /[\u0000-\u0008\u000b-\u001f\u007f]/.test(c));
  if (bad >= 0) return { error: `has control characters in command ${bad + 1}` };
  return { commands };
}

/** Reads a small text file: at most `limit` bytes, a regular file; the error says what is wrong. */
async function readSmallFile(path: string, limit: number): Promise<{ text: string } | { error: string }> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { error: "is not a regular file" };
    if (info.size > limit) return { error: `is larger than ${limit / 1024} KiB` };
    return { text: await Deno.readTextFile(path) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { error: "does not exist" };
    return { error: `cannot be read: ${(error as Error).message}` };
  }
}

/** The commands of a command file, or what is wrong with it (a sentence without the path). */
export async function commandFileCommands(path: string): Promise<{ commands: string[] } | { error: string }> {
  const read = await readSmallFile(path, MAX_COMMAND_FILE_BYTES);
  return "error" in read ? read : parseCommandFile(read.text);
}

/** A private key file's text, checked (parsed and able to sign), or what is wrong (without the path). */
export async function keyFileText(
  path: string,
  passphrase: string,
): Promise<{ key: string } | { error: string }> {
  const read = await readSmallFile(path, 64 * 1024);
  if ("error" in read) return read;
  const checked = await checkPrivateKey(read.text, passphrase);
  return "error" in checked ? checked : { key: read.text };
}

/** The commands of an action's command file, or what is wrong with it. */
export async function readCommands(
  action: SshActionSettings,
): Promise<{ commands: string[] } | { error: string }> {
  if (action.commandFile === "") return { error: "no commandFile is set" };
  const read = await commandFileCommands(action.commandFile);
  return "error" in read ? { error: `the command file ${action.commandFile} ${read.error}` } : read;
}

/** The action's private key text, checked, or what is wrong with it. */
export async function readKey(action: SshActionSettings): Promise<{ key?: string } | { error: string }> {
  if (action.keyFile === "") return {};
  const read = await keyFileText(action.keyFile, action.keyPassphrase);
  return "error" in read ? { error: `the key file ${action.keyFile}: ${read.error}` } : read;
}

/** `user@host:port` (IPv6 in brackets). */
export function sshTarget(action: Pick<SshActionSettings, "user" | "host" | "port">): string {
  const host = action.host.includes(":") ? `[${action.host}]` : action.host;
  return `${action.user}@${host}:${action.port}`;
}

/** A result that ran nothing. */
function notRun(error: string, skipped = false, note?: string): SshActionOutcome {
  return {
    ok: skipped,
    timedOut: false,
    hostKeyMismatch: false,
    commands: [],
    durationMs: 0,
    ...(skipped ? { skipped, note } : { error }),
  };
}

/** The event reporting an action's outcome (never a secret: no password, passphrase or key). */
export function sshActionEvent(action: SshActionSettings, outcome: SshActionOutcome): EventDraft {
  const where = `${action.name} on ${sshTarget(action)}`;
  const details = {
    name: action.name,
    section: action.section,
    target: sshTarget(action),
    phase: action.phase,
    durationMs: outcome.durationMs,
    ...(outcome.fingerprint ? { fingerprint: outcome.fingerprint, keyType: outcome.keyType } : {}),
    commands: outcome.commands.map((c) => ({
      command: c.command,
      exitCode: c.exitCode,
      ...(c.signal ? { signal: c.signal } : {}),
      output: c.output.slice(0, 2048),
    })),
  };
  if (outcome.skipped) return { id: "SshActionSkipped", note: `${where}: ${outcome.note}`, details };
  if (outcome.hostKeyMismatch) {
    return { id: "SshHostKeyMismatch", note: `${where}: ${outcome.error}`, details };
  }
  if (outcome.timedOut) return { id: "SshActionTimedOut", note: `${where}: ${outcome.error}`, details };
  if (!outcome.ok) return { id: "SshActionFailed", note: `${where}: ${outcome.error ?? "failed"}`, details };
  const seconds = Math.round(outcome.durationMs / 100) / 10;
  const lines = outcome.commands.length;
  return {
    id: "SshActionSucceeded",
    note: `${where}: ${lines} command${lines === 1 ? "" : "s"} ran (${seconds} s)`,
    details,
  };
}

/** What the runner needs. */
export interface SshRunnerPorts {
  /** The clock of the delays (the sequence's). */
  readonly clock: Clock;
  /** Publishes an event. */
  emit(draft: EventDraft): void;
  /** The actions configured now. */
  actions(): readonly SshActionSettings[];
  /** Record the actions instead of connecting. */
  readonly dryRun: boolean;
  /** Replaces running one action (the drill's recorder). */
  readonly run?: (action: SshActionSettings, timeoutMs: number) => Promise<SshActionOutcome>;
  /** Writes a first-contact fingerprint to the configuration (`[SSHActionN] hostKeyFingerprint`). */
  readonly pin?: (section: string, fingerprint: string) => Promise<void>;
}

/** How long the pin write may take, ms. */
const PIN_TIMEOUT_MS = 10_000;

/** Runs SSH actions (see the module documentation). */
export class SshActionRunner {
  readonly #ports: SshRunnerPorts;
  /** Fingerprints pinned by this process, by section (kept even when writing them failed). */
  readonly #pins = new Map<string, string>();
  readonly #running = new Set<string>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #timers = new Set<unknown>();
  #abort = new AbortController();
  #shutdownStarted = false;

  /** Creates a runner over the given ports. */
  constructor(ports: SshRunnerPorts) {
    this.#ports = ports;
  }

  /**
   * Runs the enabled actions of `phase` (or the `actions` given) in parallel, each after its delay and
   * bounded by its duration; resolves when all have ended. Never rejects.
   */
  runPhase(phase: SshPhase, actions?: readonly SshActionSettings[]): Promise<void> {
    const chosen = (actions ?? this.#ports.actions()).filter((a) => a.enabled && a.phase === phase);
    return this.#track(Promise.all(chosen.map((a) => this.#delayed(a))).then(() => {}));
  }

  /**
   * Loads the SSH library now when an action is enabled and would really connect (not in a dry run, not
   * with a replaced runner): the agent's start and each reload call this, so no action's run has to.
   */
  prepare(): void {
    if (this.#ports.dryRun || this.#ports.run) return;
    if (this.#ports.actions().some((a) => a.enabled)) prepareSshClient();
  }

  /** Notes the shutdown starting and runs the `onStartup` actions when power returns after it. */
  handle(event: AgentEvent): void {
    if (event.id === "ShutdownStarting") this.#shutdownStarted = true;
    if (event.id === "PowerRestored" && this.#shutdownStarted) {
      this.#shutdownStarted = false;
      void this.runPhase("onStartup");
    }
  }

  /** Runs one action now (no delay), emits its events and returns how it went. Never rejects. */
  runAction(action: SshActionSettings): Promise<SshActionOutcome> {
    if (this.#running.has(action.section)) {
      const outcome = notRun("", true, "not started again: it is still running");
      this.#ports.emit(sshActionEvent(action, outcome));
      return Promise.resolve(outcome);
    }
    this.#running.add(action.section);
    const run = this.#execute(action)
      .catch((error): SshActionOutcome => notRun(`internal error: ${error}`))
      .then((outcome) => {
        this.#ports.emit(sshActionEvent(action, outcome));
        return outcome;
      })
      .finally(() => this.#running.delete(action.section));
    return this.#track(run);
  }

  /** Cancels pending delays and running actions; resolves when every run has ended. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) this.#ports.clock.clearTimeout(timer);
    this.#timers.clear();
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
    this.#abort = new AbortController();
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    promise.finally(() => this.#inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  async #delayed(action: SshActionSettings): Promise<void> {
    if (action.delay > 0) {
      const signal = this.#abort.signal;
      await new Promise<void>((resolve) => {
        const timer = this.#ports.clock.setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, action.delay * 1000);
        this.#timers.add(timer);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
      if (signal.aborted) return;
    }
    // A backstop on the sequence's clock: the run ends by its duration whatever the remote side does.
    let guard: unknown;
    const budget = action.duration * 1000 + 5000;
    await Promise.race([
      this.runAction(action),
      new Promise<void>((resolve) => guard = this.#ports.clock.setTimeout(resolve, budget)),
    ]);
    this.#ports.clock.clearTimeout(guard);
  }

  async #execute(action: SshActionSettings): Promise<SshActionOutcome> {
    const timeoutMs = action.duration * 1000;
    if (this.#ports.run) return await this.#ports.run(action, timeoutMs);
    if (this.#ports.dryRun) {
      const read = await readCommands(action);
      const what = "error" in read
        ? `the commands of ${action.commandFile || "(no commandFile)"} (${read.error})`
        : `${read.commands.length} command${read.commands.length === 1 ? "" : "s"} of ${action.commandFile}`;
      return notRun("", true, `dry run: would run ${what} (up to ${action.duration} s); nothing was sent`);
    }
    const started = performance.now();
    const commands = await readCommands(action);
    if ("error" in commands) return notRun(commands.error);
    const key = await readKey(action);
    if ("error" in key) return notRun(key.error);
    if (!key.key && action.password === "") return notRun("neither keyFile nor password is set");
    const pinned = action.hostKeyFingerprint || this.#pins.get(action.section) || "";
    const result = await runSshCommands({
      host: action.host,
      port: action.port,
      user: action.user,
      privateKey: key.key,
      passphrase: action.keyPassphrase,
      password: action.password,
      hostKeyFingerprint: pinned,
    }, {
      commands: commands.commands,
      timeoutMs: Math.max(1, timeoutMs - (performance.now() - started)),
      signal: this.#abort.signal,
    });
    if (pinned !== "" || !result.fingerprint || result.hostKeyMismatch) return result;
    await this.#pin(action, result.fingerprint, result.keyType ?? "");
    return { ...result, pinned: result.fingerprint };
  }

  /** Pins a first-contact fingerprint: in memory, and in the configuration when a writer is given. */
  async #pin(action: SshActionSettings, fingerprint: string, keyType: string): Promise<void> {
    this.#pins.set(action.section, fingerprint);
    const what = `host key ${fingerprint} (${keyType}) of ${action.host}:${action.port}`;
    let saved = "kept in memory only (no configuration store)";
    if (this.#ports.pin) {
      let timer: unknown;
      try {
        await Promise.race([
          this.#ports.pin(action.section, fingerprint),
          new Promise((_, reject) =>
            timer = setTimeout(
              () => reject(new Error(`not written within ${PIN_TIMEOUT_MS / 1000} s`)),
              PIN_TIMEOUT_MS,
            )
          ),
        ]);
        saved = `written to [${action.section}] hostKeyFingerprint`;
      } catch (error) {
        saved = `kept in memory only: writing [${action.section}] hostKeyFingerprint failed: ${
          (error as Error).message
        }`;
      } finally {
        clearTimeout(timer as number);
      }
    }
    this.#ports.emit({
      id: "SshHostKeyPinned",
      note: `${action.name}: ${what} pinned on first contact; ${saved}`,
      details: { name: action.name, section: action.section, fingerprint, keyType },
    });
  }
}
