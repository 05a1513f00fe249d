/**
 * One UPS on the dashboard: its condition, why communication is lost (with
 * the remedy and the counter reset where it applies), the readings (marked
 * stale while the card is not heard), registration and last packet, and the
 * details a PowerChute user expects (firmware, last transfer cause, self-test
 * result and date, runtime exceeded, battery replacement).
 *
 * @module
 */
import type { NmcRegistrationStatus } from "../../agent/registration_status.ts";
import { formatCounters } from "../../nmc/counters.ts";
import type { CardCounterStatus } from "../../nmc/gate.ts";
import { statusWords } from "../../nmc/status.ts";
import type { UpsState } from "../../ups/state.ts";
import type { CommDiagnosis } from "../commdiag.ts";
import { clockTime } from "../shutdownview.ts";
import { CsrfForm } from "./layout.tsx";

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
  return s < 120
    ? `${s} s ago`
    : s < 7200
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
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

/** The self-test line: result and when it ran (from the card's hours since the last test). */
export function selfTestText(ups: UpsState): string {
  const r = ups.reading;
  if (ups.selfTestSince !== undefined) return `running since ${clockTime(ups.selfTestSince)}`;
  const when = r.hoursSinceSelfTest !== undefined && ups.lastStatusAt !== undefined
    ? new Date(ups.lastStatusAt - r.hoursSinceSelfTest * 3600_000).toISOString().slice(0, 10)
    : undefined;
  if (!r.selfTestResult && !when) return "-";
  return [r.selfTestResult ?? "result not reported", when ? `on ${when}` : ""].filter(Boolean).join(" ");
}

/** The UPS card (the dashboard's live fragment `ups:<card>`). */
export function UpsCard(
  props: {
    ups: UpsState;
    now: number;
    diagnosis: CommDiagnosis;
    registration?: NmcRegistrationStatus;
    counters?: CardCounterStatus;
    csrf?: string;
    /** NUT secondaries logged in to this UPS (undefined: the NUT server is off). */
    secondaries?: readonly { user: string; address: string; tls: boolean }[];
  },
) {
  const { ups, now, registration, diagnosis } = props;
  const stuck = stuckText(props.counters);
  const certificate = registration ? certificateText(registration) : undefined;
  const r = ups.reading;
  const tone = ups.comm !== "ok" || ups.flags.onBattery || ups.shuttingDown ? "alert" : "good";
  const field = (name: string, text: string) => <dd data-field={name}>{text}</dd>;
  const last = ups.lastStatusAt;
  const reset = props.csrf && (stuck || diagnosis.resetApplies)
    ? (
      <CsrfForm action="/counters/reset" csrf={props.csrf}>
        <input type="hidden" name="card" value={ups.card} />
        <button type="submit">Reset counters</button>
      </CsrfForm>
    )
    : null;
  return (
    <section class={`ups ${tone}`} data-card={ups.card} aria-labelledby={`ups-${ups.card}`}>
      <h2 id={`ups-${ups.card}`}>
        NMC {ups.card} {r.name ? <span class="muted">({r.name})</span> : null}
      </h2>
      <p class="condition" data-field="condition">{upsCondition(ups)}</p>
      {diagnosis.headline
        ? (
          <div class="banner error comm-reason" data-field="comm-reason" role="status">
            <p>{diagnosis.headline}</p>
            {diagnosis.rejections.length
              ? (
                <ul class="rejections">
                  {diagnosis.rejections.map((j) => (
                    <li data-reason={j.reason}>
                      <strong>{j.count} {j.what}</strong>: {j.remedy}
                    </li>
                  ))}
                </ul>
              )
              : null}
            {stuck ? null : reset}
          </div>
        )
        : null}
      {stuck
        ? (
          <div class="banner warn" data-field="counters-stuck">
            <p>{stuck}</p>
            {reset}
          </div>
        )
        : null}
      {diagnosis.stale
        ? (
          <p class="stale-note" data-stale>
            Stale: the last values received{last !== undefined ? ` at ${clockTime(last)}` : ""}, not current.
          </p>
        )
        : null}
      <dl class={diagnosis.stale ? "grid readings stale" : "grid readings"}>
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
      </dl>
      <h3>Communication</h3>
      <dl class="grid">
        <dt>Last packet</dt>
        <dd data-field="lastPacket">
          {last === undefined ? "never" : (
            <>
              {clockTime(last)} (<span data-since={String(last)}>{age(now, last)}</span>)
            </>
          )}
        </dd>
        <dt>State</dt>
        {field("comm", ups.comm === "ok" ? "receiving" : ups.comm === "lost" ? "lost" : "waiting")}
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
      </dl>
      <h3>UPS</h3>
      <dl class="grid details">
        <dt>Model</dt>
        {field("model", r.model ?? "-")}
        <dt>Serial</dt>
        {field("serial", r.serial ?? "-")}
        <dt>Firmware</dt>
        {field("firmware", r.firmware ?? "-")}
        <dt>Last transfer cause</dt>
        {field("lastTransferCause", r.lastTransferCause ?? "-")}
        <dt>Self-test</dt>
        {field("selfTest", selfTestText(ups))}
        <dt>Runtime exceeded</dt>
        {field(
          "runtimeExceeded",
          ups.runtime.runtimeExceeded ? "yes: the shutdown needs more time than the UPS can give" : "no",
        )}
        <dt>Battery</dt>
        {field(
          "replaceBattery",
          (ups.flags.replaceBattery ? "replace the battery" : "no replacement needed") +
            (r.batteryDate ? ` (battery date ${r.batteryDate})` : ""),
        )}
      </dl>
    </section>
  );
}
