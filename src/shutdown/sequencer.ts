/**
 * The shutdown sequence, in PCNS order (shared/spec/pcns.md §4.2):
 * ShutdownStarting -> optional UPS turn-off through the NMC -> shutdown
 * command file (until it exits, at most its duration) -> settle delay
 * (default 70 s) -> OS shutdown. Once started it runs to the end, and it
 * runs at most once: a second trigger gets the same run, until the action
 * engine re-arms it (`reset`) after a run that left the host up (a dry run,
 * a failed OS shutdown) or the operator resets it.
 *
 * With the NUT server on (`hostSyncTimeout` set), the sequence is also a NUT
 * primary's: it sets forced shutdown (FSD) on the UPSs concerned the moment it
 * starts (NutForcedShutdown), so stock upsmon secondaries shut down, and
 * after the shutdown command file it waits until they have logged out, at
 * most `hostSyncTimeout` seconds (HostSyncCompleted or HostSyncTimedOut), as
 * upsmon's HOSTSYNC; the settle delay then plays upsmon's FINALDELAY (a
 * secondary logs out the moment it starts its SHUTDOWNCMD). FSD is set in a
 * dry run too: the UPS's condition is real, only this host's own shutdown is
 * rehearsed.
 *
 * SSH actions (`[SSHActionN]`, src/ssh/) of phase beforeShutdown run just
 * before the shutdown command file, those of afterShutdown just after it; the
 * actions of a phase run in parallel, each after its delay and cut off at its
 * duration, and whatever they do the sequence goes on.
 *
 * A dry run names what it did not do: `UpsTurnOffSkipped`,
 * `CommandFileSkipped` and `SshActionSkipped` instead of "sent" and "finished".
 *
 * An advanced UPS setup's sequence (`settings.setup`, see `src/setups/`) is
 * the same run cut short: SetupActionsStarting (with the NUT server on, FSD
 * on its own UPSs, `settings.cards`), its UPS turn-off, its SSH actions and
 * its command file, then the wait for the NUT secondaries of its UPSs; then,
 * with shutdownThisServer, it hands over to the host's own sequence
 * (`ports.handOver`) and waits for it; then SetupActionsDone (outcome
 * `actions-done`). It never waits the settle delay and never runs the OS step
 * itself. Re-armed, it clears FSD on its own UPSs only
 * (`clearForcedShutdownOf`); the host's sequence clears FSD everywhere.
 *
 * Every side effect goes through injected ports, so the drill, the demo and
 * the tests run the same code with recorders and a fake clock.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Clock } from "../time/clock.ts";
import type { OsShutdownExecutor } from "./executor.ts";
import type { SshActionSettings } from "../config/schema_ssh.ts";
import { phaseActions, type ShutdownSshPhase, sshPlanSteps, sshSequenceSeconds } from "../ssh/plan.ts";

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
  /**
   * `shut-down`: the OS shutdown command ran; `rehearsed`: a dry run recorded it; `failed`: it did not run;
   * `actions-done`: an advanced UPS setup's actions ended (it has no OS step of its own).
   */
  readonly result: "shut-down" | "rehearsed" | "failed" | "actions-done";
  /** When the OS-shutdown step ended. */
  readonly at: number;
  /** The command, or what went wrong. */
  readonly note: string;
}

/** What setting FSD found. */
export interface HostSyncStart {
  /** The NUT names of the UPSs now in forced shutdown. */
  readonly ups: readonly string[];
  /** Secondaries logged in to them. */
  readonly loggedIn: number;
  /** Those secondaries (`user@address (ups)`). */
  readonly clients: readonly string[];
}

/** The NUT server as the sequence uses it: forced shutdown and the wait for the secondaries. */
export interface HostSyncPort {
  /** Sets FSD on the UPSs of `cards` (every served UPS when empty). */
  forceShutdown(cards: readonly string[]): HostSyncStart;
  /** Clears FSD on every UPS (the host's shutdown was re-armed). */
  clearForcedShutdown(): void;
  /** Clears FSD on the UPSs of `cards` only (an advanced UPS setup was re-armed; none when empty). */
  clearForcedShutdownOf(cards: readonly string[]): void;
  /** The secondaries logged in to the UPSs of `cards` now (`user@address (ups)`). */
  loggedIn(cards: readonly string[]): readonly string[];
  /** Calls `listener` whenever a secondary logs out; returns the unsubscribe function. */
  onLogout(listener: () => void): () => void;
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
  /** The NUT server's forced shutdown, when it runs (used only with `hostSyncTimeout` set). */
  readonly hostSync?: HostSyncPort;
  /** Runs the SSH actions of a phase (in a dry run: records them); resolves when all have ended. */
  runSshActions?(phase: ShutdownSshPhase, actions: readonly SshActionSettings[]): Promise<void>;
  /** An advanced UPS setup with shutdownThisServer: starts the host's sequence, resolves when it ended. */
  handOver?(trigger: SequenceTrigger): Promise<void>;
}

/** An advanced UPS setup's sequence (see the module documentation). */
export interface SetupSequence {
  /** The setup's name (events, plan). */
  readonly name: string;
  /** shutdownThisServer: hand over to the host's sequence after the setup's actions. */
  readonly handOver: boolean;
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
  /**
   * The NUT server is on: set FSD at the start and wait at most this many seconds for the secondaries to
   * log out before the OS step (undefined: no NUT server, no such steps).
   */
  readonly hostSyncTimeout?: number;
  /** The SSH actions (only the enabled ones of the shutdown phases run here). */
  readonly sshActions?: readonly SshActionSettings[];
  /** An advanced UPS setup's sequence: FSD on its own UPSs only, no settle delay or OS step of its own. */
  readonly setup?: SetupSequence;
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
  const nut = settings.hostSyncTimeout !== undefined;
  if (nut) {
    steps.push({
      atSeconds: 0,
      what: settings.setup
        ? `set FSD (forced shutdown) for the NUT secondaries of the setup's UPSs (NMC ${
          settings.cards.join(", ")
        })`
        : "set FSD (forced shutdown) for the NUT secondaries of the UPS",
    });
  }
  if (settings.turnOffUps && settings.cards.length > 0) {
    steps.push({ atSeconds: at, what: `turn off the UPS through NMC ${settings.cards.join(", ")}` });
  }
  const ssh = (phase: ShutdownSshPhase) => {
    const planned = sshPlanSteps(settings.sshActions, phase, at);
    steps.push(...planned);
    at = Math.max(at, ...phaseActions(settings.sshActions, phase).map((a) => at + a.delay + a.duration));
  };
  ssh("beforeShutdown");
  if (settings.shutdownCommandFile) {
    steps.push({
      atSeconds: at,
      what:
        `run the shutdown command file ${settings.shutdownCommandFile} (up to ${settings.shutdownCommandFileDuration} s)`,
    });
    at += settings.shutdownCommandFileDuration;
  }
  ssh("afterShutdown");
  if (nut) {
    steps.push({
      atSeconds: at,
      what: `wait for the logged-in NUT secondaries to log out (at most ${settings.hostSyncTimeout} s)`,
    });
    at += settings.hostSyncTimeout!;
  }
  if (settings.setup) {
    steps.push({
      atSeconds: at,
      what: settings.setup.handOver
        ? "start this server's shutdown sequence (shutdownThisServer = true)"
        : "done: this server is not shut down (shutdownThisServer = false)",
    });
    return steps;
  }
  steps.push({ atSeconds: at, what: `wait the settle delay of ${settings.settleDelay} s` });
  at += settings.settleDelay;
  steps.push({ atSeconds: at, what: `shut down the OS: ${(settings.osCommands[0] ?? []).join(" ")}` });
  return steps;
}

/**
 * Seconds the whole sequence needs at most (for runtime checks and negotiation, plus the OS's own time),
 * the wait for NUT secondaries included when `hostSyncTimeout` is set, and the SSH actions of both
 * shutdown phases (each phase its longest delay + duration).
 */
export function sequenceSeconds(
  settings:
    & Pick<SequenceSettings, "shutdownCommandFile" | "shutdownCommandFileDuration" | "settleDelay">
    & { readonly hostSyncTimeout?: number; readonly sshActions?: readonly SshActionSettings[] },
): number {
  return (settings.shutdownCommandFile ? settings.shutdownCommandFileDuration : 0) + settings.settleDelay +
    (settings.hostSyncTimeout ?? 0) + sshSequenceSeconds(settings.sshActions);
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
  #stepName = "";
  #stepSince: number | undefined;
  #startedAt: number | undefined;
  #outcome: SequenceOutcome | undefined;
  #aborted = false;
  #wake: (() => void) | undefined;
  #waitTimer: unknown;
  /** The last run was an advanced UPS setup's: the cards it set FSD on ([] = none). */
  #setupFsd: readonly string[] | undefined;

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
    return this.#stepName;
  }

  /** When the current step started (ms; undefined when idle or done), for the UI's clock times. */
  get stepSince(): number | undefined {
    return this.#stepSince;
  }

  /** When the running (or finished) sequence started (ms; undefined while idle). */
  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  /** Sets the step and when it started. */
  set #step(name: string) {
    this.#stepName = name;
    this.#stepSince = name === "" ? undefined : this.#ports.clock.now();
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
    if (this.#setupFsd === undefined) this.#ports.hostSync?.clearForcedShutdown();
    else if (this.#setupFsd.length > 0) this.#ports.hostSync?.clearForcedShutdownOf(this.#setupFsd);
    this.#setupFsd = undefined;
    this.#phase = "idle";
    this.#startedAt = undefined;
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
      const where = this.#stepName;
      if (settings.setup) {
        const note = `internal error at step "${where}": ${error}`;
        this.#ports.emit({ id: "SetupActionsDone", note });
        this.#outcome = { result: "actions-done", at: this.#ports.clock.now(), note };
        this.#phase = "done";
        this.#step = "";
        return;
      }
      this.#finish({ ok: false, command: [], error: `internal error at step "${where}": ${error}` });
    });
    return this.#run;
  }

  #finish(
    result: { ok: boolean; command: readonly string[]; error?: string; failures?: readonly string[] },
  ): void {
    const command = result.command.join(" ");
    const dryRun = this.#ports.os.dryRun;
    // The commands that failed before the one that worked (e.g. systemctl refused, shutdown -h worked).
    const before = result.failures?.length ? ` (after: ${result.failures.join("; ")})` : "";
    this.#ports.emit(
      result.ok
        ? {
          id: "OsShutdown",
          note: dryRun ? `dry run: not shut down, would run: ${command}` : `ran: ${command}${before}`,
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

  #forceShutdown(hostSync: HostSyncPort, cards: readonly string[]): void {
    this.#step = "NUT forced shutdown";
    let set: HostSyncStart;
    try {
      set = hostSync.forceShutdown(cards);
    } catch (error) {
      this.#ports.emit({ id: "NutForcedShutdown", note: `FSD could not be set: ${error}` });
      return;
    }
    const who = set.loggedIn === 0
      ? "no NUT secondary is logged in"
      : `${set.loggedIn} NUT secondar${set.loggedIn === 1 ? "y" : "ies"} logged in: ${
        clientList(set.clients)
      }`;
    this.#ports.emit({
      id: "NutForcedShutdown",
      note: `FSD set on ${set.ups.join(", ") || "no served UPS"}; ${who}`,
      details: { ups: set.ups, loggedIn: set.loggedIn, clients: set.clients.slice(0, 100) },
    });
  }

  /** Waits until no secondary of `cards` is logged in, at most `timeoutSeconds` (on the sequence's clock). */
  async #waitForSecondaries(
    hostSync: HostSyncPort,
    cards: readonly string[],
    timeoutSeconds: number,
    anyway: string,
  ): Promise<void> {
    const { clock, emit } = this.#ports;
    const count = () => {
      try {
        return hostSync.loggedIn(cards);
      } catch {
        return [];
      }
    };
    if (count().length === 0) return;
    this.#step = "waiting for NUT secondaries";
    const started = clock.now();
    let timedOut = false;
    await new Promise<void>((resolve) => {
      let off: () => void = () => {};
      const done = () => {
        off();
        resolve();
      };
      this.#wake = done;
      off = hostSync.onLogout(() => {
        if (count().length === 0) done();
      });
      this.#waitTimer = clock.setTimeout(() => {
        timedOut = true;
        done();
      }, timeoutSeconds * 1000);
      if (count().length === 0) done();
    });
    if (this.#waitTimer !== undefined) clock.clearTimeout(this.#waitTimer);
    this.#waitTimer = this.#wake = undefined;
    if (this.#aborted) return;
    const seconds = Math.round((clock.now() - started) / 100) / 10;
    const left = count();
    if (timedOut && left.length > 0) {
      emit({
        id: "HostSyncTimedOut",
        note: `${left.length} still logged in after ${timeoutSeconds} s: ${clientList(left)}; ${anyway}`,
        details: { clients: left.slice(0, 100), waitedSeconds: seconds },
      });
    } else {
      emit({
        id: "HostSyncCompleted",
        note: `every NUT secondary logged out after ${seconds} s`,
        details: { waitedSeconds: seconds },
      });
    }
  }

  /** Runs the SSH actions of `phase`, if any; they never stop the sequence. */
  async #runSsh(phase: ShutdownSshPhase, settings: SequenceSettings): Promise<void> {
    const actions = phaseActions(settings.sshActions, phase);
    if (actions.length === 0 || !this.#ports.runSshActions || this.#aborted) return;
    this.#step = `SSH actions ${phase === "beforeShutdown" ? "before" : "after"} the shutdown command file`;
    await this.#ports.runSshActions(phase, actions).catch(() => {});
  }

  /** The end of a setup's sequence: the host's sequence (shutdownThisServer), then SetupActionsDone. */
  async #endSetup(trigger: SequenceTrigger, setup: SetupSequence): Promise<void> {
    const handOver = setup.handOver ? this.#ports.handOver : undefined;
    if (handOver) {
      this.#step = "this server's shutdown sequence";
      await handOver(trigger).catch(() => {});
      if (this.#aborted) return;
    }
    const note = handOver
      ? "its actions ran and this server's shutdown sequence ended"
      : "its actions ran; this server is not shut down (shutdownThisServer = false)";
    this.#ports.emit({ id: "SetupActionsDone", note });
    this.#outcome = { result: "actions-done", at: this.#ports.clock.now(), note };
    this.#phase = "done";
    this.#step = "";
  }

  async #execute(trigger: SequenceTrigger, settings: SequenceSettings): Promise<void> {
    const { emit, clock } = this.#ports;
    this.#phase = "running";
    this.#startedAt = clock.now();
    this.#aborted = false;
    const plan = planSequence(settings);
    emit({
      id: settings.setup ? "SetupActionsStarting" : "ShutdownStarting",
      note: trigger.reason,
      details: { trigger: trigger.eventId, cards: trigger.cards, plan, dryRun: this.#ports.os.dryRun },
    });
    const hostSync = settings.hostSyncTimeout !== undefined ? this.#ports.hostSync : undefined;
    // A setup's FSD: all its own UPSs (never [], which means every served UPS); the host's: the trigger's.
    const fsdCards = settings.setup
      ? settings.cards
      : trigger.cards.length > 0
      ? trigger.cards
      : settings.cards;
    if (settings.setup) this.#setupFsd = hostSync ? fsdCards : [];
    if (hostSync && (fsdCards.length > 0 || !settings.setup)) this.#forceShutdown(hostSync, fsdCards);

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

    await this.#runSsh("beforeShutdown", settings);
    if (settings.shutdownCommandFile) {
      this.#step = "shutdown command file";
      const timeoutMs = settings.shutdownCommandFileDuration * 1000;
      const env: Record<string, string> = {
        PCNS_EVENT_ID: settings.setup ? "SetupActionsStarting" : "ShutdownStarting",
        PCNS_SHUTDOWN_TRIGGER: trigger.eventId,
        ...(settings.setup ? { PCNS_SETUP: settings.setup.name } : {}),
      };
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
    await this.#runSsh("afterShutdown", settings);

    if (this.#aborted) return;
    if (hostSync && (fsdCards.length > 0 || !settings.setup)) {
      const anyway = settings.setup ? "the setup's actions end anyway" : "shutting down anyway";
      await this.#waitForSecondaries(hostSync, fsdCards, settings.hostSyncTimeout!, anyway);
    }
    if (this.#aborted) return;
    if (settings.setup) {
      await this.#endSetup(trigger, settings.setup);
      return;
    }

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

/** Text for a list of secondaries, shortened after 10. */
function clientList(clients: readonly string[]): string {
  const shown = clients.slice(0, 10).join(", ");
  return clients.length > 10 ? `${shown} and ${clients.length - 10} more` : shown;
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
