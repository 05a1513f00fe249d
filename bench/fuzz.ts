/**
 * The long fuzz run of the packet path (`deno run -A bench/fuzz.ts [--cases N] [--seed S]`, default 1 M
 * cases): the same oracle as tests/packet_fuzz_test.ts, printing counts and the rate. Part of
 * `deno task bench` as well (100 k cases with --quick).
 *
 * @module
 */
import { fuzzPacketPath, fuzzSeeds } from "../tests/helpers/fuzz.ts";
import type { BenchResult } from "./lib.ts";

/** Runs `cases` mutants in chunks (fresh seeds per chunk) and reports the totals. */
export function benchFuzz(cases: number, seed = 1): BenchResult[] {
  const seeds = fuzzSeeds();
  const t0 = performance.now();
  const total = {
    cases: 0,
    sameSigned: 0,
    accepted: 0,
    unsignedIgnored: 0,
    rejected: {} as Record<string, number>,
  };
  const violations: string[] = [];
  for (let chunk = 0; total.cases < cases && violations.length === 0; chunk++) {
    const report = fuzzPacketPath(seeds, Math.min(50_000, cases - total.cases), seed + chunk);
    total.cases += report.cases;
    total.sameSigned += report.sameSigned;
    total.accepted += report.accepted;
    total.unsignedIgnored += report.unsignedIgnored;
    for (const [k, v] of Object.entries(report.rejected)) total.rejected[k] = (total.rejected[k] ?? 0) + v;
    violations.push(...report.violations);
  }
  const seconds = (performance.now() - t0) / 1000;
  return [{
    name: "packet fuzz: broken promises in mutated real/simulated packets",
    value: violations.length,
    unit: "violations",
    target: "0",
    met: violations.length === 0,
    details: { ...total, casesPerSecond: Math.round(total.cases / seconds), seconds, violations },
  }];
}

if (import.meta.main) {
  const arg = (name: string, fallback: number) => {
    const i = Deno.args.indexOf(name);
    const n = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
    if (!Number.isInteger(n) || n <= 0) {
      console.error(`fuzz: ${name} needs a positive whole number`);
      Deno.exit(2);
    }
    return n;
  };
  const [result] = benchFuzz(arg("--cases", 1_000_000), arg("--seed", 1));
  console.log(JSON.stringify(result, null, 2));
}
