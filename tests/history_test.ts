import assert from "node:assert/strict";
import { SampleRing, UpsHistory } from "../src/ups/history.ts";

Deno.test("the ring keeps the newest samples in order and never grows past its capacity", () => {
  const ring = new SampleRing(3);
  for (let t = 1; t <= 5; t++) ring.push({ time: t });
  assert.equal(ring.size, 3);
  assert.deepEqual(ring.toArray().map((s) => s.time), [3, 4, 5]);
  assert.equal(ring.last()?.time, 5);
});

Deno.test("history samples at most once per interval and covers a bounded 24 h window", () => {
  const history = new UpsHistory(60_000);
  const t0 = Date.UTC(2026, 0, 1);
  for (let s = 0; s < 48 * 3600; s += 25) history.record("a", { time: t0 + s * 1000, batteryPercent: 100 });
  const now = t0 + 48 * 3600_000;
  const samples = history.samples("a", now);
  // Packets every 25 s, samples at least 60 s apart: one every 75 s, 1152 in 24 h.
  assert.ok(samples.length >= 1151 && samples.length <= 1153, `${samples.length} samples`);
  assert.ok(samples.every((s, i) => i === 0 || s.time - samples[i - 1].time >= 60_000));
  assert.ok(samples[0].time > now - 24 * 3600_000);
  history.retain([]);
  assert.deepEqual(history.samples("a", now), []);
});
