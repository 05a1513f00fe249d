/**
 * The resumption rules (pure): what a restarted agent does with the state a
 * previous run persisted (README "Shutdown rules").
 *
 * - Nothing written by a rehearsal is resumed by a real run, nor the other
 *   way round; a file without the dry-run marker (older versions) neither.
 * - A finished sequence is never persisted, so never resumed.
 * - An interrupted sequence resumes only if it was real and either the UPS
 *   turn-off was already sent in this boot of the host (the UPS cuts the
 *   power anyway: the sequence runs again at once, without a second turn-off)
 *   or the card still reports the condition (checked on its first packet).
 *   A rehearsed sequence, or a turn-off sent before the host rebooted (the
 *   power cut has happened), is dropped.
 * - Pending countdowns wait for the card's first packet: resumed from their
 *   original start if it still reports the condition, else dropped.
 *
 * @module
 */
import type { PersistedSequence, PersistedShutdownState } from "./persist.ts";

/** What the restarted agent is. */
export interface ResumeContext {
  /** This run is a rehearsal (dry run or OS-shutdown recorder). */
  readonly dryRun: boolean;
  /** This boot of the host (undefined if unknown). */
  readonly bootId?: string;
}

/** What to do with a persisted state. */
export type ResumeDecision =
  /** Nothing was pending. */
  | { readonly kind: "nothing" }
  /** Drop everything, for `reason` (a CountdownDropped event). */
  | { readonly kind: "drop"; readonly reason: string }
  /** Run the interrupted sequence again now, without sending the UPS turn-off again. */
  | { readonly kind: "run-now"; readonly sequence: PersistedSequence; readonly reason: string }
  /** Keep the sequence and/or countdowns until the cards confirm (or deny) their condition. */
  | { readonly kind: "await-card"; readonly sequence?: PersistedSequence };

const iso = (t: number) => new Date(t).toISOString();

/** Applies the resumption rules to a persisted state. */
export function resumeDecision(state: PersistedShutdownState, context: ResumeContext): ResumeDecision {
  if (state.version !== 2 || typeof state.dryRun !== "boolean") {
    return {
      kind: "drop",
      reason: "pending-shutdown.json was written by an older version without the dry-run marker; " +
        "nothing from it is resumed",
    };
  }
  if (state.dryRun && !context.dryRun) {
    return {
      kind: "drop",
      reason: "pending-shutdown.json was written by a dry run (a rehearsal); a real run never resumes it",
    };
  }
  if (!state.dryRun && context.dryRun) {
    return {
      kind: "drop",
      reason: "pending-shutdown.json was written by a real run; a dry run never resumes it",
    };
  }
  const sequence = state.sequence;
  if (sequence) {
    const what = `the shutdown sequence started at ${iso(sequence.startedAt)} (${sequence.trigger.reason})`;
    if (state.dryRun) return { kind: "drop", reason: `${what} was a dry run: a rehearsal is never resumed` };
    if (sequence.turnOffSentAt !== undefined && state.bootId && context.bootId) {
      const sent = `the UPS turn-off was sent at ${iso(sequence.turnOffSentAt)}`;
      if (state.bootId === context.bootId) {
        return {
          kind: "run-now",
          sequence,
          reason: `${what}: ${sent} in this boot, so the UPS will cut the power; ` +
            "it runs again now (the turn-off is not sent again)",
        };
      }
      return {
        kind: "drop",
        reason: `${what}: the host restarted since ${sent} (the power cut has happened)`,
      };
    }
    return { kind: "await-card", sequence };
  }
  return state.countdowns.length > 0 ? { kind: "await-card" } : { kind: "nothing" };
}
