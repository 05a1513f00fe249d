/**
 * The shutdown sequence, in PCNS order (shared/spec/pcns.md §4.2):
 * ShutdownStarting -> optional UPS turn-off through the NMC -> shutdown
 * command file (until it exits, at most its duration) -> settle delay
 * (default 70 s) -> OS shutdown. Once started it runs to the end, and it
 * runs at most once: a second trigger gets the same run, until the action
 * engine re-arms it (`reset`) after a run that left the host up (a dry run,
 * a failed OS shutdown) or the operator resets it.
 *
 * A dry run names what it did not do: `UpsTurnOffSkipped` and
 * `CommandFileSkipped` instead of "sent" and "finished".
 *
 * Every side effect goes through injected ports, so the drill, the demo and
 * the tests run the same code with recorders and a fake clock.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Clock } from "../time/clock.ts";
import type { OsShutdownExecutor } from "./executor.ts";

/** Result of running a command file. */
export interface CommandRun {
  /** Exited 0 within its time. */
  readonly ok: boolean;
  /** Killed at its deadline. */
  readonly timedOut: boolean;
  /** Exit code, if it exited. */
  readonly exitCode: number | null;
  /** Captured output (truncated). */
  readonly output: string;
  /** What went wrong. */
  readonly error?: string;
  /** How long it ran. */
  readonly durationMs: number;
  /** Not run at all (dry run): `output` says what would have run. */
  readonly skipped?: boolean;
}

/** What the UPS turn-off step reports. */
export interface TurnOffResult {
  /** The card accepted it (or, with `skipped`, a dry run recorded it). */
  readonly ok: boolean;
  /** What went wrong. */
  readonly error?: string;
  /** What the card answered, or what a dry run would have sent. */
  readonly detail?: string;
  /** Not sent at all (dry run). */
  readonly skipped?: boolean;
}

/** How a finished sequence ended. */
export interface SequenceOutcome {
  /** `shut-down`: the OS shutdown command ran; `rehearsed`: a dry run recorded it; `failed`: it did not run. */
  readonly result: "shut-down" | "rehearsed" | "failed";
  /** When the OS-shutdown step ended. */
  readonly at: number;
  /** The command, or what went wrong. */
  readonly note: string;
}

/** The outside world the sequence acts on. */
export interface SequencePorts {
  /** Time source for the waits. */
  readonly clock: Clock;
  /** Publishes an event. */
  emit(draft: EventDraft): void;
  /** Turns a UPS off through its NMC (in a dry run: records what it would send, `skipped`). */
  turnOffUps(card: string): Promise<TurnOffResult>;
  /** Runs a command file with a deadline. */
  runCommandFile(path: string, timeoutMs: number, env: Record<string, string>): Promise<CommandRun>;
  /** The OS-shutdown executor (a recorder unless really running). */
  readonly os: OsShutdownExecutor;
}

/** What the sequence needs from the configuration. */
export interface SequenceSettings {
  /** The UPSs to turn off. */
  readonly cards: readonly string[];
  /** Turn the UPSs off through the NMC. */
  readonly turnOffUps: boolean;
  /** Shutdown command file ("" = none). */
  readonly shutdownCommandFile: string;
  /** Its maximum duration, seconds. */
  readonly shutdownCommandFileDuration: number;
  /** Wait before the OS shutdown, seconds. */
  readonly settleDelay: number;
  /** OS shutdown commands to try in order. */
  readonly osCommands: readonly (readonly string[])[];
}

/** One planned step of the sequence. */
export interface PlannedStep {
  /** Seconds after ShutdownStarting at which the step starts (at the latest). */
  readonly atSeconds: number;
  /** What happens. */
  readonly what: string;
}

/** The steps the sequence will take with these settings, with their latest start offsets. */
export function planSequence(settings: SequenceSettings): PlannedStep[] {
  const steps: PlannedStep[] = [];
  let at = 0;
  if (settings.turnOffUps && settings.cards.length > 0) {
    steps.push({ atSeconds: at, what: `turn off the UPS through NMC ${settings.cards.join(", ")}` });
  }
  if (settings.shutdownCommandFile) {
    steps.push({
      atSeconds: at,
      what:
        `run the shutdown command file ${settings.shutdownCommandFile} (up to ${settings.shutdownCommandFileDuration} s)`,
    });
    at += settings.shutdownCommandFileDuration;
  }
  steps.push({ atSeconds: at, what: `wait the settle delay of ${settings.settleDelay} s` });
  at += settings.settleDelay;
  steps.push({ atSeconds: at, what: `shut down the OS: ${(settings.osCommands[0] ?? []).join(" ")}` });
  return steps;
}

/** Seconds the whole sequence needs at most (for runtime checks and negotiation, plus the OS's own time). */
export function sequenceSeconds(
  settings: Pick<SequenceSettings, "shutdownCommandFile" | "shutdownCommandFileDuration" | "settleDelay">,
): number {
  return (settings.shutdownCommandFile ? settings.shutdownCommandFileDuration : 0) + settings.settleDelay;
}

/** Why the sequence started. */
export interface SequenceTrigger {
  /** The triggering event. */
  readonly eventId: string;
  /** The UPSs involved. */
  readonly cards: readonly string[];
  /** One-line explanation. */
  readonly reason: string;
}

/** Runs the shutdown sequence once. */
export class ShutdownSequencer {
  readonly #ports: SequencePorts;
  #run: Promise<void> | undefined;
  #phase: "idle" | "running" | "done" = "idle";
  #step = "";
  #outcome: SequenceOutcome | undefined;
  #aborted = false;
  #wake: (() => void) | undefined;
  #waitTimer: unknown;

  /** Creates a sequencer over the given ports. */
  constructor(ports: SequencePorts) {
    this.#ports = ports;
  }

  /** "idle" before any trigger, "running" during, "done" after the OS-shutdown step. */
  get phase(): "idle" | "running" | "done" {
    return this.#phase;
  }

  /** The step running now ("" when idle or done). */
  get step(): string {
    return this.#step;
  }

  /** How the last run ended (while done). */
  get outcome(): SequenceOutcome | undefined {
    return this.#outcome;
  }

  /** True if the OS shutdown is only recorded. */
  get dryRun(): boolean {
    return this.#ports.os.dryRun;
  }

  /** Re-arms a finished sequence so the next trigger runs it again; refused (false) while it runs. */
  reset(): boolean {
    if (this.#phase === "running") return false;
    this.#phase = "idle";
    this.#run = undefined;
    this.#outcome = undefined;
    this.#step = "";
    return true;
  }

  /**
   * Abandons the sequence's waits because the agent itself is stopping (for
   * example killed by the OS shutdown it started). The persisted state lets
   * a restarted agent run the sequence again.
   */
  abort(): void {
    this.#aborted = true;
    if (this.#waitTimer !== undefined) this.#ports.clock.clearTimeout(this.#waitTimer);
    this.#wake?.();
  }

  /**
   * Starts the sequence; a second call returns the first run's promise and starts nothing. The promise
   * never rejects: an unexpected error ends the run as `failed` with an OsShutdownFailed event.
   */
  start(trigger: SequenceTrigger, settings: SequenceSettings): Promise<void> {
    this.#run ??= this.#execute(trigger, settings).catch((error) => {
      const where = this.#step;
      this.#finish({ ok: false, command: [], error: `internal error at step "${where}": ${error}` });
    });
    return this.#run;
  }

  #finish(result: { ok: boolean; command: readonly string[]; error?: string }): void {
    const command = result.command.join(" ");
    const dryRun = this.#ports.os.dryRun;
    this.#ports.emit(
      result.ok
        ? {
          id: "OsShutdown",
          note: dryRun ? `dry run: not shut down, would run: ${command}` : `ran: ${command}`,
        }
        : { id: "OsShutdownFailed", note: result.error ?? command },
    );
    this.#outcome = {
      result: !result.ok ? "failed" : dryRun ? "rehearsed" : "shut-down",
      at: this.#ports.clock.now(),
      note: result.ok ? command : result.error ?? command,
    };
    this.#phase = "done";
    this.#step = "";
  }

  async #execute(trigger: SequenceTrigger, settings: SequenceSettings): Promise<void> {
    const { emit, clock } = this.#ports;
    this.#phase = "running";
    this.#aborted = false;
    const plan = planSequence(settings);
    emit({
      id: "ShutdownStarting",
      note: trigger.reason,
      details: { trigger: trigger.eventId, cards: trigger.cards, plan, dryRun: this.#ports.os.dryRun },
    });

    if (settings.turnOffUps && settings.cards.length > 0) {
      this.#step = "UPS turn-off";
      await Promise.all(settings.cards.map(async (card) => {
        const result: TurnOffResult = await this.#ports.turnOffUps(card)
          .catch((e) => ({ ok: false, error: String(e) }));
        emit(
          result.skipped
            ? { id: "UpsTurnOffSkipped", nmc: card, note: result.detail }
            : result.ok
            ? { id: "UpsTurnOffSent", nmc: card, note: result.detail }
            : { id: "UpsTurnOffFailed", nmc: card, note: result.error ?? "unknown error" },
        );
      }));
    }

    if (settings.shutdownCommandFile) {
      this.#step = "shutdown command file";
      const timeoutMs = settings.shutdownCommandFileDuration * 1000;
      const env = { PCNS_EVENT_ID: "ShutdownStarting", PCNS_SHUTDOWN_TRIGGER: trigger.eventId };
      const run = await this.#ports.runCommandFile(settings.shutdownCommandFile, timeoutMs, env)
        .catch((e): CommandRun => ({
          ok: false,
          timedOut: false,
          exitCode: null,
          output: "",
          error: String(e),
          durationMs: 0,
        }));
      emit(commandFileEvent(settings.shutdownCommandFile, run));
    }

    if (this.#aborted) return;
    this.#step = "settle delay";
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#waitTimer = settings.settleDelay > 0
        ? clock.setTimeout(resolve, settings.settleDelay * 1000)
        : undefined;
      if (settings.settleDelay <= 0) resolve();
    });
    this.#waitTimer = this.#wake = undefined;
    if (this.#aborted) return;

    this.#step = "OS shutdown";
    this.#finish(await this.#ports.os.shutdown(settings.osCommands));
  }
}

/** The event reporting a command file's outcome. */
export function commandFileEvent(path: string, run: CommandRun, nmc?: string): EventDraft {
  const details = { path, exitCode: run.exitCode, durationMs: run.durationMs, output: run.output };
  if (run.skipped) return { id: "CommandFileSkipped", nmc, note: run.output || path, details };
  if (run.timedOut) {
    return { id: "CommandFileTimedOut", nmc, note: `${path}: ${run.error ?? "timed out"}`, details };
  }
  if (!run.ok) return { id: "CommandFileFailed", nmc, note: `${path}: ${run.error ?? "failed"}`, details };
  return { id: "CommandFileRun", nmc, note: path, details };
}
