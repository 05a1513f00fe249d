/**
 * The action engine: the "events -> actions" stage. For every event it runs
 * the actions configured in `[Events]` (notification; command file after its
 * delay, only if the event is still active then), keeps the set of active
 * events per UPS, and turns the shutdown policy's candidates into countdowns
 * that start the shutdown sequence when due, or are cancelled
 * (ShutdownCancelled) when their condition ends first. Pending countdowns
 * are persisted so a restart does not forget them.
 *
 * @module
 */
import type { EventActions } from "../config/types.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { ShutdownStateStore } from "../shutdown/persist.ts";
import type { PersistedShutdownState } from "../shutdown/persist.ts";
import {
  commandFileEvent,
  type CommandRun,
  type SequenceSettings,
  type SequenceTrigger,
  type ShutdownSequencer,
} from "../shutdown/sequencer.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import {
  type ActiveEvent,
  activeKey,
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
}

/** A countdown in progress. */
export interface Countdown extends ShutdownCandidate {
  /** Milliseconds left. */
  readonly remainingMs: number;
}

/** Runs per-event actions and shutdown countdowns. */
export class ActionEngine {
  #settings: ActionSettings;
  readonly #ports: ActionPorts;
  readonly #sequencer: ShutdownSequencer;
  #active = new Map<string, ActiveEvent>();
  readonly #countdowns = new Map<string, { candidate: ShutdownCandidate; timer: TimerHandle }>();
  readonly #commandTimers = new Set<TimerHandle>();
  /** Candidates already announced (ShutdownPending / MultipleCriticalEvents), so each is announced once. */
  readonly #announced = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** Active events remembered from before a restart, waiting for their NMC to confirm them. */
  readonly #restored = new Map<string, ActiveEvent>();
  /** Countdowns from before a restart whose NMC has not confirmed (or denied) them yet. */
  #restoredCountdowns: ShutdownCandidate[] = [];
  #sequenceStartedAt: number | undefined;
  #trigger: SequenceTrigger | undefined;
  #stopped = false;

  /** Creates an engine; feed it events with `handle`. */
  constructor(settings: ActionSettings, ports: ActionPorts, sequencer: ShutdownSequencer) {
    this.#settings = settings;
    this.#ports = ports;
    this.#sequencer = sequencer;
  }

  /** Applies new settings (delays, cards, actions) and re-evaluates the countdowns. */
  configure(settings: ActionSettings): void {
    this.#settings = settings;
    for (const [key, a] of this.#active) {
      if (!settings.policy.cards.includes(a.card)) this.#active.delete(key);
    }
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

  /** Why the sequence started, if it did. */
  get trigger(): SequenceTrigger | undefined {
    return this.#trigger;
  }

  /** Handles one event from the event stream. */
  handle(event: AgentEvent): void {
    if (this.#stopped) return;
    const actions = this.#settings.events[event.id];
    if (event.nmc && this.#settings.policy.cards.includes(event.nmc)) {
      const restoredKey = activeKey(event.id, event.nmc);
      const since = this.#restored.get(restoredKey)?.since ?? event.time;
      this.#restored.delete(restoredKey);
      this.#active = recordEvent(this.#active, event.id, event.nmc, since);
      if (event.id === "CommunicationEstablished") {
        const card = event.nmc;
        // The packet's other events are published in the same turn: check what it did not confirm afterwards.
        queueMicrotask(() => this.#dropRestored(card, "no longer reported by the NMC after the restart"));
      } else if (event.id === "CommunicationLost") {
        this.#dropRestored(event.nmc, "the NMC was not heard after the restart");
      }
    }
    if (actions?.enableNotification) this.#ports.notify(event);
    if (actions?.enableCommandFile && actions.commandFilePath) this.#scheduleCommandFile(event, actions);
    if (event.nmc) this.reevaluate();
  }

  /** Re-runs the shutdown policy (after events, config or load changes). */
  reevaluate(): void {
    if (this.#stopped || this.#sequencer.phase !== "idle") return;
    const now = this.#ports.clock.now();
    const out: EventDraft[] = [];
    const candidates = shutdownCandidates(this.#active.values(), this.#settings.policy, this.#ports.loads());
    const keys = new Set(candidates.map((c) => c.key));
    for (const key of [...this.#announced]) if (!keys.has(key)) this.#announced.delete(key);
    for (const [key, { candidate, timer }] of this.#countdowns) {
      if (keys.has(key)) continue;
      this.#ports.clock.clearTimeout(timer);
      this.#countdowns.delete(key);
      if (candidate.delayMs > 0) {
        const left = Math.ceil((candidate.dueAt - now) / 1000);
        out.push({
          id: "ShutdownCancelled",
          note: `${candidate.reason}: condition ended ${left} s before the shutdown`,
        });
      }
    }
    let due: ShutdownCandidate | undefined;
    for (const candidate of candidates) {
      if (!this.#announced.has(candidate.key)) {
        this.#announced.add(candidate.key);
        if (candidate.key === "multiple") {
          out.push({
            id: "MultipleCriticalEvents",
            note: candidate.reason,
            details: { cards: candidate.cards },
          });
        }
        if (candidate.dueAt > now) {
          const inSeconds = Math.round((candidate.dueAt - now) / 100) / 10;
          out.push({
            id: "ShutdownPending",
            note:
              `${candidate.reason}: the shutdown sequence starts in ${inSeconds} s unless the condition ends`,
            details: { key: candidate.key, dueAt: new Date(candidate.dueAt).toISOString() },
          });
        }
      }
      if (candidate.dueAt <= now) {
        due ??= candidate;
        continue;
      }
      const existing = this.#countdowns.get(candidate.key);
      if (existing?.candidate.dueAt === candidate.dueAt) continue;
      if (existing) this.#ports.clock.clearTimeout(existing.timer);
      const timer = this.#ports.clock.setTimeout(() => this.reevaluate(), candidate.dueAt - now);
      this.#countdowns.set(candidate.key, { candidate, timer });
    }
    for (const draft of out) this.#ports.emit(draft);
    if (due) this.#start(due);
    else this.#persist();
  }

  /** Resumes what a previous run persisted. */
  restore(state: PersistedShutdownState): void {
    const now = this.#ports.clock.now();
    if (state.sequence) {
      this.#ports.emit({
        id: "CountdownResumed",
        note: `the shutdown sequence had started at ${new Date(state.sequence.startedAt).toISOString()} ` +
          `(${state.sequence.trigger.reason}); it runs again now`,
      });
      this.#sequenceStartedAt = state.sequence.startedAt;
      this.#begin(state.sequence.trigger);
      return;
    }
    const cards = new Set(state.countdowns.flatMap((c) => c.cards));
    for (const a of state.active) {
      if (cards.has(a.card) && this.#settings.policy.cards.includes(a.card)) {
        this.#restored.set(activeKey(a.id, a.card), a);
      }
    }
    this.#restoredCountdowns = [...state.countdowns];
    for (const c of state.countdowns) {
      this.#ports.emit({
        id: "CountdownResumed",
        note:
          `${c.reason}: due at ${new Date(c.dueAt).toISOString()} (in ${
            Math.round((c.dueAt - now) / 1000)
          } s) ` +
          "if the NMC still reports it",
      });
    }
  }

  /** Stops all countdowns and delayed actions (a running sequence is not interrupted) and waits for running command files. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const { timer } of this.#countdowns.values()) this.#ports.clock.clearTimeout(timer);
    this.#countdowns.clear();
    for (const timer of this.#commandTimers) this.#ports.clock.clearTimeout(timer);
    this.#commandTimers.clear();
    await Promise.all(this.#running);
  }

  #start(candidate: ShutdownCandidate): void {
    this.#sequenceStartedAt = this.#ports.clock.now();
    this.#begin({ eventId: candidate.eventId, cards: candidate.cards, reason: candidate.reason });
  }

  #begin(trigger: SequenceTrigger): void {
    for (const { timer } of this.#countdowns.values()) this.#ports.clock.clearTimeout(timer);
    this.#countdowns.clear();
    this.#trigger = trigger;
    this.#persist();
    // Not awaited by stop(): once started, the sequence runs to its end even while the agent stops.
    this.#sequencer.start(trigger, this.#settings.sequence).finally(() => {
      if (this.#sequencer.phase === "done") this.#ports.persist?.clear();
    });
  }

  #persist(): void {
    const persist = this.#ports.persist;
    if (!persist) return;
    const sequence = this.#trigger && this.#sequenceStartedAt !== undefined
      ? { startedAt: this.#sequenceStartedAt, trigger: this.#trigger }
      : undefined;
    // Restored countdowns stay persisted until their NMC confirms or denies them.
    const waiting = new Set([...this.#restored.values()].map((a) => a.card));
    this.#restoredCountdowns = this.#restoredCountdowns.filter((c) =>
      c.cards.some((card) => waiting.has(card)) && !this.#countdowns.has(c.key)
    );
    const countdowns = [
      ...[...this.#countdowns.values()].map((c) => c.candidate),
      ...this.#restoredCountdowns,
    ];
    if (!sequence && countdowns.length === 0) {
      persist.clear();
      return;
    }
    persist.save({
      version: 1,
      savedAt: this.#ports.clock.now(),
      active: [...this.active(), ...this.#restored.values()],
      countdowns,
      ...(sequence ? { sequence } : {}),
    });
  }

  #dropRestored(card: string, why: string): void {
    for (const [key, a] of this.#restored) {
      if (a.card !== card) continue;
      this.#restored.delete(key);
      this.#ports.emit({ id: "CountdownDropped", nmc: card, note: `${a.id} ${why}` });
    }
    this.#persist();
  }

  #stillActive(event: AgentEvent): boolean {
    if (!event.nmc || !oppositeOf(event.id)) return true;
    const a = this.#active.get(activeKey(event.id, event.nmc));
    return a !== undefined && a.since <= event.time;
  }

  #scheduleCommandFile(event: AgentEvent, actions: EventActions): void {
    const run = () => {
      if (this.#stopped) return;
      // A delayed command file runs only if its event still holds (e.g. 3 s against a flapping power line).
      if (!this.#stillActive(event)) return;
      const task = this.#ports
        .runCommandFile(
          actions.commandFilePath,
          actions.commandFileDuration * 1000,
          this.#ports.eventEnvironment(event),
        )
        .then((result) => this.#ports.emit(commandFileEvent(actions.commandFilePath, result, event.nmc)))
        .finally(() => this.#running.delete(task));
      this.#running.add(task);
    };
    if (actions.commandFileDelay <= 0) {
      run();
      return;
    }
    const timer = this.#ports.clock.setTimeout(() => {
      this.#commandTimers.delete(timer);
      run();
    }, actions.commandFileDelay * 1000);
    this.#commandTimers.add(timer);
  }
}
