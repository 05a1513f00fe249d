/**
 * The time flags of the CLI (`events --since`): a duration back from now
 * (`90s`, `15m`, `2h`, `3d`, `1w`, combined as `1h30m`), a local date
 * (`2026-12-01`, midnight local time), a local date and time
 * (`2026-12-01 08:00`, `2026-12-01T08:00:30`), or an ISO 8601 time with a
 * zone (`2026-12-01T08:00:00Z`, `...+01:00`).
 *
 * @module
 */

/** The forms accepted, as the error message lists them. */
export const TIME_FORMS =
  "a duration back from now (90s, 15m, 2h, 3d, 1w or 1h30m), a date (2026-12-01), a local date and time " +
  "(2026-12-01 08:00) or an ISO 8601 time (2026-12-01T08:00:00Z)";

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds of a duration such as `90s`, `2h` or `1h30m` (pure); undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (!/^(\d{1,9}[smhdw])+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/;
const ZONED = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/** A local date or date-time (no zone) as epoch ms (pure over `Date`'s local zone); undefined if invalid. */
function parseLocal(text: string): number | undefined {
  const m = LOCAL.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = "0", mi = "0", s = "0", frac = "0"] = m.slice(1);
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)];
  const date = new Date(
    parts[0],
    parts[1],
    parts[2],
    parts[3],
    parts[4],
    parts[5],
    Number(frac.padEnd(3, "0")),
  );
  // Date rolls 2026-02-30 over to March: refuse what did not stay as written.
  const kept = date.getFullYear() === parts[0] && date.getMonth() === parts[1] &&
    date.getDate() === parts[2] &&
    date.getHours() === parts[3] && date.getMinutes() === parts[4] && date.getSeconds() === parts[5];
  return kept ? date.getTime() : undefined;
}

/** A zoned ISO time as epoch ms (pure); undefined if invalid (month 13, 25:00, ...). */
function parseZoned(text: string): number | undefined {
  const m = ZONED.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => Number(x ?? "0"));
  if (h > 23 || mi > 59 || s > 59 || new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) return undefined;
  if (mo < 1 || mo > 12) return undefined;
  const t = Date.parse(text.replace(" ", "T"));
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Parses a time flag value into epoch ms (pure; `now` for durations).
 * Throws an Error whose message names the accepted forms.
 */
export function parseTimeArgument(text: string, now: number): number {
  const value = text.trim();
  const duration = parseDuration(value);
  const t = duration !== undefined ? now - duration : parseLocal(value) ?? parseZoned(value);
  if (t === undefined || !Number.isFinite(t) || t < 0) {
    throw new Error(`"${text}" is not a date or time: give ${TIME_FORMS}`);
  }
  return t;
}
