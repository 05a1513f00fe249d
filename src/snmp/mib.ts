/**
 * The objects the SNMP agent serves, computed from the served card's UPS state on each request (pure):
 * the system group (RFC 1213: sysDescr, sysObjectID, sysUpTime, sysName) and the UPS-MIB (RFC 1628,
 * 1.3.6.1.2.1.33) with its units: upsIdent, upsBattery (status, seconds on battery, minutes remaining,
 * charge %, voltage in 0.1 V, temperature in deg C), upsInput (line bads, one line: frequency in 0.1 Hz,
 * voltage in V), upsOutput (source, one line: voltage, percent load), upsAlarm (alarms present and the
 * alarm table) and upsConfig (nominal output voltage, low-battery time, transfer points).
 *
 * A reading the card has not sent is left out (noSuchInstance), never served as 0. Everything is
 * read-only. Plus the lookups a command responder needs over the sorted list: exact, next, bulk.
 *
 * @module
 */
import type { UpsState } from "../ups/state.ts";
import { VERSION } from "../version.ts";
import { type AlarmRow, ALARMS } from "./alarms.ts";
import { type Varbind, VarType } from "./varbind.ts";

export { type Varbind, VarType } from "./varbind.ts";

/** sysObjectID: the agent has no enterprise number of its own, so it names the UPS-MIB module. */
export const SYS_OBJECT_ID = "1.3.6.1.2.1.33";

/** What the objects are computed from. */
export interface MibInput {
  /** The served card's UPS. */
  readonly ups: UpsState;
  /** The UPS's name (the card's UPS name, else its NUT name). */
  readonly upsName: string;
  /** This host's name (sysName). */
  readonly hostname: string;
  /** Now (ms). */
  readonly now: number;
  /** When the SNMP agent started (sysUpTime 0, ms). */
  readonly startedAt: number;
  /** The alarm table's rows. */
  readonly alarms: readonly AlarmRow[];
  /** Transfers to battery since the agent started (upsInputLineBads). */
  readonly lineBads: number;
}

const U32 = 2 ** 32;
const I32 = 2 ** 31 - 1;

/** Centiseconds since `startedAt` (TimeTicks, wrapping at 2^32). */
export function timeTicks(at: number, startedAt: number): number {
  return Math.floor(Math.max(0, at - startedAt) / 10) % U32;
}

const clampInt = (n: number, min = 0, max = I32) => Math.min(max, Math.max(min, Math.round(n)));
// deno-lint-ignore no-control-regex
const text = (s: string, max: number) => s.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, max);

/** upsBatteryStatus: unknown(1) without communication, batteryLow(3), batteryDepleted(4), batteryNormal(2). */
export function batteryStatus(ups: UpsState): number {
  if (ups.comm !== "ok") return 1;
  if (ups.flags.lowBattery) return 3;
  if (ups.runtime.batteryDischarged || ups.batteryDisconnected) return 4;
  return 2;
}

/** upsOutputSource: other(1) without communication, battery(5), booster(6), reducer(7), normal(3). */
export function outputSource(ups: UpsState): number {
  if (ups.comm !== "ok") return 1;
  if (ups.flags.onBattery) return 5;
  if (ups.flags.boost) return 6;
  if (ups.flags.trim) return 7;
  return ups.flags.online ? 3 : 1;
}

/** Seconds since the onBattery alarm row was made (0 when it does not hold). */
export function secondsOnBattery(alarms: readonly AlarmRow[], now: number): number {
  const row = alarms.find((a) => a.descr === ALARMS.onBattery);
  return row ? clampInt((now - row.at) / 1000 - 0.5) : 0;
}

/** Compares dotted OIDs arc by arc (pure). */
export function compareOids(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const UPS = "1.3.6.1.2.1.33.1";

/** Every object served, sorted by OID (pure). */
export function buildMib(input: MibInput): Varbind[] {
  const { ups, now } = input;
  const r = ups.reading;
  const out: Varbind[] = [];
  const str = (oid: string, value: string | undefined, max = 255) => {
    if (value !== undefined) out.push({ oid, type: VarType.OctetString, value: text(value, max) });
  };
  const num = (
    oid: string,
    value: number | undefined,
    type: number = VarType.Integer,
    scale = 1,
    max = I32,
  ) => {
    if (value !== undefined && Number.isFinite(value)) {
      out.push({ oid, type, value: clampInt(value * scale, 0, max) });
    }
  };
  str("1.3.6.1.2.1.1.1.0", `pcns-agent ${VERSION}: UPS-MIB (RFC 1628) of the UPS behind NMC ${ups.card}`);
  out.push({ oid: "1.3.6.1.2.1.1.2.0", type: VarType.Oid, value: SYS_OBJECT_ID });
  out.push({ oid: "1.3.6.1.2.1.1.3.0", type: VarType.TimeTicks, value: timeTicks(now, input.startedAt) });
  str("1.3.6.1.2.1.1.5.0", input.hostname);

  str(`${UPS}.1.1.0`, "APC", 31);
  str(`${UPS}.1.2.0`, r.model, 63);
  str(`${UPS}.1.3.0`, r.firmware, 63);
  str(`${UPS}.1.4.0`, `pcns-agent ${VERSION}`, 63);
  str(`${UPS}.1.5.0`, r.name || input.upsName, 63);

  num(`${UPS}.2.1.0`, batteryStatus(ups));
  num(`${UPS}.2.2.0`, secondsOnBattery(input.alarms, now));
  num(`${UPS}.2.3.0`, r.runtimeMinutes === undefined ? undefined : Math.floor(r.runtimeMinutes));
  num(`${UPS}.2.4.0`, r.batteryPercent, VarType.Integer, 1, 100);
  num(`${UPS}.2.5.0`, r.batteryVoltage, VarType.Integer, 10);
  if (r.temperature !== undefined && Number.isFinite(r.temperature)) {
    out.push({ oid: `${UPS}.2.7.0`, type: VarType.Integer, value: clampInt(r.temperature, -I32) });
  }

  num(`${UPS}.3.1.0`, input.lineBads % U32, VarType.Counter32, 1, U32 - 1);
  num(`${UPS}.3.2.0`, 1);
  num(`${UPS}.3.3.1.2.1`, r.frequency, VarType.Integer, 10);
  num(`${UPS}.3.3.1.3.1`, r.lineVoltage);

  num(`${UPS}.4.1.0`, outputSource(ups));
  num(`${UPS}.4.3.0`, 1);
  num(`${UPS}.4.4.1.2.1`, r.outputVoltage);
  num(`${UPS}.4.4.1.5.1`, r.loadPercent, VarType.Integer, 1, 200);

  const alarms = [...input.alarms].sort((a, b) => a.id - b.id);
  num(`${UPS}.6.1.0`, alarms.length, VarType.Gauge32);
  for (const a of alarms) out.push({ oid: `${UPS}.6.2.1.2.${a.id}`, type: VarType.Oid, value: a.descr });
  for (const a of alarms) {
    out.push({
      oid: `${UPS}.6.2.1.3.${a.id}`,
      type: VarType.TimeTicks,
      value: timeTicks(a.at, input.startedAt),
    });
  }

  num(`${UPS}.9.3.0`, r.nominalOutputVoltage);
  num(`${UPS}.9.7.0`, r.lowBatteryDurationMinutes);
  num(`${UPS}.9.9.0`, r.lowTransferVoltage);
  num(`${UPS}.9.10.0`, r.highTransferVoltage);
  return out.sort((a, b) => compareOids(a.oid, b.oid));
}

/** GET: the object, or noSuchInstance (its object is served) / noSuchObject (pure). */
export function getExact(mib: readonly Varbind[], oid: string): Varbind {
  const found = mib.find((v) => v.oid === oid);
  if (found) return found;
  const parent = oid.slice(0, oid.lastIndexOf("."));
  const known = parent !== "" && mib.some((v) => v.oid.startsWith(`${parent}.`));
  return { oid, type: known ? VarType.NoSuchInstance : VarType.NoSuchObject, value: null };
}

/** GETNEXT: the first object after `oid`, or endOfMibView (pure). */
export function getNext(mib: readonly Varbind[], oid: string): Varbind {
  let lo = 0;
  let hi = mib.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareOids(mib[mid].oid, oid) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < mib.length ? mib[lo] : { oid, type: VarType.EndOfMibView, value: null };
}

/** Most varbinds one GETBULK answer carries (the whole MIB is smaller). */
export const MAX_BULK_VARBINDS = 512;

/** GETBULK (RFC 3416 4.2.3): non-repeaters once, then up to maxRepetitions rounds of the rest (pure). */
export function getBulk(
  mib: readonly Varbind[],
  oids: readonly string[],
  nonRepeaters: number,
  maxRepetitions: number,
): Varbind[] {
  const n = Math.min(Math.max(0, nonRepeaters), oids.length);
  const out: Varbind[] = oids.slice(0, n).map((oid) => getNext(mib, oid));
  let last = oids.slice(n);
  if (last.length === 0) return out;
  const rounds = Math.min(
    Math.max(0, maxRepetitions),
    Math.floor((MAX_BULK_VARBINDS - out.length) / last.length),
  );
  for (let i = 0; i < rounds; i++) {
    const row = last.map((oid) => getNext(mib, oid));
    out.push(...row);
    if (row.every((v) => v.type === VarType.EndOfMibView)) break;
    last = row.map((v) => v.oid);
  }
  return out;
}
