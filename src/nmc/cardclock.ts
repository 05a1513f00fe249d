/**
 * A card's clock as its packets and pages carry it (`DT=MM/DD/YYYY`, `TM=HH:MM:SS`, no time zone), and how
 * far it is from this host's: what `register` reports before it registers. Pure.
 *
 * @module
 */

/** The card's `DT=MM/DD/YYYY` + `TM=HH:MM:SS` read as UTC, epoch ms; undefined if malformed. */
export function parseCardClock(date: string | undefined, time: string | undefined): number | undefined {
  const d = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(date ?? "");
  const t = /^(\d{2}):(\d{2}):(\d{2})$/.exec(time ?? "");
  if (!d || !t) return undefined;
  const [month, day, year] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const [h, m, s] = [Number(t[1]), Number(t[2]), Number(t[3])];
  if (month < 1 || month > 12 || day < 1 || day > 31 || h > 23 || m > 59 || s > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

/** The card's clock compared with ours. */
export interface ClockSkew {
  /** Card minus local, seconds (positive: the card is ahead). */
  readonly seconds: number;
  /** How the card's clock was read: as UTC, or as this host's local time. */
  readonly readAs: "UTC" | "local time";
}

/**
 * The card's clock skew. The card's time zone is unknown (it sends no
 * offset), so its clock is read both as UTC and as this host's local time
 * (`localOffsetMinutes` = minutes east of UTC) and the smaller skew is taken.
 */
export function clockSkew(cardAsUtcMs: number, nowMs: number, localOffsetMinutes: number): ClockSkew {
  const asUtc = Math.round((cardAsUtcMs - nowMs) / 1000);
  const asLocal = Math.round((cardAsUtcMs - localOffsetMinutes * 60_000 - nowMs) / 1000);
  return Math.abs(asLocal) < Math.abs(asUtc)
    ? { seconds: asLocal, readAs: "local time" }
    : { seconds: asUtc, readAs: "UTC" };
}
