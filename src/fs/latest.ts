/**
 * A state file whose newest content is written off the event loop. The agent's small state files (replay
 * counters, pending shutdown, chart history) are saved with an fsync, and a data disk that hangs rather than
 * fails (a dying SD card, a frozen or hard-mounted network file system) would otherwise stall everything with
 * it: the packet path, the countdowns, the shutdown itself. Here the file operations run as asynchronous
 * operations (on Deno's blocking-task threads), one write at a time per file; a save made while one is under
 * way replaces any waiting content (only the newest matters), and its callback learns the outcome of the
 * write that carried it. A write that takes longer than the stall limit is reported once while it lasts.
 *
 * @module
 */

import { settledWithin, STALL_REPORT_MS, watchedWrite } from "./stall.ts";

/** Told when a save finished: undefined when the content (or a newer one) is on disk, else the OS error. */
export type SaveOutcome = (error: Error | undefined) => void;

/** Options of a {@link LatestFile}. */
export interface LatestFileOptions {
  /** Told once when a write has not finished after `stallMs` (the disk does not answer). */
  readonly onStall?: (path: string, ms: number) => void;
  /** Milliseconds before a write counts as stalled (default {@link STALL_REPORT_MS}). */
  readonly stallMs?: number;
}

/** `null` removes the file. */
type Content = string | null;

/** One file, written in the background with the newest content. */
export class LatestFile {
  readonly #path: string;
  readonly #options: LatestFileOptions;
  #waiting: { content: Content; outcomes: SaveOutcome[] } | undefined;
  #running: Promise<void> | undefined;

  /** Writes to `path` (atomically: `path.tmp`, fsync, rename). */
  constructor(path: string, options: LatestFileOptions = {}) {
    this.#path = path;
    this.#options = options;
  }

  /** The file written. */
  get path(): string {
    return this.#path;
  }

  /** True while a write is under way or waiting. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Saves `text` (or removes the file for `null`) soon; `outcome` is told how it went. Never throws. */
  save(content: Content, outcome?: SaveOutcome): void {
    const outcomes = this.#waiting?.outcomes ?? [];
    if (outcome) outcomes.push(outcome);
    this.#waiting = { content, outcomes };
    this.#running ??= this.#drain();
  }

  /**
   * Resolves true when everything saved so far is on disk (or failed), false if that took longer than
   * `timeoutMs` (a hung disk must not hold up a stop).
   */
  settled(timeoutMs: number): Promise<boolean> {
    return this.#running ? settledWithin(this.#idle(), timeoutMs) : Promise.resolve(true);
  }

  async #idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting) {
        const { content, outcomes } = this.#waiting;
        this.#waiting = undefined;
        const error = await this.#watched(content);
        for (const outcome of outcomes) {
          try {
            outcome(error);
          } catch {
            // a reporter's problem is not the writer's
          }
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** One write, reported once if it stalls. */
  #watched(content: Content): Promise<Error | undefined> {
    return watchedWrite(
      () => content === null ? removeIfPresent(this.#path) : writeFileAtomic(this.#path, content),
      this.#options.stallMs ?? STALL_REPORT_MS,
      (ms) => this.#options.onStall?.(this.#path, ms),
    );
  }
}

/**
 * Writes `text` to `path` atomically without blocking the event loop: a temp file beside it (mode 0600),
 * every byte written, fsync, rename over the old file. On failure the temp file is removed and the OS error
 * is thrown.
 */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      const data = new TextEncoder().encode(text);
      for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {}); // never created, or the file system refuses even that
    throw error;
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
