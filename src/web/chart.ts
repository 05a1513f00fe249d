/**
 * The geometry of the history chart (pure): time axis with clock labels,
 * a percent axis (battery, load) on the left and a volt axis (line) on the
 * right, the series as polylines broken where data is missing, outages
 * (on battery) and gaps (no data: communication lost or agent stopped) as
 * bands, and hover/focus buckets with their values as text.
 *
 * @module
 */
import type { HistorySample } from "../ups/history.ts";

/** Chart box in SVG user units. */
export const CHART = { width: 640, height: 190, left: 50, right: 50, top: 12, bottom: 24 } as const;

/** One chart's drawing. */
export interface ChartGeometry {
  /** Time axis labels. */
  readonly xTicks: readonly { readonly x: number; readonly label: string }[];
  /** Percent axis labels (left). */
  readonly pctTicks: readonly { readonly y: number; readonly label: string }[];
  /** Volt axis labels (right). */
  readonly voltTicks: readonly { readonly y: number; readonly label: string }[];
  /** Polylines per series (several when data is missing in between). */
  readonly series: readonly { readonly key: SeriesKey; readonly lines: readonly string[] }[];
  /** On-battery bands. */
  readonly outages: readonly { readonly x: number; readonly w: number }[];
  /** No-data bands. */
  readonly gaps: readonly { readonly x: number; readonly w: number }[];
  /** Hover/focus buckets: x range and the values there as text. */
  readonly buckets: readonly { readonly x: number; readonly w: number; readonly text: string }[];
  /** The samples drawn. */
  readonly count: number;
}

/** The series drawn. */
export type SeriesKey = "batteryPercent" | "loadPercent" | "lineVoltage";

/** Series labels for the legend. */
export const SERIES: ReadonlyArray<readonly [SeriesKey, string, string]> = [
  ["batteryPercent", "battery", "Battery charge (%)"],
  ["loadPercent", "load", "Load (%)"],
  ["lineVoltage", "line", "Input voltage (V, right axis)"],
];

const two = (n: number) => String(n).padStart(2, "0");
/** `HH:MM` in the host's time zone. */
export const hhmm = (t: number) => `${two(new Date(t).getHours())}:${two(new Date(t).getMinutes())}`;
const hhmmss = (t: number) => `${hhmm(t)}:${two(new Date(t).getSeconds())}`;

/** The top of the volt axis: a multiple of 100, at least 300. */
export function voltMax(samples: readonly HistorySample[]): number {
  const max = Math.max(0, ...samples.map((s) => s.lineVoltage ?? 0));
  return Math.max(300, Math.ceil(max / 100) * 100);
}

/** A sample's values as one line of text. */
export function sampleText(s: HistorySample, withSeconds: boolean): string {
  const v = (n: number | undefined, unit: string, digits = 0) =>
    n === undefined ? "-" : `${n.toFixed(digits)} ${unit}`;
  return `${withSeconds ? hhmmss(s.time) : hhmm(s.time)}: battery ${v(s.batteryPercent, "%")}, load ${
    v(s.loadPercent, "%")
  }, input ${v(s.lineVoltage, "V")}${s.onBattery ? " (on battery)" : ""}`;
}

/**
 * Lays out `samples` (oldest first) over `[from, to]`: samples further apart than `gapMs` leave a gap;
 * `tickMs` spaces the time labels; `buckets` is the number of hover areas.
 */
export function chartGeometry(
  samples: readonly HistorySample[],
  options: { from: number; to: number; gapMs: number; tickMs: number; buckets: number; seconds?: boolean },
): ChartGeometry {
  const { from, to } = options;
  const w = CHART.width - CHART.left - CHART.right;
  const h = CHART.height - CHART.top - CHART.bottom;
  const span = Math.max(1, to - from);
  const x = (t: number) => CHART.left + Math.min(1, Math.max(0, (t - from) / span)) * w;
  const vmax = voltMax(samples);
  const y = (value: number, max: number) => CHART.top + h - Math.min(1, Math.max(0, value / max)) * h;
  const inRange = samples.filter((s) => s.time >= from && s.time <= to);

  const xTicks = [];
  for (let t = Math.ceil(from / options.tickMs) * options.tickMs; t <= to; t += options.tickMs) {
    xTicks.push({ x: x(t), label: hhmm(t) });
  }
  const pctTicks = [0, 25, 50, 75, 100].map((p) => ({ y: y(p, 100), label: `${p} %` }));
  const voltTicks = [0, 1, 2, 3].map((i) => (vmax / 3) * i).map((v) => ({
    y: y(v, vmax),
    label: `${Math.round(v)} V`,
  }));

  const series = SERIES.map(([key]) => {
    const max = key === "lineVoltage" ? vmax : 100;
    const lines: string[] = [];
    let current: string[] = [];
    let prev: HistorySample | undefined;
    for (const s of inRange) {
      const value = s[key];
      if (value === undefined || (prev && s.time - prev.time > options.gapMs)) {
        if (current.length) lines.push(current.join(" "));
        current = [];
      }
      if (value !== undefined) current.push(`${x(s.time).toFixed(1)},${y(value, max).toFixed(1)}`);
      prev = s;
    }
    if (current.length) lines.push(current.join(" "));
    // A single point draws nothing as a polyline: repeat it so it shows as a dot.
    return { key, lines: lines.map((l) => (l.includes(" ") ? l : `${l} ${l}`)) };
  });

  const runs: { from: number; to: number }[] = [];
  const gaps: { x: number; w: number }[] = [];
  for (let i = 0; i < inRange.length; i++) {
    const s = inRange[i];
    const next = inRange[i + 1];
    const end = next && next.time - s.time <= options.gapMs ? next.time : s.time + options.gapMs / 3;
    if (s.onBattery) {
      const run = runs.at(-1);
      if (run && run.to === s.time) run.to = end;
      else runs.push({ from: s.time, to: end });
    }
    if (next && next.time - s.time > options.gapMs) gaps.push({ x: x(s.time), w: x(next.time) - x(s.time) });
  }
  // At least 2 units wide, so a short outage on a 24 h axis stays visible.
  const outages = runs.map((r) => ({ x: x(r.from), w: Math.max(2, x(r.to) - x(r.from)) }));
  const last = inRange.at(-1);
  if (last && to - last.time > options.gapMs) gaps.push({ x: x(last.time), w: x(to) - x(last.time) });

  const buckets = [];
  const size = span / options.buckets;
  for (let i = 0; i < options.buckets; i++) {
    const start = from + i * size;
    const inside = inRange.filter((s) => s.time >= start && s.time < start + size);
    if (inside.length === 0) continue;
    const mid = inside[Math.floor(inside.length / 2)];
    buckets.push({
      x: x(start),
      w: x(start + size) - x(start),
      text: sampleText(mid, options.seconds ?? false),
    });
  }
  return { xTicks, pctTicks, voltTicks, series, outages, gaps, buckets, count: inRange.length };
}
