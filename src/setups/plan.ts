/**
 * How the advanced UPS setups (`[advanced_ups_setup_N]`, `config/schema_setups.ts`) map onto engines
 * (pure): each setup is an action engine of its own over its cards (mode advanced, x = cards -
 * minimumHealthy, the host's shutdown delays per event, no per-event actions: those stay the host's) with
 * a sequence of its own (its turn-off, SSH actions and command file; with `[NUT] enabled` FSD on its own
 * UPSs and the wait for their secondaries; no settle delay or OS step). The host's sequence keeps
 * `[Shutdown]`, its own FSD and NUT wait and the OS step, the SSH actions no setup lists, and starts only
 * when a setup with shutdownThisServer hands over.
 *
 * @module
 */
import type { ActionSettings } from "../actions/engine.ts";
import { type ActiveEvent, shutdownCandidates, type ShutdownPolicy } from "../actions/policy.ts";
import type { UpsSetupSettings } from "../config/schema_setups.ts";
import type { SshActionSettings } from "../config/schema_ssh.ts";
import type { AgentConfig } from "../config/types.ts";
import type { EventId } from "../events/types.ts";
import { sshSequenceSeconds } from "../ssh/plan.ts";
import type { SequenceSettings } from "../shutdown/sequencer.ts";

/** The setups in use: those of the config when mode = advanced (none otherwise). */
export function activeSetups(config: AgentConfig): readonly UpsSetupSettings[] {
  return config.nmc.mode === "advanced" ? config.upsSetups ?? [] : [];
}

/** The SSH actions of a setup, by its `sshActions` names (case-insensitive), in config order. */
export function setupSshActions(config: AgentConfig, setup: UpsSetupSettings): SshActionSettings[] {
  const names = new Set(setup.sshActions.map((n) => n.toLowerCase()));
  return (config.sshActions ?? []).filter((a) => names.has(a.name.toLowerCase()));
}

/** The SSH actions no setup in use lists: they stay in the host's sequence. */
export function hostSshActions(config: AgentConfig): SshActionSettings[] {
  const listed = new Set(activeSetups(config).flatMap((s) => s.sshActions.map((n) => n.toLowerCase())));
  return (config.sshActions ?? []).filter((a) => !listed.has(a.name.toLowerCase()));
}

/** A setup's shutdown policy: advanced N+x over its cards, with the host's delays. */
export function setupPolicy(
  setup: UpsSetupSettings,
  shutdownDelays: ReadonlyMap<EventId, number>,
): ShutdownPolicy {
  return {
    mode: "advanced",
    cards: setup.cards,
    redundantUps: Math.max(0, setup.cards.length - setup.minimumHealthy),
    shutdownDelays,
  };
}

/** A setup's sequence settings. */
export function setupSequenceSettings(config: AgentConfig, setup: UpsSetupSettings): SequenceSettings {
  return {
    cards: setup.cards,
    turnOffUps: setup.turnOffUps,
    shutdownCommandFile: setup.shutdownCommandFile,
    shutdownCommandFileDuration: setup.shutdownCommandFileDuration,
    settleDelay: 0,
    osCommands: [],
    sshActions: setupSshActions(config, setup),
    ...(config.nut?.enabled ? { hostSyncTimeout: config.nut.hostSyncTimeout } : {}),
    setup: { name: setup.name, handOver: setup.shutdownThisServer },
  };
}

/** A setup's action-engine settings, from the host's (its delays). */
export function setupActionSettings(
  config: AgentConfig,
  setup: UpsSetupSettings,
  host: ActionSettings,
): ActionSettings {
  return {
    policy: setupPolicy(setup, host.policy.shutdownDelays),
    events: {},
    sequence: setupSequenceSettings(config, setup),
  };
}

/**
 * The host engine's `external` decider with setups in use: a condition holds while a setup with
 * shutdownThisServer is short of healthy UPSs (undefined without setups: the host's policy decides).
 */
export function hostExternal(
  config: AgentConfig,
  shutdownDelays: ReadonlyMap<EventId, number>,
): ActionSettings["external"] {
  const deciding = activeSetups(config).filter((s) => s.shutdownThisServer);
  if (activeSetups(config).length === 0) return undefined;
  const policies = deciding.map((s) => setupPolicy(s, shutdownDelays));
  return {
    holds: (active: readonly ActiveEvent[]) =>
      policies.some((p) => shutdownCandidates(active, p, new Map()).length > 0),
  };
}

/**
 * Seconds a setup's own sequence takes at most: its SSH actions, its command file and (NUT server on) the
 * wait for the secondaries of its UPSs.
 */
export function setupSequenceSeconds(config: AgentConfig, setup: UpsSetupSettings): number {
  return (setup.shutdownCommandFile ? setup.shutdownCommandFileDuration : 0) +
    sshSequenceSeconds(setupSshActions(config, setup)) +
    (config.nut?.enabled ? config.nut.hostSyncTimeout : 0);
}

/** The longest own sequence among the setups in use that hand over to this server (0 = none). */
export function longestHandOverSeconds(config: AgentConfig): number {
  return Math.max(
    0,
    ...activeSetups(config).filter((s) => s.shutdownThisServer).map((s) => setupSequenceSeconds(config, s)),
  );
}
