/**
 * Removes clear-text passwords from the lines of pcnsconfig.ini that pcns-agent does not read: a second
 * `password` line, a password-like key in any case (`Password`, `PASSWORD`, `passwd`, `smtpPass`), under
 * another section or before the first one, and `password: X` lines. The key stays, its value goes; a
 * value that is already a scrypt hash is not clear text and stays. The effective
 * `[NetworkManagementCard] password` is handled by the evaluator (hashed or refused), and schema keys are
 * never touched. Pure.
 *
 * @module
 */
import { looksLikePasswordHash } from "./credentials.ts";
import { type IniDocument, parseLine, replaceValue } from "./ini.ts";
import { keyDef } from "./schema.ts";
import { blankLooseLine, isPasswordLikeKey } from "./secrets.ts";

/** One value removed by {@link scrubStrayPasswords}. */
export interface ScrubbedLine {
  /** 1-based line number. */
  readonly line: number;
  /** `Section.key` (or the bare key before the first section). */
  readonly name: string;
  /** Why the line was not read: a second copy of the password, a key not read, or a line that is not `key = value`. */
  readonly kind: "duplicate-password" | "not-read" | "invalid-line";
}

/** Blanks the clear-text values of password-like keys pcns-agent ignores; returns the new document and what changed. */
export function scrubStrayPasswords(doc: IniDocument): { doc: IniDocument; scrubbed: ScrubbedLine[] } {
  const lines = [...doc.lines];
  const scrubbed: ScrubbedLine[] = [];
  const seen = new Set<string>();
  let section: string | undefined;
  lines.forEach((line, i) => {
    if (line.kind === "section") {
      section = line.section;
      return;
    }
    if (line.kind === "invalid") {
      const blanked = blankLooseLine(line.raw);
      if (blanked === undefined) return;
      lines[i] = parseLine(blanked, line.eol);
      scrubbed.push({ line: i + 1, name: blanked.trim(), kind: "invalid-line" });
      return;
    }
    if (line.kind !== "entry") return;
    const key = line.key!;
    const name = section === undefined ? key : `${section}.${key}`;
    const read = section !== undefined && keyDef(name) !== undefined && !seen.has(name);
    if (section !== undefined) seen.add(name);
    if (read || !isPasswordLikeKey(key)) return;
    const value = line.value ?? "";
    if (value === "" || looksLikePasswordHash(value)) return;
    lines[i] = replaceValue(line, "");
    const kind = name === "NetworkManagementCard.password" ? "duplicate-password" : "not-read";
    scrubbed.push({ line: i + 1, name, kind });
  });
  return scrubbed.length > 0 ? { doc: { ...doc, lines }, scrubbed } : { doc, scrubbed };
}

/** The warning for one removed value (never the value itself). */
export function scrubMessage(s: ScrubbedLine): string {
  switch (s.kind) {
    case "duplicate-password":
      return `a second ${s.name} in clear text was ignored (the first one counts) and removed from the file`;
    case "invalid-line":
      return `the line "${s.name} ..." looks like a password in clear text but is not a "key = value" line; ` +
        `its value was removed from the file`;
    default:
      return `${s.name} looks like a password but is not a key pcns-agent reads: its clear text was removed ` +
        `from the file`;
  }
}
