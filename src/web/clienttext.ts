/**
 * Client-supplied strings (user names, paths, header values, query parameters, error texts that may
 * quote them) as they may appear in the log and in events: bounded in length with a visible marker, and
 * with control, line-separator and bidirectional-override characters replaced, so a request can neither
 * flood the event log nor forge or disguise log lines.
 *
 * @module
 */

/** Longest client-supplied text kept (characters), marker excluded. */
export const CLIENT_TEXT_MAX = 96;

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `value` safe for a log line or an event (pure): unsafe characters become "�", and text longer than
 * `max` characters (counted in code points) is cut, ending in `…[+N chars]` with the number cut off.
 */
export function clientText(value: string, max = CLIENT_TEXT_MAX): string {
  const safe = (text: string) => text.replace(UNSAFE, "\ufffd");
  if (value.length <= max) return safe(value);
  const kept = Array.from(value.slice(0, 2 * max)).slice(0, max).join("");
  let total = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0xdc00 || code > 0xdfff) total++; // count code points: skip low surrogates
  }
  if (total <= max) return safe(value);
  return `${safe(kept)}…[+${total - max} chars]`;
}
