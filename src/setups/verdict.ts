/**
 * What `status`, the API and the dashboard say about each advanced UPS setup (pure): how many of its UPSs
 * are healthy against how many it needs, and what follows from it, e.g.
 * "2 of 3 healthy, needs 2: no shutdown" or "1 of 3 healthy, needs 2: its actions in 118 s".
 *
 * @module
 */
import type { Countdown } from "../actions/engine.ts";
import type { SequenceOutcome, SequenceTrigger } from "../shutdown/sequencer.ts";

/** One setup's state, as `/api/v1/status` carries it (`setups`). */
export interface SetupStatus {
  /** Its section (`advanced_ups_setup_1`). */
  readonly section: string;
  /** Its name. */
  readonly name: string;
  /** Its cards. */
  readonly cards: readonly string[];
  /** How many of them must stay healthy. */
  readonly minimumHealthy: number;
  /** It shuts this server down after its actions. */
  readonly shutdownThisServer: boolean;
  /** Cards without a critical event now. */
  readonly healthy: number;
  /** Cards with a critical event now. */
  readonly criticalCards: readonly string[];
  /** Its sequence: idle, running, or done (until re-armed). */
  readonly phase: "idle" | "running" | "done";
  /** The step running now ("" otherwise). */
  readonly step: string;
  /** Its countdowns, earliest first. */
  readonly countdowns: readonly Countdown[];
  /** Why its sequence started (until re-armed). */
  readonly trigger?: SequenceTrigger;
  /** How its finished sequence ended. */
  readonly outcome?: SequenceOutcome;
  /** Phase done: "" if only a reset re-arms it, else when it re-arms by itself. */
  readonly rearms?: string;
  /** The verdict in words ({@link setupVerdict}). */
  readonly verdict: string;
}

/** The verdict of one setup in words, e.g. "2 of 3 healthy, needs 2: no shutdown". */
export function setupVerdict(s: Omit<SetupStatus, "verdict">): string {
  const head = `${s.healthy} of ${s.cards.length} healthy, needs ${s.minimumHealthy}`;
  const what = s.shutdownThisServer ? "shutdown" : "its actions";
  if (s.phase === "running") return `${head}: ${what} running${s.step ? ` (${s.step})` : ""}`;
  if (s.phase === "done") {
    const done = s.shutdownThisServer
      ? "done: its actions and this server's shutdown sequence ran"
      : "done: its actions ran, this server stays up";
    const rearm = s.rearms ? `re-arms ${s.rearms}` : "re-arm with pcns-agent shutdown reset";
    return `${head}: ${done}; ${rearm}`;
  }
  const next = s.countdowns[0];
  if (next) return `${head}: ${what} in ${Math.ceil(next.remainingMs / 1000)} s (${next.reason})`;
  if (s.healthy < s.minimumHealthy) return `${head}: ${what} due`;
  return `${head}: ${s.shutdownThisServer ? "no shutdown" : "no actions"}`;
}
