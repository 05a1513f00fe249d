/**
 * When a scheduled shutdown countdown is due (pure): when its own timer has
 * run, not when the wall clock says so. A timer that ran late means the
 * process did not run (SIGSTOP, a VM pause, a swap storm): the countdown then
 * waits a short grace so the packets queued meanwhile are read first. Clock
 * jumps and stalls are measured and described once per countdown.
 *
 * @module
 */

import { STALL_GRACE_MS, STALL_THRESHOLD_MS } from "../time/clock.ts";

export { STALL_GRACE_MS, STALL_THRESHOLD_MS };

/** What the engine knows about one scheduled countdown. */
export interface CountdownTiming {
  /** Wall-clock due time. */
  readonly dueAt: number;
  /** Wall-clock time at which its timer ran, if it did. */
  readonly firedAt?: number;
  /** After a stall: not before this (wall-clock ms). */
  readonly graceUntil?: number;
}

/** The verdict on a countdown at `now`. */
export interface CountdownVerdict {
  /** "due": start now; "waiting": its timer has not run; "grace": wait until `graceUntil`. */
  readonly verdict: "due" | "waiting" | "grace";
  /** The grace end to remember (set on the first late verdict). */
  readonly graceUntil?: number;
  /** A stall or clock jump to report, measured. */
  readonly jump?: string;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Judges a scheduled countdown (pure). */
export function judgeCountdown(t: CountdownTiming, now: number): CountdownVerdict {
  if (t.firedAt === undefined) {
    const late = now - t.dueAt;
    if (late <= STALL_THRESHOLD_MS) return { verdict: "waiting" };
    return {
      verdict: "waiting",
      jump: `the countdown is ${seconds(late)} late by the wall clock but its timer has not run: ` +
        "waiting for the timer (the clock jumped forward, or the agent was stalled)",
    };
  }
  const late = t.firedAt - t.dueAt;
  if (late < -STALL_THRESHOLD_MS) {
    return {
      verdict: "due",
      jump: `its timer ran ${seconds(-late)} before the wall-clock due time: the clock went back; due now`,
    };
  }
  if (late > STALL_THRESHOLD_MS && t.graceUntil === undefined) {
    const graceUntil = t.firedAt + STALL_GRACE_MS;
    return {
      verdict: now < graceUntil ? "grace" : "due",
      graceUntil,
      jump: `the countdown's timer ran ${seconds(late)} late: the agent was stalled (or the clock jumped ` +
        `forward); reading what is queued for ${seconds(STALL_GRACE_MS)} before acting`,
    };
  }
  if (t.graceUntil !== undefined && now < t.graceUntil) return { verdict: "grace", graceUntil: t.graceUntil };
  return { verdict: "due" };
}

/**
 * The stall to report when a countdown's condition ends after its wall-clock due time but before its timer
 * ran (pure): after a SIGSTOP the packets queued meanwhile may be read before the timer runs, and the
 * stall must be reported in either order. Undefined: nothing to report.
 */
export function stallAtCancel(t: CountdownTiming, now: number): string | undefined {
  if (t.firedAt !== undefined) return undefined; // its timer ran: judged (and reported) then
  const late = now - t.dueAt;
  if (late <= STALL_THRESHOLD_MS) return undefined;
  return `the countdown was ${seconds(late)} late by the wall clock and its timer had not run when the ` +
    "condition ended: the agent was stalled (or the clock jumped forward)";
}

/** The ShutdownCancelled note of a countdown (`reason`, due at `dueAt`) whose condition ended at `now`. */
export function cancelNote(reason: string, dueAt: number, now: number): string {
  const left = dueAt - now;
  if (left > 0) return `${reason}: condition ended ${Math.ceil(left / 1000)} s before the shutdown`;
  return `${reason}: condition ended while the overdue countdown waited for the packets queued ` +
    `during a stall (${seconds(-left)} after its due time)`;
}
