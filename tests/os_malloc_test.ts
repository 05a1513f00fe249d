/**
 * The memory a burst leaves behind goes back to the OS: glibc keeps the pages of freed small blocks that
 * sit below a block still in use (free(3) only gives back the top of the heap), so the agent trims its
 * heap every 20 s (src/os/malloc.ts).
 */
import * as assertions from "node:assert/strict";
import { createClock } from "@sinonjs/fake-timers";
import { evalInProcess } from "./helpers/process.ts";
import { MEMORY_TRIM_INTERVAL_MS, startMemoryTrimming } from "../src/os/malloc.ts";
import type { Clock } from "../src/time/clock.ts";

const MALLOC_URL = new URL("../src/os/malloc.ts", import.meta.url).href;

/**
 * In its own process: 40 MiB of 1 KiB blocks, all freed but every 16th (so the heap's top stays in use),
 * then the process's anonymous RSS before and after `trim` is called (or not).
 */
async function fragmentedHeap(trim: boolean): Promise<{ before: number; after: number; answer: unknown }> {
  const code = `
    import { trimFreedMemory } from ${JSON.stringify(MALLOC_URL)};
    const libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
    }).symbols;
    const anonKiB = () => Number(/RssAnon:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))[1]);
    const blocks = [];
    for (let i = 0; i < 40960; i++) {
      const p = libc.malloc(1024n);
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, 1024)).fill(1);
      blocks.push(p);
    }
    blocks.forEach((p, i) => { if (i % 16 !== 15) libc.free(p); });
    const before = anonKiB();
    const answer = Deno.args[0] === "trim" ? trimFreedMemory() : "not called";
    const after = anonKiB();
    console.log(JSON.stringify({ before, after, answer }));
  `;
  return JSON.parse(await evalInProcess(code, [trim ? "trim" : "keep"]));
}

Deno.test({
  name: "trimFreedMemory gives the pages of freed blocks back to the OS (not only the heap's top)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const kept = await fragmentedHeap(false);
    const trimmed = await fragmentedHeap(true);
    // 40 MiB freed in runs of 15 KiB: whole pages make up most of it.
    assertions.ok(
      kept.before - kept.after < 2048,
      `without a trim nothing goes back: ${JSON.stringify(kept)}`,
    );
    assertions.equal(trimmed.answer, undefined, "the trim ran");
    assertions.ok(
      trimmed.before - trimmed.after > 16 * 1024,
      `the trim gave back ${trimmed.before - trimmed.after} KiB of ~40 MiB freed: ${JSON.stringify(trimmed)}`,
    );
  },
});

Deno.test("startMemoryTrimming trims once per interval until stopped, and a failing trim stops the schedule", () => {
  const fake = createClock(0);
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (f, ms) => fake.setTimeout(f, ms),
    clearTimeout: (h) => fake.clearTimeout(h as ReturnType<typeof fake.setTimeout>),
  };
  let trims = 0;
  const stop = startMemoryTrimming({ clock, trim: () => void trims++ });
  fake.tick(MEMORY_TRIM_INTERVAL_MS - 1);
  assertions.equal(trims, 0, "not at start: the first trim is one interval in");
  fake.tick(1);
  assertions.equal(trims, 1);
  fake.tick(MEMORY_TRIM_INTERVAL_MS * 3);
  assertions.equal(trims, 4);
  stop();
  fake.tick(MEMORY_TRIM_INTERVAL_MS * 3);
  assertions.equal(trims, 4, "nothing after stop");

  const reasons: string[] = [];
  let calls = 0;
  startMemoryTrimming({
    clock,
    trim: () => (calls++, "libc.so.6 cannot be loaded: not found"),
    onUnavailable: (reason) => reasons.push(reason),
  });
  fake.tick(MEMORY_TRIM_INTERVAL_MS * 5);
  assertions.equal(calls, 1, "a trim that cannot be had is not tried again");
  assertions.deepEqual(reasons, ["libc.so.6 cannot be loaded: not found"]);
});
