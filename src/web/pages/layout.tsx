/**
 * The page frame and small shared components of the server-rendered UI.
 * Every value is rendered through JSX, which escapes it: a UPS model named
 * `<script>` shows as text. No inline script or style (the CSP forbids them).
 *
 * @module
 */
import type { Child } from "hono/jsx";
import type { KeyDef } from "../../config/keydefs.ts";
import { keyDef } from "../../config/schema.ts";
import { iniName, keyLabel, optionLabels } from "../labels.ts";
import { settingsMenu } from "./settings_registry.ts";

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
  /** The server's time (ms) when the page was rendered: the script counts down from it. */
  readonly serverTime?: number;
}

/** The main menu: the settings pages share one entry (their own menu is on each settings page). */
const NAV: ReadonlyArray<readonly [string, string]> = [
  ["/", "Dashboard"],
  ["/events", "Event log"],
  ["/settings", "Settings"],
  ["/account", "Account"],
];

/** True when the menu entry `href` is the page at `path` (or, for Settings, one of its pages). */
function isCurrent(href: string, path: string): boolean {
  if (href === "/settings") return path.startsWith("/settings/") || path === "/certificate";
  return href === path;
}

/** The HTML document around a page's content. */
export function Layout(props: PageFrame & { children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        {props.serverTime !== undefined
          ? <meta name="server-time" content={String(props.serverTime)} />
          : null}
        <title>{props.title} - pcns-agent</title>
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/app.css" />
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <a class="brand" href="/">pcns-agent</a>
          {props.user
            ? (
              <>
                <nav aria-label="Main">
                  {NAV.map(([href, label]) => (
                    <a href={href} aria-current={isCurrent(href, props.path) ? "page" : undefined}>{label}</a>
                  ))}
                </nav>
                <form method="post" action="/logout" class="logout">
                  <input type="hidden" name="_csrf" value={props.csrf ?? ""} />
                  <button type="submit">Log out {props.user}</button>
                </form>
              </>
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
          {props.user && isCurrent("/settings", props.path) ? <SettingsNav path={props.path} /> : null}
          <h1>{props.title}</h1>
          {props.notice ? <p class="banner ok" role="status">{props.notice}</p> : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** The menu of the settings pages (schema-driven: a new config section gets its page here). */
export function SettingsNav(props: { path: string }) {
  const menu = settingsMenu();
  const here = menu.find((e) => e.href === props.path || e.members.some(([h]) => h === props.path));
  return (
    <>
      <nav class="subnav" aria-label="Settings">
        {menu.map((e) => (
          <a key={e.href} href={e.href} aria-current={e === here ? "page" : undefined}>{e.label}</a>
        ))}
      </nav>
      {here && here.members.length > 1
        ? (
          <nav class="subnav members" aria-label={here.label}>
            {here.members.map(([href, label]) => (
              <a href={href} aria-current={props.path === href ? "page" : undefined}>{label}</a>
            ))}
          </nav>
        )
        : null}
    </>
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
  /** The ini name, shown small after the help (`[Shutdown] settleDelay`). */
  ini?: string;
  errors?: FieldErrors;
  autocomplete?: string;
  required?: boolean;
  min?: number;
  max?: number;
  placeholder?: string;
  options?: readonly string[];
  /** Visible words per option value (default: the value). */
  optionLabels?: Readonly<Record<string, string>>;
  /** Extra class on the field (e.g. "setting" for the label-left layout). */
  class?: string;
}) {
  const id = `f-${props.name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
  const errs = messages(props.errors, props.name);
  const describedBy = [props.hint || props.ini ? `${id}-hint` : "", errs.length ? `${id}-err` : ""].filter(
    Boolean,
  ).join(" ");
  let control;
  if (props.options) {
    control = (
      <select id={id} name={props.name} aria-describedby={describedBy || undefined}>
        {props.options.map((o) => (
          <option key={o} value={o} selected={o === props.value}>{props.optionLabels?.[o] ?? o}</option>
        ))}
      </select>
    );
  } else if (props.type === "checkbox") {
    control = (
      <span class="switch">
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
  const classes = ["field", props.class, errs.length ? "invalid" : ""].filter(Boolean).join(" ");
  return (
    <div class={classes}>
      <label for={id}>{props.label}</label>
      {control}
      {props.hint || props.ini
        ? (
          <small id={`${id}-hint`}>
            {props.hint}
            {props.ini ? <code class="ini">{props.ini}</code> : null}
          </small>
        )
        : null}
      {errs.length ? <ul id={`${id}-err`} class="errors">{errs.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </div>
  );
}

/** The help text of a key: its description, without a leading "EventId: " and capitalised. */
export function keyHelp(def: KeyDef): string {
  const text = def.description.replace(/^[A-Z][A-Za-z]+: /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** An input for a config key, typed from the schema (checkbox, select, number, password, text). */
export function ConfigField(
  props: {
    name: string;
    value: string;
    errors?: FieldErrors;
    label?: string;
    class?: string;
    help?: boolean;
  },
) {
  const def = keyDef(props.name) as KeyDef;
  const common = {
    name: props.name,
    label: props.label ?? keyLabel(props.name),
    errors: props.errors,
    ini: iniName(props.name),
    class: props.class ?? "setting",
  };
  const help = props.help === false ? undefined : keyHelp(def);
  if (def.type === "boolean") return <Field {...common} type="checkbox" value={props.value} hint={help} />;
  if (/^[A-Za-z0-9-]+(\|[A-Za-z0-9-]+)+$/.test(def.type)) {
    return (
      <Field
        {...common}
        options={def.type.split("|")}
        optionLabels={optionLabels(props.name)}
        value={props.value}
        hint={help}
      />
    );
  }
  const range = /^integer (\d+)-(\d+)$/.exec(def.type);
  if (range) {
    return (
      <Field
        {...common}
        type="number"
        min={Number(range[1])}
        max={Number(range[2])}
        value={props.value}
        hint={help === undefined ? undefined : `${help} (${range[1]}-${range[2]})`}
      />
    );
  }
  if (def.secret) {
    return (
      <Field
        {...common}
        type="password"
        value=""
        placeholder={props.value ? "unchanged" : ""}
        autocomplete="new-password"
        hint={`${help ?? ""}${help ? "; l" : "L"}eave empty to keep the current value`}
      />
    );
  }
  return <Field {...common} value={props.value} hint={help} />;
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
