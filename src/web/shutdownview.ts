/**
 * What the dashboard says about the shutdown, as pure functions of the
 * agent's status: the countdown or the running sequence with a clock time
 * next to every step, when the OS shutdown comes, and why a shutdown is or
 * is not pending when several UPSs combine ("1 of 2 UPSs critical: no
 * shutdown"). The explanation reuses the shutdown policy itself
 * (src/actions/policy.ts), so the page never disagrees with the engine.
 *
 * @module
 */
import {
  type ActiveEvent,
  criticalEvents,
  requiredCriticalUps,
  type ShutdownPolicy,
} from "../actions/policy.ts";
import type { AgentStatus } from "../agent/status.ts";
import { type EventId, SHUTDOWN_ROLES } from "../events/types.ts";
import type { PlannedStep } from "../shutdown/sequencer.ts";
import { eventName } from "./labels.ts";

/** One step of the sequence with its (expected) clock time. */
export interface StepView {
  /** What the step does. */
  readonly what: string;
  /** When it runs or ran (ms); the plan's worst case for steps to come. */
  readonly at: number;
  /** Its place relative to now. */
  readonly state: "done" | "current" | "next";
}

/** Everything the shutdown box shows. */
export interface ShutdownView {
  /** Idle (nothing pending), a countdown, the sequence running, or finished. */
  readonly kind: "idle" | "countdown" | "running" | "done";
  /** When the countdown ends (kind countdown). */
  readonly dueAt?: number;
  /** When the OS shutdown runs (expected; kinds countdown and running). */
  readonly osAt?: number;
  /** The steps with clock times (countdown: from its end; running: from the start). */
  readonly steps: readonly StepView[];
  /** Why a shutdown is or is not pending, one sentence each. */
  readonly why: readonly string[];
  /** True when the OS is not really shut down (dry run). */
  readonly dryRun: boolean;
}

/** Which plan step each sequencer step name is. */
const STEP_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ["NUT forced shutdown", /FSD/],
  ["UPS turn-off", /^turn off the UPS/],
  ["shutdown command file", /shutdown command file/],
  ["waiting for NUT secondaries", /NUT secondaries to log out/],
  ["settle delay", /settle delay/],
  ["OS shutdown", /^shut down the OS/],
];

/** Index of the plan step the sequencer's `step` names (-1 if unknown). */
export function currentStepIndex(plan: readonly PlannedStep[], step: string): number {
  const pattern = STEP_PATTERNS.find(([name]) => name === step)?.[1];
  return pattern ? plan.findIndex((s) => pattern.test(s.what)) : -1;
}

const MODE_WORDS: Readonly<Record<string, string>> = {
  single: "single UPS",
  redundant: "redundant: every UPS must be critical",
  parallel: "parallel: when the others cannot carry the load",
  advanced: "advanced N+x",
};

/** Why a shutdown is (or is not) pending, from the events in effect and the policy. */
export function pendingReasons(
  active: readonly ActiveEvent[],
  policy: ShutdownPolicy,
  loads: ReadonlyMap<string, number | undefined>,
): string[] {
  const out: string[] = [];
  const critical = criticalEvents(active, policy);
  const n = policy.cards.length;
  const names = (events: readonly ActiveEvent[]) => events.map((e) => eventName(e.id)).join(", ");
  if (n > 1) {
    const required = requiredCriticalUps(policy, loads);
    const verdict = critical.size >= required ? "shutdown pending" : "no shutdown";
    out.push(
      `${critical.size} of ${n} UPSs critical: ${verdict} (${MODE_WORDS[policy.mode] ?? policy.mode}, ` +
        `${required} needed)`,
    );
  }
  for (const [card, events] of critical) out.push(`${card}: ${names(events)}`);
  // Conditions that would shut down if their shutdown action were on.
  for (const a of active) {
    if (!policy.cards.includes(a.card)) continue;
    const role = SHUTDOWN_ROLES[a.id as EventId];
    if (role === "optional" && !policy.shutdownDelays.has(a.id) && !critical.get(a.card)?.includes(a)) {
      out.push(`${a.card}: ${eventName(a.id)}, but its shutdown action is off (Settings > Event actions)`);
    }
  }
  return out;
}

/** The steps of `plan` timed from `base` (ms). */
function timed(plan: readonly PlannedStep[], base: number, state: StepView["state"]): StepView[] {
  return plan.map((s) => ({ what: s.what, at: base + s.atSeconds * 1000, state }));
}

/** The shutdown box's content. */
export function shutdownView(
  status: AgentStatus,
  plan: readonly PlannedStep[],
  policy: ShutdownPolicy,
  now: number,
): ShutdownView {
  const s = status.shutdown;
  const loads = new Map(status.ups.map((u) => [u.card, u.reading.loadPercent]));
  const why = pendingReasons(s.active ?? [], policy, loads);
  const dryRun = status.dryRun;
  const osOf = (steps: readonly StepView[]) => steps.at(-1)?.at;
  if (s.phase === "running") {
    const index = currentStepIndex(plan, s.step);
    const started = s.startedAt ?? now;
    if (index < 0) {
      const steps = timed(plan, started, "next");
      return { kind: "running", steps, osAt: osOf(steps), why, dryRun };
    }
    const since = s.stepSince ?? now;
    const offset = plan[index].atSeconds;
    const steps = plan.map((p, i): StepView => ({
      what: p.what,
      at: i < index ? started + p.atSeconds * 1000 : since + (p.atSeconds - offset) * 1000,
      state: i < index ? "done" : i === index ? "current" : "next",
    }));
    return { kind: "running", steps, osAt: osOf(steps), why, dryRun };
  }
  if (s.phase === "done") {
    return { kind: "done", steps: timed(plan, s.startedAt ?? now, "done"), why, dryRun };
  }
  const first = s.countdowns[0];
  if (first) {
    const steps = timed(plan, first.dueAt, "next");
    return { kind: "countdown", dueAt: first.dueAt, steps, osAt: osOf(steps), why, dryRun };
  }
  return { kind: "idle", steps: [], why, dryRun };
}

/** A clock time as `HH:MM:SS` in the host's time zone. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Whole seconds from `now` until `at` (never negative). */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}
