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
}

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
function isPowerFailure(flags: UpsStatusFlags): boolean {
  return flags.onBattery && !flags.calibration;
}

function readingDetails(reading: UpsReading): Record<string, unknown> {
  const keys: (keyof UpsReading)[] = ["batteryPercent", "runtimeMinutes", "loadPercent", "lineVoltage"];
  const out: Record<string, unknown> = {};
  for (const key of keys) if (reading[key] !== undefined) out[key] = reading[key];
  return out;
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
  const details = readingDetails(merged);

  if (state.comm !== "ok") events.push({ id: "CommunicationEstablished", nmc: card, details });

  const edge = (was: boolean, is: boolean, on: EventDraft["id"], off?: EventDraft["id"]) => {
    if (!was && is) events.push({ id: on, nmc: card, details });
    else if (was && !is && off) events.push({ id: off, nmc: card, details });
  };
  edge(isPowerFailure(state.flags), isPowerFailure(flags), "PowerFailed", "PowerRestored");
  edge(state.flags.lowBattery, flags.lowBattery, "LowBattery", "LowBatteryCleared");
  edge(state.flags.overload, flags.overload, "Overload", "OverloadCleared");
  edge(state.flags.replaceBattery, flags.replaceBattery, "ReplaceBattery");
  edge(state.shuttingDown, shuttingDown, "UpsTurnOffInitiated");
  const runtime = runtimeSettings ? evaluateRuntime(merged, flags, runtimeSettings) : state.runtime;
  events.push(...runtimeEvents(card, state.runtime, runtime, details));

  return {
    state: {
      ...state,
      comm: "ok",
      reading: merged,
      flags,
      shuttingDown,
      runtime,
      lastStatusAt: now,
      lastPacketAt: now,
      statusPackets: state.statusPackets + 1,
    },
    events,
  };
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

/** Declares communication lost (no accepted status packet for the timeout). */
export function applyCommLost(state: UpsState, silentForMs: number): Transition {
  if (state.comm === "lost") return { state, events: [] };
  const seconds = Math.round(silentForMs / 1000);
  const note = state.lastStatusAt === undefined
    ? `no status packet in ${seconds} s since monitoring started`
    : `no status packet for ${seconds} s`;
  return { state: { ...state, comm: "lost" }, events: [{ id: "CommunicationLost", nmc: state.card, note }] };
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
