/**
 * Datagrams longer than any NMC packet: under a flood of them, even from the card's own (spoofed) address,
 * the kernel filter drops them before the socket's receive queue, so they cannot push a genuine packet out
 * of it. Real sockets on loopback; the flood comes from another process while the agent is kept busy 40 ms
 * in every 50, so it really queues.
 */
import assert from "node:assert/strict";
import { MAX_PACKET_BYTES } from "../src/nmc/gate.ts";
import { kernelSockets } from "../src/nmc/kernelfilter.ts";
import { UdpListener } from "../src/nmc/udp.ts";
import { nextEvent, startTestAgent, waitUntil } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { evalInProcess } from "./helpers/process.ts";

const kernelReason = (() => {
  const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const k = kernelSockets((probe.addr as Deno.NetAddr).port);
  probe.close();
  return typeof k === "string" ? k : undefined;
})();

const sender = (hostname: string) => Deno.listenDatagram({ hostname, port: 0, transport: "udp" });
/** `length` bytes whose first bytes name them. */
const datagram = (name: string, length: number) => {
  const out = new Uint8Array(length).fill(0x78);
  out.set(new TextEncoder().encode(`${name}:`));
  return out;
};

Deno.test({
  name: "kernel length filter: a payload of the 4096-byte limit passes, one byte more is dropped; with and " +
    "without a source list, on IPv4, dual-stack and IPv6 sockets",
  ignore: kernelReason !== undefined,
  fn: async () => {
    const cases = [
      { listen: ["127.0.0.1"], card: "127.0.0.1", stranger: "127.0.0.2", to: "127.0.0.1" },
      { listen: [], card: "127.0.0.1", stranger: "127.0.0.2", to: "127.0.0.1" }, // dual-stack ::
      { listen: ["::1"], card: "::1", stranger: undefined, to: "::1" },
    ];
    for (const c of cases) {
      const seen: string[] = [];
      const listener = UdpListener.open(0, c.listen, (data) => {
        seen.push(`${new TextDecoder().decode(data.subarray(0, 12)).split(":")[0]}/${data.length}`);
      }, MAX_PACKET_BYTES);
      const card = sender(c.card);
      const stranger = c.stranger ? sender(c.stranger) : undefined;
      const to = { transport: "udp" as const, hostname: c.to, port: listener.port };
      const where = c.listen.join() || "::";
      try {
        // Cards listed: only the cards' datagrams up to the limit.
        const cards = [c.card === "127.0.0.1" ? "127.0.0.1" : "::1", "fd00::5"];
        assert.equal(listener.filterDatagrams({ cards, maxPayloadBytes: MAX_PACKET_BYTES }, 0), undefined);
        await card.send(datagram("long", MAX_PACKET_BYTES + 1), to);
        await card.send(datagram("huge", 60_000), to);
        await stranger?.send(datagram("foreign", 100), to);
        await card.send(datagram("limit", MAX_PACKET_BYTES), to);
        await waitUntil(() => seen.length > 0, `the card's datagram on ${where}`);
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(seen, [`limit/${MAX_PACKET_BYTES}`], `on ${where}`);
        // Any source (requireCardSource = false): only the length counts.
        seen.length = 0;
        assert.equal(listener.filterDatagrams({ maxPayloadBytes: MAX_PACKET_BYTES }, 0), undefined);
        await (stranger ?? card).send(datagram("long", MAX_PACKET_BYTES + 1), to);
        await (stranger ?? card).send(datagram("any", 100), to);
        await waitUntil(() => seen.length > 0, `the datagram from anywhere on ${where}`);
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(seen, ["any/100"], `on ${where}`);
        // Lifted: everything is seen again.
        seen.length = 0;
        assert.equal(listener.filterDatagrams(undefined, 0), undefined);
        await card.send(datagram("huge", 60_000), to);
        await waitUntil(() => seen.length > 0, `the long datagram after the filter is lifted on ${where}`);
        assert.deepEqual(seen, ["huge/60000"]);
      } finally {
        card.close();
        stranger?.close();
        await listener.close();
      }
    }
  },
});

/**
 * In another process, from `from` to `port` for `seconds`: with `packetsFile` undefined 65,000-byte datagrams
 * as fast as it can; else, from `afterMs` on, the packets in that JSON file (hex strings), 50 back to back
 * every 400 ms (as several cards' packets after a power event may come together).
 * Returns how many datagrams it sent.
 */
async function sendFor(from: string, port: number, seconds: number, afterMs = 0, packetsFile?: string) {
  const code = `
    const [from, port, seconds, after, file] = Deno.args;
    const packets = file ? JSON.parse(Deno.readTextFileSync(file)).map((hex) =>
      new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)))
    ) : [];
    const s = Deno.listenDatagram({ hostname: from, port: 0, transport: "udp" });
    const to = { transport: "udp", hostname: "127.0.0.1", port: Number(port) };
    const big = new Uint8Array(65000).fill(120);
    const start = performance.now();
    await new Promise((r) => setTimeout(r, Number(after)));
    let sent = 0;
    while (performance.now() - start < Number(seconds) * 1000 && (!file || sent < packets.length)) {
      if (file) {
        for (let i = 0; i < 50 && sent < packets.length; i++) await s.send(packets[sent++], to);
        await new Promise((r) => setTimeout(r, 400));
      } else {
        for (let i = 0; i < 20; i++, sent++) await s.send(big, to);
      }
    }
    s.close();
    console.log(sent);`;
  const args = [from, String(port), String(seconds), String(afterMs), ...(packetsFile ? [packetsFile] : [])];
  return Number(await evalInProcess(code, args));
}

Deno.test({
  name:
    "a flood of 65,000-byte datagrams from the card's own address is dropped in the kernel: every genuine " +
    "packet sent among them arrives",
  ignore: kernelReason !== undefined,
  fn: async () => {
    const t = await startTestAgent();
    const packetsFile = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const packets = Array.from({ length: 300 }, (_, i) => statusPacket({ su: 1_000 + i }));
      const hex = (p: Uint8Array) => Array.from(p, (b) => b.toString(16).padStart(2, "0")).join("");
      await Deno.writeTextFile(packetsFile, JSON.stringify(packets.map(hex)));
      const started = nextEvent(t.agent.bus, "PacketFloodStarted", 10_000);
      // Without the kernel's length check the socket's queue is full of them while the agent is busy, and
      // 6-34 % of the genuine packets found no room (3 runs).
      // The agent is busy with something else for 40 ms in every 50 (collections, TLS handshakes, a reload).
      const busy = setInterval(() => {
        const end = performance.now() + 40;
        while (performance.now() < end) { /* the flood queues up meanwhile */ }
      }, 50);
      const [, genuine] = await Promise.all([
        sendFor("127.0.0.1", t.agent.udpPort, 3),
        sendFor("127.0.0.1", t.agent.udpPort, 3, 500, packetsFile),
      ]).finally(() => clearInterval(busy));
      const event = await started;
      assert.match(event.message, /65000 bytes from 127\.0\.0\.1, longer than any NMC packet.*kernel/);
      assert.equal(genuine, packets.length, "every genuine packet was sent");
      await waitUntil(
        () => t.agent.status().packets.accepted === genuine,
        `all ${genuine} genuine packets (${t.agent.status().packets.accepted} arrived)`,
      );
      assert.ok(
        t.agent.status().packets.rejected.oversize < 20_000,
        "most of the flood never reached the agent",
      );
      assert.ok(!t.events.some((e) => e.id === "CommunicationLost"));
    } finally {
      await Deno.remove(packetsFile);
      await t.close();
    }
  },
});
