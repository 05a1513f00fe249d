/**
 * Memory under load, in its own process (run with --v8-flags=--expose-gc):
 * `deno run -A --v8-flags=--expose-gc bench/memory_proc.ts <packets>`.
 * RSS after start, after one simulated hour with 9 NMCs (fake clock: status
 * every 25 s, client list every 100 s), after `packets` more status packets,
 * and 25 s after the last of them; prints one JSON line.
 *
 * The packets are handed over as the UDP listener hands them over: at most 64 in one turn of the
 * event loop. A loop that never yields measures something the agent never does: V8 queues a task with
 * every young-generation collection that runs (and frees its memory) only when the event loop turns, so
 * 10 M packets in one synchronous loop grew glibc's in-use memory by ~76 bytes per collection.
 *
 * @module
 */
import { createClock } from "@sinonjs/fake-timers";
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { md5Hex } from "../src/nmc/md5.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { type Clock, systemClock } from "../src/time/clock.ts";
import { openLibc } from "../src/os/libc.ts";
import { returnLargeAllocations, startMemoryTrimming } from "../src/os/malloc.ts";
import { testConfig } from "../tests/helpers/agent.ts";

const packets = Number(Deno.args[0] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
/** RSS, JS heap in use, and external (ArrayBuffer) memory after a full GC, MiB. */
const usage = () => {
  gc();
  const m = Deno.memoryUsage();
  return {
    rssMiB: mib(m.rss),
    heapMiB: mib(m.heapUsed),
    externalMiB: mib(m.external),
    mallocMiB: mallocInUse(),
  };
};
const rss = () => usage().rssMiB;

/** How long the agent is left idle after the last packet before the settled sample. */
const SETTLE_MS = 25_000;
/** The most datagrams the UDP listener hands to the agent in one turn of the event loop (udpdrain.ts). */
const PACKETS_PER_TURN = 64;
/** Lets the event loop turn once (a message to itself: a timer would be clamped to ~1 ms). */
const channel = new MessageChannel();
let wake: (() => void) | undefined;
channel.port1.onmessage = () => wake?.();
const turn = () =>
  new Promise<void>((resolve) => {
    wake = resolve;
    channel.port2.postMessage(0);
  });

/** glibc's bytes in use by malloc (mallinfo2's uordblks), MiB; undefined where there is no glibc. */
const mallocInUse = (() => {
  const words = Array(10).fill("usize") as "usize"[];
  const libc = openLibc({ mallinfo2: { parameters: [], result: { struct: words } } });
  if (typeof libc === "string") return () => undefined;
  return () => mib(Number(new BigUint64Array((libc.mallinfo2() as Uint8Array).buffer)[7]));
})();

const fake = createClock(Date.UTC(2026, 0, 1));
const clock: Clock = {
  now: () => fake.now,
  setTimeout: (f, ms) => fake.setTimeout(f, ms),
  clearTimeout: (h) => fake.clearTimeout(h as ReturnType<typeof fake.setTimeout>),
};
const cards = Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 1}`);
const dataDir = await Deno.makeTempDir({ prefix: "pcns-bench-mem-" });
// The process-wide memory settings of the service (src/agent/service.ts), on the real clock as there.
returnLargeAllocations();
const stopTrimming = startMemoryTrimming({ clock: systemClock });
const agent = Agent.start({
  config: testConfig({ cards }),
  dataDir,
  logger: memoryLogger("error").logger,
  clock,
  dryRun: true,
  executor: new RecordingExecutor(),
  persistCountdowns: false,
});
const afterStart = rss();

const sims = cards.map((address) =>
  new NmcSimulator({
    address,
    username: "apc",
    authenticationPhrase: "admin user phrase",
    targets: [],
    clock,
  })
);
for (let t = 0; t < 3600; t += 25) {
  for (const sim of sims) agent.receive(sim.buildStatus());
  if (t % 100 === 0) { for (const sim of sims) agent.receive(sim.buildConfig()); }
  await fake.tickAsync(25_000);
}
const afterHour = rss();

// Millions of packets: a fast signer patching the uptime counter of one template.
const enc = new TextEncoder();
const suffix = enc.encode("apcadmin user phrase");
const head = "MASTATUS\n<BODY>\nMV=v1.7.0\nPC=127.0.0.1\nSR=02\nSU=";
const tail = "\nSD=0\n51=08\n4C=230.0\n66=100.0\n50=025.0\n6A=0045:\n43=028.0\nMC=0\nI0=0\n";
const samples: ({ packets: number } & ReturnType<typeof usage>)[] = [];
const t0 = performance.now();
for (let i = 1; i <= packets; i++) {
  const body = enc.encode(`${head}${i.toString(16).toUpperCase().padStart(8, "0")}${tail}`);
  const md = md5Hex(body, suffix); // not node:crypto: its per-call native objects would be measured too
  agent.receive(
    enc.encode(`${head}${i.toString(16).toUpperCase().padStart(8, "0")}${tail}MD=${md}\n</BODY>\n`),
  );
  if (i % PACKETS_PER_TURN === 0) await turn();
  if (i % Math.max(1, Math.floor(packets / 5)) === 0) samples.push({ packets: i, ...usage() });
}
channel.port1.close();
const seconds = (performance.now() - t0) / 1000;
// What is left once the packets stop: V8's memory reducer gives back the pages it no longer needs about
// 15-20 s after the allocation stops (no forced collection here, as in the agent), and the heap trim of
// every 20 s those of glibc.
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const settled = { rssMiB: mib(Deno.memoryUsage().rss), mallocMiB: mallocInUse() };
const status = agent.status();
stopTrimming();
await agent.stop();
await Deno.remove(dataDir, { recursive: true });
console.log(JSON.stringify({
  afterStart,
  afterHour,
  samples,
  settled,
  accepted: status.packets.accepted,
  packetsPerSecond: Math.round(packets / seconds),
}));
