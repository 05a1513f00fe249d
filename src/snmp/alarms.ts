/**
 * The UPS-MIB alarm table (RFC 1628 upsAlarmTable) of the served card and the traps its changes send
 * (pure). Which well-known alarms hold is read from the card's UPS state and the agent's own shutdown
 * phase ({@link presentAlarms}); {@link AlarmTable} keeps their rows (ids from 1 upwards, never reused
 * while a row exists, the time each was detected) and says what was added and removed on each update;
 * {@link trapsFor} turns that into notifications, and {@link REPEATED_ALARMS} names the conditions whose
 * trap is sent again every `trapRepeatInterval` seconds until they clear (PowerChute repeats every 30 s;
 * RFC 1628 resends upsTrapOnBattery every minute).
 *
 * @module
 */
import type { UpsState } from "../ups/state.ts";
import { type Varbind, VarType } from "./varbind.ts";

/** upsWellKnownAlarms (1.3.6.1.2.1.33.1.6.3). */
export const ALARM_BASE = "1.3.6.1.2.1.33.1.6.3";

/** The well-known alarms this agent raises, by name: their upsAlarmDescr OIDs. */
export const ALARMS = {
  batteryBad: `${ALARM_BASE}.1`,
  onBattery: `${ALARM_BASE}.2`,
  lowBattery: `${ALARM_BASE}.3`,
  depletedBattery: `${ALARM_BASE}.4`,
  outputOverload: `${ALARM_BASE}.8`,
  diagnosticTestFailed: `${ALARM_BASE}.19`,
  communicationsLost: `${ALARM_BASE}.20`,
  shutdownPending: `${ALARM_BASE}.22`,
  shutdownImminent: `${ALARM_BASE}.23`,
  testInProgress: `${ALARM_BASE}.24`,
} as const;

/** upsTraps (1.3.6.1.2.1.33.2). */
export const TRAPS = {
  onBattery: "1.3.6.1.2.1.33.2.1",
  alarmEntryAdded: "1.3.6.1.2.1.33.2.3",
  alarmEntryRemoved: "1.3.6.1.2.1.33.2.4",
} as const;

/** Alarms whose trap repeats while they hold. */
export const REPEATED_ALARMS: ReadonlySet<string> = new Set([
  ALARMS.onBattery,
  ALARMS.lowBattery,
  ALARMS.communicationsLost,
  ALARMS.shutdownPending,
  ALARMS.shutdownImminent,
]);

/** The agent's own shutdown, as followed on the event stream. */
export interface ShutdownPhase {
  /** A shutdown countdown runs (ShutdownPending, not yet cancelled or started). */
  readonly pending: boolean;
  /** The shutdown sequence has started (ShutdownStarting). */
  readonly starting: boolean;
}

/**
 * The alarms that hold (pure), in upsWellKnownAlarms order. With communication lost only that, a low
 * battery that was critical when it was lost, and the shutdown alarms: the card's other flags are stale.
 * A self-test or calibration is testInProgress, not onBattery; a disconnected battery is depletedBattery
 * (the UPS cannot sustain the load if utility power is lost); SD=1 (UPS turn-off) is shutdownImminent.
 */
export function presentAlarms(ups: UpsState, shutdown: ShutdownPhase): string[] {
  const out = new Set<string>();
  const f = ups.flags;
  if (ups.comm === "lost") {
    out.add(ALARMS.communicationsLost);
    if (ups.lowBatteryCritical) out.add(ALARMS.lowBattery);
  } else if (ups.comm === "ok") {
    const testing = ups.selfTestSince !== undefined || f.calibration;
    if (f.replaceBattery) out.add(ALARMS.batteryBad);
    if (f.onBattery && !testing) out.add(ALARMS.onBattery);
    if (f.lowBattery) out.add(ALARMS.lowBattery);
    if (ups.runtime.batteryDischarged || ups.batteryDisconnected) out.add(ALARMS.depletedBattery);
    if (f.overload) out.add(ALARMS.outputOverload);
    if (ups.reading.selfTestResult?.startsWith("Failed")) out.add(ALARMS.diagnosticTestFailed);
    if (ups.shuttingDown) out.add(ALARMS.shutdownImminent);
    if (testing) out.add(ALARMS.testInProgress);
  }
  if (shutdown.pending && !shutdown.starting) out.add(ALARMS.shutdownPending);
  if (shutdown.starting) out.add(ALARMS.shutdownImminent);
  const arc = (oid: string) => Number(oid.slice(ALARM_BASE.length + 1));
  return [...out].sort((a, b) => arc(a) - arc(b));
}

/** One row of upsAlarmTable. */
export interface AlarmRow {
  /** upsAlarmId. */
  readonly id: number;
  /** upsAlarmDescr (a well-known alarm OID). */
  readonly descr: string;
  /** When it was detected (ms since the epoch). */
  readonly at: number;
}

const MAX_ID = 2147483647;

/** The alarm table's rows across updates (see the module documentation). */
export class AlarmTable {
  readonly #rows = new Map<string, AlarmRow>();
  #next = 1;

  /** The rows, by id. */
  rows(): AlarmRow[] {
    return [...this.#rows.values()].sort((a, b) => a.id - b.id);
  }

  /** The row of an alarm, if it holds. */
  row(descr: string): AlarmRow | undefined {
    return this.#rows.get(descr);
  }

  /** Makes the table hold exactly `present`; returns the rows added and removed. */
  update(present: readonly string[], now: number): { added: AlarmRow[]; removed: AlarmRow[] } {
    const removed = [...this.#rows.values()].filter((r) => !present.includes(r.descr));
    for (const r of removed) this.#rows.delete(r.descr);
    const added: AlarmRow[] = [];
    for (const descr of present) {
      if (this.#rows.has(descr)) continue;
      const row = { id: this.#freeId(), descr, at: now };
      this.#rows.set(descr, row);
      added.push(row);
    }
    return { added, removed };
  }

  #freeId(): number {
    const used = new Set([...this.#rows.values()].map((r) => r.id));
    if (this.#next > MAX_ID) this.#next = 1;
    while (used.has(this.#next)) this.#next = this.#next >= MAX_ID ? 1 : this.#next + 1;
    return this.#next++;
  }
}

/** One notification: its snmpTrapOID and the varbinds after sysUpTime and snmpTrapOID. */
export interface Notification {
  /** snmpTrapOID.0. */
  readonly trapOid: string;
  /** The notification's objects. */
  readonly varbinds: readonly Varbind[];
  /** The alarm it reports (for repeats). */
  readonly alarm: string;
}

const ALARM_ENTRY = "1.3.6.1.2.1.33.1.6.2.1";

/** upsTrapAlarmEntryAdded/Removed for a row: upsAlarmId.N and upsAlarmDescr.N. */
export function alarmNotification(row: AlarmRow, added: boolean): Notification {
  return {
    trapOid: added ? TRAPS.alarmEntryAdded : TRAPS.alarmEntryRemoved,
    varbinds: [
      { oid: `${ALARM_ENTRY}.1.${row.id}`, type: VarType.Integer, value: row.id },
      { oid: `${ALARM_ENTRY}.2.${row.id}`, type: VarType.Oid, value: row.descr },
    ],
    alarm: row.descr,
  };
}

/** upsTrapOnBattery with upsEstimatedMinutesRemaining, upsSecondsOnBattery and upsConfigLowBattTime. */
export function onBatteryNotification(values: {
  minutesRemaining: number;
  secondsOnBattery: number;
  lowBattMinutes: number;
}): Notification {
  return {
    trapOid: TRAPS.onBattery,
    varbinds: [
      { oid: "1.3.6.1.2.1.33.1.2.3.0", type: VarType.Integer, value: values.minutesRemaining },
      { oid: "1.3.6.1.2.1.33.1.2.2.0", type: VarType.Integer, value: values.secondsOnBattery },
      { oid: "1.3.6.1.2.1.33.1.9.7.0", type: VarType.Integer, value: values.lowBattMinutes },
    ],
    alarm: ALARMS.onBattery,
  };
}

/**
 * The notifications for a table change (pure), as RFC 1628 has them: onBattery added sends
 * upsTrapOnBattery (not AlarmEntryAdded); every other alarm added or removed sends AlarmEntryAdded /
 * Removed, except testInProgress. `onBattery` gives upsTrapOnBattery's values.
 */
export function trapsFor(
  change: { added: readonly AlarmRow[]; removed: readonly AlarmRow[] },
  onBattery: () => Notification,
): Notification[] {
  const out: Notification[] = [];
  for (const row of change.removed) {
    if (row.descr !== ALARMS.testInProgress) out.push(alarmNotification(row, false));
  }
  for (const row of change.added) {
    if (row.descr === ALARMS.onBattery) out.push(onBattery());
    else if (row.descr !== ALARMS.testInProgress) out.push(alarmNotification(row, true));
  }
  return out;
}
