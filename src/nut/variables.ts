/**
 * A UPS's state as NUT variables, with NUT's names and units (docs/nut-names.txt): every value the NMC
 * sends that NUT has a name for (pure). Also used by `pcns-agent status --get`.
 *
 * - `ups.status` words: OL, OB, LB, RB, OVER, TRIM, BOOST, CAL from the card's status byte, `OFF` when it
 *   reports neither line nor battery, `FSD` in front when the agent set forced shutdown or the card says
 *   the UPS is turning off (SD=1).
 * - While communication with the card is lost or not yet established there is no current data: NUT
 *   clients get `ERR DATA-STALE` (see {@link isStale}), except `ups.status` once FSD is set, which is then
 *   `FSD` alone, so a secondary still learns it must shut down.
 * - `driver.name` is `pcns-agent`: the data comes from the NMC's PowerChute packets (UDP 3052) as the agent
 *   reads them, not from a NUT driver; `driver.parameter.port` names the card.
 *
 * @module
 */
import type { UpsState } from "../ups/state.ts";
import type { UpsReading } from "../nmc/status.ts";
import { VERSION } from "../version.ts";

/** One NUT variable. */
export interface NutVariable {
  /** NUT name, e.g. `battery.charge`. */
  readonly name: string;
  /** Value as text (units as NUT defines them: percent, seconds, volts, hertz, degrees C). */
  readonly value: string;
  /** NUMBER or STRING (for GET TYPE). */
  readonly kind: "number" | "string";
}

/** What is served for one UPS. */
export interface ServedUps {
  /** The NUT name (`nmc1`, or `[NUT] upsName_N`). */
  readonly name: string;
  /** The card's address. */
  readonly card: string;
}

/** True when the card's data is not current: communication lost, or no status packet yet. */
export function isStale(ups: Pick<UpsState, "comm">): boolean {
  return ups.comm !== "ok";
}

/** The `ups.status` words of a UPS (FSD first when `fsd` is set or the card reports it is turning off). */
export function statusWords(ups: Pick<UpsState, "flags" | "shuttingDown">, fsd: boolean): string[] {
  const f = ups.flags;
  const words: string[] = [];
  if (fsd || ups.shuttingDown) words.push("FSD");
  if (f.online) words.push("OL");
  if (f.onBattery) words.push("OB");
  if (!f.online && !f.onBattery) words.push("OFF");
  if (f.lowBattery) words.push("LB");
  if (f.replaceBattery) words.push("RB");
  if (f.overload) words.push("OVER");
  if (f.trim) words.push("TRIM");
  if (f.boost) words.push("BOOST");
  if (f.calibration) words.push("CAL");
  return words;
}

const oneDecimal = (n: number) => n.toFixed(1);
const whole = (n: number) => String(Math.round(n));
const twoDecimals = (n: number) => n.toFixed(2);

type NumberKey = { [K in keyof UpsReading]-?: UpsReading[K] extends number | undefined ? K : never }[
  keyof UpsReading
];
type TextKey = { [K in keyof UpsReading]-?: UpsReading[K] extends string | undefined ? K : never }[
  keyof UpsReading
];

/** NUT numbers from the reading: [NUT name, reading field, format]. */
const NUMBERS: ReadonlyArray<readonly [string, NumberKey, (n: number) => string]> = [
  ["battery.charge", "batteryPercent", oneDecimal],
  ["battery.charge.restart", "returnChargePercent", whole],
  ["battery.voltage", "batteryVoltage", twoDecimals],
  ["battery.voltage.nominal", "nominalBatteryVoltage", whole],
  ["battery.packs", "externalBatteryPacks", whole],
  ["battery.packs.bad", "badBatteryPacks", whole],
  ["input.voltage", "lineVoltage", oneDecimal],
  ["input.voltage.maximum", "maxLineVoltage", oneDecimal],
  ["input.voltage.minimum", "minLineVoltage", oneDecimal],
  ["input.frequency", "frequency", oneDecimal],
  ["input.transfer.low", "lowTransferVoltage", whole],
  ["input.transfer.high", "highTransferVoltage", whole],
  ["output.voltage", "outputVoltage", oneDecimal],
  ["output.voltage.nominal", "nominalOutputVoltage", whole],
  ["ups.load", "loadPercent", oneDecimal],
  ["ups.temperature", "temperature", oneDecimal],
  ["ambient.temperature", "ambientTemperature", oneDecimal],
  ["ambient.humidity", "humidity", oneDecimal],
  ["ups.delay.shutdown", "shutdownDelaySeconds", whole],
  ["ups.delay.start", "wakeupDelaySeconds", whole],
];

/** NUT strings from the reading: [NUT name, reading field]. */
const TEXTS: ReadonlyArray<readonly [string, TextKey]> = [
  ["ups.model", "model"],
  ["device.model", "model"],
  ["ups.serial", "serial"],
  ["device.serial", "serial"],
  ["ups.firmware", "firmware"],
  ["ups.mfr.date", "manufactureDate"],
  ["ups.id", "name"],
  ["battery.date", "batteryDate"],
  ["input.transfer.reason", "lastTransferCause"],
  ["input.sensitivity", "sensitivity"],
  ["input.quality", "lineQuality"],
];

/** Every variable of a UPS, sorted by name (as upsd lists them); FSD as for {@link statusWords}. */
export function upsVariables(ups: UpsState, fsd: boolean): NutVariable[] {
  const r = ups.reading;
  const out: NutVariable[] = [
    { name: "ups.status", value: statusWords(ups, fsd).join(" "), kind: "string" },
    { name: "ups.mfr", value: "APC", kind: "string" },
    { name: "device.mfr", value: "APC", kind: "string" },
    { name: "device.type", value: "ups", kind: "string" },
    { name: "driver.name", value: "pcns-agent", kind: "string" },
    { name: "driver.version", value: VERSION, kind: "string" },
    { name: "driver.version.data", value: "PowerChute network (NMC status packets)", kind: "string" },
    { name: "driver.parameter.port", value: ups.card, kind: "string" },
  ];
  for (const [name, key, format] of NUMBERS) {
    const value = r[key];
    if (value !== undefined && Number.isFinite(value)) {
      out.push({ name, value: format(value), kind: "number" });
    }
  }
  if (r.runtimeMinutes !== undefined) {
    out.push({ name: "battery.runtime", value: whole(r.runtimeMinutes * 60), kind: "number" });
  }
  if (r.lowBatteryDurationMinutes !== undefined) {
    out.push({ name: "battery.runtime.low", value: whole(r.lowBatteryDurationMinutes * 60), kind: "number" });
  }
  for (const [name, key] of TEXTS) {
    const value = r[key];
    if (value !== undefined && value !== "") out.push({ name, value, kind: "string" });
  }
  const testResult = ups.selfTestSince !== undefined ? "In progress" : r.selfTestResult;
  if (testResult) out.push({ name: "ups.test.result", value: testResult, kind: "string" });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The variables of each UPS state by name, built on the first request: a state object is never changed
 * (a new packet makes a new one), and every secondary asks for `ups.status` every poll.
 */
const variablesByState = new WeakMap<UpsState, Map<string, NutVariable>[]>();

/** One variable of a UPS (undefined: not supported for this UPS). */
export function upsVariable(ups: UpsState, fsd: boolean, name: string): NutVariable | undefined {
  let tables = variablesByState.get(ups);
  if (!tables) variablesByState.set(ups, tables = []);
  const index = fsd ? 1 : 0;
  const table = tables[index] ??= new Map(upsVariables(ups, fsd).map((v) => [v.name, v]));
  return table.get(name.toLowerCase());
}

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  "ups.status": "UPS status",
  "ups.mfr": "UPS manufacturer",
  "ups.model": "UPS model",
  "ups.serial": "UPS serial number",
  "ups.firmware": "UPS firmware",
  "ups.mfr.date": "UPS manufacturing date",
  "ups.id": "UPS system identifier",
  "ups.load": "Load on UPS (percent of full)",
  "ups.temperature": "UPS temperature (degrees C)",
  "ups.test.result": "Results of last self test",
  "ups.delay.shutdown": "Interval to wait after shutdown with delay command (seconds)",
  "ups.delay.start": "Interval to wait before (re)starting the load (seconds)",
  "device.mfr": "Device manufacturer",
  "device.model": "Device model",
  "device.serial": "Device serial number",
  "device.type": "Device type",
  "driver.name": "Driver name (pcns-agent: data from the NMC's PowerChute packets)",
  "driver.version": "Driver version",
  "driver.version.data": "Source of the data",
  "driver.parameter.port": "Address of the Network Management Card",
  "battery.charge": "Battery charge (percent of full)",
  "battery.charge.restart": "Minimum battery level for UPS restart after power-off (percent)",
  "battery.runtime": "Battery runtime (seconds)",
  "battery.runtime.low": "Remaining battery runtime when UPS switches to LB (seconds)",
  "battery.voltage": "Battery voltage (V)",
  "battery.voltage.nominal": "Nominal battery voltage (V)",
  "battery.date": "Battery change date",
  "battery.packs": "Number of external battery packs",
  "battery.packs.bad": "Number of bad battery packs",
  "input.voltage": "Input voltage (V)",
  "input.voltage.maximum": "Maximum incoming voltage seen (V)",
  "input.voltage.minimum": "Minimum incoming voltage seen (V)",
  "input.frequency": "Input line frequency (Hz)",
  "input.transfer.low": "Low voltage transfer point (V)",
  "input.transfer.high": "High voltage transfer point (V)",
  "input.transfer.reason": "Reason for last transfer to battery",
  "input.sensitivity": "Input power sensitivity",
  "input.quality": "Input power quality",
  "output.voltage": "Output voltage (V)",
  "output.voltage.nominal": "Nominal output voltage (V)",
  "ambient.temperature": "Ambient temperature (degrees C)",
  "ambient.humidity": "Ambient relative humidity (percent)",
};

/** NUT's description of a variable, as GET DESC answers it. */
export function describeVariable(name: string): string {
  return DESCRIPTIONS[name.toLowerCase()] ?? "Description unavailable";
}

/** The GET TYPE words of a variable: all are read-only; text values are STRING:<length>. */
export function variableType(variable: NutVariable): string {
  return variable.kind === "number" ? "NUMBER" : `STRING:${Math.max(variable.value.length, 1)}`;
}

/** What `pcns-agent status --get` found: the value, or why there is none (upsc's wording). */
export type LookupResult = { readonly value: string } | { readonly error: string };

/**
 * One NUT variable of a UPS from the agent's status answer (the API's JSON, pure): `upsName` as NUT names
 * it (default: the first served UPS); stale data and unknown names are errors, as upsc reports them.
 */
export function lookupVariable(
  status: {
    readonly upsNames?: readonly ServedUps[];
    readonly ups?: readonly UpsState[];
    readonly nut?: { readonly fsd?: readonly string[] };
  },
  name: string,
  upsName?: string,
): LookupResult {
  const names = status.upsNames ?? [];
  const served = upsName === undefined
    ? names[0]
    : names.find((n) => n.name.toLowerCase() === upsName.toLowerCase());
  if (!served) {
    return {
      error: upsName === undefined
        ? "no UPS is configured"
        : `Unknown UPS ${upsName} (known: ${names.map((n) => n.name).join(", ") || "none"})`,
    };
  }
  const state = status.ups?.find((u) => u.card === served.card);
  const fsd = status.nut?.fsd?.includes(served.name) ?? false;
  if (!state || isStale(state)) {
    return fsd && name.toLowerCase() === "ups.status" ? { value: "FSD" } : { error: "Data stale" };
  }
  const variable = upsVariable(state, fsd, name);
  return variable ? { value: variable.value } : { error: `Variable not supported by UPS: ${name}` };
}
