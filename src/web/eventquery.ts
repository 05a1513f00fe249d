/**
 * Event log queries for the UI and the API (pure): filter by event, severity
 * and time, newest first, paging, and CSV export.
 *
 * @module
 */
import type { EventLogRecord } from "../events/eventlog.ts";

/** A query on the event log. */
export interface EventQuery {
  /** Only this event id. */
  readonly id?: string;
  /** Only this severity. */
  readonly severity?: string;
  /** Not before this time (ms). */
  readonly from?: number;
  /** Not after this time (ms). */
  readonly to?: number;
  /** 1-based page. */
  readonly page: number;
  /** Records per page. */
  readonly perPage: number;
}

/** One page of results. */
export interface EventPage {
  /** The records on this page, newest first. */
  readonly records: readonly EventLogRecord[];
  /** Records matching the filter. */
  readonly total: number;
  /** The page shown (clamped). */
  readonly page: number;
  /** Number of pages. */
  readonly pages: number;
}

/**
 * A filter bound: `YYYY-MM-DD` (the day's start, or its end when `end`), `YYYY-MM-DD HH:MM[:SS]` or
 * `YYYY-MM-DDTHH:MM[:SS]` in the host's local time, or a full ISO time with `Z` or an offset. Undefined
 * for anything else (no guessing: "yesterday" is refused).
 */
export function parseTimeBound(text: string, end = false): number | undefined {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]) - 1, Number(day[3])];
    const start = new Date(y, m, d).getTime();
    if (new Date(start).getDate() !== d) return undefined;
    return end ? new Date(y, m, d + 1).getTime() - 1 : start;
  }
  const local = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (local) {
    const [y, mo, d, h, mi, s] = local.slice(1).map((x) => Number(x ?? 0));
    const t = new Date(y, mo - 1, d, h, mi, s).getTime();
    const check = new Date(t);
    if (check.getDate() !== d || check.getHours() !== h || check.getMinutes() !== mi) return undefined;
    return end && local[6] === undefined ? t + 59_999 : t;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** Parses a query from URL parameters; bad values are reported by name, never guessed. */
export function parseEventQuery(params: URLSearchParams, maxPerPage = 1000): EventQuery | { error: string } {
  const int = (name: string, dflt: number, min: number, max: number) => {
    const v = params.get(name);
    if (v === null || v === "") return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new Error(`${name}: "${v}" is not a number from ${min} to ${max}`);
    }
    return Number(v);
  };
  const time = (name: string) => {
    const v = params.get(name)?.trim();
    if (v === undefined || v === "") return undefined;
    const t = parseTimeBound(v, name === "to");
    if (t === undefined) {
      throw new Error(`${name}: "${v}" is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DD HH:MM)`);
    }
    return t;
  };
  try {
    const severity = params.get("severity") || undefined;
    if (severity && !["info", "warning", "critical"].includes(severity)) {
      throw new Error(`severity: "${severity}" must be info, warning or critical`);
    }
    const id = params.get("id") || undefined;
    if (id && !/^[A-Za-z]+$/.test(id)) throw new Error(`id: "${id}" is not an event id`);
    return {
      id,
      severity,
      from: time("from"),
      to: time("to"),
      page: int("page", 1, 1, 1_000_000),
      perPage: int("limit", 50, 1, maxPerPage),
    };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Applies the filter, newest first, and cuts out the page. */
export function queryEvents(records: readonly EventLogRecord[], q: EventQuery): EventPage {
  const matching = records.filter((r) => {
    const t = Date.parse(r.time);
    return (!q.id || r.id === q.id) && (!q.severity || r.severity === q.severity) &&
      (q.from === undefined || t >= q.from) && (q.to === undefined || t <= q.to);
  }).reverse();
  const pages = Math.max(1, Math.ceil(matching.length / q.perPage));
  const page = Math.min(q.page, pages);
  return {
    records: matching.slice((page - 1) * q.perPage, page * q.perPage),
    total: matching.length,
    page,
    pages,
  };
}

/** One CSV field: quoted when needed; a leading = + - @ is neutralised so spreadsheets do not run it. */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The records as CSV (header line + one line per record, CRLF). */
export function eventsToCsv(records: readonly EventLogRecord[]): string {
  const lines = ["time,id,severity,nmc,message"];
  for (const r of records) {
    lines.push([r.time, r.id, r.severity, r.nmc ?? "", r.message].map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
