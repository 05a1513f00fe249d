/**
 * An event log on a disk that hangs instead of failing (a dying SD card, a hard-mounted NFS share gone with
 * the power). The stall is made real for the agent: its event log is a named pipe nobody reads yet, so
 * opening it for writing blocks in the kernel as a hung disk does. Before the event log was written off the
 * event loop, the agent froze at its very first event and never even heard the card.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EventLogWriter } from "../src/events/eventlog.ts";
import { makeEvent } from "../src/events/types.ts";
import { loopbackIni } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { collect, spawnDryRunAgent } from "./helpers/process.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const ON_LINE = 0x08, LOW_BATTERY = 0x50;

/** The ids of the JSON lines in `text`, in order. */
const idsIn = (text: string) =>
  text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l).id as string);

Deno.test("an event log whose disk does not answer: the card is heard, the shutdown reaches its OS step, the lines come out in order when the disk answers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-eventlog-stall-" });
  const port = freePort("udp");
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(config, loopbackIni(port, ["[Shutdown]", "settleDelay = 1"]));
  const pipe = join(dir, "EventLog.jsonl");
  const made = await new Deno.Command("mkfifo", { args: [pipe] }).output();
  assert.ok(made.success, `mkfifo ${pipe}`);
  const child = spawnDryRunAgent(config);
  const journal = collect(child.stderr);
  const said = (pattern: RegExp) => Promise.resolve(pattern.test(journal.text()));
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const send = (status: number, su: number) =>
    sender.send(statusPacket({ sr: 5, su, status }), { transport: "udp", hostname: "127.0.0.1", port });
  let reader: Deno.FsFile | undefined;
  let exit: Deno.CommandStatus | undefined;
  try {
    let su = 2_000;
    await waitUntilAsync(
      async () => {
        await send(ON_LINE, su++);
        return await said(/CommunicationEstablished:/);
      },
      "the agent to hear the card (its event log does not answer)",
      20_000,
    );
    const sentAt = performance.now();
    await send(LOW_BATTERY, su++);
    await waitUntilAsync(
      () => said(/OsShutdown:/),
      "the OS shutdown step (dry run) despite the hung event log",
      10_000,
    );
    const seconds = (performance.now() - sentAt) / 1000;
    assert.ok(seconds < 4, `low battery -> OS step took ${seconds.toFixed(1)} s (settle delay 1 s)`);
    // A write that has not finished after 10 s is reported, naming the file.
    await waitUntilAsync(() => said(/DataDiskStalled:.*EventLog\.jsonl/), "the stall report", 15_000);

    // The disk answers: every event since the start comes out, in order, without a gap.
    reader = await Deno.open(pipe, { read: true });
    const log = collect(reader.readable);
    await waitUntilAsync(
      () => Promise.resolve(/"DataDiskStalled"/.test(log.text())),
      "the waiting lines once the disk answers",
      10_000,
    );
    child.kill("SIGTERM");
    exit = await child.status;
    await log.done;
    reader = undefined; // closed with its stream
    const ids = idsIn(log.text());
    assert.equal(ids[0], "MonitoringStarted", ids.join(", "));
    for (const id of ["CommunicationEstablished", "LowBattery", "ShutdownStarting", "OsShutdown"]) {
      assert.ok(ids.includes(id), `${id} in ${ids.join(", ")}`);
    }
    assert.ok(ids.indexOf("LowBattery") < ids.indexOf("OsShutdown"), ids.join(", "));
    assert.ok(!ids.includes("EventsNotLogged"), "nothing was lost");
    assert.equal(ids.at(-1), "MonitoringStopped", ids.join(", "));
  } finally {
    if (!exit) {
      child.kill("SIGKILL");
      await child.status;
    }
    reader?.close();
    sender.close();
    await journal.done;
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(exit.code, 0, journal.text().slice(-2000));
});

Deno.test("an event log that never answers does not hold up a stop: SIGTERM ends the agent within seconds, saying so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-eventlog-stop-" });
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(config, loopbackIni(freePort("udp")));
  const pipe = join(dir, "EventLog.jsonl");
  assert.ok((await new Deno.Command("mkfifo", { args: [pipe] }).output()).success);
  const child = spawnDryRunAgent(config);
  const journal = collect(child.stderr);
  let exit: Deno.CommandStatus | undefined;
  try {
    await waitUntilAsync(
      () => Promise.resolve(/MonitoringStarted:/.test(journal.text())),
      "the start",
      20_000,
    );
    const stopAt = performance.now();
    child.kill("SIGTERM");
    exit = await child.status;
    const seconds = (performance.now() - stopAt) / 1000;
    assert.ok(seconds < 9, `the stop took ${seconds.toFixed(1)} s`);
  } finally {
    if (!exit) {
      child.kill("SIGKILL");
      await child.status;
    }
    await journal.done;
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(exit.code, 0, journal.text().slice(-2000));
  assert.match(journal.text(), /did not take its last lines within 5 s: stopping without them/);
});

/** `fn` with a writer whose log file was fine, then became a named pipe nobody reads (the disk hangs). */
async function withHungLog(
  options: ConstructorParameters<typeof EventLogWriter>[2],
  fn: (writer: EventLogWriter, answer: () => Promise<string>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-eventlog-hang-" });
  const path = join(dir, "EventLog.jsonl");
  const writer = new EventLogWriter(path, 1 << 20, { flood: false, ...options });
  let reader: Promise<string> | undefined;
  // The disk answers: read the pipe until the writer closes it.
  const answer = () =>
    reader ??= Deno.open(path, { read: true }).then((f) => new Response(f.readable).text());
  try {
    writer.append(makeEvent({ id: "MonitoringStarted" }, Date.now()));
    assert.equal(await writer.written(5000), true);
    await Deno.remove(path);
    assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success);
    await fn(writer, answer);
  } finally {
    const text = answer(); // never leave the writer's open(2) hanging
    await writer.close(5000);
    await text;
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a hung event log: appends never wait, the stall is told once, a bounded wait says false, the lines come out in order", async () => {
  const stalls: string[] = [];
  await withHungLog(
    { stallMs: 200, onStall: (path, ms) => stalls.push(`${path} ${ms}`) },
    async (writer, answer) => {
      const t0 = Date.now();
      const started = performance.now();
      for (let i = 0; i < 100; i++) writer.append(makeEvent({ id: "ConfigReloaded", note: `#${i}` }, t0 + i));
      writer.append(makeEvent({ id: "LowBattery", nmc: "10.0.0.5" }, t0 + 100));
      const took = performance.now() - started;
      assert.ok(took < 250, `101 appends to a hung log took ${took.toFixed(0)} ms`);
      assert.equal(await writer.written(500), false, "the disk does not answer");
      assert.equal(stalls.length, 1, stalls.join("; "));
      assert.match(stalls[0], /EventLog\.jsonl 200$/);
      const text = answer();
      assert.equal(await writer.written(5000), true);
      await writer.close(5000);
      const ids = idsIn(await text);
      assert.deepEqual(ids, ["EventLogReopened", ...Array(100).fill("ConfigReloaded"), "LowBattery"]);
      const notes = (await text).split("\n").filter((l) => l.includes("ConfigReloaded")).map((l) =>
        JSON.parse(l).message.split("#")[1]
      );
      assert.deepEqual(notes, Array.from({ length: 100 }, (_, i) => String(i)));
    },
  );
});

Deno.test("a hung event log holds a bounded amount: the overflow is counted in a line where it is; critical lines get twice the room", async () => {
  await withHungLog({ queueMaxBytes: 4096 }, async (writer, answer) => {
    const t0 = Date.now();
    writer.append(makeEvent({ id: "ConfigReloaded", note: "in flight" }, t0)); // the write that hangs
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 200; i++) {
      writer.append(makeEvent({ id: "ConfigReloaded", note: `#${i} ${"w".repeat(200)}` }, t0 + 1 + i));
    }
    // The queue is full of warnings; a critical event still finds room.
    writer.append(makeEvent({ id: "LowBattery", nmc: "10.0.0.5" }, t0 + 300));
    const text = answer();
    await writer.close(5000);
    const lines = (await text).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
    const kept = lines.filter((r) => r.id === "ConfigReloaded").length - 1;
    assert.ok(kept > 5 && kept < 30, `${kept} of 200 kept in 4 KiB`);
    // The gap is said where it is: after the kept lines, before the critical one that came later.
    const gap = lines.at(-2);
    assert.equal(gap.id, "EventsNotLogged", lines.map((r) => r.id).join(", "));
    assert.equal(gap.details.lost, 200 - kept);
    assert.match(gap.message, /did not take them in time/);
    assert.equal(lines.at(-1).id, "LowBattery");
  });
});
