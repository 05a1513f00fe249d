/**
 * The event log page: newest first, filters (event by its human name,
 * severity, ISO date fields), local time with the UTC offset, paging,
 * CSV/JSON downloads, and an audited "clear the log" action. On a phone
 * each row becomes a small card so the message stays visible.
 *
 * @module
 */
import { EVENT_CATALOG } from "../../events/types.ts";
import type { EventPage, EventQuery } from "../eventquery.ts";
import { eventName } from "../labels.ts";
import { localTime, utcOffset } from "../../text/localtime.ts";
import { CsrfForm, Layout, type PageFrame } from "./layout.tsx";

function link(q: EventQuery, change: Record<string, string | number>, base = "/events"): string {
  const p = new URLSearchParams();
  if (q.id) p.set("id", q.id);
  if (q.severity) p.set("severity", q.severity);
  if (q.from !== undefined) p.set("from", new Date(q.from).toISOString());
  if (q.to !== undefined) p.set("to", new Date(q.to).toISOString());
  p.set("page", String(q.page));
  p.set("limit", String(q.perPage));
  for (const [k, v] of Object.entries(change)) p.set(k, String(v));
  return `${base}?${p}`;
}

/** A filter bound as the date field shows it (`YYYY-MM-DD HH:MM`, local). */
const fieldValue = (t: number | undefined) => t === undefined ? "" : localTime(t).slice(0, 16);

/** Events by human name for the filter, grouped UPS first. */
function eventOptions(selected?: string) {
  const ids = Object.keys(EVENT_CATALOG) as (keyof typeof EVENT_CATALOG)[];
  const group = (kind: string, label: string) => (
    <optgroup label={label}>
      {ids.filter((id) => EVENT_CATALOG[id].kind === kind)
        .sort((a, b) => eventName(a).localeCompare(eventName(b)))
        .map((id) => <option key={id} value={id} selected={selected === id}>{eventName(id)}</option>)}
    </optgroup>
  );
  return [group("ups", "UPS events"), group("service", "Agent events")];
}

/** The event log page. */
export function EventsPage(
  props: PageFrame & { query: EventQuery; result: EventPage; error?: string; now: number },
) {
  const { query: q, result } = props;
  const offset = utcOffset(props.now);
  const exportLink = (format: string) =>
    link(q, { page: 1, limit: 100000 }, "/api/v1/events") + `&format=${format}`;
  const pattern = "\\d{4}-\\d{2}-\\d{2}([ T]\\d{2}:\\d{2}(:\\d{2})?)?";
  return (
    <Layout {...props}>
      <form method="get" action="/events" class="filters">
        <label>
          Event
          <select name="id">
            <option value="">all</option>
            {eventOptions(q.id)}
          </select>
        </label>
        <label>
          Severity
          <select name="severity">
            <option value="">all</option>
            {["critical", "warning", "info"].map((s) => (
              <option value={s} selected={q.severity === s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          From
          <input
            type="text"
            name="from"
            value={fieldValue(q.from)}
            placeholder="YYYY-MM-DD HH:MM"
            pattern={pattern}
            inputmode="numeric"
            title="A date (YYYY-MM-DD) or date and time (YYYY-MM-DD HH:MM), local time"
          />
        </label>
        <label>
          To
          <input
            type="text"
            name="to"
            value={fieldValue(q.to)}
            placeholder="YYYY-MM-DD HH:MM"
            pattern={pattern}
            inputmode="numeric"
            title="A date (YYYY-MM-DD, the whole day) or date and time (YYYY-MM-DD HH:MM), local time"
          />
        </label>
        <button type="submit">Filter</button>
        {q.id || q.severity || q.from !== undefined || q.to !== undefined
          ? <a href="/events">Clear filters</a>
          : null}
      </form>
      <p class="muted">Times are this host's local time (UTC{offset}).</p>
      {props.error ? <p class="banner error" role="alert">{props.error}</p> : null}
      <p>
        <span data-field="total">{result.total}</span> events. Download:{" "}
        <a href={exportLink("csv")} download="pcns-agent-events.csv">CSV</a>{" "}
        <a href={exportLink("json")} download="pcns-agent-events.json">JSON</a>
      </p>
      <div class="table-wrap">
        <table class="eventlog">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Severity</th>
              <th scope="col">NMC</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {result.records.map((r) => (
              <tr class={`sev-${r.severity}`} data-id={r.id}>
                <td class="time">
                  <time datetime={r.time}>{localTime(Date.parse(r.time))}</time>
                </td>
                <td class="event">
                  {eventName(r.id)} <code class="ini">{r.id}</code>
                </td>
                <td class="severity">{r.severity}</td>
                <td class="nmc">{r.nmc ?? ""}</td>
                <td class="message">{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        {result.page > 1 ? <a href={link(q, { page: result.page - 1 })}>Newer</a> : null}
        <span>Page {result.page} of {result.pages}</span>
        {result.page < result.pages ? <a href={link(q, { page: result.page + 1 })}>Older</a> : null}
      </nav>
      {props.csrf
        ? (
          <details class="danger card">
            <summary>Clear the event log</summary>
            <CsrfForm action="/events/clear" csrf={props.csrf}>
              <p>
                Deletes every event in the log and its rotated files. The clearing itself is logged (who and
                from where) as the first event of the new log. Download a copy first if you need one.
              </p>
              <label class="confirm">
                <input type="checkbox" name="confirm" value="yes" required /> I want to delete all events
              </label>
              <button type="submit" class="danger">Clear the event log</button>
            </CsrfForm>
          </details>
        )
        : null}
    </Layout>
  );
}
