/**
 * The event log's file: lines appended in order, off the event loop. A disk that hangs instead of failing
 * (a dying SD card, a frozen or hard-mounted network file system) must not stop the agent, so every file
 * operation is asynchronous (on Deno's blocking-task threads) and one batch of lines is written at a time:
 * what is appended meanwhile waits in a bounded queue and goes in the next batch.
 *
 * - Each batch starts with one `lstat` of the path: a file deleted or renamed away by an outside tool
 *   (logrotate) is noticed and a new one opened; a file truncated from outside (copytruncate) has its size
 *   followed. The path is never written through a symbolic link.
 * - Past its size limit the file is rotated to `<name>.1` (older files shift up; the oldest kept is
 *   `<name>.<generations>`).
 * - A failed write (full disk) loses that batch's lines; the next line starts on a line of its own, so a torn
 *   line never swallows the next one. A file that cannot be opened is tried again with the next batch.
 * - Lines are never held without bound: past {@link QUEUE_MAX_BYTES} waiting (the disk does not answer),
 *   further lines are dropped, critical ones only past twice that.
 * - What was lost (failed or dropped) is said by a line written before the next ones that get through.
 * - A batch unfinished after the stall limit is reported once.
 *
 * The writer's own lines (reopened, rotated, lost) are made by the caller ({@link LogFileOptions.notice}), so
 * this module knows files and bytes, not events.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { settledWithin, STALL_REPORT_MS, watchedWrite } from "../fs/stall.ts";

/** Bytes of lines that may wait for the disk; past it non-critical lines are dropped (critical: twice it). */
export const QUEUE_MAX_BYTES = 4 * 1024 * 1024;

/** A line the file asks its owner to write (without the line break), about the file itself. */
export type LogFileNotice =
  /** The path no longer named the open file: a new one was opened. */
  | { readonly kind: "reopened"; readonly time: number; readonly reason: "deleted" | "replaced" }
  /** The file was rotated; `oldestHead` is the start of the generation deleted to make room, if any. */
  | { readonly kind: "rotated"; readonly time: number; readonly oldestHead: string | undefined }
  /** `count` lines appended between `from` and `to` (their times) were not written. */
  | {
    readonly kind: "lost";
    readonly time: number;
    readonly count: number;
    readonly from: number;
    readonly to: number;
    readonly why: string;
  };

/** How a {@link RotatingLogFile} behaves. */
export interface LogFileOptions {
  /** Rotated files kept. */
  readonly generations: number;
  /** The text of a line about the file itself (without the line break). */
  readonly notice: (notice: LogFileNotice) => string;
  /** Told when a batch could not be written: the OS error and how many lines it lost. */
  readonly onError?: (error: Error, lost: number) => void;
  /** Told once when a batch has not finished after `stallMs` (the disk does not answer). */
  readonly onStall?: (path: string, ms: number) => void;
  /** Milliseconds before a batch counts as stalled (default {@link STALL_REPORT_MS}). */
  readonly stallMs?: number;
  /** Bytes that may wait (default {@link QUEUE_MAX_BYTES}). */
  readonly queueMaxBytes?: number;
}

/** Lines lost: how many, the times of the first and the last, and why. */
interface Lost {
  readonly count: number;
  readonly from: number;
  readonly to: number;
  readonly why: string;
}

/** One waiting line; a line about lost ones says which. */
interface Line {
  readonly bytes: Uint8Array;
  readonly time: number;
  readonly tells?: Lost;
}

/** `a` and `b` as one loss (the newer reason). */
function mergeLost(a: Lost | undefined, b: Lost): Lost {
  return a
    ? { count: a.count + b.count, from: Math.min(a.from, b.from), to: Math.max(a.to, b.to), why: b.why }
    : b;
}

const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

/** The log files of `path`, oldest first: `<path>.<generations>` ... `<path>.1`, `<path>` (pure). */
export function logGenerations(path: string, generations: number): string[] {
  return [...Array.from({ length: generations }, (_, i) => `${path}.${generations - i}`), path];
}

/** An append-only file of lines, written in order off the event loop, rotated past a size. */
export class RotatingLogFile {
  readonly #path: string;
  readonly #options: LogFileOptions;
  readonly #queueMax: number;
  #maxBytes: number;
  #queue: Line[] = [];
  #queuedBytes = 0;
  /** Lines of earlier batches that failed: told before the next lines. */
  #failed: Lost | undefined;
  /** Lines dropped because too many were waiting: told where the first was dropped (`#droppedAt` in the queue). */
  #dropped: Lost | undefined;
  #droppedAt = 0;
  #running: Promise<void> | undefined;
  #closed = false;
  #file: Deno.FsFile | undefined;
  /** Identity of the open file (Linux/macOS; null where the OS gives none). */
  #ino: number | null = null;
  #dev: number | null = null;
  #size = 0;
  /** The last write failed part way: start the next one on a new line. */
  #torn = false;

  /** Appends to `path` (created when needed), rotated past `maxBytes`. Opens nothing yet. */
  constructor(path: string, maxBytes: number, options: LogFileOptions) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#options = options;
    this.#queueMax = options.queueMaxBytes ?? QUEUE_MAX_BYTES;
  }

  /** The file's path. */
  get path(): string {
    return this.#path;
  }

  /** Changes the rotation size. */
  setMaxBytes(maxBytes: number): void {
    this.#maxBytes = maxBytes;
  }

  /**
   * Queues `text` (one line, without the break; `time` is its event's) to be written soon. Never throws and
   * never waits; dropped (and counted) when too much is waiting already, or after {@link close}.
   */
  append(text: string, time: number, critical = false): void {
    if (this.#closed) return;
    const bytes = encoder.encode(text + "\n");
    const limit = critical ? 2 * this.#queueMax : this.#queueMax;
    if (this.#queuedBytes + bytes.length > limit && this.#queue.length > 0) {
      const why = `the disk did not take them in time (over ${this.#queueMax} bytes were waiting)`;
      if (!this.#dropped) this.#droppedAt = this.#queue.length;
      this.#dropped = mergeLost(this.#dropped, { count: 1, from: time, to: time, why });
      return;
    }
    this.#queue.push({ bytes, time });
    this.#queuedBytes += bytes.length;
    this.#running ??= this.#drain();
  }

  /** Resolves true once every line appended so far is written (or lost), false after `timeoutMs`. */
  written(timeoutMs: number): Promise<boolean> {
    return this.#running ? settledWithin(this.#idle(), timeoutMs) : Promise.resolve(true);
  }

  /**
   * Writes what is waiting (for at most `timeoutMs`: a hung disk must not hold up a stop) and closes the
   * file; lines appended later are ignored. Resolves false if the lines did not all get out in time.
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.#closed = true;
    const done = await this.written(timeoutMs);
    if (!this.#running) this.#closeFile();
    return done;
  }

  async #idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** The line that tells of `lost`, made by the owner. */
  #lostLine(lost: Lost, time: number): Line {
    const text = this.#options.notice({ kind: "lost", time, ...lost });
    return { bytes: encoder.encode(text + "\n"), time, tells: lost };
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const waiting = this.#queue;
        this.#queue = [];
        this.#queuedBytes = 0;
        const failed = this.#failed, dropped = this.#dropped, droppedAt = this.#droppedAt;
        this.#failed = this.#dropped = undefined;
        // The losses are told where they are: failed lines came before these, dropped ones among them.
        const batch = failed ? [this.#lostLine(failed, waiting[0].time)] : [];
        if (!dropped) batch.push(...waiting);
        else {batch.push(
            ...waiting.slice(0, droppedAt),
            this.#lostLine(dropped, dropped.from),
            ...waiting.slice(droppedAt),
          );}
        let written = 0;
        const error = await watchedWrite(
          () => this.#writeBatch(batch, () => written++),
          this.#options.stallMs ?? STALL_REPORT_MS,
          (ms) => this.#options.onStall?.(this.#path, ms),
        );
        if (!error) continue;
        let lost = 0;
        for (const line of batch.slice(written)) {
          const tells = line.tells ?? { count: 1, from: line.time, to: line.time, why: error.message };
          this.#failed = mergeLost(this.#failed, tells);
          if (!line.tells) lost++;
        }
        try {
          this.#options.onError?.(error, lost);
        } catch {
          // a reporter's problem is not the log's
        }
      }
    } finally {
      this.#running = undefined;
      if (this.#closed) this.#closeFile();
    }
  }

  /** Writes `batch` in order, rotating where a line would not fit; `done` is told each line written. */
  async #writeBatch(batch: readonly Line[], done: () => void): Promise<void> {
    const time = batch[0].time;
    await this.#current(time);
    let from = 0;
    let pending = 0;
    for (let i = 0; i < batch.length; i++) {
      const size = batch[i].bytes.length;
      if (this.#size + pending > 0 && this.#size + pending + size > this.#maxBytes) {
        await this.#writeLines(batch.slice(from, i), done);
        if (this.#size > 0) await this.#rotate(batch[i].time);
        from = i;
        pending = 0;
      }
      pending += size;
    }
    await this.#writeLines(batch.slice(from), done);
  }

  /** The open file, (re)opened when the path no longer names it (one lstat per batch). */
  async #current(time: number): Promise<void> {
    if (!this.#file) {
      await this.#open();
      return;
    }
    let reason: "deleted" | "replaced" | undefined;
    try {
      const info = await Deno.lstat(this.#path);
      if (this.#ino !== null && (info.ino !== this.#ino || info.dev !== this.#dev)) reason = "replaced";
      else this.#size = info.size; // truncated or appended to from outside: follow the real size
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      reason = "deleted";
    }
    if (reason === undefined) return;
    this.#closeFile();
    this.#torn = false;
    await this.#open();
    await this.#writeNotice({ kind: "reopened", time, reason });
  }

  async #open(): Promise<void> {
    // Never write through a symbolic link: a link planted in the data directory would make the agent append
    // to any file it can write (it may run as root).
    try {
      if ((await Deno.lstat(this.#path)).isSymlink) {
        throw new Error(`${this.#path} is a symbolic link: the event log is not written through links`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const file = await Deno.open(this.#path, { create: true, append: true, mode: 0o640 });
    try {
      const info = await file.stat();
      this.#size = info.size;
      this.#ino = info.ino;
      this.#dev = info.dev;
    } catch (error) {
      file.close();
      throw error;
    }
    this.#file = file;
  }

  #closeFile(): void {
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
    this.#file = undefined;
  }

  /** Writes `lines` as one write (after a line break if the last write was torn). */
  async #writeLines(lines: readonly Line[], done: () => void): Promise<void> {
    if (lines.length === 0) return;
    const parts = this.#torn ? [NEWLINE, ...lines.map((l) => l.bytes)] : lines.map((l) => l.bytes);
    const data = Buffer.concat(parts);
    const total = data.length;
    // Where each line ends in `data`, to tell which lines got out when a write fails part way.
    const ends: number[] = [];
    let at = this.#torn ? NEWLINE.length : 0;
    for (const line of lines) ends.push(at += line.bytes.length);
    let written = 0;
    let told = 0;
    try {
      while (written < total) {
        written += await this.#file!.write(data.subarray(written));
        while (told < ends.length && ends[told] <= written) told++, done();
      }
    } catch (error) {
      this.#size += written;
      if (written > 0) this.#torn = true;
      throw error;
    }
    this.#size += total;
    this.#torn = false;
  }

  /** Writes one of the file's own lines. */
  #writeNotice(notice: LogFileNotice): Promise<void> {
    const text = this.#options.notice(notice);
    return this.#writeLines([{ bytes: encoder.encode(text + "\n"), time: notice.time }], () => {});
  }

  /** Shifts `<path>.N-1` ... `<path>` up by one, deleting the oldest, and starts a new file. */
  async #rotate(time: number): Promise<void> {
    this.#closeFile();
    this.#torn = false;
    const files = logGenerations(this.#path, this.#options.generations);
    const oldest = files[0];
    const oldestHead = await headOf(oldest);
    await removeIfThere(oldest);
    for (let i = 1; i < files.length; i++) await renameIfThere(files[i], files[i - 1]);
    await this.#open();
    await this.#writeNotice({ kind: "rotated", time, oldestHead });
  }
}

/** The first 64 KiB of `path` as text, or undefined when it cannot be read. */
async function headOf(path: string): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const buffer = new Uint8Array(64 * 1024);
    const n = await file.read(buffer) ?? 0;
    return new TextDecoder().decode(buffer.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function renameIfThere(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
