/**
 * apcupsd's `status` and `events` answers for one UPS, as Debian's apcupsd 3.14.14 writes them (checked
 * against a real apcupsd's `apcaccess status` on this machine), from the card's UPS state (pure):
 * apcupsd's field names, the key padded to 9 characters then `: `, its units (`230.0 Volts`,
 * `100.0 Percent`, `45.0 Minutes`), dates as `2026-12-02 10:06:03 +0000  `, the `APC      : 001,NNN,LLLL`
 * header (record count and byte count of the lines after it) and the `END APC  :` record.
 *
 * Fields apcupsd reports about its own daemon keep their meaning here: DRIVER is the PowerChute network
 * link (apcupsd calls its own "PCNET UPS Driver"), STARTTIME is the agent's start, NUMXFERS / TONBATT /
 * CUMONBATT / XONBATT / XOFFBATT count from the agent's start. apcupsd's own shutdown thresholds (MBATTCHG,
 * MINTIMEL, MAXTIME) are left out: the agent's shutdown rules are not those.
 *
 * @module
 */
import { statusWords } from "../nmc/status.ts";
import type { UpsState } from "../ups/state.ts";
import { VERSION } from "../version.ts";

/** Transfers to battery since the agent started (apcupsd counts since its own start). */
export interface TransferHistory {
  /** Transfers to battery seen. */
  readonly count: number;
  /** When the UPS went on battery the last time. */
  readonly lastOnBattery?: number;
  /** When it came back the last time. */
  readonly lastOffBattery?: number;
  /** While on battery: since when. */
  readonly onBatterySince?: number;
  /** Milliseconds on battery before the current transfer. */
  readonly cumulativeMs: number;
}

/** What a status answer is made from. */
export interface NisStatusInput {
  /** The UPS. */
  readonly ups: UpsState;
  /** UPSNAME. */
  readonly upsName: string;
  /** HOSTNAME. */
  readonly hostname: string;
  /** When the agent started (STARTTIME). */
  readonly startedAt: number;
  /** Now. */
  readonly now: number;
  /** Transfers since the start. */
  readonly transfers: TransferHistory;
  /** The time zone offset in minutes east of UTC for dates (default: this host's). */
  readonly utcOffsetMinutes?: (at: number) => number;
}

const two = (n: number) => String(n).padStart(2, "0");

/** A date as apcupsd prints it: local time `YYYY-MM-DD HH:MM:SS +ZZZZ` and two blanks. */
export function nisDate(at: number, offsetMinutes: number = -new Date(at).getTimezoneOffset()): string {
  const d = new Date(at + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}  `;
}

/** One status record line: the key padded to 9 characters, `: `, the value, a line break. */
export function record(key: string, value: string): string {
  return `${key.padEnd(9)}: ${value}\n`;
}

const TRANSFERS: Readonly<Record<string, string>> = {
  O: "No transfers since turnon",
  S: "Automatic or explicit self test",
  K: "Forced by software",
  L: "Low line voltage",
  H: "High line voltage",
  R: "Unacceptable line voltage changes",
  T: "Line voltage notch or spike",
};

const SELF_TESTS: Readonly<Record<string, string>> = {
  "Passed": "OK",
  "Failed: battery capacity": "BT",
  "Failed: load": "NG",
  "No test results": "NO",
};

const SENSITIVITY: Readonly<Record<string, string>> = { A: "Auto Adjust", L: "Low", M: "Medium", H: "High" };

const ALARMS: Readonly<Record<string, string>> = {
  T: "30 Seconds",
  L: "Low Battery",
  N: "No alarm",
  "0": "5 Seconds",
};

/**
 * apcupsd's STATFLAG bits: the card's status byte plus COMMLOST, SHUTDOWN, PLUGGED, BATTPRESENT, and on
 * battery ONBATT_MSG and FASTPOLL (as apcupsd sets them).
 */
export function statusFlag(ups: UpsState): number {
  let flag = ups.reading.statusByte ?? 0;
  if (ups.comm !== "ok") flag |= 0x100;
  if (ups.shuttingDown) flag |= 0x200;
  if (ups.flags.onBattery) flag |= 0x20000 | 0x40000; // apcupsd: on-battery message sent, fast polling
  flag |= 0x01000000; // this host is plugged into the UPS
  if (!ups.batteryDisconnected) flag |= 0x04000000;
  return flag >>> 0;
}

/** The STATUS value: apcupsd's words, each followed by a blank; COMMLOST and SHUTTING DOWN replace them. */
export function nisStatus(ups: UpsState): string {
  if (ups.shuttingDown) return "SHUTTING DOWN";
  if (ups.comm !== "ok") return "COMMLOST ";
  const words = statusWords(ups.flags);
  if (ups.batteryDisconnected) words.push("NOBATT");
  return words.map((w) => `${w} `).join("");
}

const f1 = (n: number) => n.toFixed(1);
const hex2 = (n: number) => `0x${n.toString(16).toUpperCase().padStart(2, "0")}`;

/** The status records after the APC header, END APC included. */
export function statusRecords(input: NisStatusInput): string[] {
  const { ups, now } = input;
  const r = ups.reading;
  const offset = (at: number) => input.utcOffsetMinutes?.(at) ?? -new Date(at).getTimezoneOffset();
  const date = (at: number) => nisDate(at, offset(at));
  const out: string[] = [];
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined) out.push(record(key, value));
  };
  const num = (n: number | undefined, format: (n: number) => string) =>
    n === undefined || !Number.isFinite(n) ? undefined : format(n);

  add("DATE", date(ups.lastStatusAt ?? now));
  add("HOSTNAME", input.hostname);
  add("VERSION", `pcns-agent ${VERSION} (apcupsd 3.14 NIS) ${Deno.build.os}`);
  add("UPSNAME", input.upsName);
  add("CABLE", "Ethernet Link");
  add("DRIVER", "PCNET UPS Driver");
  add("UPSMODE", "Stand Alone");
  add("STARTTIME", date(input.startedAt));
  add("MODEL", r.model);
  add("STATUS", nisStatus(ups));
  add("LINEV", num(r.lineVoltage, (n) => `${f1(n)} Volts`));
  add("LOADPCT", num(r.loadPercent, (n) => `${f1(n)} Percent`));
  add("BCHARGE", num(r.batteryPercent, (n) => `${f1(n)} Percent`));
  add("TIMELEFT", num(r.runtimeMinutes, (n) => `${f1(n)} Minutes`));
  add("MAXLINEV", num(r.maxLineVoltage, (n) => `${f1(n)} Volts`));
  add("MINLINEV", num(r.minLineVoltage, (n) => `${f1(n)} Volts`));
  add("OUTPUTV", num(r.outputVoltage, (n) => `${f1(n)} Volts`));
  add("SENSE", r.sensitivity === undefined ? undefined : SENSITIVITY[r.sensitivity[0]] ?? "Unknown");
  add("DWAKE", num(r.wakeupDelaySeconds, (n) => `${Math.round(n)} Seconds`));
  add("DSHUTD", num(r.shutdownDelaySeconds, (n) => `${Math.round(n)} Seconds`));
  add("DLOWBATT", num(r.lowBatteryDurationMinutes, (n) => `${Math.round(n)} Minutes`));
  add("LOTRANS", num(r.lowTransferVoltage, (n) => `${f1(n)} Volts`));
  add("HITRANS", num(r.highTransferVoltage, (n) => `${f1(n)} Volts`));
  add("RETPCT", num(r.returnChargePercent, (n) => `${f1(n)} Percent`));
  add("ITEMP", num(r.temperature, (n) => `${f1(n)} C`));
  add("ALARMDEL", r.alarmSetting === undefined ? undefined : ALARMS[r.alarmSetting[0]] ?? "Always");
  add("BATTV", num(r.batteryVoltage, (n) => `${f1(n)} Volts`));
  add("LINEFREQ", num(r.frequency, (n) => `${f1(n)} Hz`));
  if (r.lastTransferCode !== undefined && r.lastTransferCode !== "N") {
    add("LASTXFER", TRANSFERS[r.lastTransferCode] ?? "UNKNOWN EVENT");
  }
  const t = input.transfers;
  add("NUMXFERS", String(t.count));
  if (t.count > 0 && t.lastOnBattery !== undefined) add("XONBATT", date(t.lastOnBattery));
  const onBatteryMs = t.onBatterySince !== undefined ? Math.max(0, now - t.onBatterySince) : 0;
  add("TONBATT", `${Math.floor(onBatteryMs / 1000)} Seconds`);
  add("CUMONBATT", `${Math.floor((t.cumulativeMs + onBatteryMs) / 1000)} Seconds`);
  add("XOFFBATT", t.lastOffBattery !== undefined ? date(t.lastOffBattery) : "N/A");
  const testCode = ups.selfTestSince !== undefined
    ? "IP"
    : r.selfTestResult === undefined
    ? undefined
    : SELF_TESTS[r.selfTestResult] ?? "??";
  add("SELFTEST", testCode);
  add("STESTI", r.selfTestInterval);
  add("STATFLAG", `0x${statusFlag(ups).toString(16).toUpperCase().padStart(8, "0")}`);
  add("DIPSW", num(r.dipSwitches, hex2));
  add("REG1", num(r.register1, hex2));
  add("REG2", num(r.register2, hex2));
  add("REG3", num(r.register3, hex2));
  add("MANDATE", r.manufactureDate);
  add("SERIALNO", r.serial);
  add("BATTDATE", r.batteryDate);
  add("NOMOUTV", num(r.nominalOutputVoltage, (n) => `${Math.round(n)} Volts`));
  add("NOMBATTV", num(r.nominalBatteryVoltage, (n) => `${f1(n)} Volts`));
  add("HUMIDITY", num(r.humidity, (n) => `${f1(n)} Percent`));
  add("AMBTEMP", num(r.ambientTemperature, (n) => `${f1(n)} C`));
  add("EXTBATTS", num(r.externalBatteryPacks, (n) => String(Math.round(n))));
  add("BADBATTS", num(r.badBatteryPacks, (n) => String(Math.round(n))));
  add("FIRMWARE", r.firmware);
  add("END APC", date(now));
  return out;
}

/** The whole status answer's messages: the APC header (revision 1, record and byte counts), then the records. */
export function statusMessages(input: NisStatusInput): string[] {
  const records = statusRecords(input);
  const bytes = records.reduce((n, line) => n + new TextEncoder().encode(line).length, 0);
  const header = record(
    "APC",
    `001,${String(records.length).padStart(3, "0")},${String(bytes).padStart(4, "0")}`,
  );
  return [header, ...records];
}

/** One line of the `events` answer, as apcupsd's events file has it: date, two blanks, text. */
export function eventLine(at: number, text: string, offsetMinutes?: number): string {
  return `${nisDate(at, offsetMinutes).trimEnd()}  ${text.replace(/[\r\n]+/g, " ")}\n`;
}
