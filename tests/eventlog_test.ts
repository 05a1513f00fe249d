/**
 * The event log file on a real file system: deleted or rotated away from
 * outside, bounded lines, generations kept through a burst, a full disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  EVENT_LINE_MAX_BYTES,
  EVENT_LOG_GENERATIONS,
  eventLogGenerations,
  type EventLogRecord,
  EventLogWriter,
  formatEventLine,
  readEventLog,
  readEventLogHistory,
} from "../src/events/eventlog.ts";
import { Agent } from "../src/agent/agent.ts";
import { type AgentEvent, type EventDraft, makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import type { OsShutdownExecutor } from "../src/shutdown/executor.ts";
import { NO_ACTIONS, startTestAgent, testConfig, waitUntil } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";

let clock = Date.parse("2026-01-01T00:00:00Z");
function event(draft: EventDraft, time = clock += 1000): AgentEvent {
  return makeEvent(draft, time);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-eventlog-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ids = (records: readonly EventLogRecord[]) => records.map((r) => r.id);

Deno.test("a deleted event log is recreated: the next event lands in a new file, with a marker", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 1024 * 1024);
    try {
      log.append(event({ id: "MonitoringStarted" }));
      await log.written(5000);
      await Deno.remove(path);
      log.append(event({ id: "PowerFailed", nmc: "10.0.0.5" }));
      await log.written(5000);
      const records = await readEventLog(path);
      assert.deepEqual(ids(records), ["EventLogReopened", "PowerFailed"]);
      assert.match(records[0].message, /deleted/);
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("rotated away by an outside tool (renamed, new file created): the next events go to the new file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 1024 * 1024);
    try {
      log.append(event({ id: "MonitoringStarted" }));
      await log.written(5000);
      await Deno.rename(path, `${path}-20260101`);
      await Deno.writeTextFile(path, "");
      log.append(event({ id: "PowerFailed" }));
      await log.written(5000);
      assert.deepEqual(ids(await readEventLog(path)), ["EventLogReopened", "PowerFailed"]);
      assert.deepEqual(ids(await readEventLog(`${path}-20260101`)), ["MonitoringStarted"]);
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("renamed away without a new file, then past the size limit: writes go on (no write fails)", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 16 * 1024, { flood: false });
    try {
      log.append(event({ id: "MonitoringStarted" }));
      await log.written(5000);
      await Deno.rename(path, join(dir, "elsewhere.jsonl"));
      for (let i = 0; i < 200; i++) {
        log.append(event({ id: "ConfigReloaded", note: `change ${i} ${"x".repeat(100)}` }));
      }
      await log.written(5000);
      const all = await readEventLogHistory(path);
      assert.ok(all.some((r) => r.id === "ConfigReloaded" && r.message.includes("change 199")));
      assert.equal(ids(all).filter((id) => id === "ConfigReloaded").length, 200);
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("truncated from outside (copytruncate): the size is followed, no needless rotation", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 16 * 1024, { flood: false });
    try {
      do {
        log.append(event({ id: "ConfigReloaded", note: "y".repeat(200) }));
        await log.written(5000);
      } while ((await Deno.stat(path)).size < 15 * 1024);
      await Deno.truncate(path, 0);
      log.append(event({ id: "PowerFailed", note: "p".repeat(1500) }));
      await log.written(5000);
      assert.deepEqual(ids(await readEventLog(path)), ["PowerFailed"]);
      await assert.rejects(Deno.stat(`${path}.1`), Deno.errors.NotFound, "nothing was rotated");
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("one event line is bounded: a 250 KB note is cut with a marker and stays valid JSON", () => {
  const huge = "A".repeat(250_000);
  const line = formatEventLine(
    event({ id: "LoginFailed", note: `user ${huge}`, details: { user: huge, n: 1 } }),
  );
  assert.ok(new TextEncoder().encode(line).length <= EVENT_LINE_MAX_BYTES, `${line.length} bytes`);
  const record = JSON.parse(line);
  assert.equal(record.id, "LoginFailed");
  assert.match(record.message, /^Web UI login failed: user AAAA/);
  assert.match(record.message, /\[\.\.\. \d+ characters truncated\]$/);
  assert.match(record.details.user, /characters truncated\]$/);
  assert.equal(record.details.n, 1);
  assert.ok(record.truncated > 500_000, "the original size is recorded");
  // Escaped control characters and many keys are bounded too.
  const keys = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, "\u0001".repeat(50)]));
  const many = formatEventLine(event({ id: "WebRequestFailed", details: keys }));
  assert.ok(new TextEncoder().encode(many).length <= EVENT_LINE_MAX_BYTES);
  assert.equal(JSON.parse(many).id, "WebRequestFailed");
  // A short event is written as it is.
  assert.equal(JSON.parse(formatEventLine(event({ id: "PowerFailed" }))).truncated, undefined);
});

Deno.test("rotation keeps the generations; dropping the oldest is said in the new file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 16 * 1024, { flood: false });
    try {
      log.append(event({ id: "MonitoringStarted", note: "the very first event" }));
      for (let i = 0; i < 1000; i++) {
        log.append(event({ id: "ConfigReloaded", note: `${i} ${"z".repeat(300)}` }));
      }
      await log.written(5000);
      const files = eventLogGenerations(path);
      assert.equal(files.length, EVENT_LOG_GENERATIONS + 1);
      for (const file of files) await Deno.stat(file);
      await assert.rejects(Deno.stat(`${path}.${EVENT_LOG_GENERATIONS + 1}`), Deno.errors.NotFound);
      const current = await readEventLog(path);
      assert.equal(current[0].id, "EventLogRotated");
      assert.match(current[0].message, new RegExp(`EventLog\\.jsonl\\.${EVENT_LOG_GENERATIONS}.* deleted`));
      const history = await readEventLogHistory(path);
      const reloads = history.filter((r) => r.id === "ConfigReloaded").map((r) =>
        Number(r.message.split(": ")[1].split(" ")[0])
      );
      assert.deepEqual(reloads, [...reloads].sort((a, b) => a - b), "oldest first, in order");
      assert.equal(reloads.at(-1), 999);
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("a burst of failed logins with huge user names cannot wipe the history; the dropped ones are counted", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 1024 * 1024);
    try {
      log.append(event({ id: "ShutdownStarting", note: "evidence the attacker wants gone" }));
      const t0 = clock += 1000;
      for (let i = 0; i < 10_000; i++) {
        log.append(event({ id: "LoginFailed", note: `user ${"u".repeat(250_000)}` }, t0 + i));
      }
      // Critical events always go through, even in the middle of a flood.
      log.append(event({ id: "LowBattery", nmc: "10.0.0.5" }, t0 + 10_001));
      // Later, after the flood: one more failed login gets through, with the count first.
      log.append(event({ id: "LoginFailed", note: "user late" }, t0 + 3_600_000));
      await log.written(5000);
      const history = await readEventLogHistory(path);
      assert.ok(
        history.some((r) => r.id === "ShutdownStarting"),
        "the event before the burst is still there",
      );
      assert.ok(history.some((r) => r.id === "LowBattery"));
      const written = history.filter((r) => r.id === "LoginFailed").length;
      assert.ok(written <= 200, `${written} LoginFailed lines written`);
      const notes = history.filter((r) => r.id === "EventsSuppressed");
      assert.ok(notes.length >= 2, "one line when suppression starts, one with the count");
      assert.match(notes[0].message, /LoginFailed/);
      const counted = notes.at(-1)!;
      assert.match(counted.message, /\d+ LoginFailed events were not written/);
      assert.equal(counted.details?.suppressed, 10_000 - (written - 1));
      assert.equal(history.at(-1)?.message, "Web UI login failed: user late");
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("suppressed events are counted at close too", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "EventLog.jsonl");
    const log = new EventLogWriter(path, 1024 * 1024);
    const t0 = clock += 1000;
    for (let i = 0; i < 500; i++) log.append(event({ id: "WebRequestFailed", note: `#${i}` }, t0 + i));
    assert.equal(await log.close(5000), true);
    const last = (await readEventLog(path)).at(-1)!;
    assert.equal(last.id, "EventsSuppressed");
    assert.match(last.message, /WebRequestFailed events were not written/);
  });
});

Deno.test("a missing directory does not stop the writer: appends fail clearly, then work when it exists; the gap is said", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "later", "EventLog.jsonl");
    const errors: string[] = [];
    const log = new EventLogWriter(path, 1024 * 1024, {
      onError: (e, lost) => errors.push(`${lost}: ${e.message}`),
    });
    try {
      log.append(event({ id: "MonitoringStarted" }));
      await log.written(5000);
      assert.equal(errors.length, 1);
      assert.match(errors[0], /^1: .*EventLog\.jsonl/);
      await Deno.mkdir(join(dir, "later"));
      log.append(event({ id: "PowerFailed" }));
      await log.written(5000);
      const records = await readEventLog(path);
      assert.deepEqual(ids(records), ["EventsNotLogged", "PowerFailed"]);
      assert.match(records[0].message, /1 events between .* are missing here: .*No such file/);
    } finally {
      await log.close(5000);
    }
  });
});

Deno.test("the running agent follows its event log when it is deleted", async () => {
  const a = await startTestAgent();
  try {
    await a.agent.eventLogWritten(5000);
    await Deno.remove(a.agent.eventLogPath);
    a.agent.emit({ id: "ConfigReloaded", note: "after the delete" });
    await a.agent.eventLogWritten(5000);
    const records = await readEventLog(a.agent.eventLogPath);
    assert.deepEqual(ids(records), ["EventLogReopened", "ConfigReloaded"]);
    assert.ok(
      a.logs.some((r) => r.level === "warn" && /EventLogReopened/.test(r.message)),
      "said in the log",
    );
  } finally {
    await a.close();
  }
});

Deno.test({
  name:
    "a full file system (real tmpfs): appends fail, no torn line survives, the log resumes when space is back",
  async fn(t) {
    await withDir(async (dir) => {
      const mounted = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
        stdout: "null",
        stderr: "null",
      }).output().then((o) => o.success, () => false);
      if (!mounted) {
        console.warn("skipped: cannot mount a tmpfs here (not root?)");
        return;
      }
      try {
        const path = join(dir, "EventLog.jsonl");
        const filler = join(dir, "filler");
        let failures = 0;
        let lost = 0;
        const log = new EventLogWriter(path, 1024 * 1024, {
          onError: (error, n) => {
            failures++;
            lost += n;
            assert.match(error.message, /No space left|os error 28/);
          },
        });
        log.append(event({ id: "MonitoringStarted" }));
        await log.written(5000);
        await Deno.writeFile(filler, new Uint8Array(60 * 1024)).catch(() => {});
        for (let i = 0; i < 100; i++) {
          log.append(event({ id: "ShutdownStarting", note: `${i} ${"f".repeat(900)}` }));
          await log.written(5000);
        }
        assert.ok(failures > 0, "the disk did fill up");
        await Deno.remove(filler);
        log.append(event({ id: "OsShutdown", note: "after space came back" }));
        assert.equal(await log.close(5000), true);
        const text = await Deno.readTextFile(path);
        const lines = text.split("\n").filter((l) => l !== "");
        const last = JSON.parse(lines.at(-1)!);
        assert.equal(last.id, "OsShutdown", "the line after the failure starts on a line of its own");
        const gap = JSON.parse(lines.at(-2)!);
        assert.equal(gap.id, "EventsNotLogged", "the lines lost to the full disk are counted before it");
        assert.equal(gap.details.lost, lost);
        await t.step("every line but a torn one is valid JSON", () => {
          const bad = lines.filter((l) => {
            try {
              JSON.parse(l);
              return false;
            } catch {
              return true;
            }
          });
          assert.ok(bad.length <= 1, `${bad.length} broken lines`);
        });
      } finally {
        await new Deno.Command("umount", { args: [dir] }).output();
      }
    });
  },
});

Deno.test("stopped (SIGTERM) by the OS shutdown it started, the agent logs OsShutdown before it stops", async () => {
  await withDir(async (dataDir) => {
    const base = testConfig();
    const config = {
      ...base,
      shutdown: { ...base.shutdown, settleDelay: 0 },
      events: { ...base.events, LowBattery: { ...NO_ACTIONS, enableShutdown: true } },
    };
    // Like `systemctl poweroff`: systemd's SIGTERM can arrive before the command has returned.
    const executor: OsShutdownExecutor = {
      dryRun: false,
      shutdown: (commands) =>
        new Promise((resolve) => setTimeout(() => resolve({ ok: true, command: commands[0] }), 300)),
    };
    const { logger } = memoryLogger();
    const agent = Agent.start({ config, dataDir, logger, executor, dryRun: false });
    agent.receive(statusPacket({ su: 100, status: 0x08 }));
    agent.receive(statusPacket({ su: 200, status: 0x50 }));
    await waitUntil(() => agent.status().shutdown.step === "OS shutdown", "the OS step");
    await agent.stop();
    const log = ids(await readEventLog(agent.eventLogPath));
    assert.ok(log.includes("OsShutdown"), log.join(", "));
    assert.ok(log.indexOf("OsShutdown") < log.indexOf("MonitoringStopped"), log.join(", "));
  });
});

Deno.test("eventlog: a symbolic link planted as the event log is never written through", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-eventlog-link-" });
  try {
    const target = join(dir, "target.txt");
    await Deno.writeTextFile(target, "precious\n");
    await Deno.symlink(target, join(dir, "EventLog.jsonl"));
    const errors: string[] = [];
    const writer = new EventLogWriter(join(dir, "EventLog.jsonl"), 1 << 20, {
      onError: (error) => errors.push(error.message),
    });
    writer.append(makeEvent({ id: "MonitoringStarted" }, Date.now()));
    await writer.close(5000);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /symbolic link/);
    assert.equal(await Deno.readTextFile(target), "precious\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
