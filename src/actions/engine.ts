/**
 * The action engine: the "events -> actions" stage. For every event it runs
 * the actions configured in `[Events]` (notification; command file after its
 * delay, only if the event is still active then), keeps the set of active
 * events per UPS, and turns the shutdown policy's candidates into countdowns
 * that start the shutdown sequence when due, or are cancelled
 * (ShutdownCancelled) when their condition ends first.
 *
 * - Pending countdowns and a running sequence are persisted (best effort: a
 *   failed write is a StateNotSaved event, never an error) and resumed after
 *   a restart by the rules of `shutdown/resume.ts`.
 * - A countdown is due when its own timer has run (`shutdown/timing.ts`). A
 *   timer that ran late (the process was stopped, the VM paused) waits a
 *   short grace so the packets queued meanwhile are read first; a wall clock
 *   that jumped is reported (ClockJumped) and does not move the countdown.
 * - After a sequence that left the host up (a dry run, a failed OS
 *   shutdown) the engine re-arms (ShutdownRearmed) once no condition holds;
 *   the operator can reset it at any time it is not running.
 *
 * @module
 */
import type { EventActions } from "../config/types.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { PersistedSequence, PersistedShutdownState, ShutdownStateStore } from "../shutdown/persist.ts";
import { resumeDecision } from "../shutdown/resume.ts";
import {
  type CommandRun,
  type SequenceSettings,
  type SequenceTrigger,
  type ShutdownSequencer,
} from "../shutdown/sequencer.ts";
import { cancelNote, judgeCountdown, stallAtCancel } from "../shutdown/timing.ts";
import { NotificationTimer } from "./notifytiming.ts";
import { CommandFileTimer } from "./commandtiming.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import {
  type ActiveEvent,
  activeKey,
  countdownAnnouncements,
  oppositeOf,
  recordEvent,
  type ShutdownCandidate,
  shutdownCandidates,
  type ShutdownPolicy,
} from "./policy.ts";

/** What the engine needs from the configuration. */
export interface ActionSettings {
  /** The shutdown policy (mode, cards, delays). */
  readonly policy: ShutdownPolicy;
  /** Per-event actions. */
  readonly events: Readonly<Record<string, EventActions>>;
  /** The shutdown sequence settings. */
  readonly sequence: SequenceSettings;
  /**
   * Advanced UPS setups decide when this sequence starts (`startSequence`): the policy starts no countdown
   * here, and after a run that left the host up the engine re-arms once `holds` is false for the events
   * in effect (no setup that shuts this server down is still short of healthy UPSs).
   */
  readonly external?: { holds(active: readonly ActiveEvent[]): boolean };
}

/** The engine's outside world (besides the sequencer). */
export interface ActionPorts {
  /** Time source. */
  readonly clock: Clock;
  /** Publishes an event. */
  emit(draft: EventDraft): void;
  /** Sends a notification (never throws; reports its own failures). */
  notify(event: AgentEvent): void;
  /** Runs an event's command file. */
  runCommandFile(path: string, timeoutMs: number, env: Record<string, string>): Promise<CommandRun>;
  /** Environment variables describing an event, for its command file. */
  eventEnvironment(event: AgentEvent): Record<string, string>;
  /** The UPSs' load in % (parallel mode). */
  loads(): ReadonlyMap<string, number | undefined>;
  /** Where pending countdowns are persisted (none in the drill). */
  readonly persist?: ShutdownStateStore;
  /** This run is a rehearsal (default: the sequencer's OS executor is a recorder). */
  readonly dryRun?: boolean;
  /** This boot of the host, recorded with the state (see `shutdown/boot.ts`). */
  readonly bootId?: string;
  /** Hears about unexpected errors inside the engine's timers (default: console.error). */
  reportError?(message: string): void;
}

/** A countdown in progress. */
export interface Countdown extends ShutdownCandidate {
  /** Milliseconds left. */
  readonly remainingMs: number;
}

/** The outcome of an operator's reset. */
export interface ShutdownReset {
  /** False if refused (the sequence is running). */
  readonly ok: boolean;
  /** True if the engine was re-armed (false: nothing to reset, or refused). */
  readonly rearmed: boolean;
  /** What happened, for people. */
  readonly message: string;
}

/** A scheduled countdown: its own timer decides when it is due. */
interface Scheduled {
  readonly candidate: ShutdownCandidate;
  timer: TimerHandle;
  /** Wall-clock time at which its timer ran. */
  firedAt?: number;
  /** After a stall: not before this (wall-clock ms). */
  graceUntil?: number;
  /** A clock jump was reported for it already. */
  jumpReported?: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

/** Runs per-event actions and shutdown countdowns. */
export class ActionEngine {
  #settings: ActionSettings;
  readonly #ports: ActionPorts;
  readonly #sequencer: ShutdownSequencer;
  #active = new Map<string, ActiveEvent>();
  readonly #countdowns = new Map<string, Scheduled>();
  /** Candidates already announced (ShutdownPending / MultipleCriticalEvents), so each is announced once. */
  readonly #announced = new Set<string>();
  /** Active events remembered from before a restart, waiting for their NMC to confirm them. */
  readonly #restored = new Map<string, ActiveEvent>();
  /** Countdowns from before a restart whose NMC has not confirmed (or denied) them yet. */
  #restoredCountdowns: ShutdownCandidate[] = [];
  /** A sequence interrupted by a restart, waiting for its NMC to confirm (or deny) the condition. */
  #restoredSequence: PersistedSequence | undefined;
  #sequenceStartedAt: number | undefined;
  #turnOffSentAt: number | undefined;
  #trigger: SequenceTrigger | undefined;
  /** Why the engine re-arms once no condition holds (set after a run that left the host up). */
  #rearmWhenClear: string | undefined;
  /** Countdowns of conditions that began before an operator's reset start from the reset. */
  #armedAt = Number.NEGATIVE_INFINITY;
  #graceTimer: TimerHandle | undefined;
  /** The persistence error reported last (undefined while saving works). */
  #saveError: string | undefined;
  #stopped = false;
  /** Notification delays and repeats (`notifytiming.ts`). */
  readonly #notifications: NotificationTimer;
  /** Command file delays and runs (`commandtiming.ts`). */
  readonly #commandFiles: CommandFileTimer;

  /** Creates an engine; feed it events with `handle`. */
  constructor(settings: ActionSettings, ports: ActionPorts, sequencer: ShutdownSequencer) {
    this.#settings = settings;
    this.#ports = ports;
    this.#sequencer = sequencer;
    this.#notifications = new NotificationTimer({
      clock: ports.clock,
      send: (event) => this.#ports.notify(event),
      stillActive: (event) => this.#stillActive(event),
      actions: (id) => this.#settings.events[id],
      emit: (draft) => this.#ports.emit(draft),
      reportError: (message) => (this.#ports.reportError ?? console.error)(message),
    });
    this.#commandFiles = new CommandFileTimer({
      clock: ports.clock,
      runCommandFile: (path, timeoutMs, env) => this.#ports.runCommandFile(path, timeoutMs, env),
      eventEnvironment: (event) => this.#ports.eventEnvironment(event),
      stillActive: (event) => this.#stillActive(event),
      emit: (draft) => this.#ports.emit(draft),
      guard: (fn) => this.#guard(fn),
      reportError: (message) => this.#ports.reportError?.(message),
    });
  }

  /** Applies new settings (delays, cards, actions) and re-evaluates the countdowns. */
  configure(settings: ActionSettings): void {
    this.#settings = settings;
    for (const [key, a] of this.#active) {
      if (!settings.policy.cards.includes(a.card)) this.#active.delete(key);
    }
    this.#rearmIfClear(); // a condition may no longer count (e.g. its shutdown action was turned off)
    this.reevaluate();
  }

  /** Countdowns in progress, earliest first. */
  countdowns(): Countdown[] {
    const now = this.#ports.clock.now();
    return [...this.#countdowns.values()]
      .map(({ candidate }) => ({ ...candidate, remainingMs: Math.max(0, candidate.dueAt - now) }))
      .sort((a, b) => a.dueAt - b.dueAt);
  }

  /** Events in effect now. */
  active(): ActiveEvent[] {
    return [...this.#active.values()];
  }

  /** Why the sequence started, if it did (until the engine re-arms). */
  get trigger(): SequenceTrigger | undefined {
    return this.#trigger;
  }

  /** After a finished sequence: what re-arms the engine by itself ("" if only a reset does). */
  get rearmsWhen(): string | undefined {
    if (this.#sequencer.phase !== "done") return undefined;
    return this.#rearmWhenClear ? "when no critical condition holds" : "";
  }

  /** Handles one event from the event stream. */
  handle(event: AgentEvent): void {
    if (this.#stopped) return;
    if (event.id === "ShutdownResetRequested") {
      this.reset(typeof event.details?.by === "string" ? event.details.by : "an operator");
      return;
    }
    // Only a turn-off of this sequence's own UPSs (a setup's sequence turns off its own).
    const ownTurnOff = !event.nmc || this.#settings.sequence.cards.includes(event.nmc);
    if (event.id === "UpsTurnOffSent" && this.#sequencer.phase === "running" && ownTurnOff) {
      this.#turnOffSentAt ??= event.time;
      this.#persist();
    }
    const actions = this.#settings.events[event.id];
    if (event.nmc && this.#settings.policy.cards.includes(event.nmc)) {
      const restoredKey = activeKey(event.id, event.nmc);
      const since = this.#restored.get(restoredKey)?.since ?? event.time;
      this.#restored.delete(restoredKey);
      this.#active = recordEvent(this.#active, event.id, event.nmc, since);
      if (event.id === "CommunicationEstablished") {
        const card = event.nmc;
        // The packet's other events are published in the same turn: check what it did not confirm afterwards.
        queueMicrotask(() =>
          this.#guard(() => this.#dropRestored(card, "no longer reported by the NMC after the restart"))
        );
      } else if (event.id === "CommunicationLost") {
        this.#dropRestored(event.nmc, "the NMC was not heard after the restart");
      }
    }
    this.#notifications.cleared(event);
    if (actions?.enableNotification) this.#notifications.handle(event, actions);
    if (actions?.enableCommandFile && actions.commandFilePath) this.#commandFiles.schedule(event, actions);
    if (event.nmc) {
      this.#rearmIfClear();
      this.reevaluate();
    }
  }

  /** Re-runs the shutdown policy (after events, config or load changes). */
  reevaluate(): void {
    if (this.#stopped || this.#sequencer.phase !== "idle") return;
    const now = this.#ports.clock.now();
    const out: EventDraft[] = [];
    const candidates = this.#candidates();
    const keys = new Set(candidates.map((c) => c.key));
    for (const key of [...this.#announced]) if (!keys.has(key)) this.#announced.delete(key);
    for (const [key, scheduled] of this.#countdowns) {
      if (keys.has(key)) continue;
      const { candidate, timer } = scheduled;
      this.#ports.clock.clearTimeout(timer);
      this.#countdowns.delete(key);
      const stall = scheduled.jumpReported ? undefined : stallAtCancel(
        { dueAt: candidate.dueAt, firedAt: scheduled.firedAt },
        now,
      );
      if (stall) out.push({ id: "ClockJumped", note: `${candidate.reason}: ${stall}`, details: { key } });
      if (candidate.delayMs > 0) {
        out.push({ id: "ShutdownCancelled", note: cancelNote(candidate.reason, candidate.dueAt, now) });
      }
    }
    let due: ShutdownCandidate | undefined;
    let holdUntil: number | undefined;
    for (const candidate of candidates) {
      if (!this.#announced.has(candidate.key)) {
        this.#announced.add(candidate.key);
        out.push(...countdownAnnouncements(candidate, now));
      }
      const existing = this.#countdowns.get(candidate.key);
      if (existing && existing.candidate.dueAt === candidate.dueAt) {
        // Its own timer says when it is due: the wall clock may have jumped, the process may have stopped.
        const verdict = this.#judgeScheduled(existing, now, out);
        if (verdict === "due") due ??= candidate;
        else if (verdict !== "waiting") holdUntil = Math.min(holdUntil ?? verdict, verdict);
        continue;
      }
      if (candidate.dueAt <= now) {
        due ??= candidate;
        continue;
      }
      if (existing) this.#ports.clock.clearTimeout(existing.timer);
      const scheduled: Scheduled = { candidate, timer: undefined };
      scheduled.timer = this.#ports.clock.setTimeout(
        () =>
          this.#guard(() => {
            scheduled.firedAt = this.#ports.clock.now();
            this.reevaluate();
          }),
        candidate.dueAt - now,
      );
      this.#countdowns.set(candidate.key, scheduled);
    }
    for (const draft of out) this.#ports.emit(draft);
    if (this.#sequencer.phase !== "idle") return; // an emitted event's listener already started it
    if (due) {
      this.#start(due);
      return;
    }
    this.#armGrace(holdUntil, now);
    this.#persist();
  }

  /**
   * Starts the sequence for an outside decider (an advanced UPS setup with shutdownThisServer) and resolves
   * when it has ended. While it runs, or after it ran until it is re-armed, a call starts nothing and gets
   * that run: the OS step runs at most once.
   */
  startSequence(trigger: SequenceTrigger): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#sequencer.phase !== "idle") return this.#sequencer.start(trigger, this.#settings.sequence);
    this.#sequenceStartedAt = this.#ports.clock.now();
    this.#turnOffSentAt = undefined;
    return this.#begin(trigger, false);
  }

  /** Resumes what a previous run persisted, by the resumption rules (`shutdown/resume.ts`). */
  restore(state: PersistedShutdownState): void {
    const now = this.#ports.clock.now();
    const decision = resumeDecision(state, { dryRun: this.#dryRun, bootId: this.#ports.bootId });
    if (decision.kind === "nothing") return;
    if (decision.kind === "drop") {
      this.#ports.emit({ id: "CountdownDropped", note: decision.reason });
      this.#persist();
      return;
    }
    if (decision.kind === "run-now") {
      this.#ports.emit({ id: "CountdownResumed", note: decision.reason });
      this.#sequenceStartedAt = decision.sequence.startedAt;
      this.#turnOffSentAt = decision.sequence.turnOffSentAt;
      this.#begin(decision.sequence.trigger, true);
      return;
    }
    const sequence = decision.sequence;
    const cards = new Set([...state.countdowns.flatMap((c) => c.cards), ...(sequence?.trigger.cards ?? [])]);
    for (const a of state.active) {
      if (cards.has(a.card) && this.#settings.policy.cards.includes(a.card)) {
        this.#restored.set(activeKey(a.id, a.card), a);
      }
    }
    this.#restoredCountdowns = sequence ? [] : [...state.countdowns];
    this.#restoredSequence = sequence;
    if (sequence) {
      this.#ports.emit({
        id: "CountdownResumed",
        note:
          `the shutdown sequence had started at ${iso(sequence.startedAt)} (${sequence.trigger.reason}); ` +
          "it runs again if the NMC still reports the condition",
      });
    }
    for (const c of this.#restoredCountdowns) {
      this.#ports.emit({
        id: "CountdownResumed",
        note: `${c.reason}: due at ${iso(c.dueAt)} (in ${Math.round((c.dueAt - now) / 1000)} s) ` +
          "if the NMC still reports it",
      });
    }
  }

  /**
   * The operator's reset: re-arms the engine after a finished sequence (refused while it runs).
   * Conditions still in effect start their countdowns again from now, with their full delays.
   */
  reset(by: string): ShutdownReset {
    const phase = this.#sequencer.phase;
    if (phase === "running") {
      return {
        ok: false,
        rearmed: false,
        message: `the shutdown sequence is running (step: ${this.#sequencer.step}); it cannot be reset`,
      };
    }
    if (phase === "idle") {
      return {
        ok: true,
        rearmed: false,
        message: "nothing to reset: no shutdown sequence has run since the last re-arm",
      };
    }
    this.#armedAt = this.#ports.clock.now();
    this.#rearm(`reset by ${by}; conditions still in effect start their countdowns again from now`);
    return { ok: true, rearmed: true, message: "re-armed: a critical condition starts a new countdown" };
  }

  /** Stops all countdowns and delayed actions (a running sequence is not interrupted) and waits for running command files. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#notifications.stop();
    for (const { timer } of this.#countdowns.values()) this.#ports.clock.clearTimeout(timer);
    this.#countdowns.clear();
    this.#armGrace(undefined, 0);
    await this.#commandFiles.stop();
  }

  get #dryRun(): boolean {
    return this.#ports.dryRun ?? this.#sequencer.dryRun;
  }

  /** The policy's candidates; conditions older than an operator's reset count from the reset. */
  #candidates(active: Iterable<ActiveEvent> = this.#active.values()): ShutdownCandidate[] {
    if (this.#settings.external) return [];
    const armedAt = this.#armedAt;
    const view = [...active].map((a) => (a.since < armedAt ? { ...a, since: armedAt } : a));
    return shutdownCandidates(view, this.#settings.policy, this.#ports.loads());
  }

  /**
   * Whether a scheduled countdown is due now: "due", "waiting" (its timer has not run), or the time its
   * post-stall grace ends. A stall or clock jump is reported once per countdown, measured.
   */
  #judgeScheduled(s: Scheduled, now: number, out: EventDraft[]): "due" | "waiting" | number {
    const { candidate } = s;
    const v = judgeCountdown({ dueAt: candidate.dueAt, firedAt: s.firedAt, graceUntil: s.graceUntil }, now);
    if (v.graceUntil !== undefined) s.graceUntil = v.graceUntil;
    if (v.jump && !s.jumpReported) {
      s.jumpReported = true;
      out.push({
        id: "ClockJumped",
        note: `${candidate.reason}: ${v.jump}`,
        details: { key: candidate.key },
      });
    }
    return v.verdict === "grace" ? s.graceUntil! : v.verdict;
  }

  #armGrace(until: number | undefined, now: number): void {
    if (this.#graceTimer !== undefined) this.#ports.clock.clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (until === undefined) return;
    this.#graceTimer = this.#ports.clock.setTimeout(() =>
      this.#guard(() => {
        this.#graceTimer = undefined;
        this.reevaluate();
      }), Math.max(0, until - now));
  }

  #start(candidate: ShutdownCandidate): void {
    this.#sequenceStartedAt = this.#ports.clock.now();
    this.#turnOffSentAt = undefined;
    this.#begin({ eventId: candidate.eventId, cards: candidate.cards, reason: candidate.reason }, false);
  }

  #begin(trigger: SequenceTrigger, turnOffAlreadySent: boolean): Promise<void> {
    for (const { timer } of this.#countdowns.values()) this.#ports.clock.clearTimeout(timer);
    this.#countdowns.clear();
    this.#armGrace(undefined, 0);
    this.#trigger = trigger;
    this.#restoredSequence = undefined;
    this.#rearmWhenClear = undefined;
    const settings = turnOffAlreadySent
      ? { ...this.#settings.sequence, turnOffUps: false }
      : this.#settings.sequence;
    // Not awaited by stop(): once started, the sequence runs to its end even while the agent stops.
    const run = this.#sequencer.start(trigger, settings);
    this.#persist();
    run.then(() => this.#guard(() => this.#finished()));
    return run;
  }

  /** After the sequence: a finished one is never persisted; one that left the host up re-arms. */
  #finished(): void {
    if (this.#sequencer.phase !== "done") return; // aborted (the agent stops): the state stays for the restart
    this.#sequenceStartedAt = undefined;
    this.#turnOffSentAt = undefined;
    this.#persist();
    const outcome = this.#sequencer.outcome;
    if (outcome?.result === "rehearsed") this.#rearmWhenClear = "the dry run finished";
    else if (outcome?.result === "failed") this.#rearmWhenClear = `the OS shutdown failed (${outcome.note})`;
    else if (outcome?.result === "actions-done") this.#rearmWhenClear = "the setup's actions ended";
    this.#rearmIfClear();
  }

  /** Re-arms a finished sequence that left the host up once no shutdown condition holds. */
  #rearmIfClear(): void {
    const why = this.#rearmWhenClear;
    if (!why || this.#sequencer.phase !== "done") return;
    // Events with no clearing event (UpsTurnOffInitiated) never end: they do not hold the engine.
    const lasting = [...this.#active.values()].filter((a) => oppositeOf(a.id) !== undefined);
    const external = this.#settings.external;
    if (external ? external.holds(lasting) : this.#candidates(lasting).length > 0) return;
    const signals = new Set<string>();
    for (const [key, a] of this.#active) {
      if (oppositeOf(a.id) !== undefined) continue;
      this.#active.delete(key);
      if (this.#settings.policy.shutdownDelays.has(a.id)) signals.add(a.id);
    }
    const note = signals.size > 0 ? ` (${[...signals].join(", ")}: a one-time signal, it does not hold)` : "";
    this.#rearm(`${why} and no critical condition holds any more${note}`);
  }

  #rearm(why: string): void {
    if (!this.#sequencer.reset()) return;
    this.#trigger = undefined;
    this.#rearmWhenClear = undefined;
    this.#announced.clear();
    this.#ports.emit({ id: "ShutdownRearmed", note: why });
    this.reevaluate();
  }

  #persist(): void {
    const persist = this.#ports.persist;
    if (!persist) return;
    const running = this.#sequencer.phase === "running" && this.#trigger &&
      this.#sequenceStartedAt !== undefined;
    const sequence: PersistedSequence | undefined = running
      ? {
        startedAt: this.#sequenceStartedAt!,
        trigger: this.#trigger!,
        ...(this.#turnOffSentAt !== undefined ? { turnOffSentAt: this.#turnOffSentAt } : {}),
      }
      : this.#restoredSequence;
    // Restored countdowns stay persisted until their NMC confirms or denies them.
    const waiting = new Set([...this.#restored.values()].map((a) => a.card));
    this.#restoredCountdowns = this.#restoredCountdowns.filter((c) =>
      c.cards.some((card) => waiting.has(card)) && !this.#countdowns.has(c.key)
    );
    const countdowns = [
      ...[...this.#countdowns.values()].map((c) => c.candidate),
      ...this.#restoredCountdowns,
    ];
    this.#write((outcome) => {
      if (!sequence && countdowns.length === 0) return persist.clear(outcome);
      persist.save({
        version: 2,
        savedAt: this.#ports.clock.now(),
        dryRun: this.#dryRun,
        ...(this.#ports.bootId ? { bootId: this.#ports.bootId } : {}),
        active: [...this.active(), ...this.#restored.values()],
        countdowns,
        ...(sequence ? { sequence } : {}),
      }, outcome);
    });
  }

  /**
   * Best effort: a failed write (thrown at once, or told later by a store that writes in the background) is
   * reported once (until a write works again), never thrown.
   */
  #write(action: (outcome: (error: Error | undefined) => void) => void): void {
    const report = (error: unknown) => {
      if (error === undefined) {
        this.#saveError = undefined;
        return;
      }
      const message = (error as Error).message ?? String(error);
      if (this.#saveError !== undefined) return;
      this.#saveError = message;
      this.#ports.emit({
        id: "StateNotSaved",
        note: `${message}; the shutdown goes on, but what is pending would not survive a restart`,
      });
    };
    try {
      action(report);
    } catch (error) {
      report(error ?? new Error("unknown error"));
    }
  }

  #dropRestored(card: string, why: string): void {
    for (const [key, a] of this.#restored) {
      if (a.card !== card) continue;
      this.#restored.delete(key);
      this.#ports.emit({ id: "CountdownDropped", nmc: card, note: `${a.id} ${why}` });
    }
    const sequence = this.#restoredSequence;
    const waiting = new Set([...this.#restored.values()].map((a) => a.card));
    if (sequence && this.#sequencer.phase === "idle" && !sequence.trigger.cards.some((c) => waiting.has(c))) {
      this.#restoredSequence = undefined;
      this.#ports.emit({
        id: "CountdownDropped",
        nmc: card,
        note: `the shutdown sequence from before the restart (${sequence.trigger.reason}): ${why}`,
      });
    }
    this.#persist();
  }

  /** Runs `fn` from a timer or microtask: an error is reported, never thrown out of the event loop. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      const message = `shutdown engine: ${(error as Error)?.stack ?? error}`;
      try {
        (this.#ports.reportError ?? console.error)(message);
      } catch {
        // nothing left to report to
      }
    }
  }

  #stillActive(event: AgentEvent): boolean {
    if (!event.nmc || !oppositeOf(event.id)) return true;
    const a = this.#active.get(activeKey(event.id, event.nmc));
    return a !== undefined && a.since <= event.time;
  }
}
