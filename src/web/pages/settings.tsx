/**
 * Settings pages: one schema-driven page per entry of the settings registry
 * (Communication with its live Check details, Event actions as a table,
 * Shutdown, Notifications, ...), plus Account and Certificate. Each save goes
 * through the config store (validated, atomic, comments kept), with
 * field-level errors.
 *
 * @module
 */
import type { KillPowerResult } from "../../nmc/killpower.ts";
import type { CertificateInfo } from "../pem.ts";
import { EventTable } from "./eventtable.tsx";
import { CsrfForm, Field, type FieldErrors, Layout, type PageFrame, PasswordPolicyList } from "./layout.tsx";
import { pageKeys, type SettingsPageDef, settingsPages } from "./settings_registry.ts";
import { SettingsFields } from "./settingsform.tsx";

type Values = ReadonlyMap<string, string>;

/** The result list of "Check details". */
export function CheckResults(props: { checks: readonly KillPowerResult[] }) {
  return (
    <ul class="checks" data-checks>
      {props.checks.length === 0
        ? <li class="bad">No card is configured: enter a card address first.</li>
        : null}
      {props.checks.map((c) => (
        <li class={c.ok ? "ok" : "bad"} data-card={c.card}>
          NMC {c.card}: {c.ok ? `OK: ${c.detail ?? "reachable"}` : `failed at ${c.step}: ${c.error}`}
        </li>
      ))}
    </ul>
  );
}

/** The "Check details" form of the Communication page. */
function CheckDetails(props: { csrf: string; checks?: readonly KillPowerResult[] }) {
  return (
    <CsrfForm action="/settings/communication/check" csrf={props.csrf} class="card">
      <h2>Check details</h2>
      <p>
        Contacts every configured card now: reachability, certificate, user name and authentication phrase
        (through the card's signed control page). Nothing is changed on the cards.
      </p>
      <p class="muted">
        A real card may also need this host added to its PowerChute Network Shutdown client list by hand (in
        the card's own web UI) before it sends status packets here.
      </p>
      <button type="submit">Check details</button>
      {props.checks ? <CheckResults checks={props.checks} /> : null}
    </CsrfForm>
  );
}

/** A settings page of the registry, its fields from the schema. */
export function SettingsPage(
  props: PageFrame & {
    page: SettingsPageDef;
    values: Values;
    errors?: FieldErrors;
    checks?: readonly KillPowerResult[];
  },
) {
  const { page } = props;
  const keys = pageKeys(page);
  const isEvents = page.slug === "events";
  const other = isEvents ? keys.filter((k) => !/^Events\.event_/.test(k)) : keys;
  const formError = props.errors?._;
  return (
    <Layout {...props}>
      {page.intro ? <p class="intro">{page.intro}</p> : null}
      {page.slug === "communication"
        ? (
          <p>
            <a href="/guide/card" data-guide>Run the guided setup</a>{" "}
            <span class="muted">(card, check, UPS configuration, turn-off, timing)</span>
          </p>
        )
        : null}
      {formError ? <p class="banner error" role="alert">{[formError].flat().join("; ")}</p> : null}
      <CsrfForm action={`/settings/${page.slug}`} csrf={props.csrf!} class="card settings">
        {isEvents
          ? (
            <>
              <p class="muted">
                Low battery and UPS turn-off always shut the host down (as in PCNS); their delay still
                applies. A command file with a delay runs only if its event still holds when the delay ends.
              </p>
              <EventTable values={props.values} errors={props.errors} />
            </>
          )
          : null}
        <SettingsFields page={page} keys={other} values={props.values} errors={props.errors} />
        <div class="actions">
          <button type="submit">Save</button>
        </div>
      </CsrfForm>
      {page.slug === "communication" ? <CheckDetails csrf={props.csrf!} checks={props.checks} /> : null}
    </Layout>
  );
}

/** The Event actions page on its own (the table of every event's actions). */
export function EventsSettingsPage(props: PageFrame & { values: Values; errors?: FieldErrors }) {
  const page = settingsPages().find((p) => p.slug === "events")!;
  return <SettingsPage {...props} page={page} />;
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
