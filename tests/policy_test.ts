import assert from "node:assert/strict";
import {
  type ActiveEvent,
  recordEvent,
  requiredCriticalUps,
  shutdownCandidates,
  type ShutdownPolicy,
} from "../src/actions/policy.ts";
import type { UpsMode } from "../src/config/types.ts";
import type { EventId } from "../src/events/types.ts";

const A = "10.0.0.1", B = "10.0.0.2", C = "10.0.0.3";
const S = 1000;

function policy(mode: UpsMode, cards: string[], redundantUps = 1): ShutdownPolicy {
  return {
    mode,
    cards,
    redundantUps,
    shutdownDelays: new Map<EventId, number>([
      ["PowerFailed", 120 * S],
      ["LowBattery", 30 * S], // configured, but identical LB on several UPSs ignores it
      ["UpsTurnOffInitiated", 0],
    ]),
  };
}

function active(...events: [EventId, string, number][]): Map<string, ActiveEvent> {
  let map = new Map<string, ActiveEvent>();
  for (const [id, card, at] of events) map = recordEvent(map, id, card, at * S);
  return map;
}

const noLoads = new Map<string, number>();
const summary = (p: ShutdownPolicy, a: Map<string, ActiveEvent>, loads: Map<string, number> = noLoads) =>
  shutdownCandidates(a.values(), p, loads).map((c) => [c.key, c.dueAt / S]);

Deno.test("single UPS: each critical event is due after its own delay; the earliest wins", () => {
  const p = policy("single", [A]);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0])), [[`PowerFailed@${A}`, 120]]);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["LowBattery", A, 50])), [
    [`LowBattery@${A}`, 80],
    [`PowerFailed@${A}`, 120],
  ]);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["PowerRestored", A, 60])), []);
  assert.deepEqual(
    summary(p, active(["Overload", A, 0])),
    [],
    "an event without a shutdown action is not critical",
  );
});

Deno.test("redundant: a single UPS's critical events are logged but do not shut down", () => {
  const p = policy("redundant", [A, B]);
  assert.equal(requiredCriticalUps(p, noLoads), 2);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["LowBattery", A, 10])), []);
});

Deno.test("redundant: identical LowBattery or UpsTurnOffInitiated on two UPSs shuts down at once, delays ignored", () => {
  const p = policy("redundant", [A, B]);
  assert.deepEqual(summary(p, active(["LowBattery", A, 5], ["LowBattery", B, 40])), [["LowBattery@set", 40]]);
  assert.deepEqual(summary(p, active(["UpsTurnOffInitiated", A, 5], ["UpsTurnOffInitiated", B, 7])), [
    ["UpsTurnOffInitiated@set", 7],
  ]);
});

Deno.test("redundant: identical configured events on two UPSs shut down after their delay, from the second", () => {
  const p = policy("redundant", [A, B]);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["PowerFailed", B, 30])), [[
    "PowerFailed@set",
    150,
  ]]);
});

Deno.test("redundant: different critical events on two UPSs are Multiple Critical Events, after 10 s", () => {
  const p = {
    ...policy("redundant", [A, B]),
    shutdownDelays: new Map([
      ...policy("redundant", [A, B]).shutdownDelays,
      ["CommunicationLost", 0] as [EventId, number],
    ]),
  };
  assert.deepEqual(summary(p, active(["LowBattery", A, 0], ["CommunicationLost", B, 20])), [[
    "multiple",
    30,
  ]]);
});

Deno.test("CommunicationLost while another UPS is on battery counts as critical", () => {
  const p = policy("redundant", [A, B]); // CommunicationLost has no shutdown action configured
  assert.deepEqual(summary(p, active(["CommunicationLost", B, 0])), []);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 100], ["CommunicationLost", B, 0])), [
    ["multiple", 110],
  ]);
});

Deno.test("several critical events on the same UPS count once", () => {
  const p = policy("redundant", [A, B, C]);
  assert.deepEqual(
    summary(p, active(["PowerFailed", A, 0], ["LowBattery", A, 1], ["UpsTurnOffInitiated", A, 2])),
    [],
  );
});

Deno.test("parallel: the load decides how many UPSs may fail (pcns.md §2.2 examples)", () => {
  const p3 = policy("parallel", [A, B, C]);
  const load = (pct: number, cards = [A, B, C]) => new Map(cards.map((c) => [c, pct]));
  // 3 x 10 kVA carrying 16 kVA: parallel-redundant, two critical UPSs needed.
  assert.equal(requiredCriticalUps(p3, load(53.3)), 2);
  assert.deepEqual(summary(p3, active(["PowerFailed", A, 0]), load(53.3)), []);
  assert.deepEqual(summary(p3, active(["LowBattery", A, 0], ["LowBattery", B, 3]), load(53.3)), [[
    "LowBattery@set",
    3,
  ]]);
  // 3 x 10 kVA carrying 23 kVA: parallel-capacity, one critical event is enough.
  assert.equal(requiredCriticalUps(p3, load(76.7)), 1);
  assert.deepEqual(summary(p3, active(["PowerFailed", A, 0]), load(76.7)), [[`PowerFailed@${A}`, 120]]);
  // 2 x 10 kVA carrying 8 kVA: one UPS carries it, two identical critical events shut down at once.
  const p2 = policy("parallel", [A, B]);
  assert.equal(requiredCriticalUps(p2, load(40, [A, B])), 2);
  assert.deepEqual(summary(p2, active(["UpsTurnOffInitiated", A, 1]), load(40, [A, B])), []);
  // An unknown load counts as full: the safe side.
  assert.equal(requiredCriticalUps(p3, new Map()), 1);
});

Deno.test("advanced N+x needs x+1 critical UPSs", () => {
  assert.equal(requiredCriticalUps(policy("advanced", [A, B, C], 1), noLoads), 2);
  assert.equal(requiredCriticalUps(policy("advanced", [A, B, C], 2), noLoads), 3);
  const p = policy("advanced", [A, B, C], 2);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["PowerFailed", B, 0])), []);
  assert.deepEqual(summary(p, active(["PowerFailed", A, 0], ["PowerFailed", B, 0], ["PowerFailed", C, 9])), [
    ["PowerFailed@set", 129],
  ]);
});

Deno.test("an event stays active from its first occurrence until its opposite", () => {
  let a = active(["PowerFailed", A, 10]);
  a = recordEvent(a, "PowerFailed", A, 20 * S);
  assert.equal(a.get(`PowerFailed@${A}`)?.since, 10 * S);
  a = recordEvent(a, "PowerRestored", A, 30 * S);
  assert.equal(a.has(`PowerFailed@${A}`), false);
  assert.equal(a.get(`PowerRestored@${A}`)?.since, 30 * S);
});
