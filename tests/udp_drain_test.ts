/**
 * A burst's queued datagrams read in one system call (src/nmc/udpdrain.ts): every datagram arrives once, in
 * order, whole, with the source Deno itself reports; nothing is read after the listener closed; the buffers
 * the kernel writes into stay alive under garbage collection. Real sockets on loopback; the burst comes
 * from another process while the listener's handler holds the event loop, so it really queues.
 */
import assert from "node:assert/strict";
import { UdpListener } from "../src/nmc/udp.ts";
import { ipv6Text, socketAddress } from "../src/nmc/udpdrain.ts";
import { startTestAgent, waitUntil } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { evalInProcess } from "./helpers/process.ts";

const linux = Deno.build.os === "linux";

/** Sends `count` datagrams `n:<padding>` from `from` to `to`:`port` in another process; #0 goes first alone. */
async function burst(from: string, to: string, port: number, count: number, big: number[] = []) {
  const code = `
    const [from, to, port, count, big] = Deno.args;
    const s = Deno.listenDatagram({ hostname: from, port: 0, transport: "udp" });
    const addr = { transport: "udp", hostname: to, port: Number(port) };
    const bigOnes = new Set(big.split(",").filter(Boolean).map(Number));
    const datagram = (i) => new TextEncoder().encode(String(i) + ":" + "x".repeat(bigOnes.has(i) ? 60000 : 20));
    await s.send(datagram(0), addr);
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 1; i < Number(count); i++) await s.send(datagram(i), addr);
    s.close();`;
  await evalInProcess(code, [from, to, String(port), String(count), big.join(",")]);
}

/** Holds the event loop for `ms` (the burst queues up in the kernel meanwhile). */
function hold(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the sender keeps sending */ }
}

const wait = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
};

Deno.test({
  name: "udp burst: the queued datagrams arrive once, in order, whole, from the source Deno reports",
  ignore: !linux,
  fn: async () => {
    const cases = [
      { listen: ["127.0.0.1"], sender: "127.0.0.2", to: "127.0.0.1", source: "127.0.0.2" },
      { listen: [], sender: "127.0.0.2", to: "127.0.0.1", source: "::ffff:127.0.0.2" }, // dual-stack ::
      { listen: ["::1"], sender: "::1", to: "::1", source: "::1" },
    ];
    for (const c of cases) {
      const seen: { text: string; length: number; from: Deno.NetAddr; data: Uint8Array }[] = [];
      const listener = UdpListener.open(0, c.listen, (data, from) => {
        const text = new TextDecoder().decode(data.subarray(0, 8)).split(":")[0];
        seen.push({ text, length: data.length, from, data });
        if (seen.length === 1) hold(700); // the first one came through the receive op
      }, 4096);
      try {
        const count = 300;
        await burst(c.sender, c.to, listener.port, count, [150]);
        await wait(() => seen.length >= count, `${count} datagrams on ${c.listen.join() || "::"}`);
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(seen.map((s) => s.text), Array.from({ length: count }, (_, i) => String(i)));
        assert.equal(seen[150].length, 60_004, "a datagram of 60,004 bytes arrives whole");
        // The others are the handler's own copies: intact after the whole burst went through the buffers.
        for (const s of seen.filter((_, i) => i !== 150)) {
          assert.equal(new TextDecoder().decode(s.data), `${s.text}:${"x".repeat(20)}`);
        }
        assert.equal(seen[0].from.hostname, c.source);
        for (const s of seen) {
          assert.deepEqual({ ...s.from }, { ...seen[0].from }, `datagram ${s.text}: the source as Deno says`);
        }
        const queued = listener.queuedReads;
        assert.equal(typeof queued, "number", `queued reads unavailable: ${queued}`);
        assert.ok((queued as number) > count / 2, `only ${queued} of ${count} read from the queue`);
      } finally {
        await listener.close();
      }
    }
  },
});

Deno.test({
  name: "udp burst: a listener closed by its handler reads nothing more from the queue",
  ignore: !linux,
  fn: async () => {
    const seen: string[] = [];
    let listener: UdpListener | undefined = undefined;
    let closing: Promise<void> | undefined;
    listener = UdpListener.open(0, ["127.0.0.1"], (data) => {
      seen.push(new TextDecoder().decode(data).split(":")[0]);
      if (seen.length === 1) hold(500);
      if (seen.length === 10) closing = listener!.close(); // a reload moving the port, say
    });
    await burst("127.0.0.2", "127.0.0.1", listener.port, 100);
    await wait(() => closing !== undefined, "the close");
    await closing;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => String(i)));
  },
});

Deno.test({
  name: "udp burst: the kernel's buffers survive garbage collection (a tiny young generation, many bursts)",
  ignore: !linux,
  fn: async () => {
    // In its own process: the young generation of 1 MiB collects every few hundred datagrams.
    const script = new URL("./helpers/udp_drain_gc.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", "--v8-flags=--max-semi-space-size=1,--expose-gc", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the receiver process failed: ${text.slice(-2000)}`);
    assert.match(text, /^received 20000 in order, \d+ from the queue$/m);
  },
});

Deno.test("udp: the agent refuses a 60,000-byte datagram by its full length, then accepts the card's packet", async () => {
  const { agent, logs, close } = await startTestAgent();
  const card = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: agent.udpPort };
    await card.send(new Uint8Array(60_000).fill(0x41), to);
    await card.send(statusPacket({ su: 100, status: 0x08 }), to);
    await waitUntil(() => agent.status().packets.accepted === 1, "the status packet");
    assert.equal(agent.status().packets.rejected.oversize, 1);
    assert.match(logs.map((r) => r.message).join("\n"), /oversize: 60000 bytes, limit 4096/);
  } finally {
    card.close();
    await close();
  }
});

Deno.test("socket addresses read as Deno writes them: IPv4, IPv4-mapped, RFC 5952 IPv6", () => {
  const v4 = new Uint8Array([2, 0, 0x0b, 0xec, 172, 26, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(socketAddress(v4, 0), { transport: "udp", hostname: "172.26.0.45", port: 3052 });
  const mapped = new Uint8Array(28);
  mapped.set([10, 0, 0x0b, 0xec]);
  mapped.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 26, 0, 45], 8);
  assert.deepEqual(socketAddress(mapped, 0), {
    transport: "udp",
    hostname: "::ffff:172.26.0.45",
    port: 3052,
  });
  assert.equal(socketAddress(new Uint8Array(28), 0), undefined, "family 0 (AF_UNSPEC) is not an address");
  // Every other IPv6 address: as WHATWG URL serializes it (the same RFC 5952 rules), on many random ones
  // with zero runs of every length and place.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let n = 0; n < 20_000; n++) {
    const bytes = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      if (random() < 0.5) continue; // a zero group
      const value = random() < 0.3 ? Math.floor(random() * 16) : Math.floor(random() * 65536);
      bytes[2 * g] = value >> 8;
      bytes[2 * g + 1] = value & 0xff;
    }
    const groups = Array.from({ length: 8 }, (_, g) => ((bytes[2 * g] << 8) | bytes[2 * g + 1]).toString(16));
    const expected = new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
    if (expected.startsWith("::ffff:")) continue; // URL writes the mapped form in hex
    assert.equal(ipv6Text(bytes, 0), expected, groups.join(":"));
  }
  assert.equal(ipv6Text(new Uint8Array(16), 0), "::");
});
