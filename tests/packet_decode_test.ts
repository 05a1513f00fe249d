import assert from "node:assert/strict";
import {
  isClosingTrailer,
  isWhiteSpace,
  locateSignature,
  parseSignedRange,
  scanDatagram,
} from "../src/nmc/packet.ts";
import { decodeStatus, leadingNumber, type UpsReading } from "../src/nmc/status.ts";

/** The definition `leadingNumber` follows (C's atof as a regular expression). */
function reference(value: string): number | undefined {
  const match = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)/.exec(value);
  return match ? Number(match[0]) : undefined;
}

Deno.test("leadingNumber: the leading number C's atof reads, as the regular expression defines it", () => {
  const cases = [
    "230.0",
    "0045:",
    "090.0",
    "  12",
    "\t7x",
    "\u00a05",
    "\u30003",
    "\ufeff9",
    "-0",
    "+5",
    "-.5",
    ".5",
    "5.",
    "5.5.5",
    ".",
    "+",
    "-",
    "",
    " ",
    "x1",
    "1e5",
    "0x1F",
    "  -",
    "+.",
    "00",
    "١٢",
    "\u00851",
    "\u20281",
  ];
  for (const value of cases) assert.deepEqual(leadingNumber(value), reference(value), JSON.stringify(value));
});

Deno.test("leadingNumber: agrees with the regular expression on random values", () => {
  const alphabet = [
    "0",
    "1",
    "9",
    ".",
    "+",
    "-",
    " ",
    "\t",
    "\n",
    "\u00a0",
    "\u2000",
    "e",
    "x",
    ":",
    "\u0085",
  ];
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    let value = "";
    const length = Math.floor(random() * 8);
    for (let j = 0; j < length; j++) value += alphabet[Math.floor(random() * alphabet.length)];
    assert.deepEqual(leadingNumber(value), reference(value), JSON.stringify(value));
  }
});

Deno.test("decodeStatus: data keys in either case, each kind, unknown and malformed keys skipped", () => {
  const lines = [
    ["4f", "230.5"],
    ["66", "095.0"],
    ["6a", "0045:"],
    ["51", "10"],
    ["27", "20"],
    ["01", " Smart-UPS \u0007"],
    ["47", "S"],
    ["58", "OK"],
    ["SD", "01"],
    ["ZZ", "1"],
    ["4", "1"],
    ["4C", "n/a"],
    ["99", "1"],
    ["4G", "1"],
  ].map(([key, value]) => ({ key, value }));
  const { reading, applied } = decodeStatus(lines);
  assert.equal(applied, 9);
  assert.deepEqual(Object.keys(reading), [
    "outputVoltage",
    "batteryPercent",
    "runtimeMinutes",
    "statusByte",
    "flags",
    "register2",
    "batteryDisconnected",
    "model",
    "lastTransferCode",
    "lastTransferCause",
    "selfTestResult",
    "shuttingDown",
  ]);
  assert.equal(reading.outputVoltage, 230.5);
  assert.equal(reading.runtimeMinutes, 45);
  assert.equal(reading.flags?.onBattery, true);
  assert.equal(reading.batteryDisconnected, true);
  assert.equal(reading.model, "Smart-UPS \ufffd");
  assert.equal(reading.lastTransferCause, "Automatic or explicit self test");
  assert.equal(reading.selfTestResult, "Passed");
  assert.equal(reading.shuttingDown, true);
});

Deno.test("decodeStatus: every data key the card documents lands in its own field, and only there", () => {
  const numbers: [string, keyof UpsReading][] = [
    ["4C", "lineVoltage"],
    ["4D", "maxLineVoltage"],
    ["4E", "minLineVoltage"],
    ["4F", "outputVoltage"],
    ["66", "batteryPercent"],
    ["42", "batteryVoltage"],
    ["50", "loadPercent"],
    ["46", "frequency"],
    ["6A", "runtimeMinutes"],
    ["43", "temperature"],
    ["74", "ambientTemperature"],
    ["68", "humidity"],
    ["71", "lowBatteryDurationMinutes"],
    ["64", "hoursSinceSelfTest"],
    ["67", "nominalBatteryVoltage"],
    ["6F", "nominalOutputVoltage"],
    ["6C", "lowTransferVoltage"],
    ["75", "highTransferVoltage"],
    ["65", "returnChargePercent"],
    ["70", "shutdownDelaySeconds"],
    ["72", "wakeupDelaySeconds"],
    ["3E", "externalBatteryPacks"],
    ["3C", "badBatteryPacks"],
  ];
  const hex: [string, keyof UpsReading][] = [["37", "dipSwitches"], ["7E", "register1"], ["38", "register3"]];
  const texts: [string, keyof UpsReading][] = [
    ["01", "model"],
    ["63", "name"],
    ["6E", "serial"],
    ["62", "firmware"],
    ["6D", "manufactureDate"],
    ["78", "batteryDate"],
    ["39", "lineQuality"],
    ["45", "selfTestInterval"],
    ["6B", "alarmSetting"],
    ["73", "sensitivity"],
  ];
  const one = (key: string, value: string) => decodeStatus([{ key, value }]);
  for (const [key, field] of numbers) {
    assert.deepEqual(one(key, "012.5"), { reading: { [field]: 12.5 }, applied: 1 }, key);
  }
  for (const [key, field] of hex) {
    assert.deepEqual(one(key, "1F"), { reading: { [field]: 31 }, applied: 1 }, key);
  }
  for (const [key, field] of texts) {
    assert.deepEqual(one(key, " Text "), { reading: { [field]: "Text" }, applied: 1 }, key);
  }
  assert.deepEqual(one("27", "20"), { reading: { register2: 32, batteryDisconnected: true }, applied: 1 });
  assert.deepEqual(one("27", "1F"), { reading: { register2: 31, batteryDisconnected: false }, applied: 1 });
});

Deno.test("isWhiteSpace: exactly what \\s matches and trim() removes, for every UTF-16 code unit", () => {
  for (let c = 0; c < 0x10000; c++) {
    const char = String.fromCharCode(c);
    assert.equal(isWhiteSpace(c), /\s/.test(char), `U+${c.toString(16)}`);
    assert.equal(isWhiteSpace(c), char.trim() === "", `U+${c.toString(16)} trim`);
  }
});

/** `count` texts of up to `maxPieces` random `pieces` each (a fixed seed), with their latin1 bytes. */
function* randomJoins(pieces: readonly string[], count: number, maxPieces: number, seed: number) {
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < count; i++) {
    let text = "";
    const length = Math.floor(random() * maxPieces);
    for (let j = 0; j < length; j++) text += pieces[Math.floor(random() * pieces.length)];
    yield { text, bytes: Uint8Array.from(text, (ch) => ch.charCodeAt(0)) };
  }
}

/** What `parseSignedRange` did with regular expressions and trim(), for comparison. */
function referenceParse(signed: Uint8Array) {
  const text = new TextDecoder("latin1").decode(signed);
  const lines: { key: string; value: string }[] = [];
  let lineCount = 0;
  let kind: string | undefined;
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    lineCount++;
    kind ??= line === "MASTATUS" || line === "MACONFIG" ? line : "OTHER";
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    lines.push({ key: line.slice(0, eq), value: line.slice(eq + 1).trimEnd() });
  }
  return { kind: kind ?? "OTHER", lines, lineCount, signatureOffset: -1 };
}

Deno.test("parseSignedRange: the same lines as a split and trim() of every line, on random bytes", () => {
  const pieces = [
    "MASTATUS",
    "MACONFIG",
    "4F",
    "=",
    "==",
    " ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "\v",
    "\f",
    "\xa0",
    "\x85",
    "x",
    "230.0",
  ];
  for (const { text, bytes } of randomJoins(pieces, 5000, 12, 99)) {
    assert.deepEqual(parseSignedRange(bytes), referenceParse(bytes), JSON.stringify(text));
  }
});

/** The signed range's non-blank lines and first NUL byte, byte by byte (what the gate counted before). */
function scanSigned(raw: Uint8Array): { lineCount: number; nulAt: number } {
  let count = 0;
  let content = false;
  let nulAt = -1;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === 0x0a || b === 0x0d) {
      if (content) count++;
      content = false;
    } else if (b !== 0x20 && b !== 0x09) {
      content = true;
      if (b === 0 && nulAt < 0) nulAt = i;
    }
  }
  return { lineCount: content ? count + 1 : count, nulAt };
}

Deno.test("scanDatagram: one pass finds what locateSignature and scanSigned find, on random bytes", () => {
  const pieces = [
    "MD=",
    "MD",
    "M",
    "D=",
    "=",
    "ab",
    " ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "\0",
    "\x80",
    "\xff",
    "x",
    "4F=1",
  ];
  for (const { text, bytes } of randomJoins(pieces, 20_000, 16, 5)) {
    const signature = locateSignature(bytes);
    const signed = signature ? bytes.subarray(0, signature.offset) : bytes;
    const expected = { signature, ...scanSigned(signed), ascii: signed.every((b) => b < 0x80) };
    assert.deepEqual(scanDatagram(bytes), expected, JSON.stringify(text));
  }
});

Deno.test("isClosingTrailer: the quick check for </BODY> agrees with the full one", () => {
  const cases = [
    "",
    "</BODY>\n",
    "</BODY>\r\n",
    "</BODY>",
    "</BODY>\n\n",
    "</body>\n",
    "</BODY>\r",
    "</BODY>x\n",
    "</BODX>\n",
    "</BODY>\n4F=1\n",
    "</HTML>\n",
    " </BODY>\n",
    "</BODY>\n\r\n",
  ];
  for (const text of cases) {
    const bytes = new TextEncoder().encode(text);
    const full = text.split(/\r\n|\r|\n/).every((line) =>
      line.trim() === "" || /^<\/(body|html)>$/i.test(line.trim())
    );
    assert.equal(isClosingTrailer(bytes), full, JSON.stringify(text));
  }
});

Deno.test("decode: a transfer cause or self-test code that names an Object property is shown as text", () => {
  for (const code of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    const reading = decodeStatus([{ key: "47", value: code }, { key: "58", value: code }]).reading;
    assert.equal(typeof reading.lastTransferCause, "string", `47=${code}`);
    assert.equal(reading.lastTransferCause, code);
    assert.equal(typeof reading.selfTestResult, "string", `58=${code}`);
    assert.equal(reading.selfTestResult, code);
  }
});
