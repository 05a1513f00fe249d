/**
 * The agent's operational log: one line per message on stderr, in a
 * journald-friendly text form (`<level>` prefix) or as JSON. Tests inject a
 * sink to read what was logged.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** syslog priorities, for the `<N>` prefix journald understands. */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

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
 * are written as `\n`, so a record never spans two journal entries.
 */
export function formatLogLine(record: LogRecord, format: LogFormat): string {
  return format === "json"
    ? JSON.stringify({
      time: new Date(record.time).toISOString(),
      level: record.level,
      message: record.message,
    })
    : `<${SYSLOG_PRIORITY[record.level]}>${record.level.toUpperCase()} ${
      record.message.replace(/\r\n|\r|\n/g, "\\n")
    }`;
}

/** A sink writing one line per record to stderr. */
export function stderrSink(format: LogFormat = "text"): LogSink {
  const encoder = new TextEncoder();
  return (record) => {
    Deno.stderr.writeSync(encoder.encode(formatLogLine(record, format) + "\n"));
  };
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
}

/** A logger that keeps its records in memory (for tests and the demo). */
export function memoryLogger(level: LogLevel = "debug"): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { logger: new Logger((r) => records.push(r), level), records };
}
