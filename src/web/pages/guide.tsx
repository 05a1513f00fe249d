/**
 * The guided setup after the first login (and again from Settings at any
 * time): the card (address, protocol, port), a live Check details, the UPS
 * configuration, the turn-off choice and the shutdown timing, ending on the
 * dashboard. Each step saves through the config store like a settings page.
 *
 * @module
 */
import { keyDef } from "../../config/schema.ts";
import type { KillPowerResult } from "../../nmc/killpower.ts";
import { iniName, keyLabel } from "../labels.ts";
import { ConfigField, CsrfForm, type FieldErrors, Layout, type PageFrame } from "./layout.tsx";
import { CheckResults } from "./settings.tsx";

/** One step of the guide. */
export interface GuideStep {
  /** URL: `/guide/<slug>`. */
  readonly slug: string;
  /** Title. */
  readonly title: string;
  /** The keys it edits (none: the check step). */
  readonly keys: readonly string[];
  /** What the step is about. */
  readonly intro: string;
}

/** The steps in order. */
export const GUIDE_STEPS: readonly GuideStep[] = [
  {
    slug: "card",
    title: "The Network Management Card",
    keys: [
      "NetworkManagementCard.ip_1",
      "NetworkManagementCard.ip_2",
      "NetworkManagementCard.protocol",
      "NetworkManagementCard.port",
      "NetworkManagementCard.acceptCerts",
    ],
    intro: "The address of the card in the UPS (a second one if this host is powered by two UPSs), and how " +
      "to reach its web server. The user name and authentication phrase are the ones you entered at the " +
      "first start; they must match the card's PowerChute settings.",
  },
  {
    slug: "check",
    title: "Check details",
    keys: [],
    intro: "Contacts every configured card now: reachability, certificate, user name and authentication " +
      "phrase. Nothing is changed on the cards.",
  },
  {
    slug: "ups",
    title: "UPS configuration",
    keys: ["NetworkManagementCard.mode", "NetworkManagementCard.redundantUps"],
    intro: "How the UPSs that power this host combine: this decides when a power problem is serious enough " +
      "to shut down.",
  },
  {
    slug: "turn-off",
    title: "Turning the UPS off",
    keys: ["Shutdown.turnOffUps"],
    intro: "Whether this host tells the card to turn the UPS off during its shutdown (the UPS then turns " +
      "itself on again when utility power returns). Leave it off if other equipment on the UPS has its own " +
      "shutdown.",
  },
  {
    slug: "timing",
    title: "Shutdown timing",
    keys: ["Events.event_PowerFailed_shutdownDelay", "Shutdown.settleDelay", "Shutdown.osShutdownDuration"],
    intro: "How long the host rides through an outage on battery before it shuts down, and how long the " +
      "shutdown takes. Low battery always shuts down at once.",
  },
];

/** Words for the choices of the radio-button keys. */
const CHOICES: Readonly<Record<string, ReadonlyArray<readonly [string, string, string]>>> = {
  "NetworkManagementCard.mode": [
    ["single", "Single UPS", "One UPS powers this host: any critical event on it shuts down."],
    [
      "redundant",
      "Redundant",
      "Each UPS can carry the load alone: shut down only when all of them are critical.",
    ],
    ["parallel", "Parallel", "The UPSs share the load: shut down when the others cannot carry it."],
    ["advanced", "Advanced (N+x)", "x of the UPSs are redundant: shut down when x+1 are critical."],
  ],
  "Shutdown.turnOffUps": [
    ["false", "Do not turn the UPS off", "The UPS keeps running until its battery is empty."],
    [
      "true",
      "Turn the UPS off",
      "After the shutdown command file, through the card; the UPS restarts on return.",
    ],
  ],
};

function Choice(props: { name: string; value: string; errors?: FieldErrors }) {
  const errors = [props.errors?.[props.name] ?? []].flat();
  return (
    <fieldset class="choice" data-choice={props.name}>
      <legend>
        {keyLabel(props.name)} <code class="ini">{iniName(props.name)}</code>
      </legend>
      {CHOICES[props.name].map(([value, label, help]) => (
        <label key={value} class="option">
          <input type="radio" name={props.name} value={value} checked={props.value === value} />
          <span>
            <strong>{label}</strong> <small>{help}</small>
          </span>
        </label>
      ))}
      {errors.length ? <ul class="errors" role="alert">{errors.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </fieldset>
  );
}

/** One page of the guide. */
export function GuidePage(
  props: PageFrame & {
    step: GuideStep;
    values: ReadonlyMap<string, string>;
    errors?: FieldErrors;
    checks?: readonly KillPowerResult[];
  },
) {
  const { step } = props;
  const index = GUIDE_STEPS.indexOf(step);
  const next = GUIDE_STEPS[index + 1];
  const back = GUIDE_STEPS[index - 1];
  const value = (k: string) => props.values.get(k) ?? keyDef(k)?.default ?? "";
  return (
    <Layout {...props}>
      <ol class="guide-steps" aria-label="Steps">
        {GUIDE_STEPS.map((s, i) => (
          <li key={s.slug} class={i < index ? "done" : i === index ? "current" : ""}>
            {i < index ? <a href={`/guide/${s.slug}`}>{s.title}</a> : s.title}
          </li>
        ))}
      </ol>
      {index === 0
        ? (
          <p class="banner warn" data-client-list>
            With a real card, this host may have to be added to the card's PowerChute Network Shutdown client
            list by hand (in the card's web UI) before the card sends it status packets; registration does it
            for cards that allow it.
          </p>
        )
        : null}
      <p class="intro">{step.intro}</p>
      {step.keys.length
        ? (
          <CsrfForm action={`/guide/${step.slug}`} csrf={props.csrf!} class="card settings">
            {step.keys.filter((k) => keyDef(k)).map((k) =>
              CHOICES[k]
                ? <Choice key={k} name={k} value={value(k)} errors={props.errors} />
                : <ConfigField key={k} name={k} value={value(k)} errors={props.errors} />
            )}
            <div class="actions">
              {back ? <a href={`/guide/${back.slug}`} class="back">Back</a> : null}{" "}
              <button type="submit">{next ? "Save and continue" : "Save and finish"}</button>
            </div>
          </CsrfForm>
        )
        : (
          <div class="card">
            <CsrfForm action={`/guide/${step.slug}`} csrf={props.csrf!}>
              <button type="submit">Check details</button>
            </CsrfForm>
            {props.checks ? <CheckResults checks={props.checks} /> : null}
            <div class="actions">
              {back ? <a href={`/guide/${back.slug}`} class="back">Back</a> : null}{" "}
              <a href={`/guide/${next!.slug}`} class="button">Continue</a>
            </div>
          </div>
        )}
    </Layout>
  );
}
