/**
 * The event catalogue: every event the agent can raise, with its severity and
 * a short description. UPS events come from UPS state changes; service events
 * come from the agent itself (start, config reloads, ...).
 *
 * @module
 */

/** How serious an event is. */
export type Severity = "info" | "warning" | "critical";

/** Catalogue entry for one event id. */
export interface EventInfo {
  /** Severity of the event. */
  readonly severity: Severity;
  /** One-line description, as shown in the log and the UI. */
  readonly text: string;
  /** UPS events can get actions in `[Events]`; service events are only logged. */
  readonly kind: "ups" | "service";
}

/** Every event, by id (ids as PCNS names them where known). */
export const EVENT_CATALOG = {
  PowerFailed: { severity: "critical", text: "UPS on battery", kind: "ups" },
  PowerRestored: { severity: "info", text: "Utility power restored", kind: "ups" },
  LowBattery: { severity: "critical", text: "Low battery condition occurred", kind: "ups" },
  LowBatteryCleared: { severity: "info", text: "Low battery condition cleared", kind: "ups" },
  UpsTurnOffInitiated: { severity: "critical", text: "UPS turn off has been initiated", kind: "ups" },
  CommunicationLost: {
    severity: "critical",
    text: "PowerChute cannot communicate with the Network Management Card",
    kind: "ups",
  },
  CommunicationEstablished: {
    severity: "info",
    text: "Communication with the Network Management Card established",
    kind: "ups",
  },
  Overload: { severity: "warning", text: "UPS overload", kind: "ups" },
  OverloadCleared: { severity: "info", text: "UPS overload cleared", kind: "ups" },
  ReplaceBattery: { severity: "warning", text: "UPS battery needs replacing", kind: "ups" },
  BatteryDischarged: {
    severity: "warning",
    text: "Battery is discharged: an outage now would give a low battery condition at once",
    kind: "ups",
  },
  BatteryChargeInRange: { severity: "info", text: "Battery charge in range", kind: "ups" },
  RuntimeBelowThreshold: { severity: "warning", text: "Runtime remaining below threshold", kind: "ups" },
  RuntimeAboveThreshold: { severity: "info", text: "Runtime remaining above threshold", kind: "ups" },
  RuntimeExceeded: {
    severity: "critical",
    text: "Available runtime has been exceeded: the shutdown needs more time than the UPS can give",
    kind: "ups",
  },
  RuntimeSufficient: { severity: "info", text: "Available runtime is sufficient", kind: "ups" },
  SelfTestStarted: {
    severity: "info",
    text: "UPS self-test started (on battery for the test, not a power failure)",
    kind: "ups",
  },
  SelfTestEnded: { severity: "info", text: "UPS self-test ended", kind: "ups" },
  BatteryLowOnLine: {
    severity: "warning",
    text: "Battery low while utility power is present (recharging): critical only on battery or with " +
      "communication lost",
    kind: "ups",
  },
  BatteryLowOnLineCleared: { severity: "info", text: "Battery no longer low", kind: "ups" },
  BatteryDisconnected: {
    severity: "warning",
    text: "UPS battery disconnected: an outage now would drop the load at once",
    kind: "ups",
  },
  BatteryConnected: { severity: "info", text: "UPS battery connected", kind: "ups" },
  MultipleCriticalEvents: { severity: "critical", text: "Multiple critical events occurred", kind: "ups" },
  ShutdownStarting: { severity: "critical", text: "Shutdown sequence starting", kind: "ups" },
  ShutdownCancelled: { severity: "info", text: "Pending shutdown cancelled", kind: "ups" },
  MonitoringStarted: { severity: "info", text: "Monitoring started", kind: "service" },
  MonitoringStopped: { severity: "info", text: "Monitoring stopped", kind: "service" },
  ConfigReloaded: { severity: "info", text: "Configuration reloaded", kind: "service" },
  ConfigRejected: { severity: "warning", text: "Configuration change rejected", kind: "service" },
  ConfigWarning: { severity: "warning", text: "Configuration problem", kind: "service" },
  ConfigBackupUsed: {
    severity: "warning",
    text: "Configuration file unreadable: the backup is used as a whole",
    kind: "service",
  },
  CredentialsChanged: { severity: "warning", text: "Credentials changed", kind: "service" },
  ListenerFailed: { severity: "warning", text: "A network listener could not be opened", kind: "service" },
  ShutdownPending: { severity: "warning", text: "Shutdown countdown started", kind: "service" },
  CommandFileRun: { severity: "info", text: "Command file finished", kind: "service" },
  CommandFileFailed: { severity: "warning", text: "Command file failed", kind: "service" },
  CommandFileTimedOut: {
    severity: "warning",
    text: "Command file did not finish in its duration",
    kind: "service",
  },
  CommandFileSkipped: { severity: "info", text: "Command file not run (dry run)", kind: "service" },
  NotificationFailed: { severity: "warning", text: "Notification could not be delivered", kind: "service" },
  NotificationSkipped: {
    severity: "info",
    text: "Notification not sent: the event cleared within its notification delay",
    kind: "service",
  },
  NotificationTest: {
    severity: "info",
    text: "Test notification from pcns-agent notify test",
    kind: "service",
  },
  EventLogReopened: {
    severity: "warning",
    text: "The event log file was deleted or replaced outside the agent: a new one was opened",
    kind: "service",
  },
  EventLogRotated: { severity: "info", text: "Event log rotated", kind: "service" },
  EventsSuppressed: {
    severity: "warning",
    text: "Events not written to the event log (too many of one kind at once)",
    kind: "service",
  },
  EventsNotLogged: {
    severity: "warning",
    text: "Events could not be written to the event log (the system log has them)",
    kind: "service",
  },
  UpsTurnOffSent: { severity: "critical", text: "UPS turn-off command sent to the NMC", kind: "service" },
  UpsTurnOffFailed: { severity: "critical", text: "UPS turn-off command failed", kind: "service" },
  UpsTurnOffSkipped: { severity: "warning", text: "UPS turn-off not sent (dry run)", kind: "service" },
  OsShutdown: { severity: "critical", text: "Shutting down the operating system", kind: "service" },
  OsShutdownFailed: { severity: "critical", text: "The OS shutdown command failed", kind: "service" },
  SetupActionsStarting: {
    severity: "critical",
    text: "An advanced UPS setup's actions are starting (its UPSs are not healthy enough)",
    kind: "service",
  },
  SetupActionsDone: { severity: "info", text: "An advanced UPS setup's actions ended", kind: "service" },
  CountdownResumed: {
    severity: "warning",
    text: "Shutdown countdown resumed after a restart",
    kind: "service",
  },
  ShutdownRearmed: {
    severity: "info",
    text: "Shutdown re-armed: a new critical condition starts a new countdown",
    kind: "service",
  },
  ShutdownResetRequested: {
    severity: "info",
    text: "Shutdown reset requested by an operator",
    kind: "service",
  },
  StateNotSaved: {
    severity: "warning",
    text: "The pending-shutdown state could not be saved (the shutdown itself goes on)",
    kind: "service",
  },
  DataDiskStalled: {
    severity: "warning",
    text: "A write to the data directory has not finished: the disk does not answer (the agent goes on)",
    kind: "service",
  },
  ClockJumped: {
    severity: "warning",
    text: "A shutdown timer ran late or early: the agent was stalled or the clock jumped",
    kind: "service",
  },
  CardCountersStuck: {
    severity: "warning",
    text: "Authenticated packets of the Network Management Card are refused as replayed",
    kind: "service",
  },
  CardCountersReset: {
    severity: "warning",
    text: "Replay counters of the Network Management Card reset",
    kind: "service",
  },
  CardCountersUnavailable: {
    severity: "warning",
    text: "Saved replay counters could not be read or written",
    kind: "service",
  },
  PacketFloodStarted: {
    severity: "warning",
    text: "UDP flood of datagrams no NMC sends",
    kind: "service",
  },
  PacketFloodEnded: {
    severity: "info",
    text: "UDP flood of datagrams no NMC sends ended",
    kind: "service",
  },
  LoginSucceeded: { severity: "info", text: "Web UI login", kind: "service" },
  LoginFailed: { severity: "warning", text: "Web UI login failed", kind: "service" },
  LoginLockedOut: {
    severity: "warning",
    text: "Web UI login locked out after repeated failures",
    kind: "service",
  },
  SetupCompleted: { severity: "info", text: "First-run setup completed", kind: "service" },
  SetupFailed: { severity: "warning", text: "First-run setup attempt refused", kind: "service" },
  CertificateReplaced: { severity: "info", text: "Web UI certificate replaced", kind: "service" },
  WebRequestFailed: { severity: "warning", text: "A web UI request failed", kind: "service" },
  CountdownDropped: {
    severity: "info",
    text: "Shutdown countdown from before the restart dropped",
    kind: "service",
  },
  RegistrationSucceeded: {
    severity: "info",
    text: "Registered with the Network Management Card",
    kind: "service",
  },
  RegistrationFailed: {
    severity: "warning",
    text: "Error registering with the Network Management Card",
    kind: "service",
  },
  Unregistered: { severity: "info", text: "Unregistered from the Network Management Card", kind: "service" },
  UnregistrationFailed: {
    severity: "warning",
    text: "Error unregistering from the Network Management Card",
    kind: "service",
  },
  CardCertificatePinned: {
    severity: "info",
    text: "Network Management Card certificate pinned (trust on first use)",
    kind: "service",
  },
  CardCertificateChanged: {
    severity: "critical",
    text: "Network Management Card certificate changed: refused",
    kind: "service",
  },
  NegotiationAnswered: {
    severity: "info",
    text: "Shutdown time negotiated with the Network Management Card",
    kind: "service",
  },
  NegotiationRefused: {
    severity: "warning",
    text: "Shutdown-time negotiation request refused",
    kind: "service",
  },
  NutClientLoggedIn: { severity: "info", text: "NUT secondary logged in", kind: "service" },
  NutClientLoggedOut: { severity: "info", text: "NUT secondary logged out", kind: "service" },
  NutLoginFailed: { severity: "warning", text: "NUT login refused", kind: "service" },
  NutForcedShutdown: {
    severity: "critical",
    text: "Forced shutdown (FSD) set for the NUT secondaries",
    kind: "service",
  },
  HostSyncCompleted: {
    severity: "info",
    text: "NUT secondaries logged out: the OS shutdown goes on",
    kind: "service",
  },
  HostSyncTimedOut: {
    severity: "warning",
    text: "NUT secondaries did not log out within hostSyncTimeout",
    kind: "service",
  },
  HistoryUnavailable: {
    severity: "warning",
    text: "The saved UPS history (dashboard chart) could not be read or written",
    kind: "service",
  },
  EventLogCleared: { severity: "warning", text: "Event log cleared", kind: "service" },
  SshActionSucceeded: { severity: "info", text: "SSH action finished", kind: "service" },
  SshActionFailed: { severity: "warning", text: "SSH action failed", kind: "service" },
  SshActionTimedOut: {
    severity: "warning",
    text: "SSH action did not finish in its duration: cut off",
    kind: "service",
  },
  SshActionSkipped: { severity: "info", text: "SSH action not run", kind: "service" },
  SshHostKeyPinned: {
    severity: "info",
    text: "SSH host key pinned (trust on first use)",
    kind: "service",
  },
  SshHostKeyMismatch: {
    severity: "critical",
    text: "SSH host key does not match the pinned fingerprint: refused",
    kind: "service",
  },
} as const satisfies Record<string, EventInfo>;

/** An event id from the catalogue. */
export type EventId = keyof typeof EVENT_CATALOG;

/** Ids of the UPS events (those that can have actions). */
export const UPS_EVENT_IDS: readonly EventId[] = (Object.keys(EVENT_CATALOG) as EventId[]).filter(
  (id) => EVENT_CATALOG[id].kind === "ups",
);

/** Events that end another event's condition (and the other way round). */
export const CLEARING_PAIRS: ReadonlyArray<readonly [raised: EventId, cleared: EventId]> = [
  ["PowerFailed", "PowerRestored"],
  ["LowBattery", "LowBatteryCleared"],
  ["Overload", "OverloadCleared"],
  ["CommunicationLost", "CommunicationEstablished"],
  ["BatteryDischarged", "BatteryChargeInRange"],
  ["RuntimeBelowThreshold", "RuntimeAboveThreshold"],
  ["RuntimeExceeded", "RuntimeSufficient"],
  ["SelfTestStarted", "SelfTestEnded"],
  ["BatteryLowOnLine", "BatteryLowOnLineCleared"],
  ["BatteryDisconnected", "BatteryConnected"],
];

/**
 * How a UPS event can take part in the shutdown: `always` shuts down and cannot be disabled (as in PCNS),
 * `optional` shuts down when `[Events] event_<Id>_enableShutdown` is true, `fixed` always shuts down after
 * a fixed delay (its keys are not used). Events not listed cannot shut the host down.
 */
export const SHUTDOWN_ROLES: Readonly<Partial<Record<EventId, "always" | "optional" | "fixed">>> = {
  LowBattery: "always",
  UpsTurnOffInitiated: "always",
  MultipleCriticalEvents: "fixed",
  PowerFailed: "optional",
  CommunicationLost: "optional",
  Overload: "optional",
  BatteryDischarged: "optional",
  RuntimeBelowThreshold: "optional",
  RuntimeExceeded: "optional",
};

/** One event as it travels on the event stream and lands in the event log. */
export interface AgentEvent {
  /** Event id. */
  readonly id: EventId;
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Severity, from the catalogue. */
  readonly severity: Severity;
  /** Human-readable text. */
  readonly message: string;
  /** The NMC (card address) it concerns, if any. */
  readonly nmc?: string;
  /** Extra values (readings, what changed, ...); never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** An event before it is stamped with time and severity. */
export interface EventDraft {
  /** Event id. */
  readonly id: EventId;
  /** The NMC it concerns, if any. */
  readonly nmc?: string;
  /** Text to add after the catalogue text. */
  readonly note?: string;
  /** Extra values. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Stamps a draft with time, severity and message. */
export function makeEvent(draft: EventDraft, time: number): AgentEvent {
  const info: EventInfo = EVENT_CATALOG[draft.id];
  const where = draft.nmc ? ` (NMC ${draft.nmc})` : "";
  const message = `${info.text}${where}${draft.note ? `: ${draft.note}` : ""}`;
  return {
    id: draft.id,
    time,
    severity: info.severity,
    message,
    ...(draft.nmc ? { nmc: draft.nmc } : {}),
    ...(draft.details ? { details: draft.details } : {}),
  };
}
