import assert from "node:assert/strict";
import { ActionEngine, type ActionSettings } from "../src/actions/engine.ts";
import type { ShutdownPolicy } from "../src/actions/policy.ts";
import type { EventActions } from "../src/config/types.ts";
import { type AgentEvent, type EventDraft, type EventId, makeEvent } from "../src/events/types.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import type { PersistedShutdownState, ShutdownStateStore } from "../src/shutdown/persist.ts";
import { type CommandRun, ShutdownSequencer } from "../src/shutdown/sequencer.ts";
import { NO_ACTIONS as ACTIONS } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";

const A = "10.0.0.1", B = "10.0.0.2";
const S = 1000;

interface Options {
  mode?: ShutdownPolicy["mode"];
  cards?: string[];
  turnOffUps?: boolean;
  commandFile?: { path: string; duration: number; takes: number; hang?: boolean };
  events?: Record<string, Partial<EventActions>>;
}

/** An engine + sequencer over recorders, on a fake clock starting at t=0 (printed as seconds). */
function harness(o: Options = {}) {
  const { fake, clock } = fakeClock(0);
  const cards = o.cards ?? [A];
  const timeline: string[] = [];
  const events: AgentEvent[] = [];
  const os = new RecordingExecutor(() => fake.now);
  const at = () => `${fake.now / S}s`;
  const eventsConfig: Record<string, EventActions> = {
    PowerFailed: { ...ACTIONS, enableShutdown: true, shutdownDelay: 120 },
    LowBattery: { ...ACTIONS, enableShutdown: true },
    UpsTurnOffInitiated: { ...ACTIONS, enableShutdown: true },
  };
  for (const [id, change] of Object.entries(o.events ?? {})) {
    eventsConfig[id] = { ...(eventsConfig[id] ?? ACTIONS), ...change };
  }
  const delays = new Map<EventId, number>();
  for (const [id, a] of Object.entries(eventsConfig)) {
    if (a.enableShutdown || id === "LowBattery" || id === "UpsTurnOffInitiated") {
      delays.set(id as EventId, a.shutdownDelay * S);
    }
  }
  const settings: ActionSettings = {
    policy: { mode: o.mode ?? "single", cards, redundantUps: 1, shutdownDelays: delays },
    events: eventsConfig,
    sequence: {
      cards,
      turnOffUps: o.turnOffUps ?? false,
      shutdownCommandFile: o.commandFile?.path ?? "",
      shutdownCommandFileDuration: o.commandFile?.duration ?? 0,
      settleDelay: 70,
      osCommands: [["poweroff-recorder"]],
    },
  };
  const ref: { engine?: ActionEngine } = {};
  const emit = (draft: EventDraft) => {
    const event = makeEvent(draft, fake.now);
    events.push(event);
    if (!["CommunicationEstablished"].includes(event.id)) timeline.push(`${at()} ${event.id}`);
    ref.engine!.handle(event);
  };
  const runCommandFile = (path: string, timeoutMs: number): Promise<CommandRun> => {
    timeline.push(`${at()} run ${path}`);
    const takes = o.commandFile?.hang ? timeoutMs : (o.commandFile?.takes ?? 0) * S;
    if (takes === 0) {
      return Promise.resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: 0 });
    }
    return new Promise((resolve) =>
      fake.setTimeout(() =>
        resolve({
          ok: !o.commandFile?.hang,
          timedOut: !!o.commandFile?.hang,
          exitCode: o.commandFile?.hang ? null : 0,
          output: "",
          durationMs: takes,
          error: o.commandFile?.hang ? "did not finish within its duration and was killed" : undefined,
        }), takes)
    );
  };
  const turnOffs: string[] = [];
  const sequencer = new ShutdownSequencer({
    clock,
    emit,
    os,
    runCommandFile,
    turnOffUps: (card) => {
      turnOffs.push(card);
      timeline.push(`${at()} turn off ${card}`);
      return Promise.resolve({ ok: true });
    },
  });
  const saved: (PersistedShutdownState | undefined)[] = [];
  const persist: ShutdownStateStore = { save: (s) => saved.push(s), clear: () => saved.push(undefined) };
  const engine = ref.engine = new ActionEngine(settings, {
    clock,
    emit,
    notify: (e) => timeline.push(`${at()} notify ${e.id}`),
    runCommandFile,
    eventEnvironment: (e) => ({ PCNS_EVENT_ID: e.id }),
    loads: () => new Map(),
    persist,
  }, sequencer);
  const raise = (id: EventId, card = A) => emit({ id, nmc: card });
  /** Advances fake time, letting promise chains settle between timers. */
  const advance = (seconds: number) => fake.tickAsync(seconds * S);
  return { fake, engine, sequencer, os, events, timeline, raise, advance, turnOffs, saved, settings };
}

Deno.test("single UPS on battery: countdown 120 s, then turn-off, command file, 70 s settle, OS shutdown", async () => {
  const h = harness({ turnOffUps: true, commandFile: { path: "/opt/stop-db", duration: 30, takes: 12 } });
  h.raise("PowerFailed");
  await h.advance(119.999);
  assert.equal(h.sequencer.phase, "idle");
  await h.advance(0.001);
  await h.advance(200);
  assert.deepEqual(h.timeline, [
    "0s PowerFailed",
    "0s ShutdownPending",
    "120s ShutdownStarting",
    "120s turn off 10.0.0.1",
    "120s UpsTurnOffSent",
    "120s run /opt/stop-db",
    "132s CommandFileRun",
    "202s OsShutdown",
  ]);
  assert.deepEqual(h.os.calls, [{ command: ["poweroff-recorder"], at: 202 * S }]);
  assert.equal(h.sequencer.phase, "done");
  assert.match(h.events.at(-1)!.message, /dry run, would run: poweroff-recorder/);
});

Deno.test("power returning during the event delay cancels the countdown and runs nothing", async () => {
  const h = harness({ turnOffUps: true });
  h.raise("PowerFailed");
  await h.advance(90);
  h.raise("PowerRestored");
  await h.advance(3600);
  assert.deepEqual(h.timeline, [
    "0s PowerFailed",
    "0s ShutdownPending",
    "90s PowerRestored",
    "90s ShutdownCancelled",
  ]);
  assert.match(h.events.find((e) => e.id === "ShutdownCancelled")!.message, /30 s before the shutdown/);
  assert.equal(h.os.calls.length, 0);
  assert.deepEqual(h.turnOffs, []);
  assert.equal(h.saved.at(-1), undefined, "nothing stays persisted");
});

Deno.test("power returning after ShutdownStarting does not stop the sequence (at every later stage)", async () => {
  for (const returnsAt of [120, 125, 140, 200]) {
    const h = harness({ commandFile: { path: "/opt/stop", duration: 30, takes: 30 } });
    h.raise("PowerFailed");
    await h.advance(returnsAt);
    h.raise("PowerRestored");
    await h.advance(400);
    assert.equal(h.os.calls.length, 1, `power back at ${returnsAt} s`);
    assert.equal(h.os.calls[0].at, 220 * S, `power back at ${returnsAt} s`);
    assert.equal(h.events.some((e) => e.id === "ShutdownCancelled"), false);
  }
});

Deno.test("low battery shuts down at once, ahead of a pending on-battery countdown", async () => {
  const h = harness();
  h.raise("PowerFailed");
  await h.advance(30);
  h.raise("LowBattery");
  await h.advance(100);
  assert.deepEqual(h.timeline, [
    "0s PowerFailed",
    "0s ShutdownPending",
    "30s LowBattery",
    "30s ShutdownStarting",
    "100s OsShutdown",
  ]);
});

Deno.test("triggering twice never runs anything twice", async () => {
  const h = harness({ turnOffUps: true, commandFile: { path: "/opt/x", duration: 10, takes: 1 } });
  h.raise("LowBattery");
  h.raise("UpsTurnOffInitiated");
  await h.advance(5);
  h.raise("LowBattery");
  await h.advance(300);
  assert.equal(h.timeline.filter((l) => l.includes("ShutdownStarting")).length, 1);
  assert.equal(h.turnOffs.length, 1);
  assert.equal(h.timeline.filter((l) => l.includes("run /opt/x")).length, 1);
  assert.equal(h.os.calls.length, 1);
});

Deno.test("LowBattery cannot be disabled: enableShutdown=false still shuts down", async () => {
  const h = harness({ events: { LowBattery: { enableShutdown: false } } });
  // (the config layer forces it; the policy receives LowBattery in its delays regardless)
  h.raise("LowBattery");
  await h.advance(71);
  assert.equal(h.os.calls.length, 1);
});

Deno.test("a hanging shutdown command file is cut at its duration and the OS still goes down on time", async () => {
  const h = harness({ commandFile: { path: "/opt/hangs", duration: 45, takes: 0, hang: true } });
  h.raise("UpsTurnOffInitiated");
  await h.advance(200);
  assert.deepEqual(h.timeline, [
    "0s UpsTurnOffInitiated",
    "0s ShutdownStarting",
    "0s run /opt/hangs",
    "45s CommandFileTimedOut",
    "115s OsShutdown",
  ]);
});

Deno.test("an event's command file runs after its delay only if the event is still active", async () => {
  const h = harness({
    events: {
      PowerFailed: {
        enableShutdown: false,
        enableCommandFile: true,
        commandFilePath: "/opt/notify",
        commandFileDelay: 3,
      },
    },
  });
  h.raise("PowerFailed");
  await h.advance(2);
  h.raise("PowerRestored"); // flapping: back within the 3 s
  await h.advance(5);
  h.raise("PowerFailed");
  await h.advance(3);
  assert.deepEqual(h.timeline, [
    "0s PowerFailed",
    "2s PowerRestored",
    "7s PowerFailed",
    "10s run /opt/notify",
    "10s CommandFileRun",
  ]);
});

Deno.test("notification actions fire for the events that enable them", async () => {
  const h = harness({
    events: { PowerFailed: { enableNotification: true }, PowerRestored: { enableNotification: true } },
  });
  h.raise("PowerFailed");
  await h.advance(10);
  h.raise("PowerRestored");
  assert.deepEqual(h.timeline.filter((l) => l.includes("notify")), [
    "0s notify PowerFailed",
    "10s notify PowerRestored",
  ]);
});

Deno.test("redundant: one UPS on battery is logged only; the second starts the countdown; different events: 10 s", async () => {
  const h = harness({ mode: "redundant", cards: [A, B] });
  h.raise("PowerFailed", A);
  await h.advance(300);
  assert.equal(h.sequencer.phase, "idle");
  h.raise("PowerFailed", B);
  await h.advance(60);
  h.raise("LowBattery", B); // now A: on battery, B: low battery -> different critical events
  await h.advance(9.999);
  assert.equal(h.sequencer.phase, "idle");
  await h.advance(0.001);
  assert.equal(h.sequencer.phase, "running");
  assert.deepEqual(h.timeline.slice(0, 6), [
    "0s PowerFailed",
    "300s PowerFailed",
    "300s ShutdownPending",
    "360s LowBattery",
    "360s MultipleCriticalEvents",
    "360s ShutdownPending",
  ]);
  assert.equal(h.timeline[6], "370s ShutdownStarting");
});

Deno.test("a pending countdown survives a restart: resumed from the persisted start, or dropped with the reason", async () => {
  const first = harness();
  first.raise("PowerFailed");
  await first.advance(60);
  const persisted = first.saved.at(-1)!;
  assert.equal(persisted.countdowns[0].key, `PowerFailed@${A}`);
  await first.engine.stop();

  // Restart at t=65 s: the card's first packet still says on battery.
  const second = harness();
  await second.advance(65);
  second.engine.restore(persisted);
  second.raise("CommunicationEstablished");
  second.raise("PowerFailed");
  await second.advance(54.999);
  assert.equal(second.sequencer.phase, "idle");
  await second.advance(0.001);
  assert.equal(second.sequencer.phase, "running", "due at the original 120 s, not 65 + 120 s");

  // Restart where power came back while the agent was down.
  const third = harness();
  await third.advance(65);
  third.engine.restore(persisted);
  third.raise("CommunicationEstablished");
  await third.advance(200);
  assert.equal(third.sequencer.phase, "idle");
  const dropped = third.events.find((e) => e.id === "CountdownDropped")!;
  assert.match(dropped.message, /PowerFailed no longer reported by the NMC after the restart/);
});
