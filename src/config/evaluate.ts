/**
 * Turns the text of pcnsconfig.ini (plus the backup copy) into checked values,
 * a typed {@link AgentConfig} and a list of problems, without any I/O.
 *
 * Two modes:
 * - lenient (start): an invalid value falls back to the backup's value, else the
 *   schema default, with a warning; a required key with no usable value is an error;
 * - strict (hot reload, `config check`): every invalid value is an error, so the
 *   whole edit is rejected.
 *
 * A clear-text password is hashed (or, if it fails the policy, removed and
 * replaced by the previous hash); the text to write back is returned so the
 * clear text never stays on disk.
 *
 * @module
 */
import {
  checkPasswordPolicy,
  hashPassword,
  looksLikePasswordHash,
  passwordHashProblem,
} from "./credentials.ts";
import { indexIni, type IniDocument, parseIni, setIniValue, setIniValues, stringifyIni } from "./ini.ts";
import { type ConfigProblem, problem } from "./problems.ts";
import { scrubMessage, scrubStrayPasswords } from "./scrub.ts";
import { buildConfig } from "./build.ts";
import { MAX_CARDS } from "./keydefs.ts";
import {
  CONFIG_EVENT_IDS,
  type ConfigValues,
  displayValue,
  keyDef,
  SCHEMA,
  SECTIONS,
  suggestKey,
  suggestSection,
} from "./schema.ts";
import { buildEmailSettings, emailProblems } from "./schema_email.ts";
import { snmpCrossProblems } from "./schema_snmp.ts";
import { sshCrossProblems } from "./schema_ssh.ts";
import { setupCrossProblems } from "./schema_setups.ts";
import type { AgentConfig } from "./types.ts";

/** Inputs besides the file text. */
export interface EvaluateOptions {
  /** Path of the file, for messages. */
  readonly file: string;
  /** Path of the backup file, for messages. */
  readonly backupFile: string;
  /** Text of the backup file (null/undefined = none). */
  readonly backupText?: string | null;
  /** Strict (reload/check): invalid values are errors. Lenient (start): they fall back. */
  readonly strict: boolean;
  /** Running values (strict mode): what a rejected clear-text password is replaced with. */
  readonly previous?: ConfigValues;
  /** Password hasher (default {@link hashPassword}). */
  readonly hash?: (password: string) => string;
}

/** What the file means. */
export interface Evaluation {
  /** No errors: `config` is usable. */
  readonly ok: boolean;
  /** The typed configuration, when `ok`. */
  readonly config?: AgentConfig;
  /** Effective canonical value of every schema key (best effort when not `ok`). */
  readonly values: ConfigValues;
  /** Every problem, in the order found. */
  readonly problems: readonly ConfigProblem[];
  /** The file text to keep on disk (differs from the input only when a clear-text password was removed). */
  readonly text: string;
  /** Known-good copy for pcnsconfig_backup.ini: `text` with each replaced value written in. */
  readonly backupText: string;
  /** A clear-text password met the policy and was hashed. */
  readonly passwordFromClearText: boolean;
}

const PASSWORD = "NetworkManagementCard.password";
const USERNAME = "NetworkManagementCard.username";

function quote(name: string, value: string): string {
  const shown = displayValue(name, value);
  return shown === "***" ? shown : JSON.stringify(shown);
}

/** Checked, canonical values of the backup file (invalid or clear-text entries are left out). */
export function backupValues(backupText: string | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (backupText === null || backupText === undefined) return out;
  const index = indexIni(parseIni(backupText));
  for (const d of SCHEMA) {
    const entry = index.sections.get(d.section)?.get(d.key);
    if (entry && d.check(entry.value).length === 0) out.set(d.name, d.normalize(entry.value));
  }
  return out;
}

/** Evaluates file text; see the module documentation. */
export function evaluateConfig(text: string, options: EvaluateOptions): Evaluation {
  const { file, backupFile, strict } = options;
  const hash = options.hash ?? hashPassword;
  const doc = parseIni(text);
  const index = indexIni(doc);
  const backup = backupValues(options.backupText);
  const problems: ConfigProblem[] = [];
  const values = new Map<string, string>();
  const replacements: Array<[string, string, string]> = [];
  let out: IniDocument = doc;
  let passwordFromClearText = false;

  problems.push(...issueProblems(index, file));
  problems.push(...unknownNames(index, file));

  for (const d of SCHEMA) {
    if (d.name === PASSWORD || d.hashOnLoad) continue;
    const entry = index.sections.get(d.section)?.get(d.key);
    if (!entry) {
      if (!d.required) {
        values.set(d.name, d.default);
        continue;
      }
      const base = `missing required key ${d.name} (add "${d.key} = ..." to [${d.section}])`;
      const fallback = strict ? undefined : backup.get(d.name);
      if (fallback !== undefined) {
        problems.push(
          problem(
            "warning",
            file,
            index.sectionLines.get(d.section),
            `${base}; using ${quote(d.name, fallback)} from the backup ${backupFile}`,
            { key: d.name },
          ),
        );
        values.set(d.name, fallback);
        replacements.push([d.section, d.key, fallback]);
      } else {
        const why = strict ? "" : `; the backup ${backupFile} has no usable value either`;
        problems.push(problem("error", file, index.sectionLines.get(d.section), base + why, { key: d.name }));
        values.set(d.name, d.default);
      }
      continue;
    }
    const reasons = d.check(entry.value);
    if (reasons.length === 0) {
      values.set(d.name, d.normalize(entry.value));
      continue;
    }
    const shown = quote(d.name, entry.value);
    const base = `invalid value for ${d.name} = ${shown}: ${reasons.join("; ")}`;
    const extra = { key: d.name, value: displayValue(d.name, entry.value) };
    if (strict) {
      problems.push(problem("error", file, entry.line, base, extra));
      values.set(d.name, d.default);
      continue;
    }
    const fallback = backup.get(d.name);
    if (fallback !== undefined) {
      problems.push(
        problem(
          "warning",
          file,
          entry.line,
          `${base}; using ${quote(d.name, fallback)} from the backup ${backupFile}`,
          extra,
        ),
      );
      values.set(d.name, fallback);
      replacements.push([d.section, d.key, fallback]);
    } else if (d.required) {
      problems.push(
        problem(
          "error",
          file,
          entry.line,
          `${base}; the backup ${backupFile} has no usable value either`,
          extra,
        ),
      );
      values.set(d.name, d.default);
    } else {
      problems.push(
        problem("warning", file, entry.line, `${base}; using the default ${quote(d.name, d.default)}`, extra),
      );
      values.set(d.name, d.default);
      replacements.push([d.section, d.key, d.default]);
    }
  }

  // The password: empty, a hash, or clear text typed in to reset it.
  const pwEntry = index.sections.get("NetworkManagementCard")?.get("password");
  const pwPrevious = strict ? options.previous?.get(PASSWORD) ?? "" : backup.get(PASSWORD) ?? "";
  const pwRaw = pwEntry?.value ?? "";
  const hashProblem = looksLikePasswordHash(pwRaw) ? passwordHashProblem(pwRaw) : undefined;
  if (pwRaw === "" || (looksLikePasswordHash(pwRaw) && hashProblem === undefined)) {
    values.set(PASSWORD, pwRaw);
  } else if (hashProblem !== undefined) {
    const base = `invalid value for ${PASSWORD} = ***: ${hashProblem}`;
    if (strict) {
      problems.push(problem("error", file, pwEntry!.line, base, { key: PASSWORD, value: "***" }));
    } else {
      const what = pwPrevious ? `the previous password from the backup ${backupFile}` : "no password";
      problems.push(
        problem("warning", file, pwEntry!.line, `${base}; using ${what}`, { key: PASSWORD, value: "***" }),
      );
      replacements.push(["NetworkManagementCard", "password", pwPrevious]);
    }
    values.set(PASSWORD, pwPrevious);
  } else {
    const rules = checkPasswordPolicy(pwRaw, values.get(USERNAME) ?? "");
    if (rules.length === 0) {
      const hashed = hash(pwRaw);
      out = setIniValue(out, "NetworkManagementCard", "password", hashed);
      values.set(PASSWORD, hashed);
      passwordFromClearText = true;
    } else {
      out = setIniValue(out, "NetworkManagementCard", "password", pwPrevious);
      values.set(PASSWORD, pwPrevious);
      const kept = pwPrevious ? "the previous password is kept" : "no password is set";
      problems.push(problem(
        strict ? "error" : "warning",
        file,
        pwEntry!.line,
        `the clear-text ${PASSWORD} does not meet the password policy: ${rules.join("; ")}; ` +
          `it was removed from the file and ${kept}`,
        { key: PASSWORD, value: "***" },
      ));
    }
  }

  // Other passwords (`hashOnLoad`: [NUT] password_N): clear text is hashed on load as well.
  for (const d of SCHEMA) {
    if (!d.hashOnLoad) continue;
    const entry = index.sections.get(d.section)?.get(d.key);
    const raw = entry?.value ?? "";
    const rules = raw === "" || looksLikePasswordHash(raw) ? d.check(raw) : checkPasswordPolicy(raw, "");
    if (rules.length > 0) {
      const clear = !looksLikePasswordHash(raw);
      if (clear) out = setIniValue(out, d.section, d.key, "");
      problems.push(problem(
        strict ? "error" : "warning",
        file,
        entry?.line,
        clear
          ? `the clear-text ${d.name} does not meet the password policy: ${
            rules.join("; ")
          }; it was removed from the file`
          : `invalid value for ${d.name} = ***: ${rules.join("; ")}`,
        { key: d.name, value: "***" },
      ));
      values.set(d.name, "");
    } else if (raw === "" || looksLikePasswordHash(raw)) {
      values.set(d.name, raw);
    } else {
      const hashed = hash(raw);
      out = setIniValue(out, d.section, d.key, hashed);
      values.set(d.name, hashed);
    }
  }

  const scrubbed = scrubStrayPasswords(out);
  out = scrubbed.doc;
  for (const s of scrubbed.scrubbed) {
    problems.push(problem("warning", file, s.line, scrubMessage(s), { key: s.name, value: "***" }));
  }

  problems.push(...crossChecks(values, index, file));
  // SSH actions and advanced UPS setups: a fatal problem rejects an edit (strict); at start that section is
  // left out (buildSshActions, the setups' build) and the agent starts.
  const sectionProblems = [
    ...sshCrossProblems((name) => values.get(name)).map((p) => ({ p, what: "action" })),
    ...setupCrossProblems((name) => values.get(name)).map((p) => ({ p, what: "setup" })),
  ];
  for (const { p, what } of sectionProblems) {
    const [section, key] = p.key.split(".");
    const line = index.sections.get(section)?.get(key)?.line ?? index.sectionLines.get(section);
    const level = p.fatal && strict ? "error" : "warning";
    const message = p.fatal && !strict
      ? `${p.message}; the ${what} is disabled until this is fixed`
      : p.message;
    problems.push(problem(level, file, line, message, { key: p.key }));
  }
  const ok = !problems.some((p) => p.level === "error");
  return {
    ok,
    ...(ok ? { config: buildConfig(values) } : {}),
    values,
    problems,
    text: out === doc ? text : stringifyIni(out),
    backupText: stringifyIni(setIniValues(out, replacements)),
    passwordFromClearText,
  };
}

/** Most invalid lines reported one by one; the rest are counted in one warning (a binary file has thousands). */
export const MAX_LINE_WARNINGS = 20;

/** Warnings for the structural issues of the file, invalid lines capped at {@link MAX_LINE_WARNINGS}. */
function issueProblems(index: ReturnType<typeof indexIni>, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  let invalid = 0;
  for (const issue of index.issues) {
    if (issue.kind === "invalid-line" && ++invalid > MAX_LINE_WARNINGS) continue;
    problems.push(problem("warning", file, issue.line, issue.message, {
      ...(issue.section && issue.key ? { key: `${issue.section}.${issue.key}` } : {}),
    }));
  }
  if (invalid > MAX_LINE_WARNINGS) {
    problems.push(problem(
      "warning",
      file,
      undefined,
      `${invalid - MAX_LINE_WARNINGS} more lines that are not "[section]", "key = value" or comment lines ` +
        `(ignored; not listed)`,
    ));
  }
  return problems;
}

/** Warnings for unknown sections and unknown keys in known sections. */
function unknownNames(index: ReturnType<typeof indexIni>, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [section, keys] of index.sections) {
    if (!(SECTIONS as readonly string[]).includes(section)) {
      const hint = suggestSection(section);
      problems.push(problem(
        "warning",
        file,
        index.sectionLines.get(section),
        `unknown section [${section}] (not used by pcns-agent, ignored)${
          hint ? `; did you mean [${hint}]?` : ""
        }`,
      ));
      continue;
    }
    for (const [key, entry] of keys) {
      if (keyDef(`${section}.${key}`)) continue;
      const hint = suggestKey(section, key);
      problems.push(problem(
        "warning",
        file,
        entry.line,
        `unknown key ${section}.${key} (ignored)${hint ? `; did you mean ${hint}?` : ""}`,
        { key: `${section}.${key}` },
      ));
    }
  }
  return problems;
}

/** Warnings about combinations of values. */
function crossChecks(
  values: ConfigValues,
  index: ReturnType<typeof indexIni>,
  file: string,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const nmcLine = index.sectionLines.get("NetworkManagementCard");
  const cards = Array.from(
    { length: MAX_CARDS },
    (_, i) => values.get(`NetworkManagementCard.ip_${i + 1}`) ?? "",
  )
    .filter((v) => v !== "");
  const mode = values.get("NetworkManagementCard.mode");
  if (cards.length === 0) {
    problems.push(problem(
      "warning",
      file,
      nmcLine,
      "no NMC configured: set ip_1 (up to ip_9) in [NetworkManagementCard] to the address of the UPS's card",
    ));
  } else if ((mode === "redundant" || mode === "parallel") && cards.length < 2) {
    problems.push(
      problem("warning", file, nmcLine, `mode = ${mode} needs at least 2 NMC addresses, 1 is set`),
    );
  } else if (mode === "single" && cards.length > 1) {
    problems.push(problem(
      "warning",
      file,
      nmcLine,
      `mode = single but ${cards.length} NMC addresses are set; use mode = redundant or parallel`,
    ));
  }
  for (const id of CONFIG_EVENT_IDS) {
    const key = `event_${id}_enableCommandFile`;
    if (values.get(`Events.${key}`) === "true" && values.get(`Events.event_${id}_commandFilePath`) === "") {
      problems.push(problem(
        "warning",
        file,
        index.sections.get("Events")?.get(key)?.line,
        `Events.${key} = true but event_${id}_commandFilePath is empty: no command file will run`,
        { key: `Events.${key}` },
      ));
    }
  }
  for (const p of emailProblems(buildEmailSettings((name) => values.get(name) ?? ""))) {
    const line = index.sections.get("Email")?.get(p.key.slice("Email.".length))?.line;
    problems.push(
      problem("warning", file, line ?? index.sectionLines.get("Email"), p.message, { key: p.key }),
    );
  }
  for (const p of snmpCrossProblems((name) => values.get(name))) {
    const line = index.sections.get("SNMP")?.get(p.key.slice("SNMP.".length))?.line;
    const at = line ?? index.sectionLines.get("SNMP");
    problems.push(problem("warning", file, at, p.message, { key: p.key }));
  }
  return problems;
}

/** "unknown key X: did you mean Y?" for a `Section.key` name that is not in the schema. */
export function unknownKeyMessage(name: string): string {
  const dot = name.indexOf(".");
  if (dot <= 0) return `unknown key ${name}: keys are written Section.key, e.g. Networking.udpPort`;
  const section = name.slice(0, dot);
  const key = name.slice(dot + 1);
  if ((SECTIONS as readonly string[]).includes(section)) {
    const hint = suggestKey(section, key);
    return `unknown key ${name}: ${
      hint ? `did you mean ${section}.${hint}?` : `no such key in [${section}]`
    }`;
  }
  const hint = suggestSection(section);
  return `unknown key ${name}: ${hint ? `did you mean [${hint}]?` : `no section [${section}]`}`;
}

/** A set of checked changes ready to be written, or the problems that prevent it. */
export interface PreparedUpdates {
  /** `[section, key, canonical value]` per update (passwords already hashed). */
  readonly changes: ReadonlyArray<readonly [string, string, string]>;
  /** One error per bad update (empty = all good). */
  readonly problems: readonly ConfigProblem[];
}

/**
 * Checks `Section.key` -> value updates (as from `config set` or the web UI):
 * unknown keys and invalid values are errors; a clear-text password is checked
 * against the policy (with the new or current user name) and hashed.
 */
export function prepareUpdates(
  updates: Readonly<Record<string, string>>,
  current: ConfigValues,
  file: string,
  hash: (password: string) => string = hashPassword,
): PreparedUpdates {
  const problems: ConfigProblem[] = [];
  const changes: Array<[string, string, string]> = [];
  const username = (updates[USERNAME] ?? current.get(USERNAME) ?? "").trim();
  for (const [name, raw] of Object.entries(updates)) {
    const d = keyDef(name);
    if (!d) {
      problems.push(problem("error", file, undefined, unknownKeyMessage(name), { key: name }));
      continue;
    }
    const value = raw.trim();
    if (/[\r\n]/.test(value)) {
      problems.push(
        problem("error", file, undefined, `invalid value for ${name}: must be a single line`, { key: name }),
      );
      continue;
    }
    if ((name === PASSWORD || d.hashOnLoad) && value !== "" && !looksLikePasswordHash(value)) {
      const rules = checkPasswordPolicy(value, name === PASSWORD ? username : "");
      if (rules.length > 0) {
        problems.push(problem(
          "error",
          file,
          undefined,
          `${name} does not meet the password policy: ${rules.join("; ")}`,
          { key: name, value: "***" },
        ));
      } else {
        changes.push([d.section, d.key, hash(value)]);
      }
      continue;
    }
    const reasons = d.check(value);
    if (reasons.length > 0) {
      problems.push(problem(
        "error",
        file,
        undefined,
        `invalid value for ${name} = ${quote(name, value)}: ${reasons.join("; ")}`,
        { key: name, value: displayValue(name, value) },
      ));
    } else {
      changes.push([d.section, d.key, d.normalize(value)]);
    }
  }
  return { changes, problems };
}
