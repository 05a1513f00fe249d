/**
 * The building blocks of the pcnsconfig.ini schema, shared by `schema.ts` and every `schema_*.ts` section
 * module: the {@link KeyDef} shape, the key constructors ({@link def}, {@link intDef}, {@link boolDef},
 * {@link enumDef}) and the per-value checks and canonical forms (integers, booleans, enumerations, hosts,
 * address lists, paths, URLs, password hashes).
 *
 * Pure. No value imports from the schema modules (types only): `schema.ts` imports every section module
 * and builds its key list while loading, so a section module must not need `schema.ts`'s values; it takes
 * its helpers from here instead.
 *
 * @module
 */
import { looksLikePasswordHash, passwordHashProblem } from "./credentials.ts";
import { isHost, isIPv6 } from "./hosts.ts";
import type { SectionName } from "./schema.ts";

/** One key of the schema. */
export interface KeyDef {
  /** Section the key lives in. */
  readonly section: SectionName;
  /** Key name as written in the file (case-sensitive). */
  readonly key: string;
  /** `Section.key`, the name used by `config get/set` and in change lists. */
  readonly name: string;
  /** Type and allowed range, as shown in messages and the README. */
  readonly type: string;
  /** Default value (file text). */
  readonly default: string;
  /** One-line description. */
  readonly description: string;
  /** Must be present with a valid value (no schema default is used). */
  readonly required?: boolean;
  /** Masked as `***` wherever values are shown. */
  readonly secret?: boolean;
  /** Problems with a value (empty list = valid); the value is already trimmed. */
  readonly check: (value: string) => string[];
  /** Canonical file text of a valid value (e.g. `TRUE` -> `true`). */
  readonly normalize: (value: string) => string;
  /** How a non-secret value that may embed credentials is shown (default: as is). */
  readonly display?: (value: string) => string;
  /** The value written into a fresh file, when it differs from `default` (the value of an absent key). */
  readonly template?: string;
  /** A password: clear text typed in the file is hashed when the file is loaded (as the UI password). */
  readonly hashOnLoad?: boolean;
}

/**
 * One problem across the values of a numbered section (an SSH action, an advanced UPS setup): a `fatal` one
 * rejects an edit and, at start, leaves that section out (the agent still starts).
 */
export interface SectionProblem {
  /** `Section.key` the problem is reported on. */
  readonly key: string;
  /** What is wrong and what happens. */
  readonly message: string;
  /** The section cannot be used with it. */
  readonly fatal: boolean;
}

/** Number of `ip_N` keys. */
export const MAX_CARDS = 9;

// ---- value checks -------------------------------------------------------------------------------

/** A value check: the problems with a trimmed value (empty list = valid). */
export type Check = (value: string) => string[];

/** Any ASCII control character (C0 or DEL), never valid in a value. */
// deno-lint-ignore no-control-regex
export const CONTROL = /[\u0000-\u001f\u007f]/;

/** `check`, then (only when it passes) `more`: a narrower rule on top of a type check. */
export function thenCheck(check: Check, more: Check): Check {
  return (value) => {
    const problems = check(value);
    return problems.length > 0 ? problems : more(value);
  };
}

/**
 * A whole number `min`-`max` (or what `extra` accepts instead of the range), described as `range` in
 * messages (default `min-max`).
 */
export function integerCheck(
  min: number,
  max: number,
  extra?: (n: number) => boolean,
  range?: string,
): Check {
  const describe = range ?? `${min}-${max}`;
  return (value: string): string[] => {
    if (!/^\+?[0-9]+$/.test(value)) return [`must be a whole number (${describe})`];
    const n = Number(value);
    if (extra ? !extra(n) : n < min || n > max) return [`must be ${describe}`];
    return [];
  };
}

/** Canonical text of a whole number (`+007` -> `7`). */
export const normalizeInteger = (v: string): string => String(Number(v));

const TRUE_WORDS = ["true", "yes", "1"];
const FALSE_WORDS = ["false", "no", "0"];

/** true/false, yes/no or 1/0, any case. */
export function booleanCheck(value: string): string[] {
  const v = value.toLowerCase();
  return TRUE_WORDS.includes(v) || FALSE_WORDS.includes(v) ? [] : ["must be true or false"];
}

/** Canonical text of a boolean word: `true` or `false`. */
export const normalizeBoolean = (v: string): string => String(TRUE_WORDS.includes(v.toLowerCase()));

/** One of `values` (all lower case), any case. */
export function enumCheck(values: readonly string[]): Check {
  return (value: string): string[] =>
    values.includes(value.toLowerCase()) ? [] : [`must be one of ${values.join(", ")}`];
}

/** Canonical text of an enumeration word: lower case. */
export const normalizeEnum = (v: string): string => v.toLowerCase();

const HOST_RANGE = "an IPv4 address, an IPv6 address or a host name";

/** An IPv4 address, an IPv6 address or a host name (or empty, when `allowEmpty`). */
export function hostCheck(allowEmpty: boolean): Check {
  return (value: string): string[] => {
    if (value === "") return allowEmpty ? [] : [`must not be empty (${HOST_RANGE})`];
    return isHost(value) ? [] : [`must be ${HOST_RANGE}`];
  };
}

/** Splits a comma-separated address list ("" = empty list). */
export function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** A comma-separated list of hosts ("" = empty list). */
export function hostListCheck(value: string): string[] {
  const bad = splitList(value).filter((h) => !isHost(h));
  return bad.length > 0
    ? [`${bad.map((b) => JSON.stringify(b)).join(", ")}: must each be ${HOST_RANGE}`]
    : [];
}

/** Canonical text of a comma-separated list: trimmed items, no blanks, no empty items. */
export const normalizeList = (v: string): string => splitList(v).join(",");

/** An `ip_N` address or a NUT UPS name, naming the card served ("" = the first). */
export function cardRefCheck(value: string): string[] {
  return value === "" || isHost(value) || /^[A-Za-z0-9_.-]{1,32}$/.test(value)
    ? []
    : ["must be an ip_N address or a UPS name"];
}

/** True for an absolute path on Linux/macOS (`/...`) or Windows (`C:\...`, `\\server\...`). */
export function isAbsolutePath(value: string): boolean {
  return value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value) || value.startsWith("\\\\");
}

/** An absolute path without control characters ("" = none). */
export function absolutePathCheck(value: string): string[] {
  if (value === "") return [];
  if (CONTROL.test(value)) return ["must not contain control characters"];
  return isAbsolutePath(value) ? [] : ["must be an absolute path (or empty for none)"];
}

/** A command line: anything without control characters. */
export function commandCheck(value: string): string[] {
  return CONTROL.test(value) ? ["must not contain control characters"] : [];
}

/** A non-empty file name relative to the data directory, never reaching out of it with `..`. */
export function fileNameCheck(value: string): string[] {
  if (value === "") return ["must not be empty"];
  if (CONTROL.test(value)) return ["must not contain control characters"];
  return value.split(/[\\/]/).includes("..")
    ? ['must not contain ".." (it is relative to the data directory)']
    : [];
}

/** True for `host`, `host:port`, `[IPv6]`, `[IPv6]:port` or a bare IPv6 address. */
export function isHostPort(value: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(value);
  const portOk = (p: string | undefined) =>
    p === undefined || (/^[0-9]{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  if (bracketed) return isIPv6(bracketed[1]) && portOk(bracketed[2]);
  if (isIPv6(value)) return true;
  const colon = value.lastIndexOf(":");
  if (colon < 0) return isHost(value);
  return isHost(value.slice(0, colon)) && portOk(value.slice(colon + 1));
}

/** A syslog target: empty (off), `local` or `host[:port]`. */
export function syslogCheck(value: string): string[] {
  if (value === "" || value === "local" || isHostPort(value)) return [];
  return ['must be empty (off), "local" (/dev/log, the journal) or host[:port] for UDP'];
}

/** An http:// or https:// URL naming a host ("" = none). */
export function webhookUrlCheck(value: string): string[] {
  if (value === "") return [];
  if (/\s/.test(value) || CONTROL.test(value)) return ["must not contain blanks or control characters"];
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return ["must start with http:// or https://"];
    if (url.hostname === "") return ["must name a host"];
    return [];
  } catch {
    return ["must be an http:// or https:// URL"];
  }
}

/** A URL with any `user:password@` part masked, for display. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.username === "" && url.password === "") return value;
    url.username = "***";
    url.password = "";
    return url.toString();
  } catch {
    return value;
  }
}

/** A stored password: empty or a well-formed scrypt hash (clear text is hashed by the loader first). */
export function passwordCheck(value: string): string[] {
  // Clear text is handled by the loader (hashed or rejected); here only a stored value is judged.
  if (value === "") return [];
  if (looksLikePasswordHash(value)) {
    const problem = passwordHashProblem(value);
    return problem ? [problem] : [];
  }
  return ["must be a scrypt hash (a clear-text password is hashed when the file is loaded)"];
}

// ---- key constructors ---------------------------------------------------------------------------

/** A key as written in a section module: `name` is derived, `normalize` defaults to the value as is. */
export type Def = Omit<KeyDef, "name" | "normalize"> & { normalize?: (v: string) => string };

/** The full key of `d` (`name` = `Section.key`, `normalize` = identity unless given). */
export function def(d: Def): KeyDef {
  return { ...d, name: `${d.section}.${d.key}`, normalize: d.normalize ?? ((v) => v) };
}

/** A whole-number key `min`-`max`. */
export function intDef(
  section: SectionName,
  key: string,
  dflt: number,
  min: number,
  max: number,
  description: string,
): KeyDef {
  return def({
    section,
    key,
    type: `integer ${min}-${max}`,
    default: String(dflt),
    description,
    check: integerCheck(min, max),
    normalize: normalizeInteger,
  });
}

/** A boolean key (true/false, yes/no, 1/0; written back as true/false). */
export function boolDef(section: SectionName, key: string, dflt: boolean, description: string): KeyDef {
  return def({
    section,
    key,
    type: "boolean",
    default: String(dflt),
    description,
    check: booleanCheck,
    normalize: normalizeBoolean,
  });
}

/** A key taking one of `values` (lower-case words, accepted in any case, written back in lower case). */
export function enumDef(
  section: SectionName,
  key: string,
  values: readonly string[],
  dflt: string,
  description: string,
): KeyDef {
  return def({
    section,
    key,
    type: values.join("|"),
    default: dflt,
    description,
    check: enumCheck(values),
    normalize: normalizeEnum,
  });
}
