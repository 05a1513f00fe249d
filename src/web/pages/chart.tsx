/**
 * The history chart as inline SVG rendered on the server: axes with clock
 * times and values, a legend, outages and gaps marked, and one hover area
 * per bucket whose value shows as a tooltip (SVG title) and, with the page
 * script, in the readout line under the chart (mouse, touch and keyboard).
 *
 * @module
 */
import type { HistorySample } from "../../ups/history.ts";
import { CHART, chartGeometry, SERIES } from "../chart.ts";

/** One chart: `window` is "day" (24 h, 1 min samples) or "hour" (last hour, 10 s samples). */
export function HistoryChart(
  props: { card: string; window: "day" | "hour"; samples: readonly HistorySample[]; now: number },
) {
  const day = props.window === "day";
  // The right edge moves in whole steps, so the rendered chart only changes when a sample can be new.
  const step = day ? 60_000 : 10_000;
  const to = Math.ceil(props.now / step) * step;
  const from = to - (day ? 24 * 3600_000 : 3600_000);
  const g = chartGeometry(props.samples, {
    from,
    to,
    gapMs: day ? 3 * 60_000 : 35_000,
    tickMs: day ? 3 * 3600_000 : 10 * 60_000,
    buckets: day ? 144 : 120,
    seconds: !day,
  });
  const title = day ? "Last 24 hours (one sample per minute)" : "Last hour (one sample per 10 s)";
  const bottom = CHART.height - CHART.bottom;
  const right = CHART.width - CHART.right;
  const id = `chart-${props.window}-${props.card.replace(/[^A-Za-z0-9]/g, "-")}`;
  return (
    <figure class="chart" data-chart={props.card} data-window={props.window}>
      <figcaption id={`${id}-t`}>{title}</figcaption>
      <svg
        viewBox={`0 0 ${CHART.width} ${CHART.height}`}
        role="img"
        aria-labelledby={`${id}-t`}
        aria-describedby={`${id}-r`}
        tabindex={g.buckets.length ? 0 : undefined}
        data-samples={String(g.count)}
      >
        <title>{`${title}: battery, load and input voltage of NMC ${props.card}`}</title>
        <g class="grid">
          {g.pctTicks.map((t) => <line key={t.label} x1={CHART.left} x2={right} y1={t.y} y2={t.y} />)}
        </g>
        <g class="bands">
          {g.outages.map((b) => (
            <rect class="outage" x={b.x} y={CHART.top} width={b.w} height={bottom - CHART.top} />
          ))}
          {g.gaps.map((b) => (
            <rect class="gap" x={b.x} y={CHART.top} width={b.w} height={bottom - CHART.top} />
          ))}
        </g>
        <g class="axis x" data-axis="time">
          <line x1={CHART.left} x2={right} y1={bottom} y2={bottom} />
          {g.xTicks.map((t) => <text key={t.x} x={t.x} y={bottom + 15} text-anchor="middle">{t.label}</text>)}
        </g>
        <g class="axis y" data-axis="percent">
          {g.pctTicks.map((t) => (
            <text key={t.label} x={CHART.left - 4} y={t.y + 4} text-anchor="end">{t.label}</text>
          ))}
        </g>
        <g class="axis y2" data-axis="volt">
          {g.voltTicks.map((t) => (
            <text key={t.label} x={right + 4} y={t.y + 4} text-anchor="start">{t.label}</text>
          ))}
        </g>
        {g.series.map((s) =>
          s.lines.map((points) => (
            <polyline class={SERIES.find(([k]) => k === s.key)![1]} points={points} />
          ))
        )}
        {g.count === 0
          ? (
            <text class="empty" x={CHART.width / 2} y={CHART.height / 2} text-anchor="middle">
              No samples yet in this window
            </text>
          )
          : null}
        <g class="hover">
          {g.buckets.map((b) => (
            <rect
              x={b.x}
              y={CHART.top}
              width={Math.max(b.w, 1)}
              height={bottom - CHART.top}
              data-tip={b.text}
            >
              <title>{b.text}</title>
            </rect>
          ))}
        </g>
        <line class="cursor" x1="0" x2="0" y1={CHART.top} y2={bottom} visibility="hidden" />
      </svg>
      <p class="readout" id={`${id}-r`} aria-live="polite">
        {g.count ? "Point at the chart (or focus it and use the arrow keys) for values." : ""}
      </p>
      <ul class="legend">
        {SERIES.map(([, cls, label]) => (
          <li>
            <span class={`swatch ${cls}`}></span>
            {label}
          </li>
        ))}
        <li>
          <span class="swatch outage"></span>On battery
        </li>
        <li>
          <span class="swatch gap"></span>No data
        </li>
      </ul>
    </figure>
  );
}
