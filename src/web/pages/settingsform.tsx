/**
 * The generic, schema-driven settings form: every key of a page's sections
 * as a labelled row (human label, help, ini name as a small hint), numbered
 * keys (`ip_1` ... `ip_9`, `user_N`/`password_N`) folded into one compact
 * table with the unused rows behind a details panel, and the keys the web UI
 * may not change shown read-only.
 *
 * @module
 */
import { ALLOW_COMMAND_EDITS, commandEditsAllowed, isCommandKey } from "../../config/remote.ts";
import { keyDef } from "../../config/schema.ts";
import { groupTitle, iniName, keyLabel, sectionTitle } from "../labels.ts";
import { ConfigField, type FieldErrors, keyHelp } from "./layout.tsx";
import type { SettingsPageDef } from "./settings_registry.ts";

type Values = ReadonlyMap<string, string>;

/** A row of the form: one key, or a numbered group (`base` names with numbers 1..n). */
export type FormItem =
  | { readonly kind: "key"; readonly name: string }
  | {
    readonly kind: "group";
    readonly section: string;
    readonly bases: readonly string[];
    readonly numbers: readonly number[];
  };

/**
 * Splits keys into single keys and numbered groups: a base with two or more numbered keys
 * (`ip_1`, `ip_2`) is a group, and bases of one section with the same numbers share it
 * (`user_N` with `password_N`). A group stands where its first key stood; `first` moves items ahead.
 */
export function formItems(names: readonly string[], first: readonly string[] = []): FormItem[] {
  const parse = (name: string) => {
    const [section, key = ""] = name.split(".", 2);
    const m = /^(.*)_(\d+)$/.exec(key);
    return m ? { section, base: m[1], n: Number(m[2]) } : undefined;
  };
  const numbersOf = new Map<string, number[]>();
  for (const name of names) {
    const p = parse(name);
    if (p) numbersOf.set(`${p.section}.${p.base}`, [...(numbersOf.get(`${p.section}.${p.base}`) ?? []), p.n]);
  }
  const groupOf = (section: string, base: string) => {
    const numbers = numbersOf.get(`${section}.${base}`)!;
    return `${section}:${numbers.join(",")}`;
  };
  const groups = new Map<string, { section: string; bases: string[]; numbers: number[] }>();
  const items: (FormItem | string)[] = [];
  for (const name of names) {
    const p = parse(name);
    if (!p || numbersOf.get(`${p.section}.${p.base}`)!.length < 2) {
      items.push({ kind: "key", name });
      continue;
    }
    const id = groupOf(p.section, p.base);
    let group = groups.get(id);
    if (!group) {
      group = { section: p.section, bases: [], numbers: numbersOf.get(`${p.section}.${p.base}`)! };
      groups.set(id, group);
      items.push(id);
    }
    if (!group.bases.includes(p.base)) group.bases.push(p.base);
  }
  const out = items.map((i): FormItem => {
    if (typeof i !== "string") return i;
    const g = groups.get(i)!;
    return {
      kind: "group",
      section: g.section,
      bases: g.bases,
      numbers: [...g.numbers].sort((a, b) => a - b),
    };
  });
  const firstKey = (item: FormItem) =>
    item.kind === "key" ? item.name : `${item.section}.${item.bases[0]}_${item.numbers[0]}`;
  const rank = (item: FormItem) => {
    const i = first.indexOf(firstKey(item));
    return i < 0 ? first.length : i;
  };
  return out.map((item, i) => ({ item, i })).sort((a, b) => rank(a.item) - rank(b.item) || a.i - b.i)
    .map((x) => x.item);
}

/** True when the web UI may not change `name` (the command-edits switch itself; command keys when locked). */
export function isLockedKey(values: Values, name: string): boolean {
  return name === ALLOW_COMMAND_EDITS || (isCommandKey(name) && !commandEditsAllowed(values));
}

/** A key shown read-only: no input, so the form never submits it; a refused change's error is shown. */
export function LockedField(props: { name: string; value: string; errors?: FieldErrors }) {
  const errors = [props.errors?.[props.name] ?? []].flat();
  const why = props.name === ALLOW_COMMAND_EDITS
    ? "editable only in pcnsconfig.ini: it decides what the web UI and the API may change"
    : "editable only in pcnsconfig.ini ([WebUI] allowCommandEdits = false): it names a command the agent runs";
  return (
    <div
      class={errors.length ? "field setting fixed invalid" : "field setting fixed"}
      data-locked={props.name}
    >
      <span class="label">{keyLabel(props.name)}</span>
      <code>{props.value === "" ? "(empty)" : props.value}</code>
      <small>
        {why}
        <code class="ini">{iniName(props.name)}</code>
      </small>
      {errors.length ? <ul class="errors" role="alert">{errors.map((m) => <li key={m}>{m}</li>)}</ul> : null}
    </div>
  );
}

const valueOf = (values: Values, name: string) => values.get(name) ?? keyDef(name)?.default ?? "";

function KeyRow(props: { name: string; values: Values; errors?: FieldErrors }) {
  const value = valueOf(props.values, props.name);
  return isLockedKey(props.values, props.name)
    ? <LockedField name={props.name} value={value} errors={props.errors} />
    : <ConfigField name={props.name} value={value} errors={props.errors} />;
}

/** A numbered group as a table: one row per number; unused rows after the first free one folded away. */
function GroupTable(
  props: {
    section: string;
    bases: readonly string[];
    numbers: readonly number[];
    values: Values;
    errors?: FieldErrors;
  },
) {
  const name = (base: string, n: number) => `${props.section}.${base}_${n}`;
  const used = (n: number) =>
    props.bases.some((b) => valueOf(props.values, name(b, n)) !== "" || props.errors?.[name(b, n)]);
  const lastUsed = Math.max(0, ...props.numbers.filter(used));
  const shown = props.numbers.filter((n) => n <= lastUsed + 1);
  const folded = props.numbers.filter((n) => n > lastUsed + 1);
  const first = keyDef(name(props.bases[0], props.numbers[0]));
  const title = groupTitle(props.section, props.bases);
  const row = (n: number) => (
    <tr key={n} data-row={n}>
      <th scope="row">{n}</th>
      {props.bases.map((b) => {
        const key = name(b, n);
        if (!keyDef(key)) return <td key={key}></td>;
        return (
          <td key={key}>
            {isLockedKey(props.values, key)
              ? <LockedField name={key} value={valueOf(props.values, key)} errors={props.errors} />
              : (
                <ConfigField
                  name={key}
                  value={valueOf(props.values, key)}
                  errors={props.errors}
                  label={`${keyLabel(key)}`}
                  class="compact bare"
                  help={false}
                />
              )}
          </td>
        );
      })}
    </tr>
  );
  if (props.bases.length > 3) {
    // Many fields per number: one small card per number instead of a wide table.
    const record = (n: number) => (
      <fieldset class="record" key={n} data-row={n}>
        <legend>{n}</legend>
        {props.bases.map((b) => {
          const key = name(b, n);
          if (!keyDef(key)) return null;
          return isLockedKey(props.values, key)
            ? <LockedField key={key} name={key} value={valueOf(props.values, key)} errors={props.errors} />
            : (
              <ConfigField
                key={key}
                name={key}
                value={valueOf(props.values, key)}
                errors={props.errors}
                label={keyLabel(key).replace(/ \d+$/, "")}
                class="compact"
                help={false}
              />
            );
        })}
      </fieldset>
    );
    return (
      <div class="group-table records" data-group={`${props.section}.${props.bases[0]}`}>
        <p class="group-help">
          <strong>{title}</strong>
          {first ? <span class="muted">: {keyHelp(first)}</span> : null}
        </p>
        {shown.map(record)}
        {folded.length
          ? (
            <details class="more-rows">
              <summary>{folded.length} more unused</summary>
              {folded.map(record)}
            </details>
          )
          : null}
      </div>
    );
  }
  const head = (
    <tr>
      <th scope="col">#</th>
      {props.bases.map((b) => (
        <th scope="col" key={b}>{keyLabel(`${props.section}.${b}_1`).replace(/ 1$/, "")}</th>
      ))}
    </tr>
  );
  return (
    <div class="group-table" data-group={`${props.section}.${props.bases[0]}`}>
      <p class="group-help">
        <strong>{title}</strong>
        {first ? <span class="muted">: {keyHelp(first)}</span> : null}{" "}
        <code class="ini">
          {iniName(name(props.bases[0], props.numbers[0]))} ... _{props.numbers.at(-1)}
        </code>
      </p>
      <table class="numbered">
        <thead>{head}</thead>
        <tbody>{shown.map(row)}</tbody>
      </table>
      {folded.length
        ? (
          <details class="more-rows">
            <summary>{folded.length} more empty rows</summary>
            <table class="numbered">
              <tbody>{folded.map(row)}</tbody>
            </table>
          </details>
        )
        : null}
    </div>
  );
}

/** The fields of a settings page, section by section. */
export function SettingsFields(
  props: { page: SettingsPageDef; keys: readonly string[]; values: Values; errors?: FieldErrors },
) {
  const { page } = props;
  return (
    <>
      {page.sections.map((section) => {
        const names = props.keys.filter((k) => k.startsWith(`${section}.`));
        if (names.length === 0) return null;
        const body = formItems(names, page.first).map((item) =>
          item.kind === "key"
            ? <KeyRow key={item.name} name={item.name} values={props.values} errors={props.errors} />
            : (
              <GroupTable
                key={`${item.section}.${item.bases[0]}`}
                section={item.section}
                bases={item.bases}
                numbers={item.numbers}
                values={props.values}
                errors={props.errors}
              />
            )
        );
        return page.sections.length > 1
          ? (
            <fieldset key={section} data-section={section}>
              <legend>{sectionTitle(section)}</legend>
              {body}
            </fieldset>
          )
          : <div key={section} data-section={section}>{body}</div>;
      })}
    </>
  );
}
