/**
 * Local time with its UTC offset (pure): `2026-12-02 15:04:05 +01:00`, as the web UI's event log and
 * `pcns-agent events` print times. The offset defaults to the host's at that moment (its time zone, `TZ`),
 * so a time on the other side of a daylight-saving change gets its own offset.
 *
 * @module
 */

const two = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");

/** The host's UTC offset at `t`, in minutes east of UTC (+60 for CET). */
export function hostUtcOffsetMinutes(t: number): number {
  return -new Date(t).getTimezoneOffset();
}

/** A UTC offset in minutes as `+01:00` / `-05:30`. */
export function formatUtcOffset(minutes: number): string {
  return `${minutes < 0 ? "-" : "+"}${two(minutes / 60)}:${two(minutes % 60)}`;
}

/** The host's UTC offset at `t` as `+01:00`. */
export function utcOffset(t: number): string {
  return formatUtcOffset(hostUtcOffsetMinutes(t));
}

/**
 * `2026-12-02 15:04:05 +01:00`: the time `t` (ms since the epoch) at `offsetMinutes` east of UTC (default:
 * the host's offset at `t`).
 */
export function localTime(t: number, offsetMinutes: number = hostUtcOffsetMinutes(t)): string {
  const d = new Date(t + offsetMinutes * 60_000);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${
    two(d.getUTCMinutes())
  }:${two(d.getUTCSeconds())} ${formatUtcOffset(offsetMinutes)}`;
}
