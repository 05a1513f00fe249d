/**
 * The advanced UPS setups at run time: one action engine and one shutdown sequencer per setup
 * (`setups/plan.ts` gives their settings), fed the same event stream as the host's engine.
 *
 * - A setup counts only its own cards: when fewer than `minimumHealthy` of them are healthy, its
 *   countdown starts (ShutdownPending), and when due its sequence runs (SetupActionsStarting, with the
 *   NUT server on FSD on its own UPSs, its UPS turn-off, its SSH actions, its command file, the wait for
 *   the NUT secondaries of its UPSs).
 * - With shutdownThisServer it then starts the host's sequence (`startHostSequence`) and waits for it:
 *   the host's OS step runs at most once whichever setups decide it. Without, it is done for this outage
 *   (SetupActionsDone) and re-arms by itself once its cards are healthy again (ShutdownRearmed), which
 *   clears FSD on its own UPSs only.
 * - Every event of a setup names it: `details.setup` and a `setup NAME: ` note prefix.
 * - Each setup persists its own countdowns and running sequence (`pending-shutdown-<section>.json`,
 *   same resumption rules as the host's): after a restart an interrupted setup sequence runs again when
 *   its NMCs still report the condition.
 *
 * @module
 */
import { ActionEngine, type ActionSettings } from "../actions/engine.ts";
import { criticalEvents } from "../actions/policy.ts";
import { SETUP_SECTIONS, type UpsSetupSettings } from "../config/schema_setups.ts";
import type { SshActionSettings } from "../config/schema_ssh.ts";
import type { AgentConfig } from "../config/types.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { OsShutdownExecutor } from "../shutdown/executor.ts";
import type { PersistedShutdownState, ShutdownStateStore } from "../shutdown/persist.ts";
import {
  type CommandRun,
  type HostSyncPort,
  type SequenceTrigger,
  ShutdownSequencer,
  type TurnOffResult,
} from "../shutdown/sequencer.ts";
import type { ShutdownSshPhase } from "../ssh/plan.ts";
import type { Clock } from "../time/clock.ts";
import { activeSetups, setupActionSettings } from "./plan.ts";
import { type SetupStatus, setupVerdict } from "./verdict.ts";

/** The SSH runner a setup gets (its own, so its events name the setup). */
export interface SetupSshRunner {
  /** Runs the given actions of a phase; resolves when all ended. */
  runPhase(phase: ShutdownSshPhase, actions: readonly SshActionSettings[]): Promise<void>;
  /** Cancels what is pending. */
  stop(): Promise<void>;
}

/** A setup's persisted state file. */
export interface SetupStateFile extends ShutdownStateStore {
  /** Reads it: undefined if absent, an error message if unusable. */
  load(): PersistedShutdownState | string | undefined;
}

/** What the setups need from the agent. */
export interface SetupsPorts {
  /** Time source. */
  readonly clock: Clock;
  /** Publishes an event (the setup's name is added here). */
  emit(draft: EventDraft): void;
  /** Runs a setup's command file. */
  runCommandFile(path: string, timeoutMs: number, env: Record<string, string>): Promise<CommandRun>;
  /** Turns a UPS off through its NMC (or records it in a dry run). */
  turnOffUps(card: string): Promise<TurnOffResult>;
  /** The host's OS executor: only its dry-run flag is used (a setup has no OS step). */
  readonly os: OsShutdownExecutor;
  /** A new SSH runner publishing through `emit`. */
  sshRunner(emit: (draft: EventDraft) => void): SetupSshRunner;
  /** The NUT server's forced shutdown (FSD on a setup's own UPSs; used only with `[NUT] enabled`). */
  readonly hostSync?: HostSyncPort;
  /** Starts the host's sequence (or joins the one running); resolves when it ended. */
  startHostSequence(trigger: SequenceTrigger): Promise<void>;
  /** UPS loads (unused by advanced mode; passed on to the engines). */
  loads(): ReadonlyMap<string, number | undefined>;
  /** The state file of a setup's section (undefined: nothing is persisted, e.g. the drill). */
  stateFile?(section: string): SetupStateFile | undefined;
  /** This run is a rehearsal. */
  readonly dryRun: boolean;
  /** This boot of the host. */
  readonly bootId?: string;
  /** Hears about unexpected errors. */
  reportError?(message: string): void;
}

interface Entry {
  setup: UpsSetupSettings;
  settings: ActionSettings;
  readonly engine: ActionEngine;
  readonly sequencer: ShutdownSequencer;
  readonly runner: SetupSshRunner;
  readonly file: SetupStateFile | undefined;
}

/** `details.setup` and a `setup NAME: ` prefix on a setup's event. */
export function tagSetupEvent(draft: EventDraft, name: string): EventDraft {
  return {
    ...draft,
    note: draft.note ? `setup ${name}: ${draft.note}` : `setup ${name}`,
    details: { ...(draft.details ?? {}), setup: name },
  };
}

/** Runs the advanced UPS setups (see the module documentation). */
export class AdvancedSetups {
  readonly #ports: SetupsPorts;
  readonly #entries = new Map<string, Entry>();
  readonly #retiring = new Set<Promise<void>>();
  #stopped = false;

  /** Creates the runner; `configure` gives it its setups. */
  constructor(ports: SetupsPorts) {
    this.#ports = ports;
  }

  /** Applies a config: new setups get an engine, changed ones new settings, removed ones are stopped. */
  configure(config: AgentConfig, host: ActionSettings): void {
    if (this.#stopped) return;
    const setups = activeSetups(config);
    for (const [section, entry] of this.#entries) {
      if (setups.some((s) => s.section === section)) continue;
      this.#entries.delete(section);
      const done = entry.engine.stop().then(() => entry.runner.stop());
      this.#retiring.add(done);
      done.finally(() => this.#retiring.delete(done));
    }
    for (const setup of setups) {
      const settings = setupActionSettings(config, setup, host);
      const entry = this.#entries.get(setup.section);
      if (entry) {
        entry.setup = setup;
        entry.settings = settings;
        entry.engine.configure(settings);
      } else this.#entries.set(setup.section, this.#create(setup, settings));
    }
  }

  /** Resumes each setup's persisted state; state files of sections not in use are removed. */
  restore(): void {
    for (const section of SETUP_SECTIONS) {
      const entry = this.#entries.get(section);
      const file = entry?.file ?? this.#ports.stateFile?.(section);
      const saved = file?.load();
      if (saved === undefined) continue;
      const emit = (draft: EventDraft) =>
        this.#ports.emit(entry ? tagSetupEvent(draft, entry.setup.name) : draft);
      if (typeof saved === "string" || !entry) {
        emit({
          id: "CountdownDropped",
          note: typeof saved === "string"
            ? `pending-shutdown-${section}.json ignored: ${saved}`
            : `pending-shutdown-${section}.json: [${section}] is not in use any more`,
        });
        this.#clear(file!, emit);
        continue;
      }
      entry.engine.restore(saved);
    }
  }

  /** Feeds one event to every setup. */
  handle(event: AgentEvent): void {
    if (this.#stopped) return;
    for (const entry of this.#entries.values()) entry.engine.handle(event);
  }

  /** Each setup's state and verdict, in section order. */
  status(): SetupStatus[] {
    return [...this.#entries.values()]
      .sort((a, b) => a.setup.section.localeCompare(b.setup.section))
      .map(({ setup, settings, engine, sequencer }) => {
        const criticalCards = [...criticalEvents(engine.active(), settings.policy).keys()];
        const rearms = engine.rearmsWhen;
        const base = {
          section: setup.section,
          name: setup.name,
          cards: setup.cards,
          minimumHealthy: setup.minimumHealthy,
          shutdownThisServer: setup.shutdownThisServer,
          healthy: setup.cards.length - criticalCards.length,
          criticalCards,
          phase: sequencer.phase,
          step: sequencer.step,
          countdowns: engine.countdowns(),
          ...(engine.trigger ? { trigger: engine.trigger } : {}),
          ...(sequencer.outcome ? { outcome: sequencer.outcome } : {}),
          ...(rearms !== undefined ? { rearms } : {}),
        };
        return { ...base, verdict: setupVerdict(base) };
      });
  }

  /** Abandons running setup sequences (the agent stops; their state stays for a restart). */
  abort(): void {
    for (const entry of this.#entries.values()) entry.sequencer.abort();
  }

  /** Stops the countdowns and abandons running setup sequences (their state stays for a restart). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.abort();
    await Promise.all([...this.#entries.values()].map(async (e) => {
      await e.engine.stop();
      await e.runner.stop();
    }));
    await Promise.all(this.#retiring);
  }

  #create(setup: UpsSetupSettings, settings: ActionSettings): Entry {
    const ports = this.#ports;
    // The name is read at emit time: a renamed setup's later events carry the new name.
    const self: { entry?: Entry } = {};
    const name = () => self.entry?.setup.name ?? setup.name;
    const emit = (draft: EventDraft) => ports.emit(tagSetupEvent(draft, name()));
    const runner = ports.sshRunner(emit);
    const sequencer = new ShutdownSequencer({
      clock: ports.clock,
      emit,
      os: ports.os,
      turnOffUps: (card) => ports.turnOffUps(card),
      runCommandFile: (path, timeoutMs, env) => ports.runCommandFile(path, timeoutMs, env),
      runSshActions: (phase, actions) => runner.runPhase(phase, actions),
      ...(ports.hostSync ? { hostSync: ports.hostSync } : {}),
      handOver: (trigger) =>
        ports.startHostSequence({
          ...trigger,
          reason: `advanced UPS setup ${name()}: ${trigger.reason}`,
        }),
    });
    const file = ports.stateFile?.(setup.section);
    const engine = new ActionEngine(settings, {
      clock: ports.clock,
      emit,
      notify: () => {}, // per-event notifications are the host engine's
      runCommandFile: (path, timeoutMs, env) => ports.runCommandFile(path, timeoutMs, env),
      eventEnvironment: () => ({}),
      loads: () => ports.loads(),
      ...(file ? { persist: file } : {}),
      dryRun: ports.dryRun,
      ...(ports.bootId ? { bootId: ports.bootId } : {}),
      ...(ports.reportError ? { reportError: ports.reportError } : {}),
    }, sequencer);
    self.entry = { setup, settings, engine, sequencer, runner, file };
    return self.entry;
  }

  #clear(file: SetupStateFile, emit: (draft: EventDraft) => void): void {
    const report = (error: Error | undefined) => error && emit({ id: "StateNotSaved", note: error.message });
    try {
      file.clear(report);
    } catch (error) {
      report(error as Error);
    }
  }
}
