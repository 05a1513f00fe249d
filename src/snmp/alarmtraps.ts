/**
 * When the SNMP agent sends which trap: the served card (`[SNMP] nmc`), its alarm table kept up to date
 * from the card's UPS state and the agent's shutdown phase (followed on the event stream), the
 * notifications of each change ({@link trapsFor}) and the repeats of {@link REPEATED_ALARMS} every
 * `trapRepeatInterval` seconds until they clear. No I/O: `send` gets each notification, so the SNMP
 * service puts it on the wire and the drill (`pcns-agent drill`) shows it in its timeline.
 *
 * @module
 */
import type { SnmpSettings } from "../config/types.ts";
import type { AgentEvent } from "../events/types.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import type { UpsState } from "../ups/state.ts";
import {
  ALARM_BASE,
  alarmNotification,
  ALARMS,
  AlarmTable,
  type Notification,
  onBatteryNotification,
  presentAlarms,
  REPEATED_ALARMS,
  TRAPS,
  trapsFor,
} from "./alarms.ts";
import { secondsOnBattery } from "./mib.ts";

/** The card `[SNMP] nmc` names (pure); throws with a clear message when it names none. */
export function servedCard(
  settings: Pick<SnmpSettings, "nmc"> & {
    readonly cards: readonly string[];
    readonly names: readonly { readonly name: string; readonly card: string }[];
  },
): string {
  const wanted = settings.nmc.trim();
  if (wanted === "") {
    if (settings.cards.length === 0) {
      throw new Error("[SNMP] no NMC is configured ([NetworkManagementCard] ip_1)");
    }
    return settings.cards[0];
  }
  const byName = settings.names.find((n) => n.name.toLowerCase() === wanted.toLowerCase());
  if (byName) return byName.card;
  if (settings.cards.includes(wanted)) return wanted;
  throw new Error(
    `[SNMP] nmc = ${wanted} is neither a configured NMC address (${settings.cards.join(", ") || "none"}) ` +
      `nor a UPS name (${settings.names.map((n) => n.name).join(", ") || "none"})`,
  );
}

/** A notification in words (pure): `upsTrapOnBattery` or `upsTrapAlarmEntryAdded (lowBattery)`. */
export function notificationName(n: Notification): string {
  const trap: Record<string, string> = {
    [TRAPS.onBattery]: "upsTrapOnBattery",
    [TRAPS.alarmEntryAdded]: "upsTrapAlarmEntryAdded",
    [TRAPS.alarmEntryRemoved]: "upsTrapAlarmEntryRemoved",
  };
  const name = trap[n.trapOid] ?? n.trapOid;
  if (n.trapOid === TRAPS.onBattery) return name;
  const alarm = Object.entries(ALARMS).find(([, oid]) => oid === n.alarm)?.[0] ??
    (n.alarm.startsWith(`${ALARM_BASE}.`) ? n.alarm : undefined);
  return alarm ? `${name} (${alarm})` : name;
}

/** What the trap schedule needs. */
export interface AlarmTrapsPorts {
  /** The served card's UPS state now. */
  ups(): UpsState;
  /** Time source (detection times, repeat timers). */
  readonly clock: Clock;
  /** Seconds between repeats (0 = none); read at each schedule. */
  repeatSeconds(): number;
  /** Gets each notification to send; `repeat` when it is a repeat of a condition still holding. */
  send(notification: Notification, repeat: boolean): void;
}

/** The served card's alarm table and the traps it sends (see the module documentation). */
export class AlarmTraps {
  readonly #ports: AlarmTrapsPorts;
  readonly #table = new AlarmTable();
  readonly #repeats = new Map<string, TimerHandle>();
  #shutdown = { pending: 0, starting: false };
  #lineBads = 0;
  #stopped = false;

  /** A schedule over `ports`; {@link AlarmTraps.sync} brings it up to date. */
  constructor(ports: AlarmTrapsPorts) {
    this.#ports = ports;
  }

  /** The alarm table's rows (upsAlarmTable). */
  get table(): AlarmTable {
    return this.#table;
  }

  /** upsInputLineBads: how often onBattery was raised (since the last {@link AlarmTraps.resetLineBads}). */
  get lineBads(): number {
    return this.#lineBads;
  }

  /** Starts counting upsInputLineBads again (another card is served). */
  resetLineBads(): void {
    this.#lineBads = 0;
  }

  /** Follows one agent event (the shutdown phase), then syncs. */
  follow(event: AgentEvent): void {
    const s = this.#shutdown;
    if (event.id === "ShutdownPending" || event.id === "CountdownResumed") s.pending++;
    else if (event.id === "ShutdownCancelled") s.pending = Math.max(0, s.pending - 1);
    else if (event.id === "ShutdownStarting") this.#shutdown = { pending: 0, starting: true };
    else if (event.id === "ShutdownRearmed") this.#shutdown = { pending: 0, starting: false };
    this.sync();
  }

  /** Brings the alarm table up to date; sends the traps of what changed. */
  sync(): void {
    if (this.#stopped) return;
    const now = this.#ports.clock.now();
    const shutdown = { pending: this.#shutdown.pending > 0, starting: this.#shutdown.starting };
    const change = this.#table.update(presentAlarms(this.#ports.ups(), shutdown), now);
    if (change.added.some((r) => r.descr === ALARMS.onBattery)) this.#lineBads++;
    for (const row of change.removed) {
      const handle = this.#repeats.get(row.descr);
      if (handle !== undefined) this.#ports.clock.clearTimeout(handle);
      this.#repeats.delete(row.descr);
    }
    for (const n of trapsFor(change, () => this.#onBatteryTrap())) this.#ports.send(n, false);
    for (const row of change.added) this.#scheduleRepeat(row.descr);
  }

  /** Restarts the repeat timers of the alarms that hold (a new repeat interval). */
  reschedule(): void {
    this.#clearRepeats();
    for (const row of this.#table.rows()) this.#scheduleRepeat(row.descr);
  }

  /** Stops the repeats; nothing more is sent. */
  stop(): void {
    this.#stopped = true;
    this.#clearRepeats();
  }

  #clearRepeats(): void {
    for (const handle of this.#repeats.values()) this.#ports.clock.clearTimeout(handle);
    this.#repeats.clear();
  }

  #onBatteryTrap(): Notification {
    const r = this.#ports.ups().reading;
    return onBatteryNotification({
      minutesRemaining: Math.max(0, Math.floor(r.runtimeMinutes ?? 0)),
      secondsOnBattery: secondsOnBattery(this.#table.rows(), this.#ports.clock.now()),
      lowBattMinutes: Math.max(0, Math.round(r.lowBatteryDurationMinutes ?? 0)),
    });
  }

  #scheduleRepeat(descr: string): void {
    const seconds = this.#ports.repeatSeconds();
    if (seconds <= 0 || !REPEATED_ALARMS.has(descr) || this.#stopped) return;
    const handle = this.#ports.clock.setTimeout(() => {
      this.#repeats.delete(descr);
      const row = this.#table.row(descr);
      if (!row || this.#stopped) return;
      this.#ports.send(
        descr === ALARMS.onBattery ? this.#onBatteryTrap() : alarmNotification(row, true),
        true,
      );
      this.#scheduleRepeat(descr);
    }, seconds * 1000);
    this.#repeats.set(descr, handle);
  }
}
