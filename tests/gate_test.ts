import assert from "node:assert/strict";
import type { AgentEvent, EventDraft } from "../src/events/types.ts";
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { PacketEngine } from "../src/nmc/engine.ts";
import { judgePacket, type RejectReason } from "../src/nmc/gate.ts";
import { computeSignature } from "../src/nmc/packet.ts";
import { UpsMonitor } from "../src/ups/monitor.ts";
import { fakeClock } from "./helpers/clock.ts";
import { bytes, CARD, statusPacket, text } from "./helpers/packets.ts";

const settings = {
  username: CARD.username,
  authenticationPhrase: CARD.authenticationPhrase,
  cards: [CARD.address],
};

/** The whole accept path (engine -> monitor -> events) with a fake clock. */
function pipeline() {
  const { fake, clock: agentClock } = fakeClock();
  const events: AgentEvent[] = [];
  const monitor = new UpsMonitor(
    { cards: [CARD.address], commLostTimeoutMs: 55_000 },
    (draft: EventDraft) => events.push(makeEvent(draft, fake.now)),
    agentClock,
  );
  const { logger, records } = memoryLogger();
  const engine = new PacketEngine(settings, (p) => monitor.handle(p), logger, agentClock);
  const clock = fake;
  return { clock, events, monitor, engine, records };
}

/** Re-signs `body` (everything before MD=) with the test credentials. */
function signed(body: string, phrase: string = CARD.authenticationPhrase): Uint8Array {
  return bytes(`${body}MD=${computeSignature(bytes(body), CARD.username, phrase)}\n</BODY>\n`);
}

const good = (su: number, sr = 5) => statusPacket({ sr, su });
const validMd = text(good(2000)).match(/MD=([0-9a-f]{32})/)![1];

const BAD_PACKETS: ReadonlyArray<[name: string, reason: RejectReason, data: () => Uint8Array]> = [
  ["wrong MD5", "bad-md5", () => bytes(text(good(2000)).replace(/MD=[0-9a-f]{32}/, `MD=${"0".repeat(32)}`))],
  ["upper-case MD5", "bad-md5", () => bytes(text(good(2000)).replace(validMd, validMd.toUpperCase()))],
  ["wrong phrase", "bad-md5", () => statusPacket({ sr: 5, su: 2000, phrase: "not the phrase at all" })],
  ["wrong user name", "bad-md5", () => statusPacket({ sr: 5, su: 2000, username: "apd" })],
  ["data changed after signing", "bad-md5", () => bytes(text(good(2000)).replace("51=08", "51=10"))],
  ["wrong PC (signed correctly)", "unknown-card", () => statusPacket({ sr: 5, su: 2000, card: "127.0.0.2" })],
  [
    "PC written another way",
    "unknown-card",
    () => statusPacket({ sr: 5, su: 2000, card: "127.000.000.001" }),
  ],
  ["no PC", "unknown-card", () => signed("MASTATUS\nSR=05\nSU=7D0\n51=10\n")],
  ["replay of the accepted packet", "replay", () => good(1000)],
  ["older SR with a larger SU", "replay", () => good(0xffffff, 4)],
  ["same SU", "replay", () => statusPacket({ sr: 5, su: 1000, status: 0x10 })],
  ["older SU", "replay", () => statusPacket({ sr: 5, su: 999, status: 0x10 })],
  ["no SR", "no-counters", () => signed("MASTATUS\nPC=127.0.0.1\nSU=7D0\n51=10\n")],
  ["SU not hex", "no-counters", () => signed("MASTATUS\nPC=127.0.0.1\nSR=05\nSU=zz\n51=10\n")],
  ["oversize (4097 bytes)", "oversize", () => {
    const body = `MASTATUS\nPC=127.0.0.1\nSR=05\nSU=7D0\n51=10\n63=${"X".repeat(4000)}\n`;
    const packet = signed(body);
    return signed(body.replace("X".repeat(4000), "X".repeat(4000 + 4097 - packet.length)));
  }],
  [
    "300 lines",
    "too-many-lines",
    () => signed(`MASTATUS\nPC=127.0.0.1\nSR=05\nSU=7D0\n${"51=10\n".repeat(296)}`),
  ],
  [
    "SR with 9 hex digits",
    "no-counters",
    () => signed("MASTATUS\nPC=127.0.0.1\nSR=100000000\nSU=7D0\n51=10\n"),
  ],
  ["no MD=", "malformed", () => bytes("MASTATUS\nPC=127.0.0.1\nSR=05\nSU=7D0\n51=10\n")],
  [
    "MD= at offset 0",
    "malformed",
    () =>
      bytes(
        `MD=${
          computeSignature(new Uint8Array(), CARD.username, CARD.authenticationPhrase)
        }\nPC=127.0.0.1\nSR=05\nSU=7D0\n51=10\n`,
      ),
  ],
  ["NUL byte", "malformed", () => signed("MASTATUS\nPC=127.0.0.1\0\nSR=05\nSU=7D0\n51=10\n")],
  ["empty", "malformed", () => new Uint8Array()],
];

Deno.test("every bad packet is rejected with its reason and changes nothing", () => {
  const { engine, monitor, events, clock } = pipeline();
  engine.receive(good(1000));
  assert.deepEqual(events.map((e) => e.id), ["CommunicationEstablished"]);
  const before = structuredClone(monitor.snapshot());
  clock.tick(1000);
  for (const [name, reason, make] of BAD_PACKETS) {
    const verdict = judgePacket(make(), settings, () => ({ sr: 5, su: 1000 }));
    assert.equal(verdict.accepted, false, `${name} must be rejected`);
    assert.equal(
      !verdict.accepted && verdict.reason,
      reason,
      `${name}: ${!verdict.accepted && verdict.detail}`,
    );
    const rejectedBefore = engine.stats().rejected[reason];
    engine.receive(make());
    assert.equal(engine.stats().rejected[reason], rejectedBefore + 1, `${name} counted under ${reason}`);
    assert.deepEqual(monitor.snapshot(), before, `${name} changed the UPS state`);
    assert.equal(events.length, 1, `${name} raised an event`);
  }
  assert.equal(engine.stats().accepted, 1);
  // The next fresh packet is accepted as usual (nothing above moved the counters).
  engine.receive(statusPacket({ sr: 5, su: 1001, status: 0x10 }));
  assert.deepEqual(events.map((e) => e.id), ["CommunicationEstablished", "PowerFailed"]);
});

Deno.test("a card reboot (SR+1, tiny SU) is accepted", () => {
  const { engine } = pipeline();
  engine.receive(good(0x1bed3f, 9));
  engine.receive(good(0x10, 10));
  assert.equal(engine.stats().accepted, 2);
});

Deno.test("a freshly started agent accepts any first packet with a non-zero counter, never SR=0 SU=0", () => {
  assert.equal(judgePacket(good(0, 0), settings, () => undefined).accepted, false);
  assert.equal(judgePacket(good(1, 0), settings, () => undefined).accepted, true);
});

Deno.test("a flood of bad packets is logged once per reason per minute, with the count of the rest", () => {
  const { engine, records, clock } = pipeline();
  const wrongPhrase = (i: number) => statusPacket({ su: 10 + i, phrase: "someone else's phrase" });
  for (let i = 0; i < 5000; i++) engine.receive(wrongPhrase(i % 50));
  for (let i = 0; i < 300; i++) engine.receive(bytes("garbage"));
  assert.equal(engine.stats().rejected["bad-md5"], 5000);
  assert.equal(engine.stats().rejected["malformed"], 300);
  assert.equal(records.length, 2, records.map((r) => r.message).join("\n"));
  assert.match(records[0].message, /bad-md5/);
  assert.match(records[1].message, /malformed: no MD= signature/);
  clock.tick(59_000);
  engine.receive(wrongPhrase(1));
  assert.equal(records.length, 2);
  clock.tick(1_000);
  engine.receive(wrongPhrase(1));
  assert.equal(records.length, 3);
  assert.match(records[2].message, /bad-md5.*\(5000 more rejected for this reason since the last report\)/);
});
