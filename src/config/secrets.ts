/**
 * Recognising secrets in pcnsconfig.ini lines, so their values never reach a message (log, event, UI,
 * `config check`) and clear-text passwords do not stay on disk.
 *
 * - password-like keys (`password`, `passwd`, `passphrase`, `passcode`, `secret` anywhere in the name, any
 *   case; `pass`, `pwd`, `pw` as the last word: `smtpPass`, `SMTP_PWD`, but not `bypass`): their
 *   clear-text values are removed from lines pcns-agent does not read (see scrub.ts);
 * - secret-like keys: the password-like ones plus `phrase`, `token`, `apikey`, `private_key`, `credential`:
 *   never shown. The authentication phrase is one of them: it is stored as it is (the NMC signs with it)
 *   but never logged or shown.
 *
 * All functions are pure.
 *
 * @module
 */

const PASSWORD_WORDS = /password|passwd|passphrase|passcode|secret/i;
const PASSWORD_LAST_WORD = /(?:^|[_.\-\s])(?:pass|pwd|pw)$/i;
const PASSWORD_LAST_CAMEL = /[a-z0-9](?:Pass|PASS|Pwd|PWD|Pw|PW)$/;
const SECRET_WORDS = /phrase|token|api_?key|private_?key|credential/i;
const MAX_SHOWN = 80;

/** True for a key name that holds a password (see the module documentation). */
export function isPasswordLikeKey(key: string): boolean {
  const k = key.trim();
  return PASSWORD_WORDS.test(k) || PASSWORD_LAST_WORD.test(k) || PASSWORD_LAST_CAMEL.test(k);
}

/** True for a key name whose value must never be shown (passwords, phrases, tokens, keys). */
export function isSecretLikeKey(key: string): boolean {
  return isPasswordLikeKey(key) || SECRET_WORDS.test(key);
}

/**
 * Splits a line that is not `key = value` the way a person probably meant it: at the first `:` or `=`, else
 * at the first blank. `sep` is the separator with the blanks before it; `value` is undefined without one.
 */
export function splitLooseLine(raw: string): { key: string; sep: string; value?: string } {
  const text = raw.trim();
  const m = /^([^:=\s]*)(\s*[:=]|\s+)(.*)$/.exec(text);
  if (!m) return { key: text, sep: "" };
  return { key: m[1], sep: m[2].trimStart() === "" ? "" : m[2], value: m[3].trim() };
}

/**
 * How an ignored (invalid) line is quoted in a message: as is (cut to 80 characters) unless it mentions a
 * secret-like word anywhere; then only its key part, with `(value hidden)`.
 */
export function quoteLine(raw: string): string {
  const text = raw.trim();
  const { key, sep } = splitLooseLine(text);
  const words = text.split(/[^A-Za-z0-9_]+/);
  if (words.some((w) => isSecretLikeKey(w)) || isSecretLikeKey(text)) {
    return `${JSON.stringify(`${key}${sep.trim()}`)} (value hidden)`;
  }
  return JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text);
}

/**
 * The text of an ignored line with a password-like key but without its value (`password: X` ->
 * `password:`), or undefined when the line has no such value.
 */
export function blankLooseLine(raw: string): string | undefined {
  const { key, sep, value } = splitLooseLine(raw);
  if (!isPasswordLikeKey(key) || value === undefined || value === "") return undefined;
  const lead = raw.slice(0, raw.length - raw.trimStart().length);
  return `${lead}${key}${sep.trimEnd()}`;
}
