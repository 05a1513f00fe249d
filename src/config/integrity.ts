/**
 * When is pcnsconfig.ini unreadable as a whole? Then falling back value by value would run the agent on
 * defaults ("no NMC configured"), so the start uses the backup as a whole instead, and a hot reload is
 * rejected. The file is unreadable as a whole when it
 *
 * 1. could not be read as a file: not a regular file, or larger than {@link MAX_CONFIG_BYTES};
 * 2. holds NUL bytes (a binary file, or UTF-16 text);
 * 3. is not text: more than 1 character in 16 is a control character or a byte sequence that is not UTF-8
 *    (one stray Latin-1 letter in a comment is not enough);
 * 4. is empty (or blanks only), or has only blank lines and comments;
 * 5. has more lines that are neither `[section]`, `key = value`, comment nor blank than lines that are;
 * 6. has no `[NetworkManagementCard]` section (every pcnsconfig.ini has one);
 * 7. was cut off: it ends in the middle of a line (no final line break) and lacks sections the backup has.
 *
 * Pure.
 *
 * @module
 */
import { parseIni } from "./ini.ts";

/** Largest pcnsconfig.ini read (a PCNS file is about 20 KiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

// deno-lint-ignore no-control-regex
const BAD_CHARACTER = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\ufffd]/g;

/**
 * Why the file is unreadable as a whole (rules above), or undefined when it is a configuration file.
 * `bytes` are the file's bytes, `text` their (lenient) UTF-8 decoding, `backupText` the backup's text.
 */
export function unreadableReason(
  bytes: Uint8Array,
  text: string,
  backupText: string | null,
): string | undefined {
  if (bytes.includes(0)) return "it holds NUL bytes (a binary file, or UTF-16 text)";
  const bad = text.match(BAD_CHARACTER)?.length ?? 0;
  if (bad * 16 > text.length) {
    return `it is not text (${bad} of its ${text.length} characters are control characters or not UTF-8)`;
  }
  if (text.replace(/^\uFEFF/, "").trim() === "") return "it is empty";
  const doc = parseIni(text);
  const meaningful = doc.lines.filter((l) => l.kind !== "blank" && l.kind !== "comment");
  if (meaningful.length === 0) return "it has no settings (only blank lines and comments)";
  const invalid = meaningful.filter((l) => l.kind === "invalid").length;
  if (invalid * 2 > meaningful.length) {
    return `${invalid} of its ${meaningful.length} lines are not [section] or key = value lines`;
  }
  const sections = new Set(doc.lines.filter((l) => l.kind === "section").map((l) => l.section!));
  if (!sections.has("NetworkManagementCard")) return "it has no [NetworkManagementCard] section";
  const last = doc.lines.at(-1);
  if (backupText !== null && last !== undefined && last.eol === "") {
    const backupSections = parseIni(backupText).lines.filter((l) => l.kind === "section").map((l) =>
      l.section!
    );
    const lost = [...new Set(backupSections)].filter((s) => !sections.has(s));
    if (lost.length > 0) {
      return `it ends in the middle of a line and lacks ${lost.map((s) => `[${s}]`).join(", ")}, which the ` +
        `backup has: it was cut off`;
    }
  }
  return undefined;
}
