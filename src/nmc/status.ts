/**
 * Meaning of the data in an accepted packet: the status byte (key `51`), the
 * two-hex-digit data keys of a MASTATUS (APC smart-protocol letters, see
 * shared/spec/wire.md §6-§7), the remote-shutdown flag `SD`, and the client
 * list of a MACONFIG.
 *
 * @module
 */
import { isWhiteSpace, type PacketLine, printable } from "./packet.ts";

/** The eight bits of the UPS status byte. */
export interface UpsStatusFlags {
  /** 0x01: runtime calibration running. */
  readonly calibration: boolean;
  /** 0x02: SmartTrim (reducing high input voltage). */
  readonly trim: boolean;
  /** 0x04: SmartBoost (raising low input voltage). */
  readonly boost: boolean;
  /** 0x08: on line (utility power). */
  readonly online: boolean;
  /** 0x10: on battery. */
  readonly onBattery: boolean;
  /** 0x20: overload. */
  readonly overload: boolean;
  /** 0x40: battery low. */
  readonly lowBattery: boolean;
  /** 0x80: replace battery. */
  readonly replaceBattery: boolean;
}

const FLAG_BITS: ReadonlyArray<readonly [keyof UpsStatusFlags, number]> = [
  ["calibration", 0x01],
  ["trim", 0x02],
  ["boost", 0x04],
  ["online", 0x08],
  ["onBattery", 0x10],
  ["overload", 0x20],
  ["lowBattery", 0x40],
  ["replaceBattery", 0x80],
];

/**
 * The flags of every byte value, built once and frozen (UPS states share them): building them per packet
 * (8 properties added by computed names) cost 0.2-0.5 us of the 1.8-3.2 us a status packet took to decode.
 */
const FLAGS_OF_BYTE: readonly UpsStatusFlags[] = Array.from({ length: 256 }, (_, byte) => {
  const flags: Record<string, boolean> = {};
  for (const [name, bit] of FLAG_BITS) flags[name] = (byte & bit) !== 0;
  return Object.freeze(flags as unknown as UpsStatusFlags);
});

/** Turns a status byte (0-255) into named flags. */
export function decodeStatusByte(byte: number): UpsStatusFlags {
  return FLAGS_OF_BYTE[byte & 0xff];
}

/** Turns named flags (missing = false) into a status byte. */
export function encodeStatusByte(flags: Partial<UpsStatusFlags>): number {
  let byte = 0;
  for (const [name, bit] of FLAG_BITS) if (flags[name]) byte |= bit;
  return byte;
}

/** The flag names set in a status byte, in apcaccess order (CAL TRIM BOOST ONLINE ...). */
export function statusWords(flags: UpsStatusFlags): string[] {
  const words: Record<keyof UpsStatusFlags, string> = {
    calibration: "CAL",
    trim: "TRIM",
    boost: "BOOST",
    online: "ONLINE",
    onBattery: "ONBATT",
    overload: "OVERLOAD",
    lowBattery: "LOWBATT",
    replaceBattery: "REPLACEBATT",
  };
  return FLAG_BITS.filter(([name]) => flags[name]).map(([name]) => words[name]);
}

/** Everything a MASTATUS can tell about the UPS; a field is absent when the packet did not carry it. */
export interface UpsReading {
  /** Raw status byte (key 51). */
  statusByte?: number;
  /** Decoded status byte. */
  flags?: UpsStatusFlags;
  /** SD=1: the UPS is shutting down (remote shutdown signal). */
  shuttingDown?: boolean;
  /** Input line voltage, V (4C). */
  lineVoltage?: number;
  /** Highest line voltage seen, V (4D). */
  maxLineVoltage?: number;
  /** Lowest line voltage seen, V (4E). */
  minLineVoltage?: number;
  /** Output voltage, V (4F). */
  outputVoltage?: number;
  /** Battery charge, % (66). */
  batteryPercent?: number;
  /** Battery voltage, V (42). */
  batteryVoltage?: number;
  /** Load, % of capacity (50). */
  loadPercent?: number;
  /** Line frequency, Hz (46). */
  frequency?: number;
  /** Runtime remaining, minutes (6A, sent with a trailing `:`). */
  runtimeMinutes?: number;
  /** Internal temperature, deg C (43). */
  temperature?: number;
  /** Ambient temperature, deg C (74). */
  ambientTemperature?: number;
  /** Humidity, % (68). */
  humidity?: number;
  /** Model (01). */
  model?: string;
  /** UPS name set on the card (63). */
  name?: string;
  /** Serial number (6E). */
  serial?: string;
  /** UPS firmware revision (62). */
  firmware?: string;
  /** Manufacture date (6D). */
  manufactureDate?: string;
  /** Battery replacement date (78). */
  batteryDate?: string;
  /** Reason for the last transfer to battery, as text (47). */
  lastTransferCause?: string;
  /** Reason for the last transfer to battery, the card's letter (47; `S` = self-test). */
  lastTransferCode?: string;
  /** Last self-test result, as text (58). */
  selfTestResult?: string;
  /** The card's Low Battery Duration (low-battery warning), minutes (71). */
  lowBatteryDurationMinutes?: number;
  /** Line quality (39). */
  lineQuality?: string;
  /** Hours since the last self-test (64). */
  hoursSinceSelfTest?: number;
  /** Self-test interval setting (45). */
  selfTestInterval?: string;
  /** Nominal battery voltage, V (67). */
  nominalBatteryVoltage?: number;
  /** Nominal output voltage, V (6F). */
  nominalOutputVoltage?: number;
  /** Low transfer voltage, V (6C). */
  lowTransferVoltage?: number;
  /** High transfer voltage, V (75). */
  highTransferVoltage?: number;
  /** Return charge threshold, % (65). */
  returnChargePercent?: number;
  /** Shutdown delay of the UPS, s (70). */
  shutdownDelaySeconds?: number;
  /** Wake-up delay of the UPS, s (72). */
  wakeupDelaySeconds?: number;
  /** Alarm setting code (6B). */
  alarmSetting?: string;
  /** Sensitivity H/M/L/A (73). */
  sensitivity?: string;
  /** External battery packs (3E). */
  externalBatteryPacks?: number;
  /** Bad battery packs (3C). */
  badBatteryPacks?: number;
  /** DIP switch register (37, hex). */
  dipSwitches?: number;
  /** Register 1 (7E, hex). */
  register1?: number;
  /** Register 2 (27, hex); bit 0x20 = battery disconnected. */
  register2?: number;
  /** Register 3 (38, hex). */
  register3?: number;
  /** Register 2 bit 0x20: the battery is disconnected. */
  batteryDisconnected?: boolean;
}

/**
 * Data key -> the function that stores its value (numbers, hex registers, text). A store per field, not
 * `reading[field] = value`: a store by a computed name that adds a property cost ~90 ns here (V8 sends it to
 * the runtime), a named one a few; a status packet makes ~15 of them.
 */
const NUMBER_KEYS: Readonly<Record<string, (reading: UpsReading, value: number) => void>> = {
  "4C": (r, v) => (r.lineVoltage = v),
  "4D": (r, v) => (r.maxLineVoltage = v),
  "4E": (r, v) => (r.minLineVoltage = v),
  "4F": (r, v) => (r.outputVoltage = v),
  "66": (r, v) => (r.batteryPercent = v),
  "42": (r, v) => (r.batteryVoltage = v),
  "50": (r, v) => (r.loadPercent = v),
  "46": (r, v) => (r.frequency = v),
  "6A": (r, v) => (r.runtimeMinutes = v),
  "43": (r, v) => (r.temperature = v),
  "74": (r, v) => (r.ambientTemperature = v),
  "68": (r, v) => (r.humidity = v),
  "71": (r, v) => (r.lowBatteryDurationMinutes = v),
  "64": (r, v) => (r.hoursSinceSelfTest = v),
  "67": (r, v) => (r.nominalBatteryVoltage = v),
  "6F": (r, v) => (r.nominalOutputVoltage = v),
  "6C": (r, v) => (r.lowTransferVoltage = v),
  "75": (r, v) => (r.highTransferVoltage = v),
  "65": (r, v) => (r.returnChargePercent = v),
  "70": (r, v) => (r.shutdownDelaySeconds = v),
  "72": (r, v) => (r.wakeupDelaySeconds = v),
  "3E": (r, v) => (r.externalBatteryPacks = v),
  "3C": (r, v) => (r.badBatteryPacks = v),
};

const HEX_KEYS: Readonly<Record<string, (reading: UpsReading, value: number) => void>> = {
  "37": (r, v) => (r.dipSwitches = v),
  "7E": (r, v) => (r.register1 = v),
  "27": (r, v) => {
    r.register2 = v;
    r.batteryDisconnected = (v & REGISTER2_BATTERY_DISCONNECTED) !== 0;
  },
  "38": (r, v) => (r.register3 = v),
};

const TEXT_KEYS: Readonly<Record<string, (reading: UpsReading, value: string) => void>> = {
  "01": (r, v) => (r.model = v),
  "63": (r, v) => (r.name = v),
  "6E": (r, v) => (r.serial = v),
  "62": (r, v) => (r.firmware = v),
  "6D": (r, v) => (r.manufactureDate = v),
  "78": (r, v) => (r.batteryDate = v),
  "39": (r, v) => (r.lineQuality = v),
  "45": (r, v) => (r.selfTestInterval = v),
  "6B": (r, v) => (r.alarmSetting = v),
  "73": (r, v) => (r.sensitivity = v),
};

/** Register 2's battery-disconnected bit (apcupsd's NOBATT). */
export const REGISTER2_BATTERY_DISCONNECTED = 0x20;

const TRANSFER_CAUSES: Readonly<Record<string, string>> = {
  O: "No transfers since turn-on",
  S: "Automatic or explicit self test",
  K: "Forced by software",
  L: "Low line voltage",
  H: "High line voltage",
  R: "Unacceptable line voltage changes",
  T: "Line voltage notch or spike",
  N: "Not applicable",
};

const SELF_TEST_RESULTS: Readonly<Record<string, string>> = {
  OK: "Passed",
  BT: "Failed: battery capacity",
  NG: "Failed: load",
  NO: "No test results",
};

/**
 * Leading number of a value, as C's atof reads it (`0031:` -> 31, `090.0` -> 90); undefined if none.
 * What `/^\s*[-+]?(\d+(\.\d*)?|\.\d+)/` matches, found by a character scan (this runs for most lines of
 * every status packet).
 */
export function leadingNumber(value: string): number | undefined {
  const length = value.length;
  let i = 0;
  while (i < length && isWhiteSpace(value.charCodeAt(i))) i++;
  let c = value.charCodeAt(i);
  if (c === 0x2b || c === 0x2d) c = value.charCodeAt(++i);
  if (isDigit(c)) {
    while (isDigit(value.charCodeAt(++i)));
    if (value.charCodeAt(i) === 0x2e) { while (isDigit(value.charCodeAt(++i))); }
  } else if (c === 0x2e && isDigit(value.charCodeAt(i + 1))) {
    i++;
    while (isDigit(value.charCodeAt(++i)));
  } else {
    return undefined;
  }
  return Number(i === length ? value : value.slice(0, i));
}

/** ASCII 0-9 (what `\d` matches); NaN (past the end) is not. */
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** True for a data key: exactly two hex digits (upper or lower case). */
export function isDataKey(key: string): boolean {
  return key.length === 2 && isHexDigit(key.charCodeAt(0)) && isHexDigit(key.charCodeAt(1));
}

/** 0-9, A-F, a-f as a character code (a byte test: every packet line's key passes here). */
const isHexDigit = (c: number) => hexValue(c) >= 0;

/** The value of a hex digit's character code (either case), or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** How a data key's value is read (see `decodeStatus`). */
type KeyDecoder =
  | { readonly kind: "number" | "hex"; readonly set: (reading: UpsReading, value: number) => void }
  | { readonly kind: "text"; readonly set: (reading: UpsReading, value: string) => void }
  | { readonly kind: "status" | "transfer" | "selfTest" };

/** Data key (as its byte value, `0x4F` for `4F`/`4f`) -> how to read it; built once from the key tables. */
const KEY_DECODERS: readonly (KeyDecoder | undefined)[] = (() => {
  const table: (KeyDecoder | undefined)[] = new Array(256).fill(undefined);
  const at = (code: string) => parseInt(code, 16);
  for (const [code, set] of Object.entries(TEXT_KEYS)) table[at(code)] = { kind: "text", set };
  for (const [code, set] of Object.entries(HEX_KEYS)) table[at(code)] = { kind: "hex", set };
  for (const [code, set] of Object.entries(NUMBER_KEYS)) table[at(code)] = { kind: "number", set };
  table[0x47] = { kind: "transfer" };
  table[0x58] = { kind: "selfTest" };
  table[0x51] = { kind: "status" };
  return table;
})();

/** A decoded status packet: its reading and how many of its lines were applied. */
export interface DecodedStatus {
  /** The values the packet carried. */
  readonly reading: UpsReading;
  /** Lines that set a value (a known key with a valid value); 0 means the packet proves nothing. */
  readonly applied: number;
}

/** SD as a number: any decimal 1 (`1`, `01`) means shutting down, any decimal 0 means not; else undefined. */
export function parseShutdownFlag(value: string): boolean | undefined {
  if (/^0*1$/.test(value)) return true;
  if (/^0+$/.test(value)) return false;
  return undefined;
}

/**
 * Decodes the data lines of a status packet; for a repeated data key the last one wins. Text values are
 * made printable (control characters replaced), latin-1 letters kept.
 */
export function decodeStatus(lines: readonly PacketLine[]): DecodedStatus {
  const reading: UpsReading = {};
  let applied = 0;
  for (const { key, value } of lines) {
    if (key === "SD") {
      const flag = parseShutdownFlag(value);
      if (flag !== undefined) {
        reading.shuttingDown = flag;
        applied++;
      }
      continue;
    }
    if (key.length !== 2) continue;
    const high = hexValue(key.charCodeAt(0));
    const low = hexValue(key.charCodeAt(1));
    if (high < 0 || low < 0) continue;
    const decoder = KEY_DECODERS[high * 16 + low];
    if (decoder === undefined) continue;
    switch (decoder.kind) {
      case "status":
        if (/^[0-9A-Fa-f]{1,2}$/.test(value)) {
          reading.statusByte = parseInt(value, 16);
          reading.flags = decodeStatusByte(reading.statusByte);
          applied++;
        }
        break;
      case "number": {
        const n = leadingNumber(value);
        if (n !== undefined) {
          decoder.set(reading, n);
          applied++;
        }
        break;
      }
      case "hex":
        if (/^[0-9A-Fa-f]{1,8}$/.test(value)) {
          decoder.set(reading, parseInt(value, 16));
          applied++;
        }
        break;
      case "text":
        decoder.set(reading, printable(value.trim()));
        applied++;
        break;
      case "transfer":
        reading.lastTransferCode = printable(value);
        reading.lastTransferCause = Object.hasOwn(TRANSFER_CAUSES, value)
          ? TRANSFER_CAUSES[value]
          : printable(value);
        applied++;
        break;
      case "selfTest":
        reading.selfTestResult = Object.hasOwn(SELF_TEST_RESULTS, value)
          ? SELF_TEST_RESULTS[value]
          : printable(value);
        applied++;
        break;
    }
  }
  return { reading, applied };
}

/** Decodes the data lines of a status packet (see `decodeStatus`). */
export function decodeReading(lines: readonly PacketLine[]): UpsReading {
  return decodeStatus(lines).reading;
}

/** What a MACONFIG (client notification) says. */
export interface ClientNotification {
  /** UDP port the card sends to (PT). */
  readonly udpPort?: number;
  /** The client this datagram was addressed to (TA). */
  readonly target?: string;
  /** The card's PowerChute client list, empty slots removed (CL lines). */
  readonly clients: readonly string[];
}

/** Turns an 8-hex-digit CL value into a dotted IPv4 address (`AC1A0021` -> 172.26.0.33); undefined if empty or not IPv4. */
export function decodeClientAddress(value: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(value)) return undefined;
  const n = parseInt(value, 16);
  if (n === 0) return undefined;
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/** Encodes a dotted IPv4 address as a CL value (the inverse of `decodeClientAddress`). */
export function encodeClientAddress(address: string): string {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return parts.map((p) => p.toString(16).padStart(2, "0")).join("").toUpperCase();
}

/** Decodes the fields of a MACONFIG packet. */
export function decodeClientNotification(lines: readonly PacketLine[]): ClientNotification {
  const pt = lines.find((l) => l.key === "PT")?.value;
  const port = pt !== undefined && /^\d+$/.test(pt) ? Number(pt) : undefined;
  const clients: string[] = [];
  for (const { key, value } of lines) {
    if (key !== "CL") continue;
    const address = decodeClientAddress(value);
    if (address !== undefined) clients.push(address);
  }
  const target = lines.find((l) => l.key === "TA")?.value;
  return { udpPort: port, target: target === undefined ? undefined : printable(target), clients };
}
