/**
 * The certificate files watcher of the web UI: polls the certificate and key files (mtime and size) and
 * calls back when any of them changed, so that a certificate replaced on disk is served without a restart.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { type Clock, systemClock, type TimerHandle } from "../time/clock.ts";

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Options of {@link CertificateWatcher}. */
export interface CertificateWatcherOptions {
  /** Milliseconds between two looks at the files (default 30 000). */
  readonly intervalMs?: number;
  /** Timer source (default: the system clock). */
  readonly clock?: Clock;
  /** Where a failing callback is reported. */
  readonly logger?: Logger;
}

/** mtime and size of a file, or why it has none (asynchronous: the disk may not answer). */
async function fileSignature(path: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    return `${info.mtime?.getTime() ?? "?"}:${info.size}`;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : `error:${errorText(error)}`;
  }
}

/**
 * Polls certificate/key files (mtime + size) and calls `onChange` when any of
 * them changed, so that a certificate replaced on disk is served without a
 * restart. The callback is awaited before the next poll; its errors are logged. The files are looked at
 * asynchronously, one look at a time: a disk that does not answer holds up only the next poll.
 */
export class CertificateWatcher {
  readonly #paths: readonly string[];
  readonly #onChange: (paths: string[]) => void | Promise<void>;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  /** The files' state at the last look (undefined before the first). */
  #last: Promise<string[]> | undefined;
  #timer: TimerHandle | undefined;
  #running = false;

  /** Watches `paths`; call {@link CertificateWatcher.start} to begin. */
  constructor(
    paths: readonly string[],
    onChange: (paths: string[]) => void | Promise<void>,
    options: CertificateWatcherOptions = {},
  ) {
    this.#paths = [...paths];
    this.#onChange = onChange;
    this.#intervalMs = options.intervalMs ?? 30_000;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
  }

  /** Records the files' current state and starts polling. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#last = this.#look();
    this.#schedule();
    return this;
  }

  /** Stops polling. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.poll().finally(() => this.#schedule());
    }, this.#intervalMs);
  }

  #look(): Promise<string[]> {
    return Promise.all(this.#paths.map(fileSignature));
  }

  /** Looks at the files now; calls back and resolves true when some changed since the last look. */
  async poll(): Promise<boolean> {
    const before = await this.#last;
    const look = this.#look();
    this.#last = look;
    const now = await look;
    const changed = before ? this.#paths.filter((_, i) => now[i] !== before[i]) : [];
    if (changed.length === 0) return false;
    try {
      await this.#onChange(changed);
    } catch (error) {
      this.#logger?.error(`web UI: handling the changed certificate files failed: ${errorText(error)}`);
    }
    return true;
  }
}
