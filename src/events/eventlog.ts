/**
 * The append-only event log: one JSON object per line, millisecond ISO
 * timestamps, in the data directory next to the config file. Writes are
 * synchronous and in order, so a crash loses nothing that was logged; the
 * file is rotated (one old generation, `<name>.1`) past its size limit.
 *
 * @module
 */
import type { AgentEvent, EventId, Severity } from "./types.ts";

/** One event log line, as stored. */
export interface EventLogRecord {
  /** ISO 8601 time with milliseconds, UTC. */
  readonly time: string;
  /** Event id. */
  readonly id: EventId;
  /** Severity. */
  readonly severity: Severity;
  /** Human-readable text. */
  readonly message: string;
  /** The NMC it concerns, if any. */
  readonly nmc?: string;
  /** Extra values. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Turns an event into its log line (without the newline). */
export function formatEventLine(event: AgentEvent): string {
  const record: EventLogRecord = {
    time: new Date(event.time).toISOString(),
    id: event.id,
    severity: event.severity,
    message: event.message,
    ...(event.nmc ? { nmc: event.nmc } : {}),
    ...(event.details ? { details: event.details } : {}),
  };
  return JSON.stringify(record);
}

const encoder = new TextEncoder();

/** Appends events to a JSON-lines file. */
export class EventLogWriter {
  readonly #path: string;
  #maxBytes: number;
  #file: Deno.FsFile | undefined;
  #size = 0;

  /** Opens (creating if needed) the log at `path`; rotation happens past `maxBytes`. */
  constructor(path: string, maxBytes: number) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#open();
  }

  /** Path of the current log file. */
  get path(): string {
    return this.#path;
  }

  /** Changes the rotation size. */
  setMaxBytes(maxBytes: number): void {
    this.#maxBytes = maxBytes;
  }

  /** Appends one event. */
  append(event: AgentEvent): void {
    const bytes = encoder.encode(formatEventLine(event) + "\n");
    if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) this.#rotate();
    const file = this.#file ?? this.#open();
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    this.#size += bytes.length;
  }

  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  #open(): Deno.FsFile {
    this.#file = Deno.openSync(this.#path, { create: true, append: true, mode: 0o640 });
    this.#size = this.#file.statSync().size;
    return this.#file;
  }

  #rotate(): void {
    this.close();
    Deno.renameSync(this.#path, `${this.#path}.1`);
    this.#open();
  }
}

/** Reads an event log; lines that are not valid JSON records are skipped. */
export async function readEventLog(path: string): Promise<EventLogRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const records: EventLogRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const record = JSON.parse(line);
      if (record && typeof record.id === "string" && typeof record.time === "string") records.push(record);
    } catch {
      // a torn last line after a crash: skip it
    }
  }
  return records;
}
