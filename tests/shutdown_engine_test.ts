import assert from "node:assert/strict";
import { ActionEngine, type ActionSettings } from "../src/actions/engine.ts";
import type { ShutdownPolicy } from "../src/actions/policy.ts";
import type { EventActions } from "../src/config/types.ts";
import { type AgentEvent, type EventDraft, type EventId, makeEvent } from "../src/events/types.ts";
import { type OsShutdownExecutor, RecordingExecutor, SystemExecutor } from "../src/shutdown/executor.ts";
import { systemClock } from "../src/time/clock.ts";
import type { PersistedShutdownState, ShutdownStateStore } from "../src/shutdown/persist.ts";
import { type CommandRun, ShutdownSequencer } from "../src/shutdown/sequencer.ts";
import { judgeCountdown, STALL_GRACE_MS } from "../src/shutdown/timing.ts";
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
  /** The OS-shutdown executor (default: a recorder, i.e. a dry run). */
  os?: OsShutdownExecutor;
  /** The state store (default: one that records every save). */
  persist?: ShutdownStateStore;
}

/** An engine + sequencer over recorders, on a fake clock starting at t=0 (printed as seconds). */
function harness(o: Options = {}) {
  const { fake, clock } = fakeClock(0);
  const cards = o.cards ?? [A];
  const timeline: string[] = [];
  const events: AgentEvent[] = [];
  const recorder = new RecordingExecutor(() => fake.now);
  const os = o.os ?? recorder;
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
      osCommands: [["os-shutdown-recorder"]],
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
  const persist: ShutdownStateStore = o.persist ??
    { save: (s) => saved.push(s), clear: () => saved.push(undefined) };
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
  return {
    fake,
    engine,
    sequencer,
    os: recorder,
    events,
    timeline,
    raise,
    advance,
    turnOffs,
    saved,
    settings,
  };
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
  assert.deepEqual(h.os.calls, [{ command: ["os-shutdown-recorder"], at: 202 * S }]);
  assert.equal(h.sequencer.phase, "done");
  assert.match(h.events.at(-1)!.message, /dry run: not shut down, would run: os-shutdown-recorder/);
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
    "115s ShutdownRearmed", // a dry run, and a turn-off signal does not hold the engine
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

/** An executor that is not a dry run: it records, and answers `result`. */
function realExecutor(now: () => number, result: { ok: boolean; error?: string }) {
  const calls: number[] = [];
  const os: OsShutdownExecutor = {
    dryRun: false,
    shutdown: (commands) => {
      calls.push(now());
      return Promise.resolve({ command: commands[0] ?? [], ...result });
    },
  };
  return { os, calls };
}

Deno.test("item 3: after a dry-run sequence the engine re-arms when the condition clears, and runs again", async () => {
  const h = harness();
  h.raise("PowerFailed");
  h.raise("LowBattery");
  await h.advance(71);
  assert.equal(h.sequencer.phase, "done");
  h.raise("LowBatteryCleared");
  assert.equal(h.sequencer.phase, "done", "still on battery: not re-armed yet");
  h.raise("PowerRestored");
  assert.equal(h.sequencer.phase, "idle");
  const rearmed = h.events.find((e) => e.id === "ShutdownRearmed");
  assert.match(rearmed?.message ?? "", /dry run/);
  // A new outage starts a new countdown and a new (rehearsed) sequence.
  await h.advance(600);
  h.raise("PowerFailed");
  await h.advance(120 + 70);
  assert.equal(h.os.calls.length, 2);
  assert.deepEqual(h.timeline.filter((l) => /ShutdownPending|ShutdownStarting|OsShutdown\b/.test(l)), [
    "0s ShutdownPending",
    "0s ShutdownStarting",
    "70s OsShutdown",
    "671s ShutdownPending",
    "791s ShutdownStarting",
    "861s OsShutdown",
  ]);
});

Deno.test("item 3: a real sequence whose OS command failed re-arms when the condition clears; a powered-off one does not", async () => {
  const failed = harness({ os: realExecutor(() => 0, { ok: false, error: "refused" }).os });
  failed.raise("LowBattery");
  await failed.advance(71);
  assert.ok(failed.events.some((e) => e.id === "OsShutdownFailed"));
  failed.raise("LowBatteryCleared");
  assert.equal(failed.sequencer.phase, "idle");
  assert.match(failed.events.find((e) => e.id === "ShutdownRearmed")?.message ?? "", /OS shutdown failed/);
  failed.raise("LowBattery");
  assert.equal(failed.sequencer.phase, "running", "a new low battery starts a new sequence");

  const down = harness({ os: realExecutor(() => 0, { ok: true }).os });
  down.raise("LowBattery");
  await down.advance(71);
  down.raise("LowBatteryCleared");
  assert.equal(down.sequencer.phase, "done", "the OS was shut down: nothing re-arms by itself");
  assert.equal(down.events.some((e) => e.id === "ShutdownRearmed"), false);
  // ... but the operator can reset it.
  const reset = down.engine.reset("test operator");
  assert.equal(reset.ok, true);
  assert.equal(down.sequencer.phase, "idle");
  assert.match(down.events.find((e) => e.id === "ShutdownRearmed")?.message ?? "", /test operator/);
});

Deno.test("item 3: reset is refused while the sequence runs; it restarts countdowns still holding from now", async () => {
  const h = harness();
  h.raise("LowBattery");
  await h.advance(10);
  const refused = h.engine.reset("op");
  assert.equal(refused.ok, false);
  assert.match(refused.message, /running/);
  await h.advance(61);
  h.raise("PowerFailed"); // still on battery, low battery gone: the rehearsal stays done
  h.raise("LowBatteryCleared");
  assert.equal(h.sequencer.phase, "done");
  assert.equal(h.engine.reset("op").ok, true);
  assert.equal(
    h.engine.countdowns()[0]?.remainingMs,
    120_000,
    "the on-battery delay starts again at the reset",
  );
});

Deno.test("item 4: a store that cannot save (ENOSPC/EROFS) never stops the sequence; one StateNotSaved event", async () => {
  const failing: ShutdownStateStore = {
    save: () => {
      throw new Error("No space left on device (os error 28)");
    },
    clear: () => {
      throw new Error("Read-only file system (os error 30)");
    },
  };
  // Low battery: the sequence starts and runs to the end.
  const low = harness({ persist: failing });
  low.raise("LowBattery");
  await low.advance(71);
  assert.ok(low.events.some((e) => e.id === "OsShutdown"));
  const notSaved = low.events.filter((e) => e.id === "StateNotSaved");
  assert.equal(notSaved.length, 1, "reported once, not on every write");
  assert.match(notSaved[0].message, /No space left on device/);

  // A countdown expiring (a timer calls save) does not throw out of the timer.
  const onBattery = harness({ persist: failing });
  onBattery.raise("PowerFailed");
  await onBattery.advance(200);
  assert.equal(onBattery.sequencer.phase, "done");

  // A card heard again after a restart (a microtask calls save) does not throw either.
  const restarted = harness({ persist: failing });
  restarted.engine.restore({
    version: 2,
    savedAt: 0,
    dryRun: true,
    active: [{ id: "PowerFailed", card: A, since: 0 }],
    countdowns: [{
      key: `PowerFailed@${A}`,
      eventId: "PowerFailed",
      cards: [A],
      formedAt: 0,
      delayMs: 120_000,
      dueAt: 120_000,
      reason: "PowerFailed",
    }],
  });
  restarted.raise("CommunicationEstablished");
  await restarted.advance(1);
  assert.ok(restarted.events.some((e) => e.id === "CountdownDropped"));
});

Deno.test("item 5: after a stall, an overdue countdown waits for the queued packets (fake time)", async () => {
  const h = harness();
  h.raise("PowerFailed");
  await h.advance(80);
  // SIGSTOP at 80 s for 60 s; power came back at 100 s: its packet is queued in the socket.
  h.fake.jump(60 * S); // the overdue countdown timer fires once, 20 s late
  h.raise("PowerRestored"); // the queued packet, read after the timer
  await h.advance(300);
  assert.equal(h.sequencer.phase, "idle", h.timeline.join(", "));
  assert.equal(h.os.calls.length, 0);
  const jump = h.events.find((e) => e.id === "ClockJumped");
  assert.match(jump?.message ?? "", /20 s late/);
  assert.ok(h.events.some((e) => e.id === "ShutdownCancelled"));
});

Deno.test("item 5: after a stall, a queued packet read before the overdue timer ran cancels it, and the stall is reported", async () => {
  const h = harness();
  h.raise("PowerFailed");
  await h.advance(80);
  // SIGSTOP at 80 s for 60 s; on waking, the queued packet is read before the countdown's timer runs.
  h.fake.setSystemTime(h.fake.now + 60 * S);
  h.raise("PowerRestored");
  await h.advance(300);
  assert.equal(h.sequencer.phase, "idle", h.timeline.join(", "));
  assert.equal(h.os.calls.length, 0);
  const ids = h.events.map((e) => e.id);
  assert.equal(ids.filter((id) => id === "ClockJumped").length, 1, ids.join(" "));
  assert.match(
    h.events.find((e) => e.id === "ClockJumped")!.message,
    /20 s late by the wall clock and its timer had not run/,
  );
  assert.ok(ids.indexOf("ClockJumped") < ids.indexOf("ShutdownCancelled"), ids.join(" "));
});

Deno.test("item 5: after a stall with the condition still holding, the countdown starts after the grace", async () => {
  const h = harness();
  h.raise("PowerFailed");
  await h.advance(80);
  h.fake.jump(60 * S);
  assert.equal(h.sequencer.phase, "idle", "not at once: the queue is read first");
  await h.advance(5);
  assert.equal(h.sequencer.phase, "running");
});

Deno.test("item 5: a wall clock set back does not delay a countdown whose own timer elapsed", async () => {
  const h = harness();
  h.raise("PowerFailed");
  await h.advance(60);
  h.fake.setSystemTime(h.fake.now - 3600 * S); // NTP steps the clock back one hour
  await h.advance(61);
  assert.equal(h.sequencer.phase, "running", "the 120 s elapsed on the timer");
  assert.match(h.events.find((e) => e.id === "ClockJumped")?.message ?? "", /back/);
});

Deno.test("item 5: the countdown timing rules (pure): on time, stalled, grace, clock forward and back", () => {
  const due = 100_000;
  assert.deepEqual(judgeCountdown({ dueAt: due, firedAt: due + 5 }, due + 5), { verdict: "due" });
  assert.equal(
    judgeCountdown({ dueAt: due }, due + 60_000).verdict,
    "waiting",
    "wall clock ahead, timer not run",
  );
  assert.match(judgeCountdown({ dueAt: due }, due + 60_000).jump ?? "", /60 s late by the wall clock/);
  const stalled = judgeCountdown({ dueAt: due, firedAt: due + 20_000 }, due + 20_000);
  assert.deepEqual([stalled.verdict, stalled.graceUntil], ["grace", due + 20_000 + STALL_GRACE_MS]);
  assert.match(stalled.jump ?? "", /ran 20 s late/);
  const after = judgeCountdown(
    { dueAt: due, firedAt: due + 20_000, graceUntil: stalled.graceUntil },
    due + 22_000,
  );
  assert.deepEqual(after, { verdict: "due" });
  const back = judgeCountdown({ dueAt: due, firedAt: due - 3600_000 }, due - 3600_000);
  assert.equal(back.verdict, "due");
  assert.match(back.jump ?? "", /3600 s before the wall-clock due time: the clock went back/);
});

Deno.test("OS step: when the first command fails and a later one works, OsShutdown names both", async () => {
  // Harmless commands stand in for `systemctl poweroff` (refused) and `shutdown -h now` (accepted).
  const os = new SystemExecutor(() => false, { reserveFds: 0 });
  const events: AgentEvent[] = [];
  const sequencer = new ShutdownSequencer({
    clock: systemClock,
    emit: (draft) => events.push(makeEvent(draft, Date.now())),
    os,
    runCommandFile: () => Promise.reject(new Error("no command file in this test")),
    turnOffUps: () => Promise.resolve({ ok: true }),
  });
  await sequencer.start({ eventId: "LowBattery", cards: [], reason: "test" }, {
    cards: [],
    turnOffUps: false,
    shutdownCommandFile: "",
    shutdownCommandFileDuration: 0,
    settleDelay: 0,
    osCommands: [["false"], ["true"]],
  });
  const down = events.find((e) => e.id === "OsShutdown");
  assert.ok(down, events.map((e) => e.id).join(", "));
  assert.match(down.message, /ran: true \(after: false exited with code 1/);
  assert.equal(sequencer.outcome?.result, "shut-down");
});
