/**
 * UPS state per NMC and the pure rules that turn accepted packets into state
 * changes and events (the "packet -> UPS state -> events" stage). No I/O and
 * no timers here: `monitor.ts` owns those.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { ClientNotification, UpsReading, UpsStatusFlags } from "../nmc/status.ts";
import {
  evaluateRuntime,
  NO_RUNTIME_CONDITIONS,
  type RuntimeConditions,
  runtimeEvents,
  type RuntimeSettings,
} from "./runtime.ts";

/** Communication with a card: not heard yet since start, fine, or lost. */
export type CommState = "waiting" | "ok" | "lost";

/** Everything known about one UPS, as reported by its NMC. */
export interface UpsState {
  /** The card's address (its `PC=`). */
  readonly card: string;
  /** Communication state. */
  readonly comm: CommState;
  /** Latest value of every reading the card has sent (a value stays until the card sends a new one). */
  readonly reading: UpsReading;
  /** Current status flags (all false until the first status packet). */
  readonly flags: UpsStatusFlags;
  /** SD=1: the UPS reported it is shutting down. */
  readonly shuttingDown: boolean;
  /** Runtime conditions (runtime exceeded, below threshold, battery discharged). */
  readonly runtime: RuntimeConditions;
  /** When the last accepted status packet arrived (ms since epoch). */
  readonly lastStatusAt?: number;
  /** When the last accepted packet of any kind arrived. */
  readonly lastPacketAt?: number;
  /** Accepted MASTATUS packets. */
  readonly statusPackets: number;
  /** Accepted MACONFIG packets. */
  readonly configPackets: number;
  /** The card's PowerChute client list from its last MACONFIG. */
  readonly clients?: readonly string[];
  /** The UDP port the card says it sends to (from MACONFIG PT=). */
  readonly cardUdpPort?: number;
  /** While a self-test runs: when it started (on battery with last transfer cause `S`). */
  readonly selfTestSince?: number;
  /** Low battery is critical: on battery because utility power failed, or with communication lost. */
  readonly lowBatteryCritical: boolean;
  /** Low battery was reported while on line (a warning; stays until the low battery clears). */
  readonly lowBatteryOnLine: boolean;
  /** Register 2 says the battery is disconnected. */
  readonly batteryDisconnected: boolean;
}

/** How long on battery with last transfer cause `S` counts as a self-test, not a power failure. */
export const SELF_TEST_WINDOW_MS = 45_000;

const NO_FLAGS: UpsStatusFlags = {
  calibration: false,
  trim: false,
  boost: false,
  online: false,
  onBattery: false,
  overload: false,
  lowBattery: false,
  replaceBattery: false,
};

/** The state of a card not heard from yet. */
export function initialUpsState(card: string): UpsState {
  return {
    card,
    comm: "waiting",
    reading: {},
    flags: NO_FLAGS,
    shuttingDown: false,
    runtime: NO_RUNTIME_CONDITIONS,
    statusPackets: 0,
    configPackets: 0,
    lowBatteryCritical: false,
    lowBatteryOnLine: false,
    batteryDisconnected: false,
  };
}

/** A new state plus the events the change raised. */
export interface Transition {
  /** State after the change. */
  readonly state: UpsState;
  /** Events raised, in order. */
  readonly events: readonly EventDraft[];
}

/** Calibration discharges the battery on purpose: on battery while calibrating is not a power failure. */
function onBatteryPower(flags: UpsStatusFlags): boolean {
  return flags.onBattery && !flags.calibration;
}

/** The state's power-failure view: on battery power, and not inside a self-test's window. */
function isPowerFailure(state: Pick<UpsState, "flags" | "selfTestSince">): boolean {
  return onBatteryPower(state.flags) && state.selfTestSince === undefined;
}

/** The reading values an event's details carry. */
const DETAIL_KEYS: readonly (keyof UpsReading)[] = [
  "batteryPercent",
  "runtimeMinutes",
  "loadPercent",
  "lineVoltage",
];

function readingDetails(reading: UpsReading): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of DETAIL_KEYS) if (reading[key] !== undefined) out[key] = reading[key];
  return out;
}

/**
 * The self-test rule: going on battery while the card's last transfer cause is `S` starts a self-test
 * (no power failure); it ends when the UPS is off battery again. Still on battery `SELF_TEST_WINDOW_MS`
 * after it started, it is a power failure after all (a real outage during or right after a test).
 */
function nextSelfTest(
  state: UpsState,
  flags: UpsStatusFlags,
  reading: UpsReading,
  now: number,
): { since?: number; event?: EventDraft } {
  const card = state.card;
  const was = onBatteryPower(state.flags);
  const is = onBatteryPower(flags);
  if (state.selfTestSince !== undefined) {
    if (!is) {
      const result = reading.selfTestResult ?? state.reading.selfTestResult;
      return {
        event: { id: "SelfTestEnded", nmc: card, note: result ? `result: ${result}` : "no result yet" },
      };
    }
    if (now - state.selfTestSince < SELF_TEST_WINDOW_MS) return { since: state.selfTestSince };
    return {}; // the window is over: a power failure from now on
  }
  if (!was && is && reading.lastTransferCode === "S") {
    return { since: now, event: { id: "SelfTestStarted", nmc: card } };
  }
  return {};
}

/** True if any runtime condition differs (only then can `runtimeEvents` raise one). */
function runtimeChanged(before: RuntimeConditions, after: RuntimeConditions): boolean {
  return before.runtimeExceeded !== after.runtimeExceeded ||
    before.runtimeBelowThreshold !== after.runtimeBelowThreshold ||
    before.batteryDischarged !== after.batteryDischarged;
}

/** Applies an accepted status packet's reading at time `now` (runtime checks only with `runtimeSettings`). */
export function applyStatus(
  state: UpsState,
  reading: UpsReading,
  now: number,
  runtimeSettings?: RuntimeSettings,
): Transition {
  const events: EventDraft[] = [];
  const card = state.card;
  const merged: UpsReading = { ...state.reading, ...reading };
  const flags = reading.flags ?? state.flags;
  const shuttingDown = reading.shuttingDown ?? state.shuttingDown;
  const batteryDisconnected = merged.batteryDisconnected ?? false;
  // One details object shared by this packet's events, made only when there is an event (most packets raise none).
  let detailsObject: Record<string, unknown> | undefined;
  const details = () => detailsObject ??= readingDetails(merged);

  if (state.comm !== "ok") events.push({ id: "CommunicationEstablished", nmc: card, details: details() });

  const edge = (was: boolean, is: boolean, on: EventDraft["id"], off?: EventDraft["id"], note?: string) => {
    if (!was && is) events.push({ id: on, nmc: card, details: details(), ...(note ? { note } : {}) });
    else if (was && !is && off) events.push({ id: off, nmc: card, details: details() });
  };
  const selfTest = nextSelfTest(state, flags, merged, now);
  if (selfTest.event) events.push(selfTest.event);
  const powerFailure = isPowerFailure({ flags, selfTestSince: selfTest.since });
  const afterSelfTest = state.selfTestSince !== undefined && selfTest.since === undefined && powerFailure;
  edge(
    isPowerFailure(state),
    powerFailure,
    "PowerFailed",
    "PowerRestored",
    afterSelfTest
      ? `still on battery ${Math.round((now - state.selfTestSince!) / 1000)} s after a self-test started`
      : undefined,
  );
  const lowBatteryCritical = flags.lowBattery && powerFailure;
  edge(state.lowBatteryCritical, lowBatteryCritical, "LowBattery", "LowBatteryCleared");
  const lowBatteryOnLine = flags.lowBattery && (state.lowBatteryOnLine || !lowBatteryCritical);
  edge(state.lowBatteryOnLine, lowBatteryOnLine, "BatteryLowOnLine", "BatteryLowOnLineCleared");
  edge(state.flags.overload, flags.overload, "Overload", "OverloadCleared");
  edge(state.flags.replaceBattery, flags.replaceBattery, "ReplaceBattery");
  edge(state.batteryDisconnected, batteryDisconnected, "BatteryDisconnected", "BatteryConnected");
  edge(state.shuttingDown, shuttingDown, "UpsTurnOffInitiated");
  const runtime = runtimeSettings
    ? evaluateRuntime(merged, flags, runtimeSettings, powerFailure)
    : state.runtime;
  if (runtimeChanged(state.runtime, runtime)) {
    events.push(...runtimeEvents(card, state.runtime, runtime, details()));
  }

  return {
    state: {
      // A rest pattern (`{ selfTestSince, ...rest }`) costs ten times a spread: used only when it must go.
      ...(state.selfTestSince === undefined || selfTest.since !== undefined ? state : withoutSelfTest(state)),
      ...(selfTest.since !== undefined ? { selfTestSince: selfTest.since } : {}),
      comm: "ok",
      reading: merged,
      flags,
      shuttingDown,
      runtime,
      lowBatteryCritical,
      lowBatteryOnLine,
      batteryDisconnected,
      lastStatusAt: now,
      lastPacketAt: now,
      statusPackets: state.statusPackets + 1,
    },
    events,
  };
}

/** `state` without its self-test start. */
function withoutSelfTest(state: UpsState): UpsState {
  const { selfTestSince: _ended, ...rest } = state;
  return rest;
}

/** Applies an accepted MACONFIG: it records the client list but proves nothing about the UPS link. */
export function applyClientNotification(state: UpsState, note: ClientNotification, now: number): Transition {
  return {
    state: {
      ...state,
      clients: note.clients,
      cardUdpPort: note.udpPort,
      lastPacketAt: now,
      configPackets: state.configPackets + 1,
    },
    events: [],
  };
}

/**
 * Declares communication lost (no accepted status packet for the timeout). A low battery last reported
 * while on line turns critical now: the agent can no longer see whether utility power is still there.
 */
export function applyCommLost(state: UpsState, silentForMs: number): Transition {
  if (state.comm === "lost") return { state, events: [] };
  const seconds = Math.round(silentForMs / 1000);
  const note = state.lastStatusAt === undefined
    ? `no status packet in ${seconds} s since monitoring started`
    : `no status packet for ${seconds} s`;
  const events: EventDraft[] = [{ id: "CommunicationLost", nmc: state.card, note }];
  const lowBatteryCritical = state.flags.lowBattery;
  if (lowBatteryCritical && !state.lowBatteryCritical) {
    events.push({
      id: "LowBattery",
      nmc: state.card,
      note: "the battery was last reported low and the card can no longer be heard",
    });
  }
  return { state: { ...state, comm: "lost", lowBatteryCritical }, events };
}

/** Re-runs the runtime checks with new settings (after a config change). */
export function recheckRuntime(state: UpsState, settings: RuntimeSettings): Transition {
  if (state.comm !== "ok") return { state, events: [] };
  const runtime = evaluateRuntime(state.reading, state.flags, settings);
  return {
    state: { ...state, runtime },
    events: runtimeEvents(state.card, state.runtime, runtime, readingDetails(state.reading)),
  };
}
