import assert from "node:assert/strict";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { evaluateRuntime, NO_RUNTIME_CONDITIONS, runtimeEvents } from "../src/ups/runtime.ts";

const onLine = decodeStatusByte(0x08);
const onBattery = decodeStatusByte(0x10);
// PCNS defaults: 120 s on-battery delay, 0 s command file + 70 s settle + 50 s OS = 120 s.
const settings = { thresholdMinutes: 10, totalShutdownSeconds: 120, onBatteryDelaySeconds: 120 };

Deno.test("RuntimeExceeded: on battery, when delay + shutdown time no longer fit in runtime - 2 min", () => {
  const at = (runtimeMinutes: number, lbd = 5) =>
    evaluateRuntime({ runtimeMinutes, lowBatteryDurationMinutes: lbd }, onBattery, settings).runtimeExceeded;
  assert.equal(at(6), false, "360 s - 120 s margin = 240 s = delay + shutdown: still fits");
  assert.equal(at(5), true, "300 s - 120 s = 180 s < 240 s");
  assert.equal(at(30, 3), true, "Low Battery Duration 3 min - 2 min = 60 s < 120 s shutdown time");
  assert.equal(
    evaluateRuntime({ runtimeMinutes: 1 }, onLine, settings).runtimeExceeded,
    false,
    "only on battery",
  );
});

Deno.test("RuntimeBelowThreshold follows the user's threshold (0 = off); BatteryDischarged only on line", () => {
  assert.equal(evaluateRuntime({ runtimeMinutes: 9 }, onLine, settings).runtimeBelowThreshold, true);
  assert.equal(evaluateRuntime({ runtimeMinutes: 10 }, onLine, settings).runtimeBelowThreshold, false);
  assert.equal(
    evaluateRuntime({ runtimeMinutes: 1 }, onLine, { ...settings, thresholdMinutes: 0 })
      .runtimeBelowThreshold,
    false,
  );
  assert.equal(
    evaluateRuntime({ runtimeMinutes: 2, lowBatteryDurationMinutes: 2 }, onLine, settings).batteryDischarged,
    true,
  );
  assert.equal(
    evaluateRuntime({ runtimeMinutes: 3, lowBatteryDurationMinutes: 2 }, onLine, settings).batteryDischarged,
    false,
  );
  assert.equal(evaluateRuntime({ runtimeMinutes: 1 }, onBattery, settings).batteryDischarged, false);
});

Deno.test("runtime events are raised on the way in and cleared on the way out, once", () => {
  const low = { ...NO_RUNTIME_CONDITIONS, runtimeBelowThreshold: true, runtimeExceeded: true };
  assert.deepEqual(runtimeEvents("c", NO_RUNTIME_CONDITIONS, low, {}).map((e) => e.id), [
    "RuntimeExceeded",
    "RuntimeBelowThreshold",
  ]);
  assert.deepEqual(runtimeEvents("c", low, low, {}), []);
  assert.deepEqual(runtimeEvents("c", low, NO_RUNTIME_CONDITIONS, {}).map((e) => e.id), [
    "RuntimeSufficient",
    "RuntimeAboveThreshold",
  ]);
});
