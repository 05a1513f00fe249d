/**
 * A system log that stops reading: under systemd the agent's stderr is a pipe to journald, and a journald
 * whose own disk hangs (a dying SD card) stops reading it. The pipe fills after 64 KiB; before the log was
 * written off the event loop, the agent then froze in its next write, and low battery did nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { lineQueue } from "../src/log/stderr.ts";
import { loopbackIni } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { spawnDryRunAgent } from "./helpers/process.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const ON_LINE = 0x08, ON_BATTERY = 0x10, LOW_BATTERY = 0x50;

Deno.test("a system log that stops reading the agent's stderr: the shutdown still reaches its OS step, the lines follow when it reads again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-stderr-stall-" });
  const port = freePort("udp");
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(config, loopbackIni(port, ["[Shutdown]", "settleDelay = 1"]));
  const child = spawnDryRunAgent(config); // its stderr is not read until the end: it fills as journald's would
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  let su = 2_000;
  const send = (status: number) =>
    sender.send(statusPacket({ sr: 5, su: su++, status }), { transport: "udp", hostname: "127.0.0.1", port });
  const log = () => readEventLog(join(dir, "EventLog.jsonl")).catch(() => []);
  const has = async (id: string) => (await log()).some((r) => r.id === id);
  let exit: Deno.CommandStatus | undefined;
  let text = "";
  try {
    await waitUntilAsync(
      async () => {
        await send(ON_LINE);
        return await has("CommunicationEstablished");
      },
      "the agent to hear the card",
      20_000,
    );
    // Some 600 events, over 64 KiB of log lines nobody reads: the pipe is full.
    for (let i = 0; i < 300; i++) {
      await send(ON_BATTERY);
      await send(ON_LINE);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const sentAt = performance.now();
    await send(LOW_BATTERY);
    await waitUntilAsync(() => has("OsShutdown"), "the OS shutdown step with a full stderr pipe", 10_000);
    const seconds = (performance.now() - sentAt) / 1000;
    assert.ok(seconds < 4, `low battery -> OS step took ${seconds.toFixed(1)} s (settle delay 1 s)`);
    // The system log reads again: everything comes out, in order, the stop's own line last.
    const reading = new Response(child.stderr).text();
    child.kill("SIGTERM");
    exit = await child.status;
    text = await reading;
  } finally {
    if (!exit) {
      child.kill("SIGKILL");
      await child.status;
    }
    sender.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(exit.code, 0, text.slice(-2000));
  const lines = text.split("\n").filter((l) => l !== "");
  assert.ok(lines.filter((l) => /PowerFailed:/.test(l)).length >= 250, `${lines.length} lines`);
  const order = ["LowBattery:", "OsShutdown:", "SIGTERM received: stopping", "MonitoringStopped:"].map((s) =>
    lines.findIndex((l) => l.includes(s))
  );
  assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1])), `${order}`);
});

Deno.test("the stderr queue: in order, bounded while nothing is taken, the drop count said where the gap is", async () => {
  const written: string[] = [];
  let release: () => void = () => {};
  let blocked = true;
  const gate = new Promise<void>((resolve) => release = resolve);
  const queue = lineQueue(async (bytes) => {
    if (blocked) await gate;
    written.push(new TextDecoder().decode(bytes));
    return bytes.length;
  }, 1000);
  queue.push("first\n"); // taken at once: this write now waits for the reader
  for (let i = 0; i < 100; i++) queue.push(`line ${String(i).padStart(3, "0")} ${"x".repeat(40)}\n`);
  assert.equal(await queue.flushed(100), false, "nothing is taken");
  blocked = false;
  release();
  assert.equal(await queue.flushed(2000), true);
  const lines = written.join("").split("\n").filter((l) => l !== "");
  assert.equal(lines[0], "first");
  // The count stands where the dropped lines would have been: after the kept ones.
  assert.match(lines.at(-1)!, /^\d+ log lines were dropped/);
  const kept = lines.slice(1, -1);
  const dropped = Number(lines.at(-1)!.split(" ")[0]);
  assert.equal(kept.length + dropped, 100);
  assert.ok(kept.length > 10 && kept.length < 25, `${kept.length} kept within 1000 bytes`);
  assert.deepEqual(kept, [...kept].sort(), "in order");
  assert.equal(kept[0].startsWith("line 000"), true, "the oldest are kept, the newest dropped");
});
