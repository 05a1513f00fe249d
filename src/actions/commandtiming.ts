/**
 * PowerChute's per-event command files, in time: `event_<Id>_commandFileDelay` (s) runs the file only if its
 * event still holds when the delay ends (e.g. 3 s against a flapping power line; an event "holds" until its
 * clearing event, as for notifications), 0 runs it at once. Each run is bounded by
 * `event_<Id>_commandFileDuration`; its end is published (CommandFileRun, CommandFileFailed, ...). A stop
 * cancels the waiting ones and waits for those running.
 *
 * @module
 */
import type { EventActions } from "../config/types.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import { commandFileEvent, type CommandRun } from "../shutdown/sequencer.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";

/** What the scheduler needs from the action engine. */
export interface CommandFileTimerPorts {
  /** Time source. */
  readonly clock: Clock;
  /** Runs an event's command file. */
  runCommandFile(path: string, timeoutMs: number, env: Record<string, string>): Promise<CommandRun>;
  /** Environment variables describing an event, for its command file. */
  eventEnvironment(event: AgentEvent): Record<string, string>;
  /** Whether `event` still holds (its clearing event has not come since). */
  stillActive(event: AgentEvent): boolean;
  /** Publishes an event (the command file's end). */
  emit(draft: EventDraft): void;
  /** Runs a timer's work, reporting what it throws. */
  guard(fn: () => void): void;
  /** Hears about a run that failed unexpectedly. */
  reportError?(message: string): void;
}

/** The command files of events: waiting for their delay, or running. */
export class CommandFileTimer {
  readonly #ports: CommandFileTimerPorts;
  readonly #timers = new Set<TimerHandle>();
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  /** A scheduler over `ports`. */
  constructor(ports: CommandFileTimerPorts) {
    this.#ports = ports;
  }

  /** Runs `actions`' command file for `event`: now, or after its delay if the event still holds then. */
  schedule(event: AgentEvent, actions: EventActions): void {
    if (actions.commandFileDelay <= 0) {
      this.#run(event, actions);
      return;
    }
    const timer = this.#ports.clock.setTimeout(() => {
      this.#timers.delete(timer);
      this.#ports.guard(() => this.#run(event, actions));
    }, actions.commandFileDelay * 1000);
    this.#timers.add(timer);
  }

  /** Cancels the waiting command files and resolves when the running ones have ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) this.#ports.clock.clearTimeout(timer);
    this.#timers.clear();
    await Promise.all(this.#running);
  }

  #run(event: AgentEvent, actions: EventActions): void {
    if (this.#stopped || !this.#ports.stillActive(event)) return;
    const path = actions.commandFilePath;
    const task = this.#ports.runCommandFile(
      path,
      actions.commandFileDuration * 1000,
      this.#ports.eventEnvironment(event),
    )
      .then((result) => this.#ports.emit(commandFileEvent(path, result, event.nmc)))
      .catch((error) => this.#ports.reportError?.(`command file ${path}: ${error}`))
      .finally(() => this.#running.delete(task));
    this.#running.add(task);
  }
}
