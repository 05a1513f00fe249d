/**
 * Datagrams from addresses that are not configured cards: refused before they are read
 * (`requireCardSource`), and under a flood dropped in the kernel so genuine packets keep arriving.
 * Real sockets on loopback (127.0.0.1 is the card, 127.0.0.2 the stranger).
 */
import assert from "node:assert/strict";
import { FLOOD_START_PER_WINDOW, FloodGuard, SAMPLE_ONE_IN } from "../src/nmc/floodguard.ts";
import { datagramFilterProgram, kernelSockets } from "../src/nmc/kernelfilter.ts";
import { UdpListener } from "../src/nmc/udp.ts";
import { nextEvent, startTestAgent, testConfig, waitUntil } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { statusPacket } from "./helpers/packets.ts";

const sender = (hostname: string) => Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
const sendTo = (s: Deno.DatagramConn, port: number, data: Uint8Array) =>
  s.send(data, { transport: "udp", hostname: "127.0.0.1", port });

/** A datagram from an address that is not a card's, as the flood guard is told of it. */
const STRANGER = { source: "10.9.9.9", reason: "unknown-source", bytes: 300 } as const;

const kernelReason = (() => {
  const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const k = kernelSockets((probe.addr as Deno.NetAddr).port);
  probe.close();
  return typeof k === "string" ? k : undefined;
})();

Deno.test("a signed packet from an address that is not the card is refused unread; requireCardSource = false accepts it", async () => {
  const strict = await startTestAgent();
  const stranger = sender("127.0.0.2");
  try {
    await sendTo(stranger, strict.agent.udpPort, statusPacket({ su: 100, status: 0x10 }));
    await waitUntil(() => strict.agent.status().packets.rejected["unknown-source"] === 1, "the refusal");
    assert.equal(strict.agent.status().packets.accepted, 0);
    assert.ok(!strict.events.some((e) => e.id === "PowerFailed"));
    assert.match(
      strict.logs.map((r) => r.message).join("\n"),
      /127\.0\.0\.2 is not a configured NMC address.*NAT/,
    );
  } finally {
    await strict.close();
  }
  const lax = await startTestAgent(testConfig({ requireCardSource: false }));
  try {
    const powerFailed = nextEvent(lax.agent.bus, "PowerFailed");
    await sendTo(stranger, lax.agent.udpPort, statusPacket({ su: 100, status: 0x10 }));
    await powerFailed;
  } finally {
    stranger.close();
    await lax.close();
  }
});

Deno.test({
  name: "kernel source filter: only the cards' datagrams reach the socket, on IPv4 and dual-stack sockets",
  ignore: kernelReason !== undefined,
  fn: async () => {
    for (const host of ["127.0.0.1", "::"]) {
      const seen: string[] = [];
      const listener = UdpListener.open(0, host === "::" ? [] : [host], (data) => {
        seen.push(new TextDecoder().decode(data));
      });
      const card = sender("127.0.0.1");
      const stranger = sender("127.0.0.2");
      try {
        assert.ok(
          (listener.receiveQueueBytes ?? 0) >= 1 << 20,
          `receive queue ${listener.receiveQueueBytes}`,
        );
        assert.equal(listener.filterDatagrams({ cards: ["127.0.0.1", "fd00::5"] }, 0), undefined);
        for (let i = 0; i < 20; i++) {
          await sendTo(stranger, listener.port, new TextEncoder().encode("forged"));
        }
        await sendTo(card, listener.port, new TextEncoder().encode("card"));
        await waitUntil(() => seen.includes("card"), `the card's datagram on ${host}`);
        assert.deepEqual(seen, ["card"], `nothing from the stranger reached the agent (${host})`);
        assert.equal(listener.filterDatagrams(undefined, 0), undefined);
        await sendTo(stranger, listener.port, new TextEncoder().encode("visible again"));
        await waitUntil(() => seen.includes("visible again"), "the stranger after the filter is lifted");
      } finally {
        card.close();
        stranger.close();
        await listener.close();
      }
    }
  },
});

Deno.test("the BPF program stays within classic BPF's jump range for every card count the config allows", () => {
  const cards = Array.from({ length: 50 }, (_, i) => `10.0.${i}.1`);
  const program = datagramFilterProgram(
    { cards: [...cards, "fd00::1", "fd00::2"], maxPayloadBytes: 4096 },
    SAMPLE_ONE_IN,
  );
  assert.ok(program.every((insn) => insn.jt <= 255 && insn.jf <= 255));
  assert.equal(program.at(-1)!.code, 0x06, "ends with ret");
});

Deno.test("flood guard: a burst of foreign datagrams turns the kernel filter on; 30 s of quiet turns it off", () => {
  const { fake, clock } = fakeClock();
  const calls: boolean[] = [];
  const reports: string[] = [];
  const guard = new FloodGuard({
    clock,
    filter: (on) => void calls.push(on),
    report: (kind) => void reports.push(kind),
  });
  // Ordinary stray traffic (a datagram every few ms) never filters.
  for (let i = 0; i < 1000; i++) {
    guard.note(STRANGER);
    fake.tick(1);
  }
  assert.deepEqual(calls, []);
  for (let i = 0; i < FLOOD_START_PER_WINDOW; i++) guard.note(STRANGER);
  assert.deepEqual(calls, [true]);
  assert.deepEqual(reports, ["started"]);
  assert.equal(guard.active, true);
  // The flood goes on: samples keep it on.
  for (let s = 0; s < 60; s++) {
    for (let i = 0; i < 50; i++) guard.note(STRANGER); // 50 samples/s ~ 12 800/s
    fake.tick(1000);
  }
  assert.deepEqual(calls, [true]);
  fake.tick(40_000); // silence
  assert.deepEqual(calls, [true, false]);
  assert.deepEqual(reports, ["started", "ended"]);
});

Deno.test("flood guard: a kernel filter that cannot be set is reported once a minute; the agent filters itself", () => {
  const { fake, clock } = fakeClock();
  const reports: string[] = [];
  const guard = new FloodGuard({
    clock,
    filter: () => "no --allow-ffi",
    report: (kind, text) => void reports.push(`${kind}: ${text}`),
  });
  for (let i = 0; i < 10 * FLOOD_START_PER_WINDOW; i++) guard.note(STRANGER);
  assert.equal(reports.length, 1);
  assert.match(reports[0], /^unfiltered: .*no --allow-ffi/);
  fake.tick(61_000);
  for (let i = 0; i < FLOOD_START_PER_WINDOW; i++) guard.note(STRANGER);
  assert.equal(reports.length, 2);
  assert.equal(guard.active, false);
});

Deno.test({
  name: "a real flood from another address: the guard filters in the kernel and every genuine packet arrives",
  ignore: kernelReason !== undefined,
  fn: async () => {
    const t = await startTestAgent();
    const card = sender("127.0.0.1");
    const stranger = sender("127.0.0.2");
    try {
      const forged = statusPacket({ su: 5, phrase: "not the phrase" });
      const started = nextEvent(t.agent.bus, "PacketFloodStarted", 10_000);
      let su = 1_000;
      let genuine = 0;
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        for (let i = 0; i < 400; i++) await sendTo(stranger, t.agent.udpPort, forged);
        await sendTo(card, t.agent.udpPort, statusPacket({ su: su++ }));
        genuine++;
        await new Promise((r) => setTimeout(r, 5));
      }
      const event = await started;
      assert.match(event.message, /127\.0\.0\.2.*kernel/);
      await waitUntil(() => t.agent.status().packets.accepted === genuine, `all ${genuine} genuine packets`);
      const stats = t.agent.status().packets;
      assert.ok(stats.rejected["unknown-source"] < genuine * 400 / 4, `most forged never reached the agent`);
    } finally {
      card.close();
      stranger.close();
      await t.close();
    }
  },
});
