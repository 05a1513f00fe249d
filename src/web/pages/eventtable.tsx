/**
 * The event actions as one compact table, as PowerChute shows them: a row per
 * event with its human name and a switch per action it supports (log, notify,
 * command file, shutdown), and a details panel (no script needed) for the
 * delays and the command file path. The properties come from the schema's
 * EVENT_PROPERTIES, so a property added there shows up in the panel.
 *
 * @module
 */
import { commandEditsAllowed, isCommandKey } from "../../config/remote.ts";
import { CONFIG_EVENT_IDS, EVENT_PROPERTIES, keyDef } from "../../config/schema.ts";
import { type EventId, SHUTDOWN_ROLES } from "../../events/types.ts";
import { eventName, eventPropertyLabel } from "../labels.ts";
import { ConfigField, type FieldErrors } from "./layout.tsx";

type Values = ReadonlyMap<string, string>;

/** The switches shown as columns, in order. */
export const EVENT_SWITCHES = ["enableLogging", "enableNotification", "enableCommandFile", "enableShutdown"];

/** Groups of the table, in order; events not listed go to "Other". */
const GROUPS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["Utility power", ["PowerFailed", "PowerRestored", "Overload", "OverloadCleared", "UpsTurnOffInitiated"]],
  [
    "Battery",
    [
      "LowBattery",
      "LowBatteryCleared",
      "BatteryLowOnLine",
      "BatteryLowOnLineCleared",
      "BatteryDischarged",
      "BatteryChargeInRange",
      "ReplaceBattery",
      "BatteryDisconnected",
      "BatteryConnected",
    ],
  ],
  [
    "Runtime",
    ["RuntimeBelowThreshold", "RuntimeAboveThreshold", "RuntimeExceeded", "RuntimeSufficient"],
  ],
  ["Communication", ["CommunicationLost", "CommunicationEstablished"]],
  [
    "Shutdown and self-test",
    ["MultipleCriticalEvents", "ShutdownStarting", "ShutdownCancelled", "SelfTestStarted", "SelfTestEnded"],
  ],
];

/** The table's groups with the configurable events each holds (every event exactly once). */
export function eventGroups(ids: readonly string[] = CONFIG_EVENT_IDS): [string, string[]][] {
  const placed = new Set<string>();
  const out: [string, string[]][] = [];
  for (const [title, members] of GROUPS) {
    const here = members.filter((id) => ids.includes(id));
    here.forEach((id) => placed.add(id));
    if (here.length) out.push([title, here]);
  }
  const rest = ids.filter((id) => !placed.has(id));
  if (rest.length) out.push(["Other", rest]);
  return out;
}

/** How an event's shutdown column reads: a switch, always on, fixed, or not supported. */
export function shutdownSupport(id: string): "switch" | "always" | "fixed" | "none" {
  const role = SHUTDOWN_ROLES[id as EventId];
  return role === "optional" ? "switch" : role ?? "none";
}

const key = (id: string, prop: string) => `Events.event_${id}_${prop}`;

/** The properties in an event's details panel (everything but the switches, minus what it does not use). */
export function panelProperties(id: string): string[] {
  const support = shutdownSupport(id);
  return EVENT_PROPERTIES.map((p) => p.prop as string).filter((prop) =>
    !EVENT_SWITCHES.includes(prop) &&
    !(prop === "shutdownDelay" && (support === "none" || support === "fixed")) &&
    keyDef(key(id, prop)) !== undefined
  );
}

function SwitchCell(props: { id: string; prop: string; values: Values; errors?: FieldErrors }) {
  const { id, prop } = props;
  const name = key(id, prop);
  const label = `${eventName(id)}: ${eventPropertyLabel(prop).toLowerCase()}`;
  const column = eventPropertyLabel(prop);
  const on = (props.values.get(name) ?? keyDef(name)?.default) === "true";
  if (prop === "enableShutdown") {
    const support = shutdownSupport(id);
    if (support === "always") {
      return (
        <div
          role="cell"
          class="sw fixed"
          data-col={prop}
          title={`${eventName(id)} always shuts the host down (as in PCNS); it cannot be disabled`}
        >
          <span class="cell-label">{column}</span> <span aria-label={`${label}: always`}>always</span>
        </div>
      );
    }
    if (support === "fixed") {
      return (
        <div
          role="cell"
          class="sw fixed"
          data-col={prop}
          title={`${eventName(id)} always shuts the host down after a fixed 10 s (as in PCNS)`}
        >
          <span class="cell-label">{column}</span> <span aria-label={`${label}: after 10 s`}>10 s</span>
        </div>
      );
    }
    if (support === "none") {
      return (
        <div role="cell" class="sw none" data-col={prop}>
          <span class="cell-label">{column}</span>{" "}
          <span aria-label={`${label}: not supported`} title={`${eventName(id)} cannot shut the host down`}>
            -
          </span>
        </div>
      );
    }
  }
  if (isCommandKey(name) && !commandEditsAllowed(props.values)) {
    return (
      <div role="cell" class="sw fixed" data-col={prop} data-locked={name}>
        <span class="cell-label">{column}</span>{" "}
        <span title="editable only in pcnsconfig.ini ([WebUI] allowCommandEdits = false)">
          {on ? "on" : "off"} (locked)
        </span>
      </div>
    );
  }
  const errors = [props.errors?.[name] ?? []].flat();
  return (
    <div role="cell" class={errors.length ? "sw invalid" : "sw"} data-col={prop}>
      <label>
        <span class="cell-label">{column}</span>
        <input type="hidden" name={name} value="false" />
        <input type="checkbox" name={name} value="true" checked={on} aria-label={label} />
      </label>
      {errors.length ? <span class="errors" role="alert">{errors.join("; ")}</span> : null}
    </div>
  );
}

function LockedValue(props: { name: string; value: string; errors?: FieldErrors }) {
  const errors = [props.errors?.[props.name] ?? []].flat();
  return (
    <div class={errors.length ? "field fixed invalid" : "field fixed"} data-locked={props.name}>
      <span class="label">{eventPropertyLabel(props.name.split("_").at(-1) ?? "")}</span>
      <code>{props.value === "" ? "(empty)" : props.value}</code>
      <small>
        editable only in pcnsconfig.ini ([WebUI] allowCommandEdits = false): it names a command the agent runs
      </small>
      {errors.length ? <ul class="errors" role="alert">{errors.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </div>
  );
}

function EventRow(props: { id: string; values: Values; errors?: FieldErrors }) {
  const { id, values } = props;
  const panel = panelProperties(id);
  const hasError = [...EVENT_SWITCHES, ...panel].some((p) => props.errors?.[key(id, p)] !== undefined);
  return (
    <div role="row" class="ev" data-event={id}>
      <div role="rowheader" class="name">
        <span class="event-name">{eventName(id)}</span> <code class="ini">{id}</code>
      </div>
      {EVENT_SWITCHES.map((prop) => (
        <SwitchCell key={prop} id={id} prop={prop} values={values} errors={props.errors} />
      ))}
      <div role="cell" class="more">
        <details open={hasError || undefined}>
          <summary>
            Delays and paths<span class="visually-hidden">: {eventName(id)}</span>
          </summary>
          <div class="panel">
            {panel.map((prop) => {
              const name = key(id, prop);
              const value = values.get(name) ?? keyDef(name)?.default ?? "";
              return isCommandKey(name) && !commandEditsAllowed(values)
                ? <LockedValue key={name} name={name} value={value} errors={props.errors} />
                : (
                  <ConfigField
                    key={name}
                    name={name}
                    value={value}
                    errors={props.errors}
                    label={eventPropertyLabel(prop)}
                    class="compact"
                  />
                );
            })}
          </div>
        </details>
      </div>
    </div>
  );
}

/** The event table (inside the Event actions form). */
export function EventTable(props: { values: Values; errors?: FieldErrors }) {
  return (
    <div role="table" class="event-table" aria-label="Event actions">
      <div role="row" class="ev head">
        <div role="columnheader" class="name">Event</div>
        {EVENT_SWITCHES.map((p) => <div key={p} role="columnheader" class="sw">{eventPropertyLabel(p)}</div>)}
        <div role="columnheader" class="more">Details</div>
      </div>
      {eventGroups().map(([title, ids]) => (
        <div role="rowgroup" class="ev-group" key={title}>
          <div role="row" class="ev group">
            <div role="cell" class="group-title">{title}</div>
          </div>
          {ids.map((id) => <EventRow key={id} id={id} values={props.values} errors={props.errors} />)}
        </div>
      ))}
    </div>
  );
}
