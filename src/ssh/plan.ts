/**
 * Where the SSH actions sit in the shutdown sequence, for the plan (`planSequence`, `drill`) and the time
 * registered with the cards (`sequenceSeconds`): the actions of one phase run in parallel, each after its
 * delay, so the phase takes at most the longest delay + duration among them. Pure.
 *
 * @module
 */
import type { SshActionSettings, SshPhase } from "../config/schema_ssh.ts";

/** The phases inside the shutdown sequence. */
export type ShutdownSshPhase = Extract<SshPhase, "beforeShutdown" | "afterShutdown">;

/** The enabled actions of `phase`. */
export function phaseActions(
  actions: readonly SshActionSettings[] | undefined,
  phase: SshPhase,
): SshActionSettings[] {
  return (actions ?? []).filter((a) => a.enabled && a.phase === phase);
}

/** Seconds the phase takes at most: the longest delay + duration of its enabled actions (0 = none). */
export function phaseSeconds(actions: readonly SshActionSettings[] | undefined, phase: SshPhase): number {
  return Math.max(0, ...phaseActions(actions, phase).map((a) => a.delay + a.duration));
}

/** Seconds the SSH actions add to the shutdown sequence (both shutdown phases). */
export function sshSequenceSeconds(actions: readonly SshActionSettings[] | undefined): number {
  return phaseSeconds(actions, "beforeShutdown") + phaseSeconds(actions, "afterShutdown");
}

/** The plan's line for one action. */
export function sshStepText(a: SshActionSettings): string {
  const host = a.host.includes(":") ? `[${a.host}]` : a.host;
  return `run SSH action ${a.name} on ${a.user}@${host}:${a.port} (${a.commandFile}, up to ${a.duration} s, ${
    a.phase === "beforeShutdown" ? "before" : "after"
  } the shutdown command file)`;
}

/** The plan's steps of one phase, starting at `at` seconds: each action at its delay. */
export function sshPlanSteps(
  actions: readonly SshActionSettings[] | undefined,
  phase: ShutdownSshPhase,
  at: number,
): { atSeconds: number; what: string }[] {
  return phaseActions(actions, phase).sort((x, y) => x.delay - y.delay)
    .map((a) => ({ atSeconds: at + a.delay, what: sshStepText(a) }));
}
