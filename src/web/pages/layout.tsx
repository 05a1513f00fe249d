/**
 * The page frame and small shared components of the server-rendered UI.
 * Every value is rendered through JSX, which escapes it: a UPS model named
 * `<script>` shows as text. No inline script or style (the CSP forbids them).
 *
 * @module
 */
import type { Child } from "hono/jsx";
import { type KeyDef, keyDef } from "../../config/schema.ts";

/** What every page needs to render its frame. */
export interface PageFrame {
  /** Page title. */
  readonly title: string;
  /** Logged-in user, if any (shows the navigation and logout). */
  readonly user?: string;
  /** CSRF token of the session, for forms and the script's requests. */
  readonly csrf?: string;
  /** False when served over plain HTTP (uiProtocol = http): a warning banner is shown. */
  readonly secure: boolean;
  /** Path of the page, to mark the current navigation entry. */
  readonly path: string;
  /** A one-line notice (e.g. "Saved"). */
  readonly notice?: string;
}

const NAV: ReadonlyArray<readonly [string, string]> = [
  ["/", "Dashboard"],
  ["/events", "Event log"],
  ["/settings/communication", "Communication"],
  ["/settings/events", "Events"],
  ["/settings/shutdown", "Shutdown"],
  ["/account", "Account"],
  ["/certificate", "Certificate"],
];

/** The HTML document around a page's content. */
export function Layout(props: PageFrame & { children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{props.title} - pcns-agent</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <span class="brand">pcns-agent</span>
          {props.user
            ? (
              <nav aria-label="Main">
                {NAV.map(([href, label]) => (
                  <a href={href} aria-current={props.path === href ? "page" : undefined}>{label}</a>
                ))}
                <form method="post" action="/logout" class="inline">
                  <input type="hidden" name="_csrf" value={props.csrf ?? ""} />
                  <button type="submit">Log out {props.user}</button>
                </form>
              </nav>
            )
            : null}
        </header>
        {props.secure ? null : (
          <p class="banner warn" role="alert">
            This page is served over plain HTTP (uiProtocol = http): passwords and settings cross the network
            unencrypted.
          </p>
        )}
        <main id="main">
          <h1>{props.title}</h1>
          {props.notice ? <p class="banner ok" role="status">{props.notice}</p> : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Field-level errors shown next to their inputs, keyed by `Section.key` or form field name. */
export type FieldErrors = Readonly<Record<string, string | readonly string[]>>;

function messages(errors: FieldErrors | undefined, name: string): string[] {
  const e = errors?.[name];
  return e === undefined ? [] : typeof e === "string" ? [e] : [...e];
}

/** A labelled input with its error messages. */
export function Field(props: {
  name: string;
  label: string;
  type?: string;
  value?: string;
  hint?: string;
  errors?: FieldErrors;
  autocomplete?: string;
  required?: boolean;
  min?: number;
  max?: number;
  placeholder?: string;
  options?: readonly string[];
}) {
  const id = `f-${props.name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
  const errs = messages(props.errors, props.name);
  const describedBy = [props.hint ? `${id}-hint` : "", errs.length ? `${id}-err` : ""].filter(Boolean).join(
    " ",
  );
  let control;
  if (props.options) {
    control = (
      <select id={id} name={props.name} aria-describedby={describedBy || undefined}>
        {props.options.map((o) => <option key={o} value={o} selected={o === props.value}>{o}</option>)}
      </select>
    );
  } else if (props.type === "checkbox") {
    control = (
      <span>
        <input type="hidden" name={props.name} value="false" />
        <input
          id={id}
          type="checkbox"
          name={props.name}
          value="true"
          checked={props.value === "true"}
          aria-describedby={describedBy || undefined}
        />
      </span>
    );
  } else {
    control = (
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value ?? ""}
        autocomplete={props.autocomplete}
        required={props.required}
        min={props.min}
        max={props.max}
        placeholder={props.placeholder}
        aria-invalid={errs.length ? "true" : undefined}
        aria-describedby={describedBy || undefined}
      />
    );
  }
  return (
    <div class={errs.length ? "field invalid" : "field"}>
      <label for={id}>{props.label}</label>
      {control}
      {props.hint ? <small id={`${id}-hint`}>{props.hint}</small> : null}
      {errs.length ? <ul id={`${id}-err`} class="errors">{errs.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </div>
  );
}

/** An input for a config key, typed from the schema (checkbox, select, number, password, text). */
export function ConfigField(props: { name: string; value: string; errors?: FieldErrors; label?: string }) {
  const def = keyDef(props.name) as KeyDef;
  const label = props.label ?? def.key;
  if (def.type === "boolean") {
    return (
      <Field
        name={props.name}
        label={label}
        type="checkbox"
        value={props.value}
        hint={def.description}
        errors={props.errors}
      />
    );
  }
  if (/^[a-z]+(\|[a-z]+)+$/.test(def.type)) {
    return (
      <Field
        name={props.name}
        label={label}
        options={def.type.split("|")}
        value={props.value}
        hint={def.description}
        errors={props.errors}
      />
    );
  }
  const range = /^integer (\d+)-(\d+)$/.exec(def.type);
  if (range) {
    return (
      <Field
        name={props.name}
        label={label}
        type="number"
        min={Number(range[1])}
        max={Number(range[2])}
        value={props.value}
        hint={`${def.description} (${def.type})`}
        errors={props.errors}
      />
    );
  }
  if (def.secret) {
    return (
      <Field
        name={props.name}
        label={label}
        type="password"
        value=""
        placeholder={props.value ? "unchanged" : ""}
        autocomplete="new-password"
        hint={`${def.description}; leave empty to keep the current value`}
        errors={props.errors}
      />
    );
  }
  return (
    <Field name={props.name} label={label} value={props.value} hint={def.description} errors={props.errors} />
  );
}

/** A form that posts with the session's CSRF token. */
export function CsrfForm(props: { action: string; csrf: string; children?: Child; class?: string }) {
  return (
    <form method="post" action={props.action} class={props.class}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      {props.children}
    </form>
  );
}

/** The password rules, ticked off live by the page script while the user types (`data-policy-for`). */
export function PasswordPolicyList(props: { field: string; username?: string }) {
  return (
    <ul class="policy" data-policy-for={props.field} data-username={props.username} aria-live="polite">
      <li data-rule="length">12-128 characters</li>
      <li data-rule="upper">an upper-case letter</li>
      <li data-rule="lower">a lower-case letter</li>
      <li data-rule="digit">a digit</li>
      <li data-rule="special">a special character</li>
      <li data-rule="username">does not contain the user name</li>
    </ul>
  );
}
