/**
 * Seeded, bounded fuzzing of the whole packet path over the recorded vectors and simulated packets: no
 * mutant changes the UPS state unless its signed bytes are the genuine packet's and its counters are fresh
 * (a longer run with >= 1 M cases is `deno run -A bench/fuzz.ts`).
 */
import assert from "node:assert/strict";
import { fuzzPacketPath, fuzzSeeds } from "./helpers/fuzz.ts";

Deno.test("fuzz: 20 000 mutants of real and simulated packets change state only when genuine and fresh", () => {
  const report = fuzzPacketPath(fuzzSeeds(), 20_000, 0x5eed);
  assert.deepEqual(report.violations, []);
  assert.equal(report.cases, 20_000);
  // The run exercised both sides of the oracle: genuine mutants (unchanged, unsigned data appended) and
  // forged ones rejected for several reasons.
  assert.ok(report.sameSigned > 1000, `only ${report.sameSigned} mutants kept the signed bytes`);
  assert.ok(report.accepted > 500, `only ${report.accepted} accepted`);
  assert.ok(report.unsignedIgnored > 100, `only ${report.unsignedIgnored} carried unsigned data`);
  for (const reason of ["bad-md5", "malformed", "replay", "oversize"]) {
    assert.ok((report.rejected[reason] ?? 0) > 0, `no mutant was rejected as ${reason}`);
  }
});
