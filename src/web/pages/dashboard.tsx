/**
 * The dashboard: live state of every NMC's UPS, the pending shutdown with its
 * remaining steps, and the 24 h chart. The page is complete as rendered; the
 * script refreshes the values from /api/v1/status without a reload.
 *
 * @module
 */
import type { AgentStatus } from "../../agent/agent.ts";
import type { NmcRegistrationStatus } from "../../agent/registrar.ts";
import { formatCounters } from "../../nmc/counters.ts";
import type { CardCounterStatus } from "../../nmc/gate.ts";
import { statusWords } from "../../nmc/status.ts";
import type { PlannedStep } from "../../shutdown/sequencer.ts";
import type { UpsState } from "../../ups/state.ts";
import { CsrfForm, Layout, type PageFrame } from "./layout.tsx";

/** Human text for a UPS's condition. */
export function upsCondition(ups: UpsState): string {
  if (ups.comm === "lost") return "Communication lost";
  if (ups.comm === "waiting") return "Waiting for the first packet";
  if (ups.shuttingDown) return "UPS shutting down";
  if (ups.selfTestSince !== undefined) return "Self-test running (on battery for the test)";
  if (ups.flags.onBattery && ups.flags.lowBattery) return "On battery, low battery";
  if (ups.flags.onBattery) return "On battery";
  if (ups.flags.online && ups.flags.lowBattery) return "On line, battery low (recharging)";
  if (ups.flags.online) return "On line";
  return statusWords(ups.flags).join(" ") || "Unknown";
}

const fmt = (n: number | undefined, unit: string, digits = 0) =>
  n === undefined ? "-" : `${n.toFixed(digits)} ${unit}`;

/** Seconds since the last packet, as text. */
export function age(now: number, at: number | undefined): string {
  if (at === undefined) return "never";
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

/** The certificate line of a card: fingerprint and pin state (HTTPS only). */
export function certificateText(reg: NmcRegistrationStatus): string | undefined {
  const c = reg.certificate;
  if (!c?.sha256 && !c?.pinned) return undefined;
  if (c.pinned && c.sha256 && c.pinned !== c.sha256) {
    return `CHANGED: presented SHA-256 ${c.sha256}, pinned ${c.pinned} (refused)`;
  }
  const how = c.verified ? "verified" : "self-signed, accepted";
  return `SHA-256 ${c.sha256 ?? c.pinned} (${how}${
    c.pinned ? `, pinned ${c.pinnedAt ?? ""}`.trimEnd() : ", not pinned"
  })`;
}

/** Why a card's packets are refused as replayed, with the way out (undefined while they are not). */
export function stuckText(counters: CardCounterStatus | undefined): string | undefined {
  const stuck = counters?.stuck;
  if (!stuck) return undefined;
  return `${stuck.refused} authenticated packets refused as replayed since ${
    new Date(stuck.since).toISOString()
  }: ` +
    `the card sends ${formatCounters(stuck.latest)}, not newer than the last accepted ` +
    `${formatCounters(stuck.last)}. If the card was rebooted or replaced, reset its counters; otherwise ` +
    "someone is replaying recorded packets.";
}

function UpsCard(
  props: {
    ups: UpsState;
    now: number;
    registration?: NmcRegistrationStatus;
    counters?: CardCounterStatus;
    csrf?: string;
    /** NUT secondaries logged in to this UPS (undefined: the NUT server is off). */
    secondaries?: readonly { user: string; address: string; tls: boolean }[];
  },
) {
  const { ups, now, registration } = props;
  const stuck = stuckText(props.counters);
  const certificate = registration ? certificateText(registration) : undefined;
  const r = ups.reading;
  const tone = ups.comm !== "ok" || ups.flags.onBattery || ups.shuttingDown ? "alert" : "good";
  const field = (name: string, text: string) => <dd data-field={name}>{text}</dd>;
  return (
    <section class={`ups ${tone}`} data-card={ups.card} aria-labelledby={`ups-${ups.card}`}>
      <h2 id={`ups-${ups.card}`}>
        NMC {ups.card} {r.name ? <span class="muted">({r.name})</span> : null}
      </h2>
      <p class="condition" data-field="condition">{upsCondition(ups)}</p>
      {stuck
        ? (
          <div class="banner warn" data-field="counters-stuck">
            <p>{stuck}</p>
            {props.csrf
              ? (
                <CsrfForm action="/counters/reset" csrf={props.csrf}>
                  <input type="hidden" name="card" value={ups.card} />
                  <button type="submit">Reset counters</button>
                </CsrfForm>
              )
              : null}
          </div>
        )
        : null}
      <dl class="grid">
        <dt>Battery</dt>
        {field("batteryPercent", fmt(r.batteryPercent, "%"))}
        <dt>Runtime</dt>
        {field("runtimeMinutes", fmt(r.runtimeMinutes, "min"))}
        <dt>Load</dt>
        {field("loadPercent", fmt(r.loadPercent, "%"))}
        <dt>Input</dt>
        {field("lineVoltage", fmt(r.lineVoltage, "V", 1))}
        <dt>Output</dt>
        {field("outputVoltage", fmt(r.outputVoltage, "V", 1))}
        <dt>Battery voltage</dt>
        {field("batteryVoltage", fmt(r.batteryVoltage, "V", 2))}
        <dt>Temperature</dt>
        {field("temperature", fmt(r.temperature, "°C", 1))}
        <dt>Frequency</dt>
        {field("frequency", fmt(r.frequency, "Hz", 1))}
        <dt>Last packet</dt>
        {field("lastPacket", age(now, ups.lastStatusAt))}
        <dt>Communication</dt>
        {field("comm", ups.comm)}
        <dt>Model</dt>
        {field("model", r.model ?? "-")}
        <dt>Serial</dt>
        {field("serial", r.serial ?? "-")}
        {props.secondaries
          ? (
            <>
              <dt>NUT secondaries</dt>
              {field(
                "nutSecondaries",
                props.secondaries.length === 0
                  ? "none logged in"
                  : `${props.secondaries.length}: ${
                    props.secondaries.map((c) => `${c.user}@${c.address}${c.tls ? " (TLS)" : ""}`).join(", ")
                  }`,
              )}
            </>
          )
          : null}
        {registration
          ? (
            <>
              <dt>Registration</dt>
              <dd data-field="registration" data-phase={registration.phase} data-listed={registration.listed}>
                {registration.summary}
              </dd>
            </>
          )
          : null}
        {certificate
          ? (
            <>
              <dt>Certificate</dt>
              <dd data-field="certificate">{certificate}</dd>
            </>
          )
          : null}
      </dl>
      <figure class="chart">
        <svg data-chart={ups.card} role="img" viewBox="0 0 600 160" preserveAspectRatio="none">
          <title>Battery, load and line voltage over the last 24 hours</title>
        </svg>
        <figcaption>
          Last 24 h: <span class="k battery">battery %</span> <span class="k load">load %</span>{" "}
          <span class="k line">line V (scaled to 300 V)</span>
        </figcaption>
      </figure>
    </section>
  );
}

/** The dashboard page. */
export function DashboardPage(props: PageFrame & { status: AgentStatus; now: number; plan: PlannedStep[] }) {
  const { status, now } = props;
  const { shutdown } = status;
  return (
    <Layout {...props}>
      <section class="shutdown" aria-live="polite" data-shutdown>
        {shutdown.phase !== "idle"
          ? (
            <div class="banner error">
              <strong>Shutdown sequence {shutdown.phase === "done" ? "finished" : "running"}</strong>
              {shutdown.trigger ? <span>: {shutdown.trigger.reason}</span> : null}
              {shutdown.step ? <span>. Current step: {shutdown.step}</span> : null}
            </div>
          )
          : shutdown.countdowns.length
          ? (
            <div class="banner warn">
              {shutdown.countdowns.map((c) => (
                <p>
                  Shutdown in <strong data-due={String(c.dueAt)}>{Math.ceil(c.remainingMs / 1000)} s</strong>
                  {" "}
                  unless the condition ends: {c.reason}
                </p>
              ))}
              <p>Then:</p>
              <ol>{props.plan.map((s) => <li key={s.what}>+{s.atSeconds} s: {s.what}</li>)}</ol>
            </div>
          )
          : (
            <p class="muted">
              No shutdown pending.{status.dryRun ? " Dry run: the OS will not be shut down." : ""}
            </p>
          )}
      </section>
      {status.ups.length === 0
        ? (
          <p>
            No NMC is configured yet: add one under <a href="/settings/communication">Communication</a>.
          </p>
        )
        : (
          <div class="cards">
            {status.ups.map((ups) => (
              <UpsCard
                key={ups.card}
                ups={ups}
                now={now}
                registration={status.registration?.find((r) => r.card === ups.card)}
                counters={status.counters?.find((c) => c.card === ups.card)}
                csrf={props.csrf}
                secondaries={status.nut?.clients.filter((c) => c.card === ups.card)}
              />
            ))}
          </div>
        )}
      <p class="muted">
        Packets accepted: <span data-field="accepted">{status.packets.accepted}</span>; rejected:{" "}
        <span data-field="rejected">
          {Object.values(status.packets.rejected).reduce((a, b) => a + b, 0)}
        </span>
      </p>
    </Layout>
  );
}
