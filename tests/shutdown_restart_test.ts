/**
 * Restarts of a real Agent (fake clock, real data directory): what a previous
 * run left in pending-shutdown.json is resumed only by the resumption rules
 * (README "Shutdown rules"): a finished sequence never, a rehearsal never in
 * a real run (and back), an interrupted real sequence only if the card still
 * reports the condition or the UPS turn-off was already sent in this boot.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { readEventLog } from "../src/events/eventlog.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import type { OsShutdownExecutor, OsShutdownResult } from "../src/shutdown/executor.ts";
import type { PersistedShutdownState } from "../src/shutdown/persist.ts";
import { type ResumeContext, resumeDecision } from "../src/shutdown/resume.ts";
import { fakeClock } from "./helpers/clock.ts";
import { testConfig } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";

const ON_LINE = 0x08, ON_BATTERY = 0x10, LOW_BATTERY = 0x50;
const S = 1000;

/** An OS-shutdown executor that is not a dry run but only records (the test never powers anything off). */
class FakeRealExecutor implements OsShutdownExecutor {
  readonly dryRun = false;
  readonly calls: number[] = [];
  constructor(readonly now: () => number, readonly result: Partial<OsShutdownResult> = {}) {}
  shutdown(commands: readonly (readonly string[])[]): Promise<OsShutdownResult> {
    this.calls.push(this.now());
    return Promise.resolve({ ok: true, command: commands[0] ?? [], ...this.result });
  }
}

/** One data directory and one fake clock shared by the agents started on it, one after the other. */
async function site() {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-shutdown-restart-" });
  const { fake, clock } = fakeClock();
  let su = 10;
  const started: Agent[] = [];
  const start = (o: { dryRun: boolean; bootId?: string; turnOffUps?: boolean }) => {
    const base = testConfig();
    const config = { ...base, shutdown: { ...base.shutdown, turnOffUps: o.turnOffUps ?? false } };
    const executor = new FakeRealExecutor(() => fake.now);
    const turnOffs: number[] = [];
    const events: AgentEvent[] = [];
    const agent = Agent.start({
      config,
      dataDir,
      logger: memoryLogger().logger,
      clock,
      dryRun: o.dryRun,
      // A real run gets a non-recording executor (a fake that records all the same).
      executor: o.dryRun ? undefined : executor,
      bootId: o.bootId ?? "boot-1",
      ports: {
        turnOffUps: () => {
          turnOffs.push(fake.now);
          return Promise.resolve({ ok: true, detail: "accepted" });
        },
        runCommandFile: () =>
          Promise.resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: 0 }),
        notify: () => {},
      },
    });
    agent.bus.subscribe((e) => events.push(e));
    started.push(agent);
    return {
      agent,
      executor,
      turnOffs,
      events,
      send: (status: number) => agent.receive(statusPacket({ su: su++, status })),
      /** The event log of this data directory (every agent so far), as ids. */
      log: async () => {
        for (const a of started) assert.ok(await a.eventLogWritten(5000), "the event log's writes finished");
        return await readEventLog(join(dataDir, "EventLog.jsonl"));
      },
    };
  };
  const tick = (seconds: number) => fake.tickAsync(seconds * S);
  const pending = async () => {
    for (const a of started) assert.ok(await a.stateSaved(5000), "the state file's writes finished");
    try {
      return JSON.parse(await Deno.readTextFile(join(dataDir, "pending-shutdown.json")));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  };
  const close = async () => {
    for (const a of started) await a.stop();
    await Deno.remove(dataDir, { recursive: true });
  };
  return { dataDir, fake, start, tick, pending, close };
}

/** Ids logged after the last MonitoringStarted (the current agent's own events). */
function sinceLastStart(log: { id: string; message: string }[]) {
  const i = log.findLastIndex((r) => r.id === "MonitoringStarted");
  return log.slice(i);
}

Deno.test("item 1: a finished (dry-run) sequence is never written back nor run again after a restart", async () => {
  const s = await site();
  try {
    const first = s.start({ dryRun: true });
    first.send(ON_LINE);
    first.send(LOW_BATTERY);
    await s.tick(50);
    first.send(LOW_BATTERY);
    await s.tick(21);
    assert.ok(first.events.some((e) => e.id === "OsShutdown"), "the rehearsal ran to its end");
    // Then the card falls silent (mains back, the card rebooting...): CommunicationLost 55 s later.
    await s.tick(120);
    assert.ok(first.events.some((e) => e.id === "CommunicationLost"));
    const left = await s.pending();
    assert.equal(left?.sequence, undefined, `no finished sequence persisted: ${JSON.stringify(left)}`);
    await first.agent.stop();

    await s.tick(5);
    const second = s.start({ dryRun: true });
    const atStart = sinceLastStart(await second.log());
    assert.equal(atStart.some((r) => /runs again now/.test(r.message)), false, JSON.stringify(atStart));
    assert.equal(atStart.some((r) => r.id === "ShutdownStarting"), false);
    second.send(ON_LINE);
    await s.tick(300);
    assert.equal(second.events.some((e) => e.id === "ShutdownStarting" || e.id === "OsShutdown"), false);
  } finally {
    await s.close();
  }
});

Deno.test("item 2: a sequence begun in a dry run is never resumed by a real run, and back", async () => {
  for (const [firstDry, secondDry] of [[true, false], [false, true]]) {
    const s = await site();
    try {
      const first = s.start({ dryRun: firstDry });
      first.send(ON_LINE);
      first.send(LOW_BATTERY);
      await s.tick(10); // in the settle delay: the sequence is running
      assert.equal(first.agent.status().shutdown.phase, "running");
      const saved = await s.pending();
      assert.equal(saved?.dryRun, firstDry, "the persisted state says whether it was a rehearsal");
      await first.agent.stop();

      const second = s.start({ dryRun: secondDry });
      await s.tick(1);
      second.send(LOW_BATTERY); // even with the card still reporting low battery: a fresh decision
      const own = sinceLastStart(await second.log());
      const dropped = own.find((r) => r.id === "CountdownDropped");
      assert.ok(dropped, `${firstDry} -> ${secondDry}: ${JSON.stringify(own.map((r) => r.id))}`);
      assert.match(dropped.message, firstDry ? /dry run/ : /real run/);
      assert.equal(own.some((r) => r.id === "CountdownResumed"), false);
      // The low battery reported now starts its own sequence, with its own (fresh) ShutdownStarting.
      const starting = own.filter((r) => r.id === "ShutdownStarting");
      assert.equal(starting.length, 1);
      assert.ok(own.indexOf(starting[0]) > own.findIndex((r) => r.id === "LowBattery"));
    } finally {
      await s.close();
    }
  }
});

Deno.test("item 7: an interrupted real sequence, card back on line after the restart: dropped, nothing runs", async () => {
  const s = await site();
  try {
    const first = s.start({ dryRun: false });
    first.send(ON_LINE);
    first.send(LOW_BATTERY);
    await s.tick(10);
    await first.agent.stop(); // e.g. killed during the settle delay

    const second = s.start({ dryRun: false });
    const atStart = sinceLastStart(await second.log());
    assert.equal(atStart.some((r) => r.id === "ShutdownStarting"), false, "nothing before the card speaks");
    assert.match(atStart.find((r) => r.id === "CountdownResumed")?.message ?? "", /if the NMC still reports/);
    second.send(ON_LINE);
    await s.tick(300);
    const dropped = second.events.filter((e) => e.id === "CountdownDropped").map((e) => e.message);
    assert.ok(dropped.some((m) => /no longer reported by the NMC/.test(m)), JSON.stringify(dropped));
    assert.deepEqual(second.executor.calls, []);
    assert.equal(await s.pending(), undefined, "nothing stays persisted");
  } finally {
    await s.close();
  }
});

Deno.test("item 7: an interrupted real sequence resumes when the card still reports the condition", async () => {
  const s = await site();
  try {
    const first = s.start({ dryRun: false });
    first.send(ON_LINE);
    first.send(LOW_BATTERY);
    await s.tick(10);
    await first.agent.stop();

    await s.tick(3);
    const second = s.start({ dryRun: false });
    await s.tick(2);
    second.send(LOW_BATTERY);
    await s.tick(71);
    const ids = second.events.map((e) => e.id);
    assert.ok(ids.indexOf("ShutdownStarting") > ids.indexOf("LowBattery"), ids.join(" "));
    assert.equal(second.executor.calls.length, 1);
  } finally {
    await s.close();
  }
});

Deno.test("item 7: turn-off already sent: resumes at once in the same boot (not sent again), dropped after a reboot", async () => {
  for (const sameBoot of [true, false]) {
    const s = await site();
    try {
      const first = s.start({ dryRun: false, turnOffUps: true, bootId: "boot-1" });
      first.send(ON_LINE);
      first.send(LOW_BATTERY);
      await s.tick(10);
      assert.equal(first.turnOffs.length, 1);
      assert.ok(
        typeof (await s.pending())?.sequence?.turnOffSentAt === "number",
        "the turn-off is persisted",
      );
      await first.agent.stop();

      const second = s.start({ dryRun: false, turnOffUps: true, bootId: sameBoot ? "boot-1" : "boot-2" });
      await s.tick(71); // the card is silent (the UPS is going down)
      if (sameBoot) {
        const own = sinceLastStart(await second.log());
        assert.match(own.find((r) => r.id === "CountdownResumed")?.message ?? "", /turn-off was sent/);
        assert.equal(second.executor.calls.length, 1, "the OS goes down: the UPS will cut the power anyway");
        assert.equal(second.turnOffs.length, 0, "the turn-off is not sent a second time");
      } else {
        const own = sinceLastStart(await second.log());
        assert.match(own.find((r) => r.id === "CountdownDropped")?.message ?? "", /restarted since/);
        assert.deepEqual(second.executor.calls, []);
      }
    } finally {
      await s.close();
    }
  }
});

Deno.test("item 7: an interrupted real sequence and a silent card: dropped at CommunicationLost", async () => {
  const s = await site();
  try {
    const first = s.start({ dryRun: false });
    first.send(ON_LINE);
    first.send(ON_BATTERY);
    await s.tick(121); // on battery 120 s: the sequence starts
    assert.equal(first.agent.status().shutdown.phase, "running");
    await first.agent.stop();

    const second = s.start({ dryRun: false });
    await s.tick(200);
    assert.ok(second.events.some((e) => e.id === "CommunicationLost"));
    const dropped = second.events.filter((e) => e.id === "CountdownDropped").map((e) => e.message);
    assert.ok(dropped.some((m) => /not heard/.test(m)), JSON.stringify(dropped));
    assert.deepEqual(second.executor.calls, []);
  } finally {
    await s.close();
  }
});

Deno.test("item 7: the resumption rules (pure), one case each", () => {
  const trigger = { eventId: "LowBattery", cards: ["10.0.0.5"], reason: "LowBattery on 10.0.0.5" };
  const base = { version: 2 as const, savedAt: 0, bootId: "b1", active: [], countdowns: [] };
  const real: ResumeContext = { dryRun: false, bootId: "b1" };
  const kind = (state: PersistedShutdownState, context = real) => {
    const d = resumeDecision(state, context);
    return d.kind === "drop" ? `drop: ${d.reason}` : d.kind;
  };
  const sequence = { startedAt: 0, trigger };
  assert.equal(kind({ ...base, dryRun: false }), "nothing");
  assert.match(kind({ ...base, version: 1, sequence } as PersistedShutdownState), /older version/);
  assert.match(kind({ ...base, dryRun: true, sequence }), /drop: .*dry run.*a real run never/);
  assert.match(
    kind({ ...base, dryRun: false, sequence }, { dryRun: true, bootId: "b1" }),
    /written by a real run/,
  );
  assert.match(
    kind({ ...base, dryRun: true, sequence }, { dryRun: true, bootId: "b1" }),
    /a rehearsal is never resumed/,
  );
  assert.equal(kind({ ...base, dryRun: false, sequence }), "await-card");
  assert.equal(kind({ ...base, dryRun: false, sequence: { ...sequence, turnOffSentAt: 5 } }), "run-now");
  assert.match(
    kind({ ...base, dryRun: false, sequence: { ...sequence, turnOffSentAt: 5 } }, {
      dryRun: false,
      bootId: "b2",
    }),
    /host restarted since the UPS turn-off was sent/,
  );
  assert.equal(
    kind({ ...base, dryRun: false, sequence: { ...sequence, turnOffSentAt: 5 } }, { dryRun: false }),
    "await-card",
    "boot unknown: only the card can confirm",
  );
});
