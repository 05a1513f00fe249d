/**
 * The packet path as an attacker or an unusual card would drive it: only the signed bytes count, counters
 * that go back are recovered safely, any byte but NUL is accepted, a self-test is not an outage, and an
 * on-line low battery is not critical. Everything runs through the real engine -> monitor -> events path.
 */
import assert from "node:assert/strict";
import type { AgentEvent, EventDraft } from "../src/events/types.ts";
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { PacketEngine } from "../src/nmc/engine.ts";
import { judgePacket, judgeSignedPage } from "../src/nmc/gate.ts";
import { computeSignature } from "../src/nmc/packet.ts";
import { UpsMonitor } from "../src/ups/monitor.ts";
import { fakeClock } from "./helpers/clock.ts";
import { bytes, CARD, statusPacket, text } from "./helpers/packets.ts";
import { readVector, VECTOR_CARD } from "./helpers/vectors.ts";

interface PipelineOptions {
  readonly username?: string;
  readonly phrase?: string;
  readonly card?: string;
  readonly runtime?: boolean;
}

/** engine -> monitor -> events on a fake clock; engine events land in the same list. */
function pipeline(o: PipelineOptions = {}) {
  const { fake, clock } = fakeClock();
  const card = o.card ?? CARD.address;
  const events: AgentEvent[] = [];
  const emit = (draft: EventDraft) => events.push(makeEvent(draft, fake.now));
  const monitor = new UpsMonitor(
    {
      cards: [card],
      commLostTimeoutMs: 55_000,
      runtime: o.runtime
        ? { thresholdMinutes: 0, totalShutdownSeconds: 600, onBatteryDelaySeconds: 120 }
        : undefined,
    },
    emit,
    clock,
  );
  const { logger, records } = memoryLogger();
  const settings = {
    username: o.username ?? CARD.username,
    authenticationPhrase: o.phrase ?? CARD.authenticationPhrase,
    cards: [card],
  };
  const engine = new PacketEngine(settings, (p) => monitor.handle(p), logger, clock, { emit });
  monitor.start();
  const ids = () => events.map((e) => e.id);
  return { fake, events, ids, monitor, engine, records, settings, state: () => monitor.get(card)! };
}

/** Signs `body` (everything before MD=) with the test credentials; `after` follows the MD line. */
function signed(body: string, after = "</BODY>\n"): Uint8Array {
  return bytes(
    `${body}MD=${computeSignature(bytes(body), CARD.username, CARD.authenticationPhrase)}\n${after}`,
  );
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// 1. Only the signed bytes count
// ---------------------------------------------------------------------------------------------------------

Deno.test("unsigned lines after MD= are never applied: a real packet with 51=50 / SD=1 appended stays on line", () => {
  const vector = readVector("ap9617-mastatus.dat");
  const tampered: Array<[string, Uint8Array]> = [
    ["after </BODY>", concat(vector, bytes("51=50\nSD=1\n66=001.0\n"))],
    ["between MD= and </BODY>", bytes(text(vector).replace("</BODY>", "51=50\nSD=1\n6A=0001:\n</BODY>"))],
    [
      "on the MD line's heels with CRLF",
      bytes(text(vector).replace("</BODY>\n", "</BODY>\r\n\r\n51=50\r\n")),
    ],
  ];
  for (const [where, packet] of tampered) {
    const p = pipeline({
      username: VECTOR_CARD.username,
      phrase: VECTOR_CARD.authenticationPhrase,
      card: VECTOR_CARD.address,
    });
    p.engine.receive(packet);
    const s = p.state();
    assert.equal(s.flags.online, true, `${where}: the signed status byte 08 is what counts`);
    assert.equal(s.flags.lowBattery, false, `${where}: no low battery`);
    assert.equal(s.shuttingDown, false, `${where}: no UPS turn-off`);
    assert.equal(s.reading.batteryPercent, 90, `${where}: battery from the signed 66=090.0`);
    assert.equal(s.reading.runtimeMinutes, 31, `${where}: runtime from the signed 6A=0031:`);
    assert.deepEqual(p.ids(), ["CommunicationEstablished"], where);
    assert.equal(p.engine.stats().unsignedIgnored, 1, `${where}: the unsigned part is counted`);
    assert.match(p.records.map((r) => r.message).join("\n"), /unsigned/, `${where}: and logged`);
  }
});

Deno.test("closing markup and blank lines after MD= are normal: not counted as unsigned data", () => {
  const p = pipeline({
    username: VECTOR_CARD.username,
    phrase: VECTOR_CARD.authenticationPhrase,
    card: VECTOR_CARD.address,
  });
  p.engine.receive(bytes(text(readVector("ap9617-mastatus.dat")) + "</HTML>\n\n  \n"));
  assert.equal(p.engine.stats().accepted, 1);
  assert.equal(p.engine.stats().unsignedIgnored, 0);
});

Deno.test("a value containing MD= inside the signed text does not move the signature boundary", () => {
  const p = pipeline();
  p.engine.receive(signed("MASTATUS\nPC=127.0.0.1\nSR=01\nSU=100\n51=08\n63=LAB-MD=2\n"));
  assert.equal(p.engine.stats().accepted, 1, JSON.stringify(p.engine.stats().rejected));
  assert.equal(p.state().reading.name, "LAB-MD=2");
});

Deno.test("card pages are judged on their signed range only: non-ASCII or > 4 KiB after MD= is accepted", () => {
  const body = "<html>\nPC=127.0.0.1\nSR=01\nSU=100\nCS=challenge1\n";
  const page = concat(
    signed(body, "</BODY>\n"),
    latin1(`<p>Gr\u00fc\u00dfe ${"x".repeat(6000)}</p>\nCS=attacker\n</HTML>\n`),
  );
  const settings = {
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    cards: [CARD.address],
  };
  const verdict = judgeSignedPage(page, settings, () => undefined);
  assert.ok(verdict.accepted, !verdict.accepted ? verdict.detail : "");
  assert.deepEqual(
    verdict.packet.lines.filter((l) => l.key === "CS").map((l) => l.value),
    ["challenge1"],
    "the unsigned CS= is not read",
  );
  // A datagram is still bounded as a whole (the card never sends more).
  assert.equal(judgePacket(page, settings, () => undefined).accepted, false);
});

// ---------------------------------------------------------------------------------------------------------
// 4. Any byte but NUL
// ---------------------------------------------------------------------------------------------------------

Deno.test("a UPS name with non-ASCII bytes (latin-1) is accepted and shown; control bytes are made harmless", () => {
  const p = pipeline();
  const body = "MASTATUS\nPC=127.0.0.1\nSR=01\nSU=100\n51=10\n63=B\u00fcro\n01=Smart\u001b[31mUPS\u0007\n";
  const raw = latin1(body);
  const md = computeSignature(raw, CARD.username, CARD.authenticationPhrase);
  p.engine.receive(concat(raw, bytes(`MD=${md}\n</BODY>\n`)));
  assert.equal(p.engine.stats().accepted, 1, JSON.stringify(p.engine.stats().rejected));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "PowerFailed"]);
  assert.equal(p.state().reading.name, "B\u00fcro");
  assert.equal(
    p.state().reading.model,
    "Smart\ufffd[31mUPS\ufffd",
    "no raw escape or bell reaches a terminal",
  );
});

Deno.test("a NUL byte in the signed text is still refused (malformed)", () => {
  const p = pipeline();
  p.engine.receive(signed("MASTATUS\nPC=127.0.0.1\nSR=01\nSU=100\n51=10\n63=A\0B\n"));
  assert.equal(p.engine.stats().rejected.malformed, 1);
  assert.deepEqual(p.ids(), []);
});

// ---------------------------------------------------------------------------------------------------------
// 3. Counters that go back
// ---------------------------------------------------------------------------------------------------------

Deno.test("SR wrapping FF -> 00 (card reboot): stuck is named, then three consistent packets recover the card", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ sr: 0xff, su: 5_000_000 }));
  p.fake.tick(90_000); // the card reboots: silence, then SR 00 and a small uptime
  const booted = (n: number) => statusPacket({ sr: 0x00, su: 2_000 + n * 2_500, status: 0x08 });
  p.engine.receive(booted(0));
  p.fake.tick(25_000);
  p.engine.receive(booted(1));
  assert.equal(p.engine.stats().rejected.replay, 2);
  const stuck = p.events.find((e) => e.id === "CardCountersStuck");
  assert.ok(stuck, `stuck is named: ${p.ids()}`);
  assert.match(stuck.message, /SR=0 SU=/);
  assert.match(stuck.message, /counters reset/);
  assert.equal(p.engine.cardCounters(CARD.address)?.stuck?.refused, 2);
  p.fake.tick(25_000);
  p.engine.receive(booted(2));
  assert.equal(p.engine.stats().accepted, 2, "the third consistent packet is accepted");
  const reset = p.events.find((e) => e.id === "CardCountersReset");
  assert.ok(reset, p.ids().join());
  assert.match(reset.message, /rebooted|wrapped/);
  assert.equal(p.engine.cardCounters(CARD.address)?.stuck, undefined);
  p.fake.tick(25_000);
  p.engine.receive(booted(3));
  assert.equal(p.engine.stats().accepted, 3, "and the card is followed again");
});

Deno.test("SU wrapping with the same SR (32-bit uptime) recovers the same way", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ sr: 3, su: 0xfffff000 }));
  for (let n = 0; n < 3; n++) {
    p.fake.tick(25_000);
    p.engine.receive(statusPacket({ sr: 3, su: 100 + n * 2_500 }));
  }
  assert.equal(p.engine.stats().accepted, 2);
  assert.ok(p.ids().includes("CardCountersReset"));
});

Deno.test("a replayer cannot use the reboot rule while the card is alive: recorded post-boot packets stay refused", () => {
  const p = pipeline();
  let su = 4_000_000;
  p.engine.receive(statusPacket({ sr: 7, su }));
  // Recorded long ago, minutes after a boot of this card: on battery + low battery.
  const recorded = (n: number) => statusPacket({ sr: 7, su: 1_000 + n * 2_500, status: 0x50 });
  for (let n = 0; n < 10; n++) {
    p.fake.tick(12_500);
    p.engine.receive(recorded(n));
    p.fake.tick(12_500);
    su += 2_500;
    p.engine.receive(statusPacket({ sr: 7, su })); // the genuine card keeps talking
  }
  assert.equal(p.engine.stats().rejected.replay, 10);
  assert.ok(!p.ids().includes("LowBattery"));
  assert.ok(!p.ids().includes("CardCountersReset"));
});

Deno.test("a replayer cannot use the reboot rule with packets far from a boot, nor at the wrong pace", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ sr: 7, su: 9_000_000 }));
  p.fake.tick(120_000); // the card is silent (unplugged); a replayer sends old packets
  const old = (n: number) => statusPacket({ sr: 7, su: 3_000_000 + n * 2_500, status: 0x50 });
  for (let n = 0; n < 5; n++) {
    p.engine.receive(old(n));
    p.fake.tick(25_000);
  }
  // Post-boot packets, but sent faster than the card's uptime counter moves.
  const fast = (n: number) => statusPacket({ sr: 7, su: 1_000 + n * 2_500, status: 0x50 });
  for (let n = 0; n < 5; n++) {
    p.engine.receive(fast(n));
    p.fake.tick(1_000);
  }
  assert.equal(p.engine.stats().accepted, 1);
  assert.ok(!p.ids().includes("LowBattery"));
  assert.ok(!p.ids().includes("CardCountersReset"));
});

Deno.test("one signed packet with 13-digit counters is refused and cannot jam the card", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ sr: 1, su: 1_000 }));
  p.engine.receive(signed("MASTATUS\nPC=127.0.0.1\nSR=FFFFFFFFFFFFF\nSU=FFFFFFFFFFFFF\n51=08\n"));
  assert.equal(p.engine.stats().rejected["no-counters"], 1);
  p.engine.receive(statusPacket({ sr: 1, su: 2_000, status: 0x10 }));
  assert.equal(p.engine.stats().accepted, 2);
  assert.ok(p.ids().includes("PowerFailed"));
});

Deno.test("the operator's counters reset lets the next packet through and says so", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ sr: 0x20, su: 9_000_000 }));
  p.engine.receive(statusPacket({ sr: 0x01, su: 50_000_000 })); // a replaced card, far into its uptime
  assert.equal(p.engine.stats().rejected.replay, 1);
  assert.deepEqual(p.engine.resetCounters(CARD.address, "operator"), [CARD.address]);
  assert.match(p.events.at(-1)!.message, /operator/);
  assert.equal(p.events.at(-1)!.id, "CardCountersReset");
  p.engine.receive(statusPacket({ sr: 0x01, su: 50_002_500 }));
  assert.equal(p.engine.stats().accepted, 2);
});

// ---------------------------------------------------------------------------------------------------------
// 5. Self-test is not an outage
// ---------------------------------------------------------------------------------------------------------

Deno.test("a self-test (on battery, last transfer S) raises SelfTestStarted/Ended and no PowerFailed", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000, data: [["47", "O"], ["58", "NO"]] }));
  p.fake.tick(25_000);
  p.engine.receive(statusPacket({ su: 3_500, status: 0x10, data: [["47", "S"], ["58", "NO"]] }));
  p.fake.tick(25_000);
  p.engine.receive(statusPacket({ su: 6_000, status: 0x08, data: [["47", "S"], ["58", "OK"]] }));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "SelfTestStarted", "SelfTestEnded"]);
  assert.match(p.events.at(-1)!.message, /Passed/);
});

Deno.test("after a self-test ended, it is over: no second SelfTestEnded, and the next outage is a PowerFailed", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000, data: [["47", "O"]] }));
  p.engine.receive(statusPacket({ su: 2_000, status: 0x10, data: [["47", "S"]] }));
  p.engine.receive(statusPacket({ su: 3_000, status: 0x08, data: [["47", "S"], ["58", "OK"]] }));
  p.engine.receive(statusPacket({ su: 4_000, status: 0x08, data: [["47", "S"], ["58", "OK"]] }));
  assert.equal(p.state().selfTestSince, undefined, "no self-test is shown as running");
  p.engine.receive(statusPacket({ su: 5_000, status: 0x10, data: [["47", "L"]] })); // a real outage
  p.engine.receive(statusPacket({ su: 6_000, status: 0x10, data: [["47", "L"]] }));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "SelfTestStarted", "SelfTestEnded", "PowerFailed"]);
});

Deno.test("on battery beyond the self-test window is a power failure after all", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000 }));
  for (let n = 1; n <= 3; n++) {
    p.fake.tick(25_000);
    p.engine.receive(statusPacket({ su: 1_000 + n * 2_500, status: 0x10, data: [["47", "S"]] }));
  }
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "SelfTestStarted", "PowerFailed"]);
  assert.match(p.events.at(-1)!.message, /self-test/);
});

// ---------------------------------------------------------------------------------------------------------
// 6. Low battery while on line
// ---------------------------------------------------------------------------------------------------------

Deno.test("low battery while on line (recharging) is a warning; it turns critical on battery or with comm lost", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000, status: 0x48 }));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "BatteryLowOnLine"]);
  assert.equal(p.events.at(-1)!.severity, "warning");
  p.fake.tick(60_000); // the card falls silent while the battery is still low
  assert.deepEqual(p.ids().slice(2), ["CommunicationLost", "LowBattery"]);

  const q = pipeline();
  q.engine.receive(statusPacket({ su: 1_000, status: 0x48 }));
  q.engine.receive(statusPacket({ su: 2_000, status: 0x50 }));
  assert.deepEqual(q.ids(), ["CommunicationEstablished", "BatteryLowOnLine", "PowerFailed", "LowBattery"]);
  q.engine.receive(statusPacket({ su: 3_000, status: 0x08 }));
  assert.deepEqual(q.ids().slice(4), ["PowerRestored", "LowBatteryCleared", "BatteryLowOnLineCleared"]);
});

// ---------------------------------------------------------------------------------------------------------
// 7. Decoding gaps
// ---------------------------------------------------------------------------------------------------------

Deno.test("register 2 bit 0x20 raises BatteryDisconnected and its clearing event", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000, data: [["27", "00"]] }));
  p.engine.receive(statusPacket({ su: 2_000, data: [["27", "20"]] }));
  p.engine.receive(statusPacket({ su: 3_000, data: [["27", "00"]] }));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "BatteryDisconnected", "BatteryConnected"]);
});

Deno.test("SD=01 (any decimal 1) is a UPS turn-off; SD=00 clears it", () => {
  const p = pipeline();
  p.engine.receive(signed("MASTATUS\nPC=127.0.0.1\nSR=01\nSU=100\nSD=01\n51=08\n"));
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "UpsTurnOffInitiated"]);
  p.engine.receive(signed("MASTATUS\nPC=127.0.0.1\nSR=01\nSU=200\nSD=00\n51=08\n"));
  assert.equal(p.state().shuttingDown, false);
});

Deno.test("keep-alive needs an applied value: a signed packet of unknown keys does not hold off comm lost", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000 }));
  for (let n = 1; n <= 4; n++) {
    p.fake.tick(20_000);
    p.engine.receive(
      signed(`MASTATUS\nPC=127.0.0.1\nSR=01\nSU=${(1_000 + n * 2_000).toString(16)}\n05=00000000\n`),
    );
  }
  assert.ok(p.ids().includes("CommunicationLost"), p.ids().join());
});

Deno.test("calibration (on battery + CAL) never raises RuntimeExceeded", () => {
  const p = pipeline({ runtime: true });
  p.engine.receive(statusPacket({ su: 1_000, status: 0x11, data: [["6A", "0003:"]] }));
  assert.ok(!p.ids().includes("RuntimeExceeded"), p.ids().join());
  assert.ok(!p.ids().includes("PowerFailed"));
  p.engine.receive(statusPacket({ su: 2_000, status: 0x10, data: [["6A", "0003:"]] }));
  assert.ok(p.ids().includes("RuntimeExceeded"), "a real outage with that runtime still raises it");
});

Deno.test("after a stall, the comm-lost timer reads the queued packets before declaring the card lost", () => {
  const p = pipeline();
  p.engine.receive(statusPacket({ su: 1_000 }));
  // SIGSTOP for 60 s: the wall clock moves, no timer runs; the card's packets wait in the socket.
  p.fake.setSystemTime(p.fake.now + 60_000);
  p.fake.tick(55_000); // the overdue comm-lost timer runs first when the process continues
  assert.deepEqual(p.ids(), ["CommunicationEstablished"], "not lost yet: queued packets come first");
  p.engine.receive(statusPacket({ su: 10_000 })); // the queue is read
  p.fake.tick(5_000);
  assert.deepEqual(p.ids(), ["CommunicationEstablished"]);
  // A card that really is silent is still declared lost, a grace later.
  p.fake.tick(60_000);
  assert.deepEqual(p.ids(), ["CommunicationEstablished", "CommunicationLost"]);
});
