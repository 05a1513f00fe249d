import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { judgePacket } from "../src/nmc/gate.ts";
import {
  buildPacket,
  computeSignature,
  findSignatureOffset,
  firstValue,
  locateSignature,
  parsePacket,
} from "../src/nmc/packet.ts";
import {
  decodeClientAddress,
  decodeClientNotification,
  decodeReading,
  decodeStatusByte,
  encodeClientAddress,
  encodeStatusByte,
  leadingNumber,
  statusWords,
} from "../src/nmc/status.ts";
import { readVector, VECTOR_CARD } from "./helpers/vectors.ts";

const settings = {
  username: VECTOR_CARD.username,
  authenticationPhrase: VECTOR_CARD.authenticationPhrase,
  cards: [VECTOR_CARD.address],
};

Deno.test("real AP9617 MASTATUS verifies with the card's credentials and decodes to the documented values", () => {
  const raw = readVector("ap9617-mastatus.dat");
  assert.equal(raw.length, 487);
  const packet = parsePacket(raw);
  assert.equal(packet.kind, "MASTATUS");
  assert.equal(packet.signatureOffset, 443, "the signed range is the 443 bytes before MD=");
  assert.equal(
    computeSignature(raw.subarray(0, 443), "apc", "0123456789ABCDEF0123456789"),
    "97913cc4d03f6e42735ae35d25411bfb",
  );
  // Independent check of the signing rule with a plain MD5 over the concatenation.
  const concat = new Uint8Array([
    ...raw.subarray(0, 443),
    ...new TextEncoder().encode("apc0123456789ABCDEF0123456789"),
  ]);
  assert.equal(createHash("md5").update(concat).digest("hex"), locateSignature(raw)?.value);
  assert.equal(firstValue(packet, "MD"), undefined, "the signature line is not part of the signed lines");

  const verdict = judgePacket(raw, settings, () => undefined);
  assert.ok(verdict.accepted, JSON.stringify(verdict));
  assert.equal(verdict.packet.card, "172.26.0.45");
  assert.deepEqual(verdict.packet.counters, { sr: 0x09, su: 0x1bed3f });
  assert.equal(firstValue(packet, "TA"), "172.26.0.47");

  const reading = decodeReading(packet.lines);
  assert.deepEqual(reading, {
    shuttingDown: false,
    outputVoltage: 116.6,
    statusByte: 0x08,
    flags: decodeStatusByte(0x08),
    lineVoltage: 116.6,
    loadPercent: 38.3,
    temperature: 28.8,
    batteryDate: "03/31/06",
    runtimeMinutes: 31,
    lastTransferCause: "Line voltage notch or spike",
    name: "UPS03R",
    batteryPercent: 90,
    selfTestResult: "No test results",
    serial: "AS0614132629",
    manufactureDate: "03/31/06",
    firmware: "617.3.D",
    model: "Smart-UPS 1500 RM",
    batteryVoltage: 27.27,
    frequency: 60,
    maxLineVoltage: 118,
    minLineVoltage: 115.9,
    lowBatteryDurationMinutes: 2,
    // The rest of wire.md §6's table, with the values its example column lists for this card.
    lastTransferCode: "T",
    lineQuality: "FF",
    selfTestInterval: "336",
    nominalBatteryVoltage: 24,
    nominalOutputVoltage: 120,
    lowTransferVoltage: 106,
    highTransferVoltage: 127,
    returnChargePercent: 0,
    shutdownDelaySeconds: 90,
    wakeupDelaySeconds: 0,
    alarmSetting: "0",
    sensitivity: "H",
    externalBatteryPacks: 0,
    register1: 0,
    register2: 0,
    register3: 0,
    batteryDisconnected: false,
  });
  assert.deepEqual(statusWords(reading.flags!), ["ONLINE"]);
});

Deno.test("real AP9617 MACONFIG verifies and decodes its port and 50-slot client list", () => {
  const raw = readVector("ap9617-maconfig.dat");
  assert.equal(raw.length, 464);
  const packet = parsePacket(raw);
  assert.equal(packet.kind, "MACONFIG");
  const verdict = judgePacket(raw, settings, () => undefined);
  assert.ok(verdict.accepted, JSON.stringify(verdict));
  assert.deepEqual(verdict.packet.counters, { sr: 0x09, su: 0x1be33e });
  assert.equal(packet.lines.filter((l) => l.key === "CL").length, 50);
  assert.deepEqual(decodeClientNotification(packet.lines), {
    udpPort: 3052,
    target: "172.26.0.47",
    clients: ["172.26.0.33"],
  });
  assert.equal(decodeReading(packet.lines).statusByte, undefined, "a MACONFIG carries no UPS data");
});

Deno.test("the recorded pair is accepted in capture order and the replay is refused", () => {
  const config = readVector("ap9617-maconfig.dat");
  const status = readVector("ap9617-mastatus.dat");
  let last: { sr: number; su: number } | undefined;
  for (const raw of [config, status]) {
    const verdict = judgePacket(raw, settings, () => last);
    assert.ok(verdict.accepted);
    last = verdict.packet.counters;
  }
  const again = judgePacket(config, settings, () => last);
  assert.equal(again.accepted, false);
  assert.equal(!again.accepted && again.reason, "replay");
});

Deno.test("the vectors do not verify once their LFs are turned into CRLF", () => {
  const text = new TextDecoder().decode(readVector("ap9617-mastatus.dat")).replaceAll("\n", "\r\n");
  const verdict = judgePacket(new TextEncoder().encode(text), settings, () => undefined);
  assert.equal(!verdict.accepted && verdict.reason, "bad-md5");
});

Deno.test("wire.md §9 self-made vector: the same bytes are built and signed identically", () => {
  const items: [string, string][] = [
    ["MV", "v1.7.0"],
    ["PC", "127.0.0.1"],
    ["DT", "01/01/1970"],
    ["TM", "00:00:00"],
    ["SR", "01"],
    ["SU", "1000"],
    ["RD", "1234"],
    ["TA", "127.0.0.1"],
    ["UC", "1"],
    ["SD", "0"],
    ["SM", "2"],
    ["4F", "230.0"],
    ["51", "08"],
    ["4C", "230.0"],
    ["50", "025.0"],
    ["43", "028.0"],
    ["6A", "0045:"],
    ["47", "O"],
    ["63", "PEERUPS"],
    ["66", "100.0"],
    ["58", "NO"],
    ["6E", "AS0000000001"],
    ["62", "617.3.D"],
    ["01", "Smart-UPS 1500 RM"],
    ["42", "27.30"],
    ["46", "50.00"],
    ["4D", "230.0"],
    ["4E", "230.0"],
    ["MC", "0"],
    ["I0", "0"],
  ];
  const raw = buildPacket({ kind: "MASTATUS", items }, "apc", "admin user phrase");
  assert.equal(raw.length, 335);
  assert.equal(findSignatureOffset(raw), 291);
  assert.equal(locateSignature(raw)?.value, "f48b3608e996a9a9340cb57d231abd89");
});

Deno.test("CR, LF and CRLF line endings all parse to the same items and verify over the raw bytes", () => {
  const items: [string, string][] = [["PC", "10.0.0.9"], ["SR", "01"], ["SU", "10"], ["51", "10"], [
    "6A",
    "0012:",
  ]];
  for (const lineEnding of ["\n", "\r\n", "\r"] as const) {
    const raw = buildPacket({ kind: "MASTATUS", items, lineEnding }, "apc", "admin user phrase");
    const verdict = judgePacket(raw, {
      username: "apc",
      authenticationPhrase: "admin user phrase",
      cards: ["10.0.0.9"],
    }, () => undefined);
    assert.ok(verdict.accepted, `line ending ${JSON.stringify(lineEnding)}`);
    const reading = decodeReading(verdict.packet.lines);
    assert.equal(reading.flags?.onBattery, true);
    assert.equal(reading.runtimeMinutes, 12);
  }
});

Deno.test("parsing: blanks trimmed, value keeps '=', first PC wins, last repeated data key wins", () => {
  const text = "MASTATUS\n  PC=1.1.1.1  \nPC=2.2.2.2\n63=A=B \t\n66=050.0\n66=040.0\nnot a pair\n";
  const packet = parsePacket(new TextEncoder().encode(text));
  assert.equal(firstValue(packet, "PC"), "1.1.1.1");
  assert.equal(firstValue(packet, "63"), "A=B");
  assert.equal(decodeReading(packet.lines).batteryPercent, 40);
  assert.equal(packet.lineCount, 7);
});

Deno.test("status byte bits map to the eight flags and back", () => {
  assert.deepEqual(statusWords(decodeStatusByte(0x50)), ["ONBATT", "LOWBATT"]);
  assert.deepEqual(statusWords(decodeStatusByte(0xff)), [
    "CAL",
    "TRIM",
    "BOOST",
    "ONLINE",
    "ONBATT",
    "OVERLOAD",
    "LOWBATT",
    "REPLACEBATT",
  ]);
  for (const byte of [0x08, 0x0a, 0x0c, 0x10, 0x18, 0x50, 0x88, 0x21]) {
    assert.equal(encodeStatusByte(decodeStatusByte(byte)), byte);
  }
});

Deno.test("numbers are read like C's atof and client addresses like the card writes them", () => {
  assert.equal(leadingNumber("0031:"), 31);
  assert.equal(leadingNumber("090.0"), 90);
  assert.equal(leadingNumber("-3.5C"), -3.5);
  assert.equal(leadingNumber("FF"), undefined);
  assert.equal(decodeClientAddress("AC1A0021"), "172.26.0.33");
  assert.equal(decodeClientAddress("00"), undefined);
  assert.equal(encodeClientAddress("172.26.0.33"), "AC1A0021");
  assert.throws(() => encodeClientAddress("300.1.1.1"), /not an IPv4 address/);
});
