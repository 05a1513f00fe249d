/**
 * Settings pages: Communication, Events, Shutdown, Account, Certificate.
 * Inputs are generated from the config schema; each save goes through the
 * config store (validated, atomic, comments kept), with field-level errors.
 *
 * @module
 */
import { commandEditsAllowed, isCommandKey } from "../../config/remote.ts";
import { CONFIG_EVENT_IDS, EVENT_PROPERTIES, keyDef, MAX_CARDS, SCHEMA } from "../../config/schema.ts";
import { type EventId, SHUTDOWN_ROLES } from "../../events/types.ts";
import type { KillPowerResult } from "../../nmc/killpower.ts";
import type { CertificateInfo } from "../certificate.ts";
import {
  ConfigField,
  CsrfForm,
  Field,
  type FieldErrors,
  Layout,
  type PageFrame,
  PasswordPolicyList,
} from "./layout.tsx";

/** Keys on the Communication page. */
export const COMMUNICATION_KEYS: readonly string[] = [
  ...Array.from({ length: MAX_CARDS }, (_, i) => `NetworkManagementCard.ip_${i + 1}`),
  "NetworkManagementCard.protocol",
  "NetworkManagementCard.port",
  "NetworkManagementCard.acceptCerts",
  "NetworkManagementCard.mode",
  "NetworkManagementCard.redundantUps",
  "NetworkManagementCard.username",
  "NetworkManagementCard.authenticationPhrase",
  "NetworkManagementCard.localHostAddress",
  "NetworkManagementCard.registerWithNmc",
  "NetworkManagementCard.commLostTimeout",
];

/** Keys on the Shutdown page. */
export const SHUTDOWN_KEYS: readonly string[] = SCHEMA.filter((d) => d.section === "Shutdown").map((d) =>
  d.name
);

/** Keys on the Events page (per-event actions, runtime threshold, notification channels). */
export const EVENT_KEYS: readonly string[] = [
  ...CONFIG_EVENT_IDS.flatMap((id) => EVENT_PROPERTIES.map((p) => `Events.event_${id}_${p.prop}`)),
  "Events.runtimeThreshold",
  ...SCHEMA.filter((d) => d.section === "Notifications").map((d) => d.name),
];

type Values = ReadonlyMap<string, string>;

/** Communication settings plus "Check details". */
export function CommunicationPage(
  props: PageFrame & { values: Values; errors?: FieldErrors; checks?: readonly KillPowerResult[] },
) {
  const v = (k: string) => props.values.get(k) ?? "";
  return (
    <Layout {...props}>
      <CsrfForm action="/settings/communication" csrf={props.csrf!} class="card">
        <fieldset>
          <legend>Network Management Cards</legend>
          <div class="columns">
            {COMMUNICATION_KEYS.slice(0, MAX_CARDS).map((k, i) => (
              <ConfigField name={k} value={v(k)} errors={props.errors} label={`NMC ${i + 1}`} />
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Connection and credentials</legend>
          {COMMUNICATION_KEYS.slice(MAX_CARDS).map((k) => (
            <ConfigField name={k} value={v(k)} errors={props.errors} />
          ))}
        </fieldset>
        <button type="submit">Save</button>
      </CsrfForm>
      <CsrfForm action="/settings/communication/check" csrf={props.csrf!} class="card">
        <p>
          Check details: contacts every configured NMC now (reachability, certificate, user name and
          authentication phrase, via the card's signed control page). Nothing is changed on the cards.
        </p>
        <button type="submit">Check details</button>
        {props.checks
          ? (
            <ul class="checks">
              {props.checks.map((c) => (
                <li class={c.ok ? "ok" : "bad"}>
                  NMC {c.card}: {c.ok ? `OK: ${c.detail ?? "reachable"}` : `failed at ${c.step}: ${c.error}`}
                </li>
              ))}
            </ul>
          )
          : null}
      </CsrfForm>
    </Layout>
  );
}

/** Per-event actions, runtime threshold and notification channels. */
export function EventsSettingsPage(props: PageFrame & { values: Values; errors?: FieldErrors }) {
  const v = (k: string) => props.values.get(k) ?? "";
  return (
    <Layout {...props}>
      <CsrfForm action="/settings/events" csrf={props.csrf!} class="card">
        <p>
          LowBattery and UpsTurnOffInitiated always shut the host down (as in PCNS); their delay still
          applies. A command file with a delay runs only if its event still holds when the delay ends.
        </p>
        {CONFIG_EVENT_IDS.map((id) => (
          <fieldset class="event">
            <legend>{id}</legend>
            <div class="columns">
              {EVENT_PROPERTIES.map((p) =>
                shutdownFixed(id, p.prop) ?? (isLocked(props.values, `Events.event_${id}_${p.prop}`)
                  ? (
                    <LockedField
                      name={`Events.event_${id}_${p.prop}`}
                      value={v(`Events.event_${id}_${p.prop}`)}
                      errors={props.errors}
                      label={p.prop}
                    />
                  )
                  : (
                    <ConfigField
                      name={`Events.event_${id}_${p.prop}`}
                      value={v(`Events.event_${id}_${p.prop}`)}
                      errors={props.errors}
                      label={p.prop}
                    />
                  ))
              )}
            </div>
          </fieldset>
        ))}
        <fieldset>
          <legend>Runtime and notifications</legend>
          {EVENT_KEYS.slice(CONFIG_EVENT_IDS.length * EVENT_PROPERTIES.length).map((k) => (
            <ConfigField name={k} value={v(k)} errors={props.errors} />
          ))}
        </fieldset>
        <button type="submit">Save</button>
      </CsrfForm>
    </Layout>
  );
}

/**
 * The shutdown action of an event that cannot be configured, shown as fixed instead of as an input (so
 * the form never offers a value that would be ignored): `false` = nothing to show, undefined = an input.
 */
function shutdownFixed(id: string, prop: string) {
  if (prop !== "enableShutdown" && prop !== "shutdownDelay") return undefined;
  const role = SHUTDOWN_ROLES[id as EventId];
  if (role === "optional" || (role === "always" && prop === "shutdownDelay")) return undefined;
  if (prop === "shutdownDelay") return false; // said with enableShutdown
  const text = role === "always"
    ? `always: ${id} always shuts the host down (as in PCNS); it cannot be disabled`
    : role === "fixed"
    ? `always: ${id} always shuts the host down after a fixed 10 s (as in PCNS)`
    : `none: ${id} cannot shut the host down`;
  return (
    <div class="field fixed">
      <span class="label">enableShutdown</span>
      <span>{text}</span>
    </div>
  );
}

/** True when `key` names a command and `[WebUI] allowCommandEdits = false`: shown, not editable. */
function isLocked(values: Values, key: string): boolean {
  return isCommandKey(key) && !commandEditsAllowed(values);
}

/**
 * A command key shown read-only (`[WebUI] allowCommandEdits = false`): no input, so the form never submits
 * it; a hand-made change is refused by the config store, and its error is shown here.
 */
function LockedField(
  props: { key?: string; name: string; value: string; label?: string; errors?: FieldErrors },
) {
  const errors = [props.errors?.[props.name] ?? []].flat();
  return (
    <div class={errors.length ? "field fixed invalid" : "field fixed"} data-locked={props.name}>
      <label>{props.label ?? keyDef(props.name)?.key ?? props.name}</label>
      <code>{props.value === "" ? "(empty)" : props.value}</code>
      <small>
        editable only in pcnsconfig.ini ([WebUI] allowCommandEdits = false): it names a command the agent runs
      </small>
      {errors.length ? <ul class="errors" role="alert">{errors.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </div>
  );
}

/** The shutdown sequence settings. */
export function ShutdownSettingsPage(props: PageFrame & { values: Values; errors?: FieldErrors }) {
  const v = (k: string) => props.values.get(k) ?? "";
  return (
    <Layout {...props}>
      <CsrfForm action="/settings/shutdown" csrf={props.csrf!} class="card">
        <p>
          Order: event delay, UPS turn-off through the NMC (if enabled), shutdown command file (until it
          exits, at most its duration), settle delay, OS shutdown. Rehearse it with{" "}
          <code>pcns-agent drill</code>.
        </p>
        {SHUTDOWN_KEYS.map((k) =>
          isLocked(props.values, k)
            ? <LockedField key={k} name={k} value={v(k)} errors={props.errors} />
            : <ConfigField key={k} name={k} value={v(k)} errors={props.errors} />
        )}
        <button type="submit">Save</button>
      </CsrfForm>
    </Layout>
  );
}

/** Change the administrator password. */
export function AccountPage(props: PageFrame & { errors?: FieldErrors }) {
  return (
    <Layout {...props}>
      <CsrfForm action="/account" csrf={props.csrf!} class="card narrow">
        <Field
          name="current"
          label="Current password"
          type="password"
          autocomplete="current-password"
          required
          errors={props.errors}
        />
        <Field
          name="password"
          label="New password"
          type="password"
          autocomplete="new-password"
          required
          errors={props.errors}
        />
        <PasswordPolicyList field="password" username={props.user} />
        <Field
          name="confirm"
          label="Repeat the new password"
          type="password"
          autocomplete="new-password"
          required
          errors={props.errors}
        />
        <p class="muted">Changing the password ends every session, this one included.</p>
        <button type="submit">Change password</button>
      </CsrfForm>
    </Layout>
  );
}

/** View and replace the web UI certificate. */
export function CertificatePage(
  props: PageFrame & { info: CertificateInfo; source: string; errors?: FieldErrors },
) {
  const i = props.info;
  return (
    <Layout {...props}>
      <dl class="card grid">
        <dt>Subject</dt>
        <dd>{i.subject}</dd>
        <dt>Issuer</dt>
        <dd>{i.issuer}{i.selfSigned ? " (self-signed)" : ""}</dd>
        <dt>Valid</dt>
        <dd>{i.notBefore.toISOString()} to {i.notAfter.toISOString()}</dd>
        <dt>SHA-256 fingerprint</dt>
        <dd>
          <code data-field="fingerprint">{i.fingerprintSha256}</code>
        </dd>
        <dt>Names</dt>
        <dd>{[...i.dnsNames, ...i.ipAddresses].join(", ")}</dd>
        <dt>Source</dt>
        <dd>
          {props.source === "configured"
            ? "[WebUI] certificateFile / keyFile"
            : "generated in the data directory"}
        </dd>
      </dl>
      <CsrfForm action="/certificate" csrf={props.csrf!} class="card">
        <p>
          Replace it with your own: paste the PEM certificate (chain) and its PKCS#8 PEM private key. It is
          served at once.
        </p>
        <div class={props.errors?.certificate ? "field invalid" : "field"}>
          <label for="f-certificate">Certificate (PEM)</label>
          <textarea id="f-certificate" name="certificate" rows={8} required></textarea>
        </div>
        <div class="field">
          <label for="f-key">Private key (PEM)</label>
          <textarea id="f-key" name="key" rows={6} required></textarea>
        </div>
        {props.errors?.certificate
          ? <p class="banner error" role="alert">{String(props.errors.certificate)}</p>
          : null}
        <button type="submit">Install certificate</button>
      </CsrfForm>
    </Layout>
  );
}
