/**
 * The event log page: newest first, filters, paging, CSV/JSON export links.
 *
 * @module
 */
import { EVENT_CATALOG } from "../../events/types.ts";
import type { EventPage, EventQuery } from "../eventquery.ts";
import { Layout, type PageFrame } from "./layout.tsx";

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

const local = (t: number | undefined) => t === undefined ? "" : new Date(t).toISOString().slice(0, 16);

/** The event log page. */
export function EventsPage(props: PageFrame & { query: EventQuery; result: EventPage; error?: string }) {
  const { query: q, result } = props;
  return (
    <Layout {...props}>
      <form method="get" action="/events" class="filters">
        <label>
          Event{" "}
          <select name="id">
            <option value="">all</option>
            {Object.keys(EVENT_CATALOG).sort().map((id) => (
              <option value={id} selected={q.id === id}>{id}</option>
            ))}
          </select>
        </label>
        <label>
          Severity{" "}
          <select name="severity">
            <option value="">all</option>
            {["critical", "warning", "info"].map((s) => (
              <option value={s} selected={q.severity === s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          From (UTC) <input type="datetime-local" name="from" value={local(q.from)} />
        </label>
        <label>
          To (UTC) <input type="datetime-local" name="to" value={local(q.to)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {props.error ? <p class="banner error" role="alert">{props.error}</p> : null}
      <p>
        {result.total} events. Export:{" "}
        <a href={link(q, { page: 1, limit: 100000 }, "/api/v1/events") + "&format=csv"}>CSV</a>{" "}
        <a href={link(q, { page: 1, limit: 100000 }, "/api/v1/events") + "&format=json"}>JSON</a>
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Event</th>
              <th scope="col">Severity</th>
              <th scope="col">NMC</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {result.records.map((r) => (
              <tr class={`sev-${r.severity}`}>
                <td>
                  <time datetime={r.time}>{r.time.replace("T", " ").replace("Z", "")}</time>
                </td>
                <td>{r.id}</td>
                <td>{r.severity}</td>
                <td>{r.nmc ?? ""}</td>
                <td>{r.message}</td>
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
    </Layout>
  );
}
