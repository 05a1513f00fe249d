/**
 * The agent's state files as one group: the stall reporting they share, and waiting (bounded) until what
 * was saved to any of them is on disk, at a stop or for a caller that reads them.
 *
 * @module
 */
import type { LatestFileOptions } from "../fs/latest.ts";
import type { Logger } from "../log/logger.ts";
import type { EventDraft } from "../events/types.ts";

/** Anything that writes in the background and can say when it is done. */
export interface SettlingWriter {
  /** True once everything saved is on disk (or failed); false after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean>;
}

/** How long a stop waits for the state files' last writes (a hung disk must not hold up the stop). */
export const STOP_WRITE_WAIT_MS = 5000;

/** The state files of one data directory. */
export class StateWrites {
  /** Options every state file is built with: a write the disk does not finish is logged and an event. */
  readonly options: LatestFileOptions;
  /** Told when an event log write does not finish: logged and an event, like a state file's. */
  readonly onEventLogStall: (path: string, ms: number) => void;
  readonly #writers = new Set<SettlingWriter>();
  readonly #dataDir: string;
  readonly #logger: Logger;

  /** Reports stalls to `logger` and `emit`. */
  constructor(dataDir: string, logger: Logger, emit: (draft: EventDraft) => void) {
    this.#dataDir = dataDir;
    this.#logger = logger;
    const stalled = (path: string, ms: number, meanwhile: string) => {
      const note = `writing ${path} has not finished after ${ms / 1000} s: the data disk does not answer; ` +
        `packets, countdowns and the shutdown go on, and ${meanwhile}`;
      logger.error(note);
      emit({ id: "DataDiskStalled", note, details: { path } });
    };
    this.options = {
      onStall: (path, ms) => stalled(path, ms, "the newest state is written when the disk answers"),
    };
    this.onEventLogStall = (path, ms) =>
      stalled(path, ms, "the events meanwhile are written when it answers (the system log has them all)");
  }

  /** Adds `writer` to the group (undefined: nothing) and returns it. */
  track<T extends SettlingWriter | undefined>(writer: T): T {
    if (writer) this.#writers.add(writer);
    return writer;
  }

  /** True once every writer's saves are on disk or failed; false after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<boolean> {
    const done = await Promise.all([...this.#writers].map((w) => w.settled(timeoutMs)));
    return done.every(Boolean);
  }

  /** At a stop: waits at most {@link STOP_WRITE_WAIT_MS}; a disk that does not answer is logged, not waited for. */
  async beforeStop(): Promise<void> {
    if (await this.settled(STOP_WRITE_WAIT_MS)) return;
    this.#logger.error(
      `the data directory ${this.#dataDir} did not finish the last writes within ${
        STOP_WRITE_WAIT_MS / 1000
      } s: ` +
        "stopping without them (the disk does not answer)",
    );
  }
}
