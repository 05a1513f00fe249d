/**
 * Runtime checks (pure): after every status packet the agent compares the
 * runtime the UPS can still give with what the shutdown needs, as PCNS does
 * (shared/spec/pcns.md §3.2, §4.4):
 *
 * - RuntimeExceeded, on battery: total shutdown time > Low Battery Duration - 2 min, or
 *   on-battery delay + total shutdown time > runtime remaining - 2 min;
 * - RuntimeBelowThreshold: runtime remaining below the user's threshold;
 * - BatteryDischarged, on line: runtime remaining <= the card's Low Battery Duration
 *   (an outage now would give a low-battery condition at once).
 *
 * Each condition raises its event when it starts and its clearing event when it ends.
 *
 * @module
 */
import type { EventDraft, EventId } from "../events/types.ts";
import type { UpsReading, UpsStatusFlags } from "../nmc/status.ts";

/** The NMC's non-configurable margin before its own shutdown phase. */
const NMC_MARGIN_SECONDS = 120;
/** Low Battery Duration assumed when the card does not send it (the NMC default). */
const DEFAULT_LOW_BATTERY_DURATION_MINUTES = 2;

/** What the runtime checks need from the configuration. */
export interface RuntimeSettings {
  /** Runtime threshold in minutes for RuntimeBelowThreshold (0 = off). */
  readonly thresholdMinutes: number;
  /** Seconds the whole shutdown sequence needs (command file + settle delay + OS). */
  readonly totalShutdownSeconds: number;
  /** Shutdown delay of the on-battery event, seconds. */
  readonly onBatteryDelaySeconds: number;
}

/** The runtime conditions of one UPS. */
export interface RuntimeConditions {
  /** Not enough runtime for the shutdown. */
  readonly runtimeExceeded: boolean;
  /** Runtime below the user's threshold. */
  readonly runtimeBelowThreshold: boolean;
  /** On line with almost no runtime. */
  readonly batteryDischarged: boolean;
}

/** No condition holds. */
export const NO_RUNTIME_CONDITIONS: RuntimeConditions = {
  runtimeExceeded: false,
  runtimeBelowThreshold: false,
  batteryDischarged: false,
};

/**
 * Evaluates the runtime conditions for a UPS's latest reading. `onBatteryPower` says whether the UPS runs
 * on battery because utility power failed (default: on battery and not calibrating; the state passes false
 * during a self-test too): a calibration or self-test drains the battery on purpose and never raises
 * RuntimeExceeded.
 */
export function evaluateRuntime(
  reading: UpsReading,
  flags: UpsStatusFlags,
  settings: RuntimeSettings,
  onBatteryPower: boolean = flags.onBattery && !flags.calibration,
): RuntimeConditions {
  const runtimeSeconds = reading.runtimeMinutes === undefined ? undefined : reading.runtimeMinutes * 60;
  const lbdSeconds = (reading.lowBatteryDurationMinutes ?? DEFAULT_LOW_BATTERY_DURATION_MINUTES) * 60;
  const onBattery = onBatteryPower;
  const exceededByLbd = settings.totalShutdownSeconds > lbdSeconds - NMC_MARGIN_SECONDS;
  const exceededByRuntime = runtimeSeconds !== undefined &&
    settings.onBatteryDelaySeconds + settings.totalShutdownSeconds > runtimeSeconds - NMC_MARGIN_SECONDS;
  return {
    runtimeExceeded: onBattery && (exceededByLbd || exceededByRuntime),
    runtimeBelowThreshold: settings.thresholdMinutes > 0 && reading.runtimeMinutes !== undefined &&
      reading.runtimeMinutes < settings.thresholdMinutes,
    batteryDischarged: !flags.onBattery && flags.online && runtimeSeconds !== undefined &&
      runtimeSeconds <= lbdSeconds,
  };
}

const EVENTS: ReadonlyArray<readonly [keyof RuntimeConditions, EventId, EventId]> = [
  ["runtimeExceeded", "RuntimeExceeded", "RuntimeSufficient"],
  ["runtimeBelowThreshold", "RuntimeBelowThreshold", "RuntimeAboveThreshold"],
  ["batteryDischarged", "BatteryDischarged", "BatteryChargeInRange"],
];

/** The events raised by a change of conditions (a cleared event only after the condition was raised). */
export function runtimeEvents(
  card: string,
  before: RuntimeConditions,
  after: RuntimeConditions,
  details: Record<string, unknown>,
): EventDraft[] {
  const events: EventDraft[] = [];
  for (const [key, raised, cleared] of EVENTS) {
    if (!before[key] && after[key]) events.push({ id: raised, nmc: card, details });
    else if (before[key] && !after[key]) events.push({ id: cleared, nmc: card, details });
  }
  return events;
}
