/**
 * The SNMP agent's pure parts and its config keys: AES-CFB-128 against NIST SP 800-38A; the gate's
 * header reading and decisions; the UPS-MIB values, units and what is left out; the alarm table and its
 * traps; field-level errors, masking and the combination warnings of `[SNMP]`; and the 30 s trap repeat
 * on a fake clock, counted at a UDP receiver.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { evaluateConfig } from "../src/config/evaluate.ts";
import { maskConfig } from "../src/config/build.ts";
import { keyDef } from "../src/config/schema.ts";
import { parseTrapReceiver } from "../src/config/schema_snmp.ts";
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { ALARMS, AlarmTable, presentAlarms, TRAPS, trapsFor } from "../src/snmp/alarms.ts";
import { aesCfb } from "../src/snmp/cfb.ts";
import { admit, readHeader } from "../src/snmp/gate.ts";
import { buildMib, getBulk, getExact, getNext, VarType } from "../src/snmp/mib.ts";
import { answer, Pdu } from "../src/snmp/responder.ts";
import { SnmpService } from "../src/snmp/service.ts";
import { applyStatus, initialUpsState } from "../src/ups/state.ts";
import { configText } from "./fixtures/config/helpers.ts";
import { fakeClock } from "./helpers/clock.ts";

const hex = (s: string) => Buffer.from(s, "hex");

Deno.test("AES-CFB-128 matches NIST SP 800-38A F.3.13/F.3.14 and handles a partial last block", () => {
  const key = hex("2b7e151628aed2a6abf7158809cf4f3c");
  const iv = hex("000102030405060708090a0b0c0d0e0f");
  const plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  const cipher = "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b";
  assert.equal(aesCfb(key, iv, plain, false).toString("hex"), cipher);
  assert.equal(aesCfb(key, iv, hex(cipher), true).toString("hex"), plain.toString("hex"));
  const odd = plain.subarray(0, 21);
  assert.equal(aesCfb(key, iv, aesCfb(key, iv, odd, false), true).toString("hex"), odd.toString("hex"));
  assert.throws(() => aesCfb(key, iv.subarray(0, 8), plain, false), /IV must be 16 bytes/);
});

/** A v3 message header with the given flags and user (body omitted). */
function v3Header(flags: number, user: string, model = 3): Uint8Array {
  const u = [...new TextEncoder().encode(user)];
  const usm = [0x04, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x04, u.length, ...u, 0x04, 0x00, 0x04, 0x00];
  const params = [0x04, usm.length + 2, 0x30, usm.length, ...usm];
  const header = [0x30, 0x0d, 0x02, 0x01, 0x01, 0x02, 0x02, 0x05, 0xdc, 0x04, 0x01, flags, 0x02, 0x01, model];
  const body = [0x02, 0x01, 0x03, ...header, ...params];
  return new Uint8Array([0x30, body.length, ...body]);
}

Deno.test("gate: reads v1/v2c communities and v3 users; drops what net-snmp would answer with a report", () => {
  const view = {
    communities: new Set(["ro"]),
    users: new Map([["mon", { priv: true }], ["auth", { priv: false }]]),
  };
  const v2c = (c: string) =>
    new Uint8Array([0x30, 5 + c.length, 0x02, 0x01, 0x01, 0x04, c.length, ...new TextEncoder().encode(c)]);
  assert.deepEqual(readHeader(v2c("ro")), { version: 1, community: "ro" });
  assert.deepEqual(admit(v2c("ro"), view), { ok: true });
  assert.deepEqual(admit(v2c("rw"), view), { ok: false, reason: "community" });
  assert.deepEqual(readHeader(v3Header(7, "mon")), {
    version: 3,
    flags: 7,
    securityModel: 3,
    userName: "mon",
  });
  assert.deepEqual(admit(v3Header(7, "mon"), view), { ok: true });
  assert.deepEqual(admit(v3Header(5, "mon"), view), { ok: false, reason: "securityLevel" });
  assert.deepEqual(admit(v3Header(5, "auth"), view), { ok: true });
  assert.deepEqual(admit(v3Header(4, "auth"), view), { ok: false, reason: "securityLevel" });
  assert.deepEqual(admit(v3Header(7, "eve"), view), { ok: false, reason: "user" });
  assert.deepEqual(admit(v3Header(4, ""), view), { ok: true }, "engine-ID discovery");
  assert.deepEqual(admit(v3Header(5, ""), view), { ok: false, reason: "user" });
  assert.deepEqual(admit(v3Header(6, "mon"), view), { ok: false, reason: "malformed" }, "priv without auth");
  assert.deepEqual(admit(v3Header(7, "mon", 2), view), { ok: false, reason: "malformed" }, "not USM");
  const whole = v3Header(7, "mon");
  for (let n = 0; n < whole.length; n++) {
    assert.equal(admit(whole.subarray(0, n), view).ok, false, `truncated to ${n} bytes`);
  }
  assert.equal(readHeader(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), undefined);
});

const CARD = "10.0.0.45";
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

function ups(byte: number, reading: Record<string, unknown> = {}) {
  return applyStatus(
    initialUpsState(CARD),
    { flags: decodeStatusByte(byte), statusByte: byte, ...reading },
    T0,
  ).state;
}

Deno.test("UPS-MIB: RFC 1628 units, clamps, unknown readings left out, no communication = unknown", () => {
  const mib = buildMib({
    ups: ups(0x08, {
      batteryVoltage: 27.34,
      frequency: 49.96,
      batteryPercent: 104,
      loadPercent: 250,
      temperature: -3,
    }),
    upsName: "nmc1",
    hostname: "host",
    now: T0 + 12_345,
    startedAt: T0,
    alarms: [],
    lineBads: 3,
  });
  const value = (oid: string) => getExact(mib, oid);
  assert.equal(value("1.3.6.1.2.1.1.3.0").value, 1234, "sysUpTime in centiseconds");
  assert.equal(value("1.3.6.1.2.1.33.1.2.5.0").value, 273, "battery voltage in 0.1 V");
  assert.equal(value("1.3.6.1.2.1.33.1.3.3.1.2.1").value, 500, "frequency in 0.1 Hz");
  assert.equal(value("1.3.6.1.2.1.33.1.2.4.0").value, 100, "charge clamped to 100");
  assert.equal(value("1.3.6.1.2.1.33.1.4.4.1.5.1").value, 200, "load clamped to 200");
  assert.equal(value("1.3.6.1.2.1.33.1.2.7.0").value, -3, "temperature is signed");
  assert.equal(value("1.3.6.1.2.1.33.1.3.1.0").type, VarType.Counter32);
  assert.equal(
    value("1.3.6.1.2.1.33.1.3.3.1.3.1").type,
    VarType.NoSuchObject,
    "no line voltage sent: left out",
  );
  assert.equal(value("1.3.6.1.2.1.33.1.2.3.0").type, VarType.NoSuchObject, "no runtime sent: not 0");
  assert.equal(value("1.3.6.1.2.1.33.1.2.4.1").type, VarType.NoSuchInstance, "charge is served, .1 is not");
  assert.equal(value("1.3.6.1.2.1.99.0").type, VarType.NoSuchObject);
  assert.equal(value("1.3.6.1.2.1.33.1.5.1.0").type, VarType.NoSuchObject, "no bypass group");
  const waiting = buildMib({
    ups: initialUpsState(CARD),
    upsName: "n",
    hostname: "h",
    now: T0,
    startedAt: T0,
    alarms: [],
    lineBads: 0,
  });
  assert.equal(
    getExact(waiting, "1.3.6.1.2.1.33.1.2.1.0").value,
    1,
    "battery status unknown before the first packet",
  );
  assert.equal(getExact(waiting, "1.3.6.1.2.1.33.1.4.1.0").value, 1, "output source other");
  // Sorted: a walk visits every object once, in order, and ends.
  let oid = "1.3.6";
  const seen: string[] = [];
  for (;;) {
    const next = getNext(mib, oid);
    if (next.type === VarType.EndOfMibView) break;
    seen.push(next.oid);
    oid = next.oid;
  }
  assert.deepEqual(seen, mib.map((v) => v.oid));
  const bulk = getBulk(mib, ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.33.1.2"], 1, 3);
  assert.deepEqual(bulk.map((v) => v.oid), [
    "1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.33.1.2.1.0",
    "1.3.6.1.2.1.33.1.2.2.0",
    "1.3.6.1.2.1.33.1.2.4.0",
  ]);
  assert.equal(getBulk(mib, ["1.3.6"], 0, 1_000_000).length <= 512, true, "bulk answers are capped");
  assert.equal(
    answer(mib, { version: 1, type: Pdu.Set, varbinds: [{ oid: "1.3.6.1.2.1.1.5.0" }] })!.errorStatus,
    17,
  );
  assert.equal(answer(mib, { version: 0, type: Pdu.GetBulk, varbinds: [{ oid: "1.3.6" }] }), undefined);
  assert.equal(answer(mib, { version: 0, type: 0xa4, varbinds: [] }), undefined, "a v1 trap is not answered");
});

Deno.test("alarms: RFC 1628 well-known alarms, stable ids, traps for added and removed rows", () => {
  const none = { pending: false, starting: false };
  assert.deepEqual(presentAlarms(ups(0x10), none), [ALARMS.onBattery]);
  assert.deepEqual(presentAlarms(ups(0x50), none), [ALARMS.onBattery, ALARMS.lowBattery]);
  assert.deepEqual(presentAlarms(ups(0x08), { pending: true, starting: false }), [ALARMS.shutdownPending]);
  assert.deepEqual(presentAlarms(ups(0x08), { pending: true, starting: true }), [ALARMS.shutdownImminent]);
  const lost = { ...ups(0x50), comm: "lost" as const };
  assert.deepEqual(presentAlarms(lost, none), [ALARMS.lowBattery, ALARMS.communicationsLost]);
  const table = new AlarmTable();
  const first = table.update([ALARMS.onBattery, ALARMS.lowBattery], T0);
  assert.deepEqual(first.added.map((r) => r.id), [1, 2]);
  const second = table.update([ALARMS.lowBattery, ALARMS.communicationsLost], T0 + 1000);
  assert.deepEqual(second.removed.map((r) => [r.id, r.descr]), [[1, ALARMS.onBattery]]);
  assert.deepEqual(second.added.map((r) => [r.id, r.descr]), [[3, ALARMS.communicationsLost]]);
  assert.deepEqual(table.rows().map((r) => r.id), [2, 3]);
  const onBattery = () => ({ trapOid: TRAPS.onBattery, varbinds: [], alarm: ALARMS.onBattery });
  assert.deepEqual(trapsFor(first, onBattery).map((n) => n.trapOid), [
    TRAPS.onBattery,
    TRAPS.alarmEntryAdded,
  ]);
  const traps = trapsFor(second, onBattery);
  assert.deepEqual(traps.map((n) => n.trapOid), [TRAPS.alarmEntryRemoved, TRAPS.alarmEntryAdded]);
  assert.deepEqual(traps[1].varbinds.map((v) => [v.oid, v.value]), [
    ["1.3.6.1.2.1.33.1.6.2.1.1.3", 3],
    ["1.3.6.1.2.1.33.1.6.2.1.2.3", ALARMS.communicationsLost],
  ]);
  assert.deepEqual(trapsFor(table.update([ALARMS.testInProgress], T0), onBattery).map((n) => n.trapOid), [
    TRAPS.alarmEntryRemoved,
    TRAPS.alarmEntryRemoved,
  ], "testInProgress is added without a trap");
});

Deno.test("[SNMP] keys: field-level errors, secrets masked, combination warnings", () => {
  const problems = (name: string, value: string) => keyDef(name)!.check(value);
  assert.deepEqual(problems("SNMP.v3AuthPassphrase_1", "short"), [
    "must be at least 8 characters (SNMPv3 requires 8 or more)",
  ]);
  assert.deepEqual(problems("SNMP.v3AuthProtocol_2", "md5"), ["must be one of sha256, sha, sha512"]);
  assert.deepEqual(problems("SNMP.v3PrivProtocol_1", "des"), ["must be one of aes, none"]);
  assert.deepEqual(problems("SNMP.community_3", "has blank"), ["must be printable ASCII without blanks"]);
  assert.deepEqual(problems("SNMP.trapReceiver_1", "nms.example:99999"), [
    "must be host[:port] or [IPv6]:port (port 1-65535)",
  ]);
  assert.deepEqual(problems("SNMP.trapRepeatInterval", "3"), [
    "must be 0 or 5-3600 (RFC 1628: no trap more often than every 5 s)",
  ]);
  assert.deepEqual(problems("SNMP.trapVersion", "v1"), ["must be one of v2c, v3"]);
  assert.equal(keyDef("SNMP.v3PrivPassphrase_5")!.secret, true);
  assert.equal(keyDef("SNMP.community_1")!.secret, true);
  assert.deepEqual(parseTrapReceiver("[::1]:1162"), { host: "::1", port: 1162 });
  assert.deepEqual(parseTrapReceiver("nms.example"), { host: "nms.example", port: 162 });

  const text = configText({
    "SNMP.enabled": "true",
    "SNMP.community_1": "readers",
    "SNMP.v3User_1": "monitor",
    "SNMP.v3AuthPassphrase_1": "auth-pass-phrase",
    "SNMP.v3PrivPassphrase_1": "priv-pass-phrase",
    "SNMP.v3User_2": "half",
    "SNMP.v3AuthPassphrase_2": "auth-pass-phrase",
    "SNMP.trapReceiver_1": "127.0.0.1:1162",
    "SNMP.trapVersion": "v3",
    "SNMP.trapUser": "nobody",
  });
  const ev = evaluateConfig(text, { file: "f", backupFile: "b", strict: true });
  assert.equal(ev.ok, true, ev.problems.map((p) => p.message).join("\n"));
  const snmp = ev.config!.snmp!;
  assert.deepEqual(snmp.users.map((u) => [u.name, u.authProtocol, u.privProtocol]), [[
    "monitor",
    "sha256",
    "aes",
  ]]);
  assert.deepEqual(snmp.communities, ["readers"]);
  const warnings = ev.problems.map((p) => p.message).join("\n");
  assert.match(
    warnings,
    /SNMP\.v3User_2 = half has no v3PrivPassphrase_2 \(v3PrivProtocol_2 = aes\): the user is off/,
  );
  assert.match(warnings, /trapUser = nobody is not a complete v3User_N: no trap is sent/);
  const masked = JSON.stringify(maskConfig(ev.config!));
  for (const secret of ["readers", "auth-pass-phrase", "priv-pass-phrase"]) {
    assert.ok(!masked.includes(secret), secret);
  }
  const bad = evaluateConfig(configText({ "SNMP.v3AuthPassphrase_1": "1234567" }), {
    file: "f",
    backupFile: "b",
    strict: true,
  });
  assert.equal(bad.ok, false);
  assert.ok(bad.problems.some((p) => p.key === "SNMP.v3AuthPassphrase_1" && !p.message.includes("1234567")));
});

Deno.test("trap repeat: the 30 s default on a fake clock, until the condition clears", async () => {
  const { fake, clock } = fakeClock(T0);
  const receiver = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (receiver.addr as Deno.NetAddr).port;
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-snmp-unit-" });
  let state = ups(0x08);
  const listeners = new Set<(e: ReturnType<typeof makeEvent>) => void>();
  let received = 0;
  const reading = (async () => {
    try {
      for (;;) {
        await receiver.receive();
        received++;
      }
    } catch { /* closed */ }
  })();
  const arrived = async (n: number) => {
    const deadline = Date.now() + 800; // a datagram on loopback takes well under 100 ms
    while (received < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    return received;
  };
  const service = await SnmpService.start({
    enabled: true,
    port: 0,
    listenAddresses: ["127.0.0.1"],
    nmc: "",
    communities: [],
    users: [],
    trapReceivers: [`127.0.0.1:${port}`],
    trapVersion: "v2c",
    trapCommunity: "public",
    trapUser: "",
    trapRepeatInterval: 30,
    cards: [CARD],
    names: [],
  }, {
    upsState: () => state,
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    logger: memoryLogger().logger,
    clock,
    dataDir,
    hostname: "h",
  });
  try {
    state = ups(0x10);
    for (const l of listeners) l(makeEvent({ id: "PowerFailed", nmc: CARD }, fake.now));
    assert.equal(await arrived(1), 1, "upsTrapOnBattery at once");
    fake.tick(29_000);
    assert.equal(await arrived(2), 1, "nothing before 30 s");
    fake.tick(1_000);
    assert.equal(await arrived(2), 2, "the repeat at 30 s");
    fake.tick(30_000);
    assert.equal(await arrived(3), 3, "and again at 60 s");
    state = ups(0x08);
    for (const l of listeners) l(makeEvent({ id: "PowerRestored", nmc: CARD }, fake.now));
    assert.equal(await arrived(4), 4, "upsTrapAlarmEntryRemoved");
    fake.tick(120_000);
    assert.equal(await arrived(5), 4, "no repeat once cleared");
  } finally {
    await service.stop();
    receiver.close();
    await reading;
    await Deno.remove(dataDir, { recursive: true });
  }
});
