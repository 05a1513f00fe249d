/**
 * `deno task bench [--quick]`: every benchmark, side by side with apcupsd where
 * it has the same capability; prints a table (value, target, ratio to the
 * peer) and writes bench/results/latest.json. Numbers, never pass/fail.
 *
 * @module
 */
import { join } from "node:path";
import { benchFuzz } from "./fuzz.ts";
import { benchLatency } from "./latency.ts";
import { type BenchResult, printTable, ROOT } from "./lib.ts";
import { benchSystem } from "./system.ts";
import { benchThroughput } from "./throughput.ts";
import { APCUPSD } from "../tests/helpers/apcupsd.ts";

const quick = Deno.args.includes("--quick");
const unknown = Deno.args.filter((a) => a !== "--quick");
if (unknown.length) {
  console.error(`bench: unknown argument ${unknown[0]} (usage: deno task bench [--quick])`);
  Deno.exit(2);
}
if (!APCUPSD) console.log("apcupsd is not installed (apt-get install apcupsd): the peer columns stay empty");
const started = performance.now();
const results: BenchResult[] = [];
for (
  const [name, run] of [
    ["latency", () => benchLatency(quick ? 40 : 200)],
    ["throughput", () => benchThroughput(quick)],
    ["system", () => benchSystem(quick)],
    ["fuzz", () => Promise.resolve(benchFuzz(quick ? 100_000 : 1_000_000))],
    ["nut", () => import("./nut.ts").then((m) => m.benchNut(quick))],
  ] as const
) {
  const t0 = performance.now();
  console.log(`running ${name} ...`);
  results.push(...await run());
  console.log(`  ${name}: ${Math.round((performance.now() - t0) / 1000)} s`);
}
console.log("");
printTable(results);
const seconds = Math.round((performance.now() - started) / 1000);
console.log(`\n${quick ? "quick run" : "full run"} in ${seconds} s; details in bench/results/latest.json`);
await Deno.mkdir(join(ROOT, "bench/results"), { recursive: true });
await Deno.writeTextFile(
  join(ROOT, "bench/results/latest.json"),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      quick,
      deno: Deno.version.deno,
      cpus: navigator.hardwareConcurrency,
      seconds,
      results,
    },
    null,
    2,
  ) + "\n",
);
