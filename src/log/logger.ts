/**
 * The agent's operational log: one line per message on stderr, in a
 * journald-friendly text form (`<priority>` prefix: critical `<2>`, error
 * `<3>`, warn `<4>`, info `<6>`, debug `<7>`) or as JSON. A message longer
 * than {@link LOG_MESSAGE_MAX_CHARS} is cut with a marker, so one record is
 * always one journal entry. Tests inject a sink to read what was logged.
 *
 * @module
 */
import { setStderrDropNotice, writeStderrLine } from "./stderr.ts";

/** Log levels, least to most severe ("critical": events that shut the host down or warn it will be). */
export type LogLevel = "debug" | "info" | "warn" | "error" | "critical";

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, critical: 4 };
/** syslog priorities, for the `<N>` prefix journald understands (crit 2, err 3, warning 4, info 6, debug 7). */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3, critical: 2 };

/** Longest message written, in characters (journald splits lines longer than its LineMax, 48 KiB). */
export const LOG_MESSAGE_MAX_CHARS = 16 * 1024;

/** `message` cut to {@link LOG_MESSAGE_MAX_CHARS} with a marker (pure). */
function bounded(message: string): string {
  if (message.length <= LOG_MESSAGE_MAX_CHARS) return message;
  let end = LOG_MESSAGE_MAX_CHARS;
  const code = message.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${message.slice(0, end)} [... ${message.length - end} characters truncated]`;
}

/** One logged record. */
export interface LogRecord {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Level. */
  readonly level: LogLevel;
  /** The message. */
  readonly message: string;
}

/** Where log records go. */
export type LogSink = (record: LogRecord) => void;

/** Output format of the stderr sink. */
export type LogFormat = "text" | "json";

/**
 * One record as one line, without the line break (pure): JSON, or text with
 * the `<priority>` prefix journald reads. Line breaks inside a text message
 * are written as `\n`, so a record never spans two journal entries; a long
 * message is cut (see {@link LOG_MESSAGE_MAX_CHARS}).
 */
export function formatLogLine(record: LogRecord, format: LogFormat): string {
  const message = bounded(record.message);
  return format === "json"
    ? JSON.stringify({
      time: new Date(record.time).toISOString(),
      level: record.level,
      message,
    })
    : `<${SYSLOG_PRIORITY[record.level]}>${record.level.toUpperCase()} ${
      message.replace(/\r\n|\r|\n/g, "\\n")
    }`;
}

/**
 * A sink writing one line per record to stderr, in order and off the event loop (`stderr.ts`: a system log
 * that stops reading must not stop the agent); `stderrFlushed` waits for the last lines.
 */
export function stderrSink(format: LogFormat = "text"): LogSink {
  setStderrDropNotice((count) =>
    formatLogLine({
      time: Date.now(),
      level: "warn",
      message: `${count} log lines were dropped: standard error (the system log) did not take them in time`,
    }, format) + "\n"
  );
  return (record) => writeStderrLine(formatLogLine(record, format) + "\n");
}

/** Leveled logger over a sink. */
export class Logger {
  readonly #sink: LogSink;
  readonly #min: number;
  readonly #now: () => number;

  /** Creates a logger; records below `level` are dropped. */
  constructor(sink: LogSink = stderrSink(), level: LogLevel = "info", now: () => number = Date.now) {
    this.#sink = sink;
    this.#min = LEVEL_ORDER[level];
    this.#now = now;
  }

  /** Logs at `level`. */
  log(level: LogLevel, message: string): void {
    if (LEVEL_ORDER[level] < this.#min) return;
    this.#sink({ time: this.#now(), level, message });
  }

  /** Logs a debug message. */
  debug(message: string): void {
    this.log("debug", message);
  }

  /** Logs an informational message. */
  info(message: string): void {
    this.log("info", message);
  }

  /** Logs a warning. */
  warn(message: string): void {
    this.log("warn", message);
  }

  /** Logs an error. */
  error(message: string): void {
    this.log("error", message);
  }

  /** Logs a critical message (journald priority 2): events that shut the host down or warn it will be. */
  critical(message: string): void {
    this.log("critical", message);
  }
}

/** A logger that keeps its records in memory (for tests and the demo). */
export function memoryLogger(level: LogLevel = "debug"): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { logger: new Logger((r) => records.push(r), level), records };
}
