/**
 * A small line-preserving INI reader/writer for pcnsconfig.ini.
 *
 * Every line is kept as raw text plus its parsed meaning, so a read-change-write
 * round trip keeps every untouched line, comment, blank line, the BOM and each
 * line's own line ending byte for byte. Rules:
 *
 * - `[Section]` headers; `key = value` lines where the value is everything after
 *   the FIRST `=`, trimmed (so `ab=c;d#e` and `YWJj==` are kept verbatim);
 * - whole-line comments start with `;` or `#` (after optional blanks); there is
 *   no inline comment stripping;
 * - duplicate keys and sections: the first value wins (as PCNS does), later
 *   ones are reported;
 * - messages never quote a line that mentions a secret (see secrets.ts).
 *
 * All functions are pure; documents are immutable values.
 *
 * @module
 */
import { quoteLine } from "./secrets.ts";

/** What one line of the file is. */
export type IniLineKind = "blank" | "comment" | "section" | "entry" | "invalid";

/** One physical line: its raw text (without the line ending) and what it means. */
export interface IniLine {
  /** The raw text, without the line ending. */
  readonly raw: string;
  /** The line ending that followed it: "\r\n", "\n", "\r" or "" (last line without one). */
  readonly eol: string;
  /** What the line is. */
  readonly kind: IniLineKind;
  /** Section name for `section` lines. */
  readonly section?: string;
  /** Key for `entry` lines (text before the first `=`, trimmed). */
  readonly key?: string;
  /** Value for `entry` lines (text after the first `=`, trimmed). */
  readonly value?: string;
}

/** A parsed file. */
export interface IniDocument {
  /** The file started with a UTF-8 byte order mark. */
  readonly bom: boolean;
  /** The lines, in order. */
  readonly lines: readonly IniLine[];
  /** Line ending used for lines this module adds (the file's first line ending, else "\n"). */
  readonly eol: string;
}

/** One key's effective value and where it is. */
export interface IniEntry {
  /** Effective (first) value. */
  readonly value: string;
  /** 1-based line number of the effective value. */
  readonly line: number;
}

/** A structural problem found while reading (never fatal). */
export interface IniIssue {
  /** 1-based line number. */
  readonly line: number;
  /** What kind of problem. */
  readonly kind: "duplicate-section" | "duplicate-key" | "outside-section" | "invalid-line";
  /** Section concerned, if any. */
  readonly section?: string;
  /** Key concerned, if any. */
  readonly key?: string;
  /** Human-readable description (without file name and line). */
  readonly message: string;
}

/** Sections and their keys with first-wins values, plus structural issues. */
export interface IniIndex {
  /** Section name -> key -> effective entry. Duplicate sections are merged (first value wins). */
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, IniEntry>>;
  /** Line number of each section's first header. */
  readonly sectionLines: ReadonlyMap<string, number>;
  /** Structural issues, in line order. */
  readonly issues: readonly IniIssue[];
}

const BOM = "\uFEFF";

/** Classifies one raw line (without its line ending). */
export function parseLine(raw: string, eol: string): IniLine {
  const text = raw.trim();
  if (text === "") return { raw, eol, kind: "blank" };
  if (text.startsWith(";") || text.startsWith("#")) return { raw, eol, kind: "comment" };
  if (text.startsWith("[") && text.endsWith("]")) {
    return { raw, eol, kind: "section", section: text.slice(1, -1).trim() };
  }
  const eq = raw.indexOf("=");
  if (eq > 0 && raw.slice(0, eq).trim() !== "") {
    return { raw, eol, kind: "entry", key: raw.slice(0, eq).trim(), value: raw.slice(eq + 1).trim() };
  }
  return { raw, eol, kind: "invalid" };
}

/** Parses file text (a leading BOM is recorded, not part of the first line). */
export function parseIni(text: string): IniDocument {
  const bom = text.startsWith(BOM);
  const body = bom ? text.slice(1) : text;
  const lines: IniLine[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  let eol: string | undefined;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    lines.push(parseLine(body.slice(start, m.index), m[0]));
    eol ??= m[0];
    start = m.index + m[0].length;
  }
  if (start < body.length) lines.push(parseLine(body.slice(start), ""));
  return { bom, lines, eol: eol ?? "\n" };
}

/** Turns a document back into text; an unchanged document gives back the exact input. */
export function stringifyIni(doc: IniDocument): string {
  let out = doc.bom ? BOM : "";
  for (const line of doc.lines) out += line.raw + line.eol;
  return out;
}

/** Builds the section/key index (first value wins) and lists structural issues. */
export function indexIni(doc: IniDocument): IniIndex {
  const sections = new Map<string, Map<string, IniEntry>>();
  const sectionLines = new Map<string, number>();
  const issues: IniIssue[] = [];
  let current: string | undefined;
  doc.lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.kind === "section") {
      const name = line.section!;
      current = name;
      if (sections.has(name)) {
        issues.push({
          line: lineNo,
          kind: "duplicate-section",
          section: name,
          message: `duplicate section [${name}] (first defined on line ${sectionLines.get(name)}); ` +
            `its keys are merged, earlier values win`,
        });
      } else {
        sections.set(name, new Map());
        sectionLines.set(name, lineNo);
      }
    } else if (line.kind === "entry") {
      const key = line.key!;
      if (current === undefined) {
        issues.push({
          line: lineNo,
          kind: "outside-section",
          key,
          message: `"${key}" is outside any section (ignored)`,
        });
        return;
      }
      const keys = sections.get(current)!;
      const first = keys.get(key);
      if (first) {
        issues.push({
          line: lineNo,
          kind: "duplicate-key",
          section: current,
          key,
          message: `duplicate key ${current}.${key} (first defined on line ${first.line}); ` +
            `the first value is used, this one is ignored`,
        });
      } else {
        keys.set(key, { value: line.value!, line: lineNo });
      }
    } else if (line.kind === "invalid") {
      issues.push({
        line: lineNo,
        kind: "invalid-line",
        ...(current !== undefined ? { section: current } : {}),
        message: `not a "[section]", "key = value" or comment line (ignored): ${quoteLine(line.raw)}`,
      });
    }
  });
  return { sections, sectionLines, issues };
}

/** The effective (first) entry of `section.key`, if any. */
export function getIniEntry(doc: IniDocument, section: string, key: string): IniEntry | undefined {
  return indexIni(doc).sections.get(section)?.get(key);
}

/** Returns `line` with its value part replaced, keeping the `key = ` prefix and any trailing blanks. */
export function replaceValue(line: IniLine, value: string): IniLine {
  const eq = line.raw.indexOf("=");
  const afterEq = line.raw.slice(eq + 1);
  const lead = afterEq.length - afterEq.trimStart().length;
  const trimmedEnd = line.raw.trimEnd().length;
  let raw: string;
  if (value === "") {
    raw = line.raw.slice(0, eq + 1); // `key =`: no dangling blanks
  } else if (line.value === "") {
    // `key =` or `key=`: mirror the blank before `=` (if any) after it.
    const spaced = eq > 0 && /\s/.test(line.raw[eq - 1]);
    raw = line.raw.slice(0, eq + 1) + (value !== "" && spaced ? " " : "") + value +
      line.raw.slice(trimmedEnd);
  } else {
    raw = line.raw.slice(0, eq + 1 + lead) + value + line.raw.slice(trimmedEnd);
  }
  return parseLine(raw, line.eol);
}

function assertSingleLine(what: string, text: string): void {
  if (/[\r\n]/.test(text)) throw new RangeError(`${what} must not contain a line break`);
}

/**
 * Sets `section.key` to `value`: replaces the value part of the first occurrence,
 * else adds `key = value` after the section's last non-blank line, else adds the
 * section at the end of the file. Returns a new document.
 */
export function setIniValue(doc: IniDocument, section: string, key: string, value: string): IniDocument {
  assertSingleLine("a value", value);
  assertSingleLine("a key", key);
  assertSingleLine("a section name", section);
  const lines = [...doc.lines];
  const region = sectionRegion(lines, section);
  if (region) {
    for (let i = region.start + 1; i < region.end; i++) {
      if (lines[i].kind === "entry" && lines[i].key === key) {
        lines[i] = replaceValue(lines[i], value);
        return { ...doc, lines };
      }
    }
    const after = insertionPoint(lines, region);
    insertLines(lines, after, [`${key} = ${value}`], doc.eol);
    return { ...doc, lines };
  }
  const added: string[] = [];
  if (lines.length > 0 && lines[lines.length - 1].kind !== "blank") added.push("");
  added.push(`[${section}]`, `${key} = ${value}`);
  insertLines(lines, lines.length - 1, added, doc.eol);
  return { ...doc, lines };
}

/** Index range [start, end) of the first `[section]`: start is the header line. */
function sectionRegion(
  lines: readonly IniLine[],
  section: string,
): { start: number; end: number } | undefined {
  const start = lines.findIndex((l) => l.kind === "section" && l.section === section);
  if (start < 0) return undefined;
  let end = start + 1;
  while (end < lines.length && lines[end].kind !== "section") end++;
  return { start, end };
}

/**
 * Index of the line after which a new key goes: the section's last non-blank
 * line; a trailing comment block separated by a blank line from the section's
 * content, right before the next header, is taken to describe the next section
 * and is skipped.
 */
function insertionPoint(lines: readonly IniLine[], region: { start: number; end: number }): number {
  let last = region.end - 1;
  while (last > region.start && lines[last].kind === "blank") last--;
  if (region.end < lines.length && lines[last].kind === "comment") {
    let first = last;
    while (first - 1 > region.start && lines[first - 1].kind === "comment") first--;
    if (first - 1 > region.start && lines[first - 1].kind === "blank") {
      let before = first - 1;
      while (before > region.start && lines[before].kind === "blank") before--;
      return before;
    }
  }
  return last;
}

/** Inserts raw lines after index `after` (-1 = at the top); a missing final line ending stays missing. */
function insertLines(lines: IniLine[], after: number, raws: readonly string[], eol: string): void {
  const bare = after >= 0 && lines[after].eol === "";
  if (bare) lines[after] = { ...lines[after], eol };
  const added = raws.map((raw, i) => parseLine(raw, bare && i === raws.length - 1 ? "" : eol));
  lines.splice(after + 1, 0, ...added);
}

/** Applies several `[section, key, value]` changes in order with {@link setIniValue}. */
export function setIniValues(
  doc: IniDocument,
  values: Iterable<readonly [section: string, key: string, value: string]>,
): IniDocument {
  let out = doc;
  for (const [section, key, value] of values) out = setIniValue(out, section, key, value);
  return out;
}
