/**
 * Hot-reload detection for the config store: a watcher on the file's directory (so renames and
 * re-creations are seen) filtered on the file name and debounced, backed by a slow poll of the file's
 * identity (inode, size, modification time). Calls back when the file may have changed; the store
 * decides, by content hash, whether it did.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { holdPipeWriters, namedPipesIn } from "./fs.ts";
import { baseName } from "./paths.ts";
import { errorText } from "./store_files.ts";
import { resultWithin, settledWithin } from "../fs/stall.ts";

/** Options of {@link ConfigWatcher}. */
export interface ConfigWatcherOptions {
  /** The watched file (pcnsconfig.ini). */
  readonly path: string;
  /** Its directory, the one watched. */
  readonly dataDir: string;
  /** Where a stopped or stuck watcher is reported. */
  readonly logger: Logger;
  /** Quiet time after the last file-system event before `onChange`. */
  readonly debounceMs: number;
  /** Milliseconds between polls of the file's identity. */
  readonly pollMs: number;
  /** Called (debounced) when the file may have changed. */
  readonly onChange: () => void;
}

/**
 * Watches pcnsconfig.ini's directory and polls the file's identity; `onChange` runs `debounceMs` after
 * the last sign of a change. The poll sees edits of a symlink's target, edits on file systems without
 * change events, and edits while Deno's watcher is stuck (it blocks on a named pipe created in the
 * watched directory until something writes to the pipe).
 */
export class ConfigWatcher {
  readonly #options: ConfigWatcherOptions;
  #watcher?: Deno.FsWatcher;
  #watchLoop?: Promise<void>;
  #timer?: ReturnType<typeof setTimeout>;
  #poll?: ReturnType<typeof setInterval>;
  #identity?: string;
  #polling = false;
  #closed = false;

  /** A watcher that does nothing until {@link start}. */
  constructor(options: ConfigWatcherOptions) {
    this.#options = options;
  }

  /** Starts the directory watcher and the poll. */
  start(): void {
    const { path, dataDir, logger, pollMs } = this.#options;
    const watcher = Deno.watchFs(dataDir, { recursive: false });
    this.#watcher = watcher;
    try {
      this.#identity = identityOf(Deno.statSync(path));
    } catch {
      this.#identity = identityOf(null);
    }
    this.#poll = setInterval(() => void this.#pollIdentity(), pollMs);
    Deno.unrefTimer(this.#poll);
    const name = baseName(path);
    this.#watchLoop = (async () => {
      try {
        for await (const event of watcher) {
          if (event.paths.some((p) => baseName(p) === name)) this.schedule();
        }
      } catch (error) {
        if (!this.#closed) {
          logger.error(`config: stopped watching ${dataDir}: ${errorText(error)}`);
        }
      }
    })();
  }

  /** Calls `onChange` after the debounce delay, unless another sign of a change comes first. */
  schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#options.onChange();
    }, this.#options.debounceMs);
  }

  /** Stops the poll, the pending call and the watcher (waiting up to 1 s for it, warning when it is stuck). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#poll);
    const { dataDir, logger } = this.#options;
    // Deno's watcher thread blocks opening a named pipe created in the directory, and then never ends (nor
    // lets the process or a test worker end): hold the pipes open for writing until it has stopped.
    // Bounded: a data directory whose disk does not answer must not hold up the stop.
    const pipes = this.#watcher ? await resultWithin(namedPipesIn(dataDir), 1000, []) : [];
    const releasePipes = holdPipeWriters(pipes);
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    const stuck = !await settledWithin(this.#watchLoop ?? Promise.resolve(), 1000);
    releasePipes();
    if (stuck) logger.warn(`config: the file watcher of ${dataDir} did not stop in time`);
  }

  /**
   * Schedules a call when the file's size, time or inode changed since the last poll. One look at a time:
   * on a disk that does not answer, the polls meanwhile are skipped instead of each holding one of the
   * runtime's blocking threads for good.
   */
  async #pollIdentity(): Promise<void> {
    if (this.#closed || this.#polling) return;
    this.#polling = true;
    try {
      const identity = identityOf(await Deno.stat(this.#options.path).catch(() => null));
      if (identity !== this.#identity) this.schedule();
      this.#identity = identity;
    } finally {
      this.#polling = false;
    }
  }
}

/** What the poll compares: inode, size and modification time (or "missing"). */
function identityOf(info: Deno.FileInfo | null): string {
  return info ? `${info.ino}:${info.size}:${info.mtime?.getTime()}` : "missing";
}
