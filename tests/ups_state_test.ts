import assert from "node:assert/strict";
import type { EventDraft } from "../src/events/types.ts";
import { judgePacket } from "../src/nmc/gate.ts";
import { UpsMonitor } from "../src/ups/monitor.ts";
import { fakeClock } from "./helpers/clock.ts";
import { CARD, configPacket, statusPacket } from "./helpers/packets.ts";

const settings = {
  username: CARD.username,
  authenticationPhrase: CARD.authenticationPhrase,
  cards: [CARD.address],
};

function setup(commLostTimeoutMs = 55_000, cards: string[] = [CARD.address]) {
  const { fake, clock } = fakeClock();
  const events: { id: string; at: number; nmc?: string }[] = [];
  const monitor = new UpsMonitor(
    { cards, commLostTimeoutMs },
    (d: EventDraft) => events.push({ id: d.id, at: fake.now, nmc: d.nmc }),
    clock,
  );
  let su = 100;
  const feed = (raw: Uint8Array) => {
    const verdict = judgePacket(raw, { ...settings, cards }, () => undefined);
    assert.ok(verdict.accepted, JSON.stringify(verdict));
    monitor.handle(verdict.packet);
  };
  const status = (status: number, extra: { sd?: 0 | 1; card?: string } = {}) =>
    feed(statusPacket({ su: su++, status, ...extra }));
  const ids = () => events.map((e) => e.id);
  return { fake, monitor, events, feed, status, ids };
}

Deno.test("status transitions raise the matching events once per edge", () => {
  const { status, ids, monitor } = setup();
  status(0x08);
  status(0x08);
  status(0x10); // on battery
  status(0x10);
  status(0x50); // + low battery
  status(0x18); // both LEDs during transfer back: still on battery, low battery cleared
  status(0x08); // on line
  status(0x28); // overload
  status(0x08);
  status(0x88); // replace battery
  status(0x88, { sd: 1 }); // UPS turn-off
  assert.deepEqual(ids(), [
    "CommunicationEstablished",
    "PowerFailed",
    "LowBattery",
    "LowBatteryCleared",
    "PowerRestored",
    "Overload",
    "OverloadCleared",
    "ReplaceBattery",
    "UpsTurnOffInitiated",
  ]);
  const state = monitor.get(CARD.address)!;
  assert.equal(state.shuttingDown, true);
  assert.equal(state.statusPackets, 11);
  assert.equal(state.reading.batteryPercent, 100);
  assert.equal(state.reading.runtimeMinutes, 45);
});

Deno.test("a UPS already on battery at the first packet raises PowerFailed; on line raises nothing", () => {
  const a = setup();
  a.status(0x50);
  assert.deepEqual(a.ids(), ["CommunicationEstablished", "PowerFailed", "LowBattery"]);
  const b = setup();
  b.status(0x08);
  assert.deepEqual(b.ids(), ["CommunicationEstablished"]);
});

Deno.test("on battery during a runtime calibration is not a power failure", () => {
  const { status, ids } = setup();
  status(0x08);
  status(0x11); // calibration + on battery
  assert.deepEqual(ids(), ["CommunicationEstablished"]);
  status(0x10); // calibration ended but still on battery: now it is a power failure
  assert.deepEqual(ids(), ["CommunicationEstablished", "PowerFailed"]);
});

Deno.test("communication is lost after exactly commLostTimeout without a status packet and restored by the next", () => {
  const { fake, status, monitor, events, ids } = setup();
  monitor.start();
  fake.tick(10_000);
  status(0x08);
  fake.tick(54_999);
  assert.deepEqual(ids(), ["CommunicationEstablished"]);
  fake.tick(1);
  assert.deepEqual(ids(), ["CommunicationEstablished", "CommunicationLost"]);
  assert.equal(events[1].at - events[0].at, 55_000);
  assert.equal(monitor.get(CARD.address)!.comm, "lost");
  fake.tick(600_000);
  assert.equal(events.length, 2, "comm lost is raised once");
  status(0x08);
  assert.deepEqual(ids(), ["CommunicationEstablished", "CommunicationLost", "CommunicationEstablished"]);
  monitor.stop();
});

Deno.test("a MACONFIG does not keep the link alive but updates the client list", () => {
  const { fake, status, feed, monitor, ids } = setup();
  monitor.start();
  status(0x08);
  for (let i = 0; i < 5; i++) {
    fake.tick(10_000);
    feed(configPacket({ su: 1000 + i }));
  }
  fake.tick(5_000);
  assert.deepEqual(ids(), ["CommunicationEstablished", "CommunicationLost"]);
  const state = monitor.get(CARD.address)!;
  assert.equal(state.configPackets, 5);
  assert.deepEqual(state.clients, ["127.0.0.1"]);
  monitor.stop();
});

Deno.test("a card never heard from is declared lost commLostTimeout after start; the timeout is configurable", () => {
  const { fake, monitor, ids } = setup(30_000);
  monitor.start();
  fake.tick(29_999);
  assert.deepEqual(ids(), []);
  fake.tick(1);
  assert.deepEqual(ids(), ["CommunicationLost"]);
  monitor.stop();
});

Deno.test("reconfiguring adds and forgets cards, and a shorter timeout applies at once", () => {
  const { fake, monitor, feed, events } = setup(55_000, ["127.0.0.1", "127.0.0.2"]);
  monitor.start();
  feed(statusPacket({ su: 5, card: "127.0.0.1" }));
  feed(statusPacket({ su: 5, card: "127.0.0.2" }));
  fake.tick(20_000);
  monitor.configure({ cards: ["127.0.0.2", "127.0.0.3"], commLostTimeoutMs: 30_000 });
  assert.deepEqual(monitor.snapshot().map((s) => [s.card, s.comm]), [["127.0.0.2", "ok"], [
    "127.0.0.3",
    "waiting",
  ]]);
  fake.tick(10_000); // t=30 s: card 2, last heard at t=0, is past the new 30 s timeout
  assert.deepEqual(events.slice(2).map((e) => [e.id, e.nmc]), [["CommunicationLost", "127.0.0.2"]]);
  fake.tick(19_999); // card 3 was added at t=20 s: it gets its full 30 s
  assert.equal(events.length, 3);
  fake.tick(1);
  assert.deepEqual(events.slice(2).map((e) => [e.id, e.nmc]), [
    ["CommunicationLost", "127.0.0.2"],
    ["CommunicationLost", "127.0.0.3"],
  ]);
  assert.equal(events.some((e) => e.nmc === "127.0.0.1" && e.id === "CommunicationLost"), false);
  monitor.stop();
});
