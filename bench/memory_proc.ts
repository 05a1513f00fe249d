/**
 * Memory under load, in its own process (run with --v8-flags=--expose-gc):
 * `deno run -A --v8-flags=--expose-gc bench/memory_proc.ts <packets>`.
 * RSS after start, after one simulated hour with 9 NMCs (fake clock: status
 * every 25 s, client list every 100 s), and after `packets` more status packets;
 * prints one JSON line.
 *
 * @module
 */
import { createClock } from "@sinonjs/fake-timers";
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { md5Hex } from "../src/nmc/md5.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import type { Clock } from "../src/time/clock.ts";
import { testConfig } from "../tests/helpers/agent.ts";

const packets = Number(Deno.args[0] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
/** RSS, JS heap in use, and external (ArrayBuffer) memory after a full GC, MiB. */
const usage = () => {
  gc();
  const m = Deno.memoryUsage();
  return { rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), externalMiB: mib(m.external) };
};
const rss = () => usage().rssMiB;

const fake = createClock(Date.UTC(2026, 0, 1));
const clock: Clock = {
  now: () => fake.now,
  setTimeout: (f, ms) => fake.setTimeout(f, ms),
  clearTimeout: (h) => fake.clearTimeout(h as ReturnType<typeof fake.setTimeout>),
};
const cards = Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 1}`);
const dataDir = await Deno.makeTempDir({ prefix: "pcns-bench-mem-" });
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
const samples: { packets: number; rssMiB: number; heapMiB: number; externalMiB: number }[] = [];
const t0 = performance.now();
for (let i = 1; i <= packets; i++) {
  const body = enc.encode(`${head}${i.toString(16).toUpperCase().padStart(8, "0")}${tail}`);
  const md = md5Hex(body, suffix); // not node:crypto: its per-call native objects would be measured too
  agent.receive(
    enc.encode(`${head}${i.toString(16).toUpperCase().padStart(8, "0")}${tail}MD=${md}\n</BODY>\n`),
  );
  if (i % Math.max(1, Math.floor(packets / 5)) === 0) samples.push({ packets: i, ...usage() });
}
const seconds = (performance.now() - t0) / 1000;
const status = agent.status();
await agent.stop();
await Deno.remove(dataDir, { recursive: true });
console.log(JSON.stringify({
  afterStart,
  afterHour,
  samples,
  accepted: status.packets.accepted,
  packetsPerSecond: Math.round(packets / seconds),
}));
