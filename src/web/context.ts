/**
 * What the web app needs from the rest of the agent, as one narrow
 * interface: the app never reaches into the agent's or the config store's
 * internals, and tests can hand it a fake.
 *
 * @module
 */
import type { AgentStatus } from "../agent/status.ts";
import type { AgentConfig } from "../config/types.ts";
import type { EventLogRecord } from "../events/eventlog.ts";
import type { AgentEvent, EventDraft } from "../events/types.ts";
import type { KillPowerResult } from "../nmc/killpower.ts";
import type { HistorySample } from "../ups/history.ts";
import type { CertificateInfo } from "./pem.ts";

/** Outcome of a settings change. */
export type ConfigUpdateResult =
  | { readonly ok: true; readonly changed: readonly string[] }
  | { readonly ok: false; readonly errors: Readonly<Record<string, string>> };

/** The web UI's view of the agent. */
export interface WebAppContext {
  /** The UPS and agent state now. */
  status(): AgentStatus;
  /** The configuration in effect. */
  config(): AgentConfig;
  /** Its canonical file values by `Section.key` (secrets included: never render them). */
  values(): ReadonlyMap<string, string>;
  /** The last 24 h of a card's readings. */
  history(card: string): HistorySample[];
  /** Every event in the event log (oldest first). */
  events(): Promise<EventLogRecord[]>;
  /** Validates and writes settings (`Section.key` -> value) through the config store. */
  updateConfig(updates: Readonly<Record<string, string>>): Promise<ConfigUpdateResult>;
  /** Checks one NMC now (reachability, TLS, credentials), turning nothing off. */
  checkNmc(card: string): Promise<KillPowerResult>;
  /** The web UI certificate in use. */
  certificate(): { readonly info: CertificateInfo; readonly source: "configured" | "generated" };
  /** Validates and installs a new certificate, then serves it without a restart. */
  installCertificate(certPem: string, keyPem: string): Promise<void>;
  /** Raises a service event (logins, lockouts, ...). */
  emit(draft: EventDraft): void;
  /** Forgets the replay counters of one card (or every card); `by` names who asked; returns the cards reset. */
  resetCounters?(card: string | undefined, by: string): string[];
  /** The last hour of a card's readings at 10 s (absent: the chart shows the 24 h samples). */
  recentHistory?(card: string): HistorySample[];
  /** Calls `listener` with every agent event (the live dashboard); returns the unsubscribe function. */
  subscribe?(listener: (event: AgentEvent) => void): () => void;
  /** Empties the event log (every generation); the app logs who did it. */
  clearEvents?(): Promise<void>;
  /** Time source (ms). */
  now(): number;
}
