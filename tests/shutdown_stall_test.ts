/**
 * A stalled agent (SIGSTOP: a VM pause, a swap storm) with power back in the
 * meantime: on SIGCONT the overdue countdown must not win over the queued
 * "on line" packets. A real `run --dry-run` child on loopback; the timeline
 * is printed for the issue notes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type EventLogRecord, readEventLog } from "../src/events/eventlog.ts";
import { feedUntil, mainCommand } from "./fixtures/service/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { waitUntilAsync } from "./helpers/wait.ts";
import { loopbackIni } from "./helpers/agent.ts";

const DELAY_S = 4;

async function writeConfig(dir: string, udpPort: number): Promise<string> {
  const path = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    path,
    loopbackIni(udpPort, [
      "[Shutdown]",
      "settleDelay = 1",
      "[Events]",
      `event_PowerFailed_shutdownDelay = ${DELAY_S}`,
    ]),
    { mode: 0o600 },
  );
  return path;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "item 5: SIGSTOP with a countdown pending, power back meanwhile, SIGCONT: no shutdown (real child)",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-stall-" });
    const udp = freePort("udp");
    const config = await writeConfig(dir, udp);
    const child = mainCommand(["run", "--dry-run", "--no-web", "--config", config], { stdout: "null" })
      .spawn();
    const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    const logPath = join(dir, "EventLog.jsonl");
    const marks: [string, number][] = [];
    const mark = (what: string) => marks.push([what, Date.now()]);
    try {
      let su = await feedUntil(dir, udp);
      const send = (status: number) =>
        socket.send(statusPacket({ su: su++, status }), {
          transport: "udp",
          hostname: "127.0.0.1",
          port: udp,
        });
      const log = () => readEventLog(logPath);
      const has = async (id: string) => (await log()).some((r) => r.id === id);

      // 1. On battery: a 4 s countdown starts.
      await send(0x10);
      mark("on battery sent");
      await waitUntilAsync(() => has("ShutdownPending"), "the countdown");
      // 2. Stall the agent; the power comes back while it cannot run.
      child.kill("SIGSTOP");
      mark("SIGSTOP");
      await sleep(1000);
      for (let i = 0; i < 3; i++) await send(0x08);
      mark("on line sent (x3, queued)");
      await sleep(DELAY_S * 1000 + 3000); // well past the countdown's due time
      child.kill("SIGCONT");
      mark("SIGCONT");
      await waitUntilAsync(() => has("PowerRestored"), "the queued packets to be read");
      await sleep(3000); // the grace, the settle delay: anything that would run has run
      mark("checked");

      // 3. Both packets while stalled, nothing pending before: nothing either.
      child.kill("SIGSTOP");
      await send(0x10);
      await send(0x08);
      await sleep(DELAY_S * 1000 + 1000);
      child.kill("SIGCONT");
      await sleep(3000);

      const records = await log();
      const t0 = marks[0][1];
      const rel = (t: number) => `+${((t - t0) / 1000).toFixed(3)} s`;
      const timeline = [
        ...marks.map(([what, t]) => ({ t, line: `${rel(t)} test: ${what}` })),
        ...records.filter((r: EventLogRecord) => Date.parse(r.time) >= t0 - 1000)
          .map((r) => ({
            t: Date.parse(r.time),
            line: `${rel(Date.parse(r.time))} agent: ${r.id}: ${r.message}`,
          })),
      ].sort((a, b) => a.t - b.t).map((x) => x.line);
      console.log(`timeline:\n  ${timeline.join("\n  ")}`);

      const ids = records.map((r) => r.id);
      assert.equal(ids.includes("ShutdownStarting"), false, ids.join(" "));
      assert.equal(ids.includes("OsShutdown"), false);
      assert.ok(ids.includes("ShutdownCancelled"));
      const jump = records.find((r) => r.id === "ClockJumped");
      assert.ok(jump, "the stall is reported");
      const late = Number(/(\d+(?:\.\d+)?) s late/.exec(jump.message)?.[1]);
      assert.ok(late >= 3 && late <= 15, `measured ${late} s late: ${jump.message}`);
    } finally {
      socket.close();
      try {
        child.kill("SIGCONT");
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const status = await Promise.race([child.status, sleep(5000).then(() => undefined)]);
      if (!status) child.kill("SIGKILL");
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
