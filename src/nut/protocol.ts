/**
 * The text framing of NUT's network protocol (RFC 9271; NUT's docs/net-protocol.txt), as pure functions:
 * splitting a request line into words the way upsd's parser does (blanks separate words, "double quotes"
 * group them, a backslash escapes the next character), quoting values, NUT's error words, and the
 * `BEGIN LIST ...` / `END LIST ...` container.
 *
 * @module
 */

/** Longest request line accepted, in bytes (NUT requests are short; a longer line closes the connection). */
export const MAX_LINE_BYTES = 1024;

/** Most words in one request (the longest NUT request, `SET VAR <ups> <var> "<value>"`, has 5). */
export const MAX_WORDS = 16;

/** The protocol version answered to NETVER: 1.3 is NUT 2.8's (PRIMARY alias, TRACKING). */
export const NET_VERSION = "1.3";

/** NUT's error words (`ERR <word>`), as upsd sends them. */
export const NUT_ERRORS = {
  accessDenied: "ACCESS-DENIED",
  unknownUps: "UNKNOWN-UPS",
  varNotSupported: "VAR-NOT-SUPPORTED",
  cmdNotSupported: "CMD-NOT-SUPPORTED",
  invalidArgument: "INVALID-ARGUMENT",
  readonly: "READONLY",
  featureNotSupported: "FEATURE-NOT-SUPPORTED",
  featureNotConfigured: "FEATURE-NOT-CONFIGURED",
  alreadySslMode: "ALREADY-SSL-MODE",
  dataStale: "DATA-STALE",
  alreadyLoggedIn: "ALREADY-LOGGED-IN",
  invalidPassword: "INVALID-PASSWORD",
  alreadySetPassword: "ALREADY-SET-PASSWORD",
  invalidUsername: "INVALID-USERNAME",
  alreadySetUsername: "ALREADY-SET-USERNAME",
  usernameRequired: "USERNAME-REQUIRED",
  passwordRequired: "PASSWORD-REQUIRED",
  unknownCommand: "UNKNOWN-COMMAND",
} as const;

/** One of NUT's error words. */
export type NutError = typeof NUT_ERRORS[keyof typeof NUT_ERRORS];

/** The answer line of an error. */
export function errorLine(word: NutError): string {
  return `ERR ${word}`;
}

/** A request split into words, or why it cannot be. */
export type Tokens = { readonly words: string[] } | { readonly error: string };

/**
 * Splits one request line (without its line break) into words: blanks (space, tab) separate words,
 * `"..."` keeps blanks inside one word, and `\` takes the next character literally (inside or outside
 * quotes). An unterminated quote, a trailing backslash or more than {@link MAX_WORDS} words is an error.
 * A carriage return at the end (telnet) is dropped.
 */
export function tokenize(line: string): Tokens {
  const end = line.endsWith("\r") ? line.length - 1 : line.length;
  const words: string[] = [];
  let i = 0;
  while (i < end) {
    if (isBlank(line.charCodeAt(i))) {
      i++;
      continue;
    }
    // One word: plain runs are sliced, not copied character by character (every poll is tokenized).
    let word = "";
    let from = i;
    let quoted = false;
    for (; i < end; i++) {
      const c = line.charCodeAt(i);
      if (c === BACKSLASH) {
        if (i + 1 >= end) return { error: "a backslash ends the line" };
        word += line.slice(from, i) + line[i + 1];
        from = ++i + 1;
      } else if (c === QUOTE) {
        word += line.slice(from, i);
        from = i + 1;
        quoted = !quoted;
      } else if (!quoted && isBlank(c)) {
        break;
      }
    }
    if (quoted) return { error: "a quote is not closed" };
    words.push(word + line.slice(from, i));
    if (words.length > MAX_WORDS) return { error: `more than ${MAX_WORDS} words` };
  }
  return { words };
}

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const isBlank = (c: number) => c === 0x20 || c === 0x09;

/** A value as NUT sends it: in double quotes, with `\` and `"` escaped by a backslash. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * A list answer: `BEGIN LIST <query>`, the lines, `END LIST <query>` (the query repeated, as the spec
 * says, so a client can match answers to questions).
 */
export function listLines(query: string, lines: readonly string[]): string[] {
  return [`BEGIN LIST ${query}`, ...lines, `END LIST ${query}`];
}

/** True for a name NUT accepts for a UPS or a user: 1-32 letters, digits, `_`, `-` or `.`. */
export function isNutName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,32}$/.test(name);
}
