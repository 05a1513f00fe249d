/**
 * NUT's protocol as pure functions: request words, quoting, the variables of a UPS (NUT names and units,
 * ups.status words, FSD), and the session's answers with NUT's error words.
 */
import assert from "node:assert/strict";
import { hashPassword } from "../src/config/credentials.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { NutPasswords } from "../src/nut/passwords.ts";
import { listLines, quote, tokenize } from "../src/nut/protocol.ts";
import { NutSession, type SessionContext } from "../src/nut/session.ts";
import { statusWords, upsVariables } from "../src/nut/variables.ts";
import { systemClock } from "../src/time/clock.ts";
import { applyCommLost, applyStatus, initialUpsState, type UpsState } from "../src/ups/state.ts";

const CARD = "10.0.0.45";

function onLine(extra: Partial<import("../src/nmc/status.ts").UpsReading> = {}, byte = 0x08): UpsState {
  return applyStatus(initialUpsState(CARD), {
    flags: decodeStatusByte(byte),
    statusByte: byte,
    batteryPercent: 100,
    runtimeMinutes: 45,
    lineVoltage: 230,
    loadPercent: 25,
    batteryVoltage: 27.3,
    temperature: 28,
    frequency: 50,
    model: "Smart-UPS 1500 RM",
    serial: "AS0000000001",
    firmware: "617.3.D",
    lastTransferCause: "Low line voltage",
    selfTestResult: "Passed",
    ...extra,
  }, Date.UTC(2026, 0, 1)).state;
}

function context(
  state: UpsState | undefined,
  fsd = false,
  verify: SessionContext["verify"] = () => Promise.resolve(true),
): SessionContext {
  return {
    list: () => [{ name: "nmc1", card: CARD }],
    find: (name) =>
      name.toLowerCase() === "nmc1" ? { served: { name: "nmc1", card: CARD }, state, fsd } : undefined,
    numLogins: () => 2,
    clients: () => ["127.0.0.1", "10.0.0.7"],
    verify,
    tlsAvailable: () => false,
    version: "pcns-agent test",
  };
}

Deno.test("tokenize: blanks split, quotes group, backslashes escape (as upsd's parser)", () => {
  assert.deepEqual(tokenize("GET VAR nmc1 ups.status"), { words: ["GET", "VAR", "nmc1", "ups.status"] });
  assert.deepEqual(tokenize('PASSWORD "a b\\"c\\\\d"\r'), { words: ["PASSWORD", 'a b"c\\d'] });
  assert.deepEqual(tokenize('USERNAME ""'), { words: ["USERNAME", ""] });
  assert.deepEqual(tokenize(' \tGET\t\tVAR  a"b c"d x\\y\\ '), { words: ["GET", "VAR", "ab cd", "xy "] });
  assert.deepEqual(tokenize('"" "" \\"'), { words: ["", "", '"'] });
  assert.deepEqual(tokenize("   "), { words: [] });
  assert.ok("error" in tokenize('PASSWORD "open'));
  assert.ok("error" in tokenize("GET \\"));
  assert.ok("error" in tokenize(Array(20).fill("x").join(" ")));
  assert.equal(quote('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  assert.deepEqual(listLines("VAR nmc1", ["a"]), ["BEGIN LIST VAR nmc1", "a", "END LIST VAR nmc1"]);
});

Deno.test("variables: NUT names and units from the card's reading, sorted as upsd lists them", () => {
  const vars = upsVariables(onLine(), false);
  const get = (name: string) => vars.find((v) => v.name === name)?.value;
  assert.equal(get("ups.status"), "OL");
  assert.equal(get("battery.charge"), "100.0");
  assert.equal(get("battery.runtime"), "2700", "runtime in seconds");
  assert.equal(get("battery.voltage"), "27.30");
  assert.equal(get("input.voltage"), "230.0");
  assert.equal(get("input.frequency"), "50.0");
  assert.equal(get("ups.load"), "25.0");
  assert.equal(get("ups.temperature"), "28.0");
  assert.equal(get("ups.model"), "Smart-UPS 1500 RM");
  assert.equal(get("device.model"), "Smart-UPS 1500 RM");
  assert.equal(get("ups.serial"), "AS0000000001");
  assert.equal(get("ups.firmware"), "617.3.D");
  assert.equal(get("ups.test.result"), "Passed");
  assert.equal(get("input.transfer.reason"), "Low line voltage");
  assert.equal(get("device.mfr"), "APC");
  assert.equal(get("driver.name"), "pcns-agent");
  assert.equal(get("driver.parameter.port"), CARD);
  assert.equal(get("output.voltage"), undefined, "a value the card never sent is not invented");
  const names = vars.map((v) => v.name);
  assert.deepEqual(names, [...names].sort());
});

Deno.test("ups.status words: OB LB RB OVER TRIM BOOST CAL, OFF, and FSD first", () => {
  const flags = (byte: number) => ({ flags: decodeStatusByte(byte), shuttingDown: false });
  assert.deepEqual(statusWords(flags(0x10 | 0x40), false), ["OB", "LB"]);
  assert.deepEqual(statusWords(flags(0x08 | 0x80 | 0x20 | 0x02), false), ["OL", "RB", "OVER", "TRIM"]);
  assert.deepEqual(statusWords(flags(0x08 | 0x04 | 0x01), false), ["OL", "BOOST", "CAL"]);
  assert.deepEqual(statusWords(flags(0), false), ["OFF"]);
  assert.deepEqual(statusWords(flags(0x10 | 0x40), true), ["FSD", "OB", "LB"]);
  assert.deepEqual(statusWords({ flags: decodeStatusByte(0x10), shuttingDown: true }, false), ["FSD", "OB"]);
});

Deno.test("session: upsd's answers and error words", async () => {
  const s = new NutSession("127.0.0.1", context(onLine()));
  const ask = async (line: string) => (await s.handle(line)).lines;
  assert.deepEqual(await ask("NETVER"), ["1.3"]);
  assert.deepEqual(await ask("protver"), ["1.3"]);
  assert.deepEqual(await ask("VER"), ["pcns-agent test"]);
  assert.deepEqual(await ask("GET VAR nmc1 ups.status"), ['VAR nmc1 ups.status "OL"']);
  assert.deepEqual(await ask("get var NMC1 battery.charge"), ['VAR NMC1 battery.charge "100.0"']);
  assert.deepEqual(await ask("GET VAR nmc1 no.such.var"), ["ERR VAR-NOT-SUPPORTED"]);
  assert.deepEqual(await ask("GET VAR nmc9 ups.status"), ["ERR UNKNOWN-UPS"]);
  assert.deepEqual(await ask("GET VAR nmc1"), ["ERR INVALID-ARGUMENT"]);
  assert.deepEqual(await ask("GET NOPE nmc1 x"), ["ERR INVALID-ARGUMENT"]);
  assert.deepEqual(await ask("GET TYPE nmc1 battery.charge"), ["TYPE nmc1 battery.charge NUMBER"]);
  assert.deepEqual(await ask("GET TYPE nmc1 ups.status"), ["TYPE nmc1 ups.status STRING:2"]);
  assert.deepEqual(await ask("GET DESC nmc1 ups.status"), ['DESC nmc1 ups.status "UPS status"']);
  assert.deepEqual(await ask("GET UPSDESC nmc1"), [`UPSDESC nmc1 "UPS behind NMC ${CARD} (pcns-agent)"`]);
  assert.deepEqual(await ask("GET NUMLOGINS nmc1"), ["NUMLOGINS nmc1 2"]);
  assert.deepEqual(await ask("LIST UPS"), [
    "BEGIN LIST UPS",
    `UPS nmc1 "UPS behind NMC ${CARD} (pcns-agent)"`,
    "END LIST UPS",
  ]);
  assert.deepEqual(await ask("LIST CLIENT nmc1"), [
    "BEGIN LIST CLIENT nmc1",
    "CLIENT nmc1 127.0.0.1",
    "CLIENT nmc1 10.0.0.7",
    "END LIST CLIENT nmc1",
  ]);
  assert.deepEqual(await ask("LIST RW nmc1"), ["BEGIN LIST RW nmc1", "END LIST RW nmc1"]);
  assert.deepEqual(await ask("LIST CMD nmc1"), ["BEGIN LIST CMD nmc1", "END LIST CMD nmc1"]);
  assert.deepEqual(await ask("LIST ENUM nmc1 ups.status"), [
    "BEGIN LIST ENUM nmc1 ups.status",
    "END LIST ENUM nmc1 ups.status",
  ]);
  assert.deepEqual(await ask("LIST ENUM nmc1 no.var"), ["ERR VAR-NOT-SUPPORTED"]);
  const list = await ask("LIST VAR nmc1");
  assert.equal(list[0], "BEGIN LIST VAR nmc1");
  assert.equal(list.at(-1), "END LIST VAR nmc1");
  assert.ok(list.includes('VAR nmc1 ups.status "OL"'));
  assert.deepEqual(await ask("FROBNICATE"), ["ERR UNKNOWN-COMMAND"]);
  assert.deepEqual(await ask('GET VAR "nmc1'), ["ERR INVALID-ARGUMENT"]);
  assert.deepEqual(await ask("STARTTLS"), ["ERR FEATURE-NOT-CONFIGURED"]);
  assert.deepEqual(await ask(""), []);
  assert.deepEqual(await s.handle("LOGOUT"), { lines: ["OK Goodbye"], close: true });
});

Deno.test("session: no login, no FSD; secondaries are never primaries; nothing is writable", async () => {
  let checks = 0;
  const verify = (user: string, password: string) => {
    checks++;
    return Promise.resolve(user === "monuser" && password === "right");
  };
  const s = new NutSession("127.0.0.1", context(onLine(), false, verify));
  const ask = async (line: string) => (await s.handle(line)).lines;
  assert.deepEqual(await ask("FSD nmc1"), ["ERR USERNAME-REQUIRED"]);
  assert.deepEqual(await ask("LOGIN nmc1"), ["ERR USERNAME-REQUIRED"]);
  assert.deepEqual(await ask("USERNAME monuser"), ["OK"]);
  assert.deepEqual(await ask("USERNAME other"), ["ERR ALREADY-SET-USERNAME"]);
  assert.deepEqual(await ask("PRIMARY nmc1"), ["ERR PASSWORD-REQUIRED"]);
  assert.deepEqual(await ask("PASSWORD wrong"), ["OK"]);
  assert.deepEqual(await ask("PASSWORD again"), ["ERR ALREADY-SET-PASSWORD"]);
  assert.deepEqual(await ask("LOGIN nmc9"), ["ERR UNKNOWN-UPS"]);
  assert.deepEqual(await ask("LOGIN nmc1"), ["ERR ACCESS-DENIED"]);
  assert.equal(s.loginUps, undefined);
  assert.deepEqual(await ask("FSD nmc1"), ["ERR ACCESS-DENIED"]);
  assert.deepEqual(await ask("FSD nmc9"), ["ERR UNKNOWN-UPS"]);
  assert.deepEqual(await ask("MASTER nmc1"), ["ERR ACCESS-DENIED"]);
  assert.deepEqual(await ask("PRIMARY nmc1"), ["ERR ACCESS-DENIED"]);
  assert.deepEqual(await ask('SET VAR nmc1 ups.id "x"'), ["ERR ACCESS-DENIED"]);
  assert.deepEqual(await ask("INSTCMD nmc1 load.off"), ["ERR ACCESS-DENIED"]);
  assert.equal(checks, 1, "only LOGIN checks a password; PRIMARY and FSD are refused without one");

  const good = new NutSession("127.0.0.1", context(onLine(), false, verify));
  await good.handle("USERNAME monuser");
  await good.handle("PASSWORD right");
  assert.deepEqual((await good.handle("LOGIN nmc1")).lines, ["OK"]);
  assert.equal(good.loginUps, "nmc1");
  assert.deepEqual((await good.handle("LOGIN nmc1")).lines, ["ERR ALREADY-LOGGED-IN"]);
  assert.deepEqual(
    (await good.handle("FSD nmc1")).lines,
    ["ERR ACCESS-DENIED"],
    "a logged-in secondary cannot force",
  );
});

Deno.test("session: no current data is ERR DATA-STALE, except ups.status once FSD is set", async () => {
  const waiting = initialUpsState(CARD);
  const lost = applyCommLost(onLine({}, 0x10), 60_000).state;
  for (const state of [waiting, lost, undefined]) {
    const s = new NutSession("127.0.0.1", context(state));
    assert.deepEqual((await s.handle("GET VAR nmc1 ups.status")).lines, ["ERR DATA-STALE"]);
    assert.deepEqual((await s.handle("LIST VAR nmc1")).lines, ["ERR DATA-STALE"]);
    assert.deepEqual((await s.handle("GET NUMLOGINS nmc1")).lines, ["ERR DATA-STALE"]);
    assert.deepEqual((await s.handle("LIST UPS")).lines.length, 3, "the UPS list needs no data");
  }
  const s = new NutSession("127.0.0.1", context(lost, true));
  assert.deepEqual((await s.handle("GET VAR nmc1 ups.status")).lines, ['VAR nmc1 ups.status "FSD"']);
  assert.deepEqual((await s.handle("GET VAR nmc1 battery.charge")).lines, ["ERR DATA-STALE"]);
  const fresh = new NutSession("127.0.0.1", context(onLine({}, 0x10 | 0x40), true));
  assert.deepEqual((await fresh.handle("GET VAR nmc1 ups.status")).lines, [
    'VAR nmc1 ups.status "FSD OB LB"',
  ]);
});

Deno.test("passwords: scrypt hashes checked off the event loop, remembered once right, throttled when wrong", async () => {
  const users = [{ name: "monuser", passwordHash: hashPassword("Right-password-1") }];
  const p = new NutPasswords(users, systemClock);
  assert.deepEqual(await p.check("monuser", "Right-password-1", "10.0.0.7"), { ok: true });
  const t0 = performance.now();
  assert.deepEqual(await p.check("monuser", "Right-password-1", "10.0.0.8"), { ok: true });
  assert.ok(performance.now() - t0 < 20, "a verified pair is remembered (no second scrypt)");
  assert.equal((await p.check("nobody", "x", "10.0.0.9")).ok, false);
  for (let i = 0; i < 5; i++) assert.equal((await p.check("monuser", "guess", "10.0.0.66")).ok, false);
  assert.deepEqual(await p.check("monuser", "Right-password-1", "10.0.0.66"), {
    ok: false,
    reason: "locked-out",
  }, "after 5 failures that address is refused without checking");
  assert.deepEqual(
    await p.check("monuser", "Right-password-1", "10.0.0.7"),
    { ok: true },
    "others are not locked out",
  );
  p.configure([{ name: "monuser", passwordHash: hashPassword("New-password-22") }]);
  assert.equal(
    (await p.check("monuser", "Right-password-1", "10.0.0.7")).ok,
    false,
    "a changed password is checked anew",
  );
});
