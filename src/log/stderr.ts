/**
 * The agent's standard error, written off the event loop. Under systemd it is a pipe to journald, and a
 * journald that stops reading (its own disk hangs: a dying SD card, /var on a share that went away) fills
 * the pipe: a synchronous write then blocks the whole agent, packets, countdowns and the shutdown with it
 * (measured: an unread pipe froze the agent after some 600 events; low battery then did nothing).
 *
 * So lines wait, in order, in a bounded queue (at most {@link STDERR_QUEUE_MAX_BYTES}) and one asynchronous
 * write at a time takes everything waiting. Lines beyond the bound are dropped and counted; a line saying
 * how many stands where they would have been. {@link stderrFlushed} lets a stop
 * wait, bounded, for the last lines.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { settledWithin } from "../fs/stall.ts";

/** Bytes of log lines that may wait for standard error. */
export const STDERR_QUEUE_MAX_BYTES = 1024 * 1024;

const encoder = new TextEncoder();

/** The process's one standard error queue. */
class StderrQueue {
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  #dropped = 0;
  /** Where in the waiting lines the first dropped one would have been: the count is said there. */
  #droppedAt = 0;
  #running: Promise<void> | undefined;
  /** The line that says how many were dropped (with its line break). */
  dropNotice: (count: number) => string = (count) =>
    `${count} log lines were dropped: standard error (the system log) did not take them in time\n`;
  readonly #write: (bytes: Uint8Array) => Promise<number>;
  readonly #maxBytes: number;

  constructor(write: (bytes: Uint8Array) => Promise<number>, maxBytes: number) {
    this.#write = write;
    this.#maxBytes = maxBytes;
  }

  /** Queues one line (with its line break); dropped and counted when too much is waiting. */
  push(line: string): void {
    const bytes = encoder.encode(line);
    if (this.#waitingBytes + bytes.length > this.#maxBytes && this.#waiting.length > 0) {
      if (this.#dropped === 0) this.#droppedAt = this.#waiting.length;
      this.#dropped++;
      return;
    }
    this.#waiting.push(bytes);
    this.#waitingBytes += bytes.length;
    this.#running ??= this.#drain();
  }

  /** True once every line queued so far is written (or failed), false after `timeoutMs`. */
  flushed(timeoutMs: number): Promise<boolean> {
    return this.#running ? settledWithin(this.#idle(), timeoutMs) : Promise.resolve(true);
  }

  async #idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const parts = this.#waiting;
        this.#waiting = [];
        this.#waitingBytes = 0;
        if (this.#dropped > 0) {
          parts.splice(this.#droppedAt, 0, encoder.encode(this.dropNotice(this.#dropped)));
          this.#dropped = 0;
        }
        const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        try {
          for (let at = 0; at < data.length;) at += await this.#write(data.subarray(at));
        } catch {
          // standard error is gone (closed pipe): nothing else can be told there
          return;
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}

let queue: StderrQueue | undefined;

function stderrQueue(): StderrQueue {
  return queue ??= new StderrQueue((bytes) => Deno.stderr.write(bytes), STDERR_QUEUE_MAX_BYTES);
}

/** Writes `line` (with its line break) to standard error soon, in order; never waits, never throws. */
export function writeStderrLine(line: string): void {
  stderrQueue().push(line);
}

/** Sets how the line about dropped lines reads (the log format's), with its line break. */
export function setStderrDropNotice(notice: (count: number) => string): void {
  stderrQueue().dropNotice = notice;
}

/** Resolves true once every line written so far is out, false after `timeoutMs` (a reader that stopped). */
export function stderrFlushed(timeoutMs: number): Promise<boolean> {
  return queue ? queue.flushed(timeoutMs) : Promise.resolve(true);
}

/** A queue over `write`, for tests: the same behaviour as the process's own. */
export function lineQueue(
  write: (bytes: Uint8Array) => Promise<number>,
  maxBytes = STDERR_QUEUE_MAX_BYTES,
): { push(line: string): void; flushed(timeoutMs: number): Promise<boolean> } {
  return new StderrQueue(write, maxBytes);
}
