/**
 * `deno task bench [--quick]`: measures the agent's packet path in-process and
 * prints a table (numbers, never pass/fail). Comparisons with apcupsd and the
 * socket-level, memory and start-up figures are added in bench/ as they land.
 *
 * @module
 */
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { PacketEngine } from "../src/nmc/engine.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { systemClock } from "../src/time/clock.ts";
import { UpsMonitor } from "../src/ups/monitor.ts";

const quick = Deno.args.includes("--quick");
const N = quick ? 20_000 : 200_000;
const credentials = { username: "apc", authenticationPhrase: "admin user phrase" };

function pipeline() {
  const monitor = new UpsMonitor(
    { cards: ["127.0.0.1"], commLostTimeoutMs: 55_000 },
    (d) => void makeEvent(d, Date.now()),
    systemClock,
  );
  const engine = new PacketEngine(
    { ...credentials, cards: ["127.0.0.1"] },
    (p) => monitor.handle(p),
    memoryLogger().logger,
    systemClock,
  );
  return engine;
}

const sim = new NmcSimulator({ address: "127.0.0.1", ...credentials, targets: [] });
const valid = Array.from({ length: N }, () => sim.buildStatus({ hostname: "127.0.0.1", port: 3052 }));
const forged = new NmcSimulator({
  address: "127.0.0.1",
  username: "apc",
  authenticationPhrase: "wrong phrase here",
  targets: [],
});
const bad = Array.from({ length: N }, () => forged.buildStatus());

function measure(name: string, packets: Uint8Array[]) {
  const engine = pipeline();
  const t0 = performance.now();
  for (const p of packets) engine.receive(p);
  const ms = performance.now() - t0;
  const stats = engine.stats();
  return {
    name,
    packets: packets.length,
    ms: Math.round(ms),
    perSecond: Math.round(packets.length / (ms / 1000)),
    stats,
  };
}

const results = [
  measure("valid status packets (accept + state)", valid),
  measure("forged packets (rejected, bad MD5)", bad),
];
console.log(
  `${"benchmark".padEnd(42)} ${"packets".padStart(8)} ${"ms".padStart(7)} ${"packets/s".padStart(10)}`,
);
for (const r of results) {
  console.log(
    `${r.name.padEnd(42)} ${String(r.packets).padStart(8)} ${String(r.ms).padStart(7)} ${
      String(r.perSecond).padStart(10)
    }`,
  );
}
console.log("target (issue 8): >= 50000 valid packets/s on one core");
await Deno.mkdir("bench/results", { recursive: true });
await Deno.writeTextFile(
  "bench/results/packet-path.json",
  JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + "\n",
);
