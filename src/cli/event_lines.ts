/**
 * The text lines of `events` and `status` (pure): event columns aligned
 * over a page (or fixed widths for `--follow`, which prints one line at a
 * time), and `label: text` lines with their texts in one column.
 *
 * @module
 */
import type { EventLogRecord } from "../events/eventlog.ts";
import { EVENT_CATALOG } from "../events/types.ts";
import { localTime } from "../text/localtime.ts";
import { alignLabels, columnWidths, formatRow } from "./table.ts";

/** The event severities, mildest first. */
export const SEVERITIES: readonly string[] = ["info", "warning", "critical"];

/** An event's time as the columns show it: local with the UTC offset (a time that does not parse as is). */
export function eventTime(time: string): string {
  const t = Date.parse(time);
  return Number.isFinite(t) ? localTime(t) : time;
}

/** The columns of one event (pure): local time, severity, id, `[NMC]` or "", message. */
export function eventCells(r: EventLogRecord): string[] {
  return [eventTime(r.time), r.severity, r.id, r.nmc ? `[${r.nmc}]` : "", r.message];
}

/** Least widths of the event columns (severity and id as wide as the longest there is). */
export const EVENT_MIN_WIDTHS: readonly number[] = [
  0,
  Math.max(...SEVERITIES.map((s) => s.length)),
  0,
  0,
];

/** Widths `events --follow` keeps for every line: a local time, the widest id and an IPv4 card. */
export const FOLLOW_MIN_WIDTHS: readonly number[] = [
  "2026-12-02 15:04:05 +01:00".length,
  EVENT_MIN_WIDTHS[1],
  Math.max(...Object.keys(EVENT_CATALOG).map((id) => id.length)),
  "[255.255.255.255]".length,
];

/** One event as a text line (pure): time, severity, id, NMC, message (columns at least `widths`). */
export function formatEventLine(r: EventLogRecord, widths: readonly number[] = EVENT_MIN_WIDTHS): string {
  const cells = eventCells(r);
  return formatRow(cells, columnWidths([cells], widths));
}

/** Events as aligned lines (pure): each column as wide as its widest cell. */
export function formatEventLines(records: readonly EventLogRecord[]): string[] {
  const rows = records.map(eventCells);
  const widths = columnWidths(rows, EVENT_MIN_WIDTHS);
  return rows.map((r) => formatRow(r, widths));
}

/** Status (or counters) lines with their texts in one column (pure): split at the first ": ". */
export function alignStatusLines(lines: readonly string[]): string[] {
  const pairs = lines.map((l) => {
    const cut = l.indexOf(": ");
    return cut < 0 ? undefined : [l.slice(0, cut), l.slice(cut + 2)] as const;
  });
  const aligned = alignLabels(pairs.filter((p) => p !== undefined));
  let next = 0;
  return lines.map((l, i) => (pairs[i] === undefined ? l : aligned[next++]));
}
