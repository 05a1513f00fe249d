/**
 * Replay counters (pure policy): what "newer" means for a card's reboot
 * counter (SR) and uptime counter (SU), and how a card whose counters went
 * back (SR wrapped FF -> 00, a wrapped 32-bit uptime, a replaced card at the
 * same address) is recognised without letting a replayer in.
 *
 * The rule for counters that went back ("card reboot"): the agent follows a
 * card again on its own only after it saw at least `REBOOT_RUN_PACKETS`
 * authenticated packets that were refused as replayed AND
 * - all carry the same SR and a strictly rising SU,
 * - the first one's SU is near zero (the card booted less than
 *   `REBOOT_MAX_UPTIME_CS` ago),
 * - their SU advances like the wall clock between them (hundredths of a
 *   second, within `PACE_TOLERANCE`), over at least `REBOOT_MIN_SPAN_MS`,
 * - and no packet of that card was accepted meanwhile (a live card's
 *   genuine packets break every run a replayer starts).
 * Anything else stays refused until the operator runs `counters reset`.
 *
 * @module
 */

/** The card's reboot counter (SR) and uptime counter (SU). */
export interface ReplayCounters {
  /** Reboot counter. */
  readonly sr: number;
  /** Uptime counter, hundredths of a second since the card booted. */
  readonly su: number;
}

/** Most hex digits a counter may have: 8 (32 bits). Longer values are refused, so one cannot jam a card. */
export const MAX_COUNTER_DIGITS = 8;
/** Authenticated, refused packets in a row needed before counters that went back are followed again. */
export const REBOOT_RUN_PACKETS = 3;
/** The first packet of such a run must come from a card up for less than this (30 min, in hundredths). */
export const REBOOT_MAX_UPTIME_CS = 30 * 60 * 100;
/** Such a run must span at least this much wall time (two status intervals of 25 s, less slack). */
export const REBOOT_MIN_SPAN_MS = 40_000;
/** How far a run's SU may drift from the wall clock between two packets: 25 % or 5 s, whichever is more. */
export const PACE_TOLERANCE = 0.25;
/** Refused packets after which a card is reported as stuck, when nothing was accepted for `STUCK_AFTER_MS`. */
export const STUCK_AFTER_PACKETS = 2;
/** See `STUCK_AFTER_PACKETS`. */
export const STUCK_AFTER_MS = 30_000;

/** Parses SR/SU: 1-8 hexadecimal digits with an optional 0x; undefined otherwise. */
export function parseCounter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(?:0[xX])?([0-9A-Fa-f]{1,8})$/.exec(value);
  return match ? parseInt(match[1], 16) : undefined;
}

/** True if `next` is strictly newer than `last`: a higher SR, or the same SR and a higher SU. */
export function isNewer(next: ReplayCounters, last: ReplayCounters | undefined): boolean {
  if (last === undefined) return next.sr > 0 || next.su > 0;
  return next.sr > last.sr || (next.sr === last.sr && next.su > last.su);
}

/** Counters as the log and the UI show them (hex, as the card sends them). */
export function formatCounters(c: ReplayCounters): string {
  return `SR=${c.sr.toString(16)} SU=${c.su.toString(16)}`;
}

/** One authenticated packet refused as replayed, and when it arrived. */
export interface Sighting {
  /** Its counters. */
  readonly counters: ReplayCounters;
  /** Arrival, ms since the epoch. */
  readonly at: number;
}

/** Consecutive refused packets that are consistent among themselves (same SR, SU rising at wall-clock pace). */
export interface RefusedRun {
  /** The first packet of the run. */
  readonly first: Sighting;
  /** The latest packet of the run. */
  readonly last: Sighting;
  /** Packets in the run. */
  readonly count: number;
}

/** True if SU moved from `a` to `b` about as far as the wall clock did (SU in hundredths of a second). */
export function plausiblePace(a: Sighting, b: Sighting): boolean {
  const wallCs = (b.at - a.at) / 10;
  const suCs = b.counters.su - a.counters.su;
  if (wallCs <= 0 || suCs <= 0) return false;
  return Math.abs(suCs - wallCs) <= Math.max(500, wallCs * PACE_TOLERANCE);
}

/** Adds a refused packet to the run it continues, or starts a new run with it. */
export function extendRun(run: RefusedRun | undefined, sighting: Sighting): RefusedRun {
  if (
    run && sighting.counters.sr === run.last.counters.sr && plausiblePace(run.last, sighting)
  ) {
    return { first: run.first, last: sighting, count: run.count + 1 };
  }
  return { first: sighting, last: sighting, count: 1 };
}

/** True if a run shows a card that rebooted (or wrapped its counters) rather than a replay. */
export function looksLikeReboot(run: RefusedRun): boolean {
  return run.count >= REBOOT_RUN_PACKETS &&
    run.first.counters.su <= REBOOT_MAX_UPTIME_CS &&
    run.last.at - run.first.at >= REBOOT_MIN_SPAN_MS;
}
