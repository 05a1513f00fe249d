/**
 * A full or read-only data directory never stops the shutdown: persisting
 * pending-shutdown.json is best effort (a StateNotSaved event and a log
 * line), and no listener error stops another listener or the process.
 * The real-filesystem test mounts a 64 KiB tmpfs (skipped where mount is not
 * permitted).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { EventBus } from "../src/events/bus.ts";
import { type AgentEvent, makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { ShutdownStateFile } from "../src/shutdown/persist.ts";
import { fakeClock } from "./helpers/clock.ts";
import { testConfig } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";

Deno.test("item 4: a throwing listener, and a throwing error handler, stop neither the others nor publish()", () => {
  const seen: string[] = [];
  const bus = new EventBus(() => {
    throw new Error("the logger itself failed (EPIPE)");
  });
  bus.subscribe(() => {
    throw new Error("No space left on device (os error 28)");
  });
  bus.subscribe((e) => {
    seen.push(e.id);
    if (e.id === "PowerFailed") bus.publish(makeEvent({ id: "ShutdownPending" }, 1));
  });
  assert.doesNotThrow(() => bus.publish(makeEvent({ id: "PowerFailed", nmc: "10.0.0.1" }, 0)));
  assert.doesNotThrow(() => bus.publish(makeEvent({ id: "LowBattery", nmc: "10.0.0.1" }, 2)));
  assert.deepEqual(seen, ["PowerFailed", "ShutdownPending", "LowBattery"]);
});

Deno.test("the bus: a subscribeLast listener (the event log) hears each event after all others, in publish order", () => {
  const heard: string[] = [];
  const bus = new EventBus();
  bus.subscribeLast((e) => heard.push(`log ${e.id}`));
  bus.subscribe((e) => {
    heard.push(`act ${e.id}`);
    if (e.id === "PowerFailed") bus.publish(makeEvent({ id: "ShutdownPending" }, 1));
  });
  const stop = bus.subscribe((e) => heard.push(`late ${e.id}`)); // added after the last listener
  bus.publish(makeEvent({ id: "PowerFailed", nmc: "10.0.0.1" }, 0));
  stop();
  bus.publish(makeEvent({ id: "LowBattery", nmc: "10.0.0.1" }, 2));
  assert.deepEqual(heard, [
    "act PowerFailed",
    "late PowerFailed",
    "log PowerFailed",
    "act ShutdownPending",
    "late ShutdownPending",
    "log ShutdownPending",
    "act LowBattery",
    "log LowBattery",
  ]);
});

Deno.test("item 4: a failed save names the file and the OS error; clearing what is not there is fine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-disk-" });
  try {
    const file = new ShutdownStateFile(join(dir, "missing-dir", "pending-shutdown.json"));
    const failed = await new Promise<Error | undefined>((resolve) =>
      file.save({ version: 2, savedAt: 0, dryRun: true, active: [], countdowns: [] }, resolve)
    );
    assert.match(
      failed?.message ?? "",
      /cannot write .*missing-dir\/pending-shutdown\.json: No such file or directory/,
    );
    assert.equal(await new Promise((resolve) => file.clear(resolve)), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function run(command: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
    return { ok: out.success, text: new TextDecoder().decode(out.stderr).trim() };
  } catch (error) {
    return { ok: false, text: (error as Error).message };
  }
}

/** Fills the file system under `dir` until ENOSPC. */
async function fill(dir: string): Promise<void> {
  const file = await Deno.open(join(dir, "filler"), { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    for (;;) await file.write(chunk);
  } catch (error) {
    if (!/No space left/i.test((error as Error).message)) throw error;
  } finally {
    file.close();
  }
}

function startAgent(dataDir: string, clock: ReturnType<typeof fakeClock>["clock"]) {
  const executor = new RecordingExecutor(() => clock.now());
  const { logger, records } = memoryLogger();
  const agent = Agent.start({ config: testConfig(), dataDir, logger, clock, dryRun: true, executor });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  return { agent, executor, events, logs: records };
}

Deno.test({
  name:
    "item 4: on a real full (ENOSPC) and read-only (EROFS) tmpfs the sequence still runs to the OS shutdown",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-tmpfs-" });
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir]);
    if (!mounted.ok) {
      console.log(`skipped: cannot mount a tmpfs here (${mounted.text})`);
      await Deno.remove(dir, { recursive: true });
      return;
    }
    try {
      await t.step("ENOSPC: low battery starts the sequence and the OS shutdown is reached", async () => {
        const { fake, clock } = fakeClock();
        const a = startAgent(dir, clock);
        try {
          await fill(dir);
          a.agent.receive(statusPacket({ su: 10, status: 0x08 }));
          a.agent.receive(statusPacket({ su: 11, status: 0x50 }));
          await fake.tickAsync(71_000);
          assert.equal(a.executor.calls.length, 1, a.events.map((e) => e.id).join(" "));
          assert.ok(await a.agent.stateSaved(5000), "the failed writes are over"); // in the background
          const notSaved = a.events.find((e) => e.id === "StateNotSaved");
          assert.match(notSaved?.message ?? "", /No space left on device/);
          assert.equal(
            [...Deno.readDirSync(dir)].some((e) => e.name.endsWith(".tmp")),
            false,
            "a failed save leaves no temporary file taking the space",
          );
          assert.ok(
            a.logs.some((r) => /StateNotSaved/.test(r.message)),
            "and a log line (the event log itself cannot be written either)",
          );
        } finally {
          await a.agent.stop();
          await Deno.remove(join(dir, "filler")).catch(() => {});
        }
      });

      await t.step(
        "EROFS: an on-battery countdown expiring (a timer) and a re-established card crash nothing",
        async () => {
          await Deno.remove(join(dir, "pending-shutdown.json")).catch(() => {});
          const { fake, clock } = fakeClock();
          const a = startAgent(dir, clock);
          try {
            // A read-only bind mount over the data directory: the event log already open keeps writing
            // through the mount below, every new write of the state file gets EROFS.
            assert.ok(await a.agent.eventLogWritten(5000), "the event log is open");
            const bind = await run("mount", ["--bind", dir, dir]);
            assert.ok(bind.ok, bind.text);
            const ro = await run("mount", ["-o", "remount,bind,ro", dir]);
            assert.ok(ro.ok, ro.text);
            a.agent.receive(statusPacket({ su: 10, status: 0x10 }));
            await fake.tickAsync(60_000); // silent card: CommunicationLost at 55 s
            a.agent.receive(statusPacket({ su: 11, status: 0x10 })); // re-established
            await fake.tickAsync(61_000 + 71_000); // countdown (120 s) expires, settle delay
            assert.equal(a.executor.calls.length, 1, a.events.map((e) => e.id).join(" "));
            assert.ok(await a.agent.stateSaved(5000), "the failed writes are over");
            assert.match(
              a.events.find((e) => e.id === "StateNotSaved")?.message ?? "",
              /Read-only file system/,
            );
          } finally {
            await a.agent.stop();
            await run("umount", [dir]); // the read-only bind mount
          }
        },
      );
    } finally {
      const un = await run("umount", [dir]);
      if (!un.ok) await run("umount", ["-l", dir]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
