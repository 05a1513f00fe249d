/**
 * The append-only event log: one JSON object per line, millisecond ISO
 * timestamps, in the data directory next to the config file. Lines are
 * written in order, off the event loop ({@link RotatingLogFile}): a disk that
 * hangs holds up neither the packet path nor the shutdown, and a stop waits a
 * bounded time for the last lines.
 *
 * The log stays usable whatever happens to the file:
 * - deleted, or renamed away by an outside tool (logrotate): noticed at the
 *   next write (one `lstat` of the path, compared with the open file's
 *   inode), a new file is opened and starts with an `EventLogReopened` line;
 *   truncated from outside (copytruncate): the size is followed;
 * - one line is at most {@link EVENT_LINE_MAX_BYTES}: longer texts are cut
 *   with a `[... N characters truncated]` marker and `truncated` holds the
 *   original size;
 * - past its size limit the file is rotated to `<name>.1`, and older files
 *   shift up to `<name>.<EVENT_LOG_GENERATIONS>` (fixed: 5); the new file
 *   starts with an `EventLogRotated` line, which names the generation that
 *   was deleted, if any;
 * - a flood of one kind of event (more than {@link FLOOD_BURST} at once,
 *   then more than one per {@link FLOOD_REFILL_MS}) is counted instead of
 *   written, with an `EventsSuppressed` line when it starts and one with the
 *   count when it is over (none for {@link FLOOD_REFILL_MS}; every
 *   {@link FLOOD_REPORT_MS} while it goes on), so a burst cannot rotate the
 *   history away. Critical events are always written;
 * - lines that could not be written (a full disk, a file that cannot be
 *   opened, too many waiting for a disk that does not answer) are counted, and
 *   an `EventsNotLogged` line says so before the next lines that get through;
 *   a torn line never swallows the next event.
 *
 * @module
 */
import { basename } from "node:path";
import { BurstLimiter } from "../log/throttle.ts";
import { type LogFileNotice, logGenerations, RotatingLogFile } from "./logfile.ts";
import { type AgentEvent, EVENT_CATALOG, type EventId, type Severity } from "./types.ts";

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
  /** Set when the line was cut to fit: the size of the full line in bytes. */
  readonly truncated?: number;
}

/** Longest event line, in bytes (UTF-8, without the line break). */
export const EVENT_LINE_MAX_BYTES = 16 * 1024;
/** Rotated files kept: `<name>.1` (newest) to `<name>.5` (oldest). */
export const EVENT_LOG_GENERATIONS = 5;
/** Events of one id written at once before the flood limit applies. */
export const FLOOD_BURST = 100;
/** During a flood, one more event of that id is written every this many ms. */
export const FLOOD_REFILL_MS = 6_000;
/** A flood that goes on gets a count line this often (ms). */
export const FLOOD_REPORT_MS = 10 * 60_000;

const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).length;

/** `text` cut to `max` characters with a marker (pure); never splits a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)} [... ${text.length - end} characters truncated]`;
}

const MAX_ITEMS = 32;
const MAX_KEYS = 64;
const MAX_DEPTH = 4;

/** A detail value with every string cut to `max` characters and arrays/objects bounded (pure). */
function shrinkValue(value: unknown, max: number, depth: number): unknown {
  if (typeof value === "string") return cutText(value, max);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[nested value dropped]";
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_ITEMS).map((v) => shrinkValue(v, max, depth + 1));
    return value.length > MAX_ITEMS ? [...kept, `[... ${value.length - MAX_ITEMS} more items]`] : kept;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [key, v] of entries.slice(0, MAX_KEYS)) out[cutText(key, 64)] = shrinkValue(v, max, depth + 1);
  if (entries.length > MAX_KEYS) out["[truncated]"] = `${entries.length - MAX_KEYS} more keys`;
  return out;
}

/**
 * The record as one JSON line of at most `maxBytes` bytes (pure): as it is
 * when it fits, else with the message and every detail string cut (shorter
 * and shorter), else with the details replaced by a note. `maxBytes` below
 * 1024 is taken as 1024.
 */
export function boundedLine(record: EventLogRecord, maxBytes = EVENT_LINE_MAX_BYTES): string {
  const limit = Math.max(1024, maxBytes);
  const full = JSON.stringify(record);
  if (full.length <= limit / 3 || byteLength(full) <= limit) return full;
  const fullBytes = byteLength(full);
  for (let max = Math.floor(limit / 4); max >= 32; max = Math.floor(max / 2)) {
    const line = JSON.stringify({
      ...record,
      message: cutText(record.message, max),
      ...(record.nmc ? { nmc: cutText(record.nmc, 256) } : {}),
      ...(record.details ? { details: shrinkValue(record.details, max, 0) } : {}),
      truncated: fullBytes,
    });
    if (byteLength(line) <= limit) return line;
  }
  return JSON.stringify({
    time: record.time,
    id: record.id,
    severity: record.severity,
    message: cutText(record.message, 100),
    ...(record.nmc ? { nmc: cutText(record.nmc, 64) } : {}),
    ...(record.details ? { details: { "[truncated]": "the details did not fit in one event line" } } : {}),
    truncated: fullBytes,
  });
}

/** `6000` -> `6 s`, `500` -> `0.5 s`. */
function formatMs(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** ISO time of `ms`, or of now when `ms` is not a valid time (a line is never lost to a bad clock). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isFinite(date.getTime()) ? date.toISOString() : new Date().toISOString();
}

/** The stored record of an event (pure). */
export function eventRecord(event: AgentEvent): EventLogRecord {
  return {
    time: isoTime(event.time),
    id: event.id,
    severity: event.severity,
    message: event.message,
    ...(event.nmc ? { nmc: event.nmc } : {}),
    ...(event.details ? { details: event.details } : {}),
  };
}

/** Turns an event into its log line, bounded to `maxBytes` (without the newline). */
export function formatEventLine(event: AgentEvent, maxBytes = EVENT_LINE_MAX_BYTES): string {
  return boundedLine(eventRecord(event), maxBytes);
}

/** A line the writer adds itself (reopened, rotated, suppressed, lost), formatted like an event. */
function noticeRecord(
  id: "EventLogReopened" | "EventLogRotated" | "EventsSuppressed" | "EventsNotLogged",
  time: number,
  note: string,
  details?: Record<string, unknown>,
): EventLogRecord {
  const info = EVENT_CATALOG[id];
  return {
    time: isoTime(time),
    id,
    severity: info.severity,
    message: `${info.text}: ${note}`,
    ...(details ? { details } : {}),
  };
}

/** The line the writer adds about the file itself (pure; `path` names it). */
function fileNoticeRecord(path: string, generations: number, notice: LogFileNotice): EventLogRecord {
  const name = basename(path);
  switch (notice.kind) {
    case "reopened": {
      const reason = notice.reason === "deleted"
        ? "was deleted"
        : "was replaced by another file (rotated by an outside tool?)";
      return noticeRecord(
        "EventLogReopened",
        notice.time,
        `${name} ${reason}; events from now on are written to a new ${name}`,
        { reason: notice.reason },
      );
    }
    case "rotated": {
      const dropped = firstRecordTime(notice.oldestHead);
      const kept = `earlier events are in ${name}.1 to ${name}.${generations}`;
      return noticeRecord(
        "EventLogRotated",
        notice.time,
        dropped === undefined
          ? kept
          : `${kept}; the oldest file, ${name}.${generations} (events from ${dropped} on), was deleted`,
        { generations, ...(dropped === undefined ? {} : { droppedFrom: dropped }) },
      );
    }
    case "lost":
      return noticeRecord(
        "EventsNotLogged",
        notice.time,
        `${notice.count} events between ${isoTime(notice.from)} and ${
          isoTime(notice.to)
        } are missing here: ${notice.why}`,
        { lost: notice.count, from: isoTime(notice.from), to: isoTime(notice.to), why: notice.why },
      );
  }
}

/** The log files of `path`, oldest first: `<path>.<generations>` ... `<path>.1`, `<path>` (pure). */
export function eventLogGenerations(path: string, generations = EVENT_LOG_GENERATIONS): string[] {
  return logGenerations(path, generations);
}

/** How the writer behaves (defaults: the exported constants). */
export interface EventLogOptions {
  /** Rotated files kept. */
  readonly generations?: number;
  /** Longest line in bytes. */
  readonly maxLineBytes?: number;
  /** Flood limit per event id: `burst` at once, then one per `refillMs`; false: no limit. */
  readonly flood?: { readonly burst: number; readonly refillMs: number } | false;
  /** Hears about every line the writer adds itself (reopened, rotated, suppressed, lost), e.g. for the journal. */
  readonly onNotice?: (record: EventLogRecord) => void;
  /** Told when lines could not be written (full disk, file that cannot be opened): the error and how many. */
  readonly onError?: (error: Error, lost: number) => void;
  /** Told once when a write has not finished after `stallMs` (the disk does not answer). */
  readonly onStall?: (path: string, ms: number) => void;
  /** Milliseconds before a write counts as stalled (default: the state files' limit, 10 s). */
  readonly stallMs?: number;
  /** Bytes of lines that may wait for the disk (default 4 MiB, `QUEUE_MAX_BYTES` of `logfile.ts`). */
  readonly queueMaxBytes?: number;
}

/** The suppressed events of one id during a flood. */
interface Suppressed {
  count: number;
  readonly from: number;
  to: number;
}

/**
 * Appends events to a JSON-lines file, in order and off the event loop ({@link RotatingLogFile}): an append
 * never waits for the disk and never throws.
 */
export class EventLogWriter {
  readonly #file: RotatingLogFile;
  readonly #maxLineBytes: number;
  readonly #limiter: BurstLimiter | undefined;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #onNotice: ((record: EventLogRecord) => void) | undefined;
  readonly #suppressed = new Map<EventId, Suppressed>();

  /** A writer for the log at `path` (created at the first write), rotated past `maxBytes`. Opens nothing yet. */
  constructor(path: string, maxBytes: number, options: EventLogOptions = {}) {
    const generations = Math.max(1, Math.floor(options.generations ?? EVENT_LOG_GENERATIONS));
    this.#maxLineBytes = options.maxLineBytes ?? EVENT_LINE_MAX_BYTES;
    const flood = options.flood ?? { burst: FLOOD_BURST, refillMs: FLOOD_REFILL_MS };
    this.#limiter = flood ? new BurstLimiter(flood.burst, flood.refillMs) : undefined;
    this.#burst = flood ? flood.burst : 0;
    this.#refillMs = flood ? flood.refillMs : 0;
    this.#onNotice = options.onNotice;
    this.#file = new RotatingLogFile(path, maxBytes, {
      generations,
      notice: (notice) => {
        const record = fileNoticeRecord(path, generations, notice);
        this.#tell(record);
        return boundedLine(record, this.#maxLineBytes);
      },
      onError: options.onError,
      onStall: options.onStall,
      stallMs: options.stallMs,
      queueMaxBytes: options.queueMaxBytes,
    });
  }

  /** Path of the current log file. */
  get path(): string {
    return this.#file.path;
  }

  /** Changes the rotation size. */
  setMaxBytes(maxBytes: number): void {
    this.#file.setMaxBytes(maxBytes);
  }

  /** Appends one event (or counts it, during a flood of its id). Written soon; see {@link written}. */
  append(event: AgentEvent): void {
    const now = event.time;
    this.#flushEndedFloods(now, event.id);
    if (this.#limiter && event.severity !== "critical" && !this.#limiter.take(event.id, now)) {
      this.#suppress(event.id, now);
      return;
    }
    const flood = this.#suppressed.get(event.id);
    if (flood && now - flood.to >= this.#refillMs) this.#writeSummary(event.id, flood, "over");
    else if (flood && now - flood.from >= FLOOD_REPORT_MS) this.#writeSummary(event.id, flood, "ongoing");
    this.#write(eventRecord(event), now, event.severity === "critical");
  }

  /** Resolves true once every event appended so far is written (or lost), false after `timeoutMs`. */
  written(timeoutMs: number): Promise<boolean> {
    return this.#file.written(timeoutMs);
  }

  /**
   * Writes the counts of floods still going on and what is waiting (at most `timeoutMs`: a hung disk must
   * not hold up a stop), and closes the file. Resolves false if the lines did not all get out in time.
   */
  close(timeoutMs: number): Promise<boolean> {
    for (const [id, s] of [...this.#suppressed]) this.#writeSummary(id, s, "over");
    return this.#file.close(timeoutMs);
  }

  #write(record: EventLogRecord, time: number, critical: boolean): void {
    this.#file.append(boundedLine(record, this.#maxLineBytes), time, critical);
  }

  #tell(record: EventLogRecord): void {
    try {
      this.#onNotice?.(record);
    } catch {
      // a listener's problem is not the log's
    }
  }

  /** Counts one suppressed event; the first of a flood is said at once. */
  #suppress(id: EventId, time: number): void {
    const s = this.#suppressed.get(id);
    if (s) {
      s.count++;
      s.to = time;
      return;
    }
    this.#suppressed.set(id, { count: 1, from: time, to: time });
    const rate = `${this.#burst} at once, then one per ${formatMs(this.#refillMs)}`;
    const record = noticeRecord(
      "EventsSuppressed",
      time,
      `${id} events come faster than the event log takes them (${rate}): further ones are counted, not written, until they slow down`,
      { eventId: id, started: true },
    );
    this.#tell(record);
    this.#write(record, time, false);
  }

  /** The count line of a flood that is over (or, every FLOOD_REPORT_MS, of one that goes on). */
  #writeSummary(id: EventId, s: Suppressed, state: "over" | "ongoing"): void {
    const between = `between ${isoTime(s.from)} and ${isoTime(s.to)}`;
    const record = noticeRecord(
      "EventsSuppressed",
      s.to,
      state === "over"
        ? `${s.count} ${id} events were not written (${between})`
        : `${s.count} ${id} events were not written so far (${between}); the flood goes on`,
      {
        eventId: id,
        suppressed: s.count,
        from: isoTime(s.from),
        to: isoTime(s.to),
        over: state === "over",
      },
    );
    this.#tell(record);
    this.#write(record, s.to, false);
    if (state === "over") this.#suppressed.delete(id);
    else this.#suppressed.set(id, { count: 0, from: s.to, to: s.to });
  }

  /** Writes the count of every other id whose flood is over (none suppressed for a refill interval). */
  #flushEndedFloods(now: number, except: EventId): void {
    for (const [id, s] of [...this.#suppressed]) {
      if (id !== except && now - s.to >= this.#refillMs) this.#writeSummary(id, s, "over");
    }
  }
}

/** The time of the first record in `text` (the start of a log file), or undefined. */
function firstRecordTime(text: string | undefined): string | undefined {
  for (const line of text?.split("\n") ?? []) {
    try {
      const time = JSON.parse(line)?.time;
      if (typeof time === "string") return time;
    } catch {
      // a torn line: try the next
    }
  }
  return undefined;
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
      // a torn line after a crash: skip it
    }
  }
  return records;
}

/** Reads every generation of the log at `path`, oldest first. */
export async function readEventLogHistory(
  path: string,
  generations = EVENT_LOG_GENERATIONS,
): Promise<EventLogRecord[]> {
  const records: EventLogRecord[] = [];
  for (const file of eventLogGenerations(path, generations)) records.push(...await readEventLog(file));
  return records;
}
