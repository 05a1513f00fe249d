/**
 * The dashboard: the shutdown box, every NMC's UPS, and its history charts.
 * The page is complete as rendered; each part is also a live fragment
 * (`data-live`) that the server-sent event stream (src/web/live.ts) replaces
 * when it changes, so the page follows events within a second.
 *
 * @module
 */
import type { ShutdownPolicy } from "../../actions/policy.ts";
import type { AgentStatus } from "../../agent/status.ts";
import type { RejectReason } from "../../nmc/gate.ts";
import type { PlannedStep } from "../../shutdown/sequencer.ts";
import type { HistorySample } from "../../ups/history.ts";
import { diagnose } from "../commdiag.ts";
import { partHash } from "../live.ts";
import { shutdownView } from "../shutdownview.ts";
import { HistoryChart } from "./chart.tsx";
import { Layout, type PageFrame } from "./layout.tsx";
import { ShutdownBox } from "./shutdownbox.tsx";
import { SetupsList } from "./setupslist.tsx";
import { UpsCard } from "./upscard.tsx";

export { age, certificateText, stuckText, upsCondition } from "./upscard.tsx";

/** Everything the dashboard shows. */
export interface DashboardData {
  /** The agent's status. */
  readonly status: AgentStatus;
  /** Now (ms). */
  readonly now: number;
  /** The planned shutdown steps. */
  readonly plan: readonly PlannedStep[];
  /** The shutdown policy in effect (mode, cards, delays). */
  readonly policy: ShutdownPolicy;
  /** Rejected packets of the last minutes, by reason. */
  readonly recent: Partial<Record<RejectReason, number>>;
  /** A card's 24 h history. */
  readonly history: (card: string) => readonly HistorySample[];
  /** A card's last hour at 10 s. */
  readonly recentHistory: (card: string) => readonly HistorySample[];
  /** The session's CSRF token (for the reset button). */
  readonly csrf?: string;
}

function Packets(props: { status: AgentStatus }) {
  const p = props.status.packets;
  return (
    <p class="muted">
      Packets accepted: <span data-field="accepted">{p.accepted}</span>; rejected:{" "}
      <span data-field="rejected">{Object.values(p.rejected).reduce((a, b) => a + b, 0)}</span> (since start)
    </p>
  );
}

/** The live fragments by name: each is the inner HTML of the page's `[data-live=name]` element. */
export function dashboardFragments(d: DashboardData): Record<string, unknown> {
  const { status, now } = d;
  const out: Record<string, unknown> = {
    shutdown: (
      <>
        <ShutdownBox view={shutdownView(status, d.plan, d.policy, now)} status={status} now={now} />
        <SetupsList setups={status.setups} />
      </>
    ),
    packets: <Packets status={status} />,
  };
  for (const ups of status.ups) {
    const counters = status.counters?.find((c) => c.card === ups.card);
    const registration = status.registration?.find((r) => r.card === ups.card);
    out[`ups:${ups.card}`] = (
      <UpsCard
        ups={ups}
        now={now}
        diagnosis={diagnose(ups, d.recent, counters, registration)}
        registration={registration}
        counters={counters}
        csrf={d.csrf}
        secondaries={status.nut?.clients.filter((c) => c.card === ups.card)}
      />
    );
    out[`chart:${ups.card}`] = (
      <>
        <h3>History</h3>
        <HistoryChart card={ups.card} window="day" samples={d.history(ups.card)} now={now} />
        <HistoryChart card={ups.card} window="hour" samples={d.recentHistory(ups.card)} now={now} />
      </>
    );
  }
  return out;
}

/** The bare minimum a dashboard needs: the status (single-UPS policy, no history, no rejections). */
export function basicDashboardData(
  status: AgentStatus,
  now: number,
  plan: readonly PlannedStep[],
): DashboardData {
  return {
    status,
    now,
    plan,
    policy: {
      mode: "single",
      cards: status.ups.map((u) => u.card),
      shutdownDelays: new Map(),
      redundantUps: 1,
    },
    recent: {},
    history: () => [],
    recentHistory: () => [],
  };
}

/** The dashboard page (`data`, or just the status, now and plan). */
export function DashboardPage(
  props:
    & PageFrame
    & (
      | { data: DashboardData }
      | { status: AgentStatus; now: number; plan: readonly PlannedStep[]; csrf?: string }
    ),
) {
  const data = "data" in props ? props.data : basicDashboardData(props.status, props.now, props.plan);
  const { status } = data;
  const f = dashboardFragments(data);
  const live = (name: string) => ({ "data-live": name, "data-live-hash": partHash(String(f[name])) });
  return (
    <Layout {...props}>
      <section class="shutdown" aria-live="polite" data-shutdown {...live("shutdown")}>{f.shutdown}</section>
      {status.ups.length === 0
        ? (
          <p>
            No NMC is configured yet: add one under{" "}
            <a href="/settings/communication">Communication</a>, or run the{" "}
            <a href="/setup/card">guided setup</a>.
          </p>
        )
        : (
          <div class="cards">
            {status.ups.map((ups) => (
              <article class="ups-wrap" key={ups.card}>
                <div {...live(`ups:${ups.card}`)}>{f[`ups:${ups.card}`]}</div>
                <div class="history card" {...live(`chart:${ups.card}`)}>{f[`chart:${ups.card}`]}</div>
              </article>
            ))}
          </div>
        )}
      <div {...live("packets")}>{f.packets}</div>
    </Layout>
  );
}
