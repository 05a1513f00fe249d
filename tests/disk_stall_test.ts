/**
 * A data disk that hangs instead of failing (a dying SD card, a hard-mounted NFS share that went away with
 * the power): the agent saves its replay counters and pending shutdown with an fsync, and a write that never
 * returns must not take the packet path or the shutdown with it. The stall is made real for the agent: its
 * temp files are named pipes nobody reads, so opening them for writing blocks in the kernel as a hung disk
 * does. Before the state files were written off the event loop, the agent froze at the first packet.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { loopbackIni } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { spawnDryRunAgent } from "./helpers/process.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const ON_LINE = 0x08, LOW_BATTERY = 0x50;

Deno.test("a data disk that does not answer: packets, the shutdown and its OS step go on; the stall is reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-disk-stall-" });
  const port = freePort("udp");
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(config, loopbackIni(port, ["[Shutdown]", "settleDelay = 1"]));
  const pipes = ["nmc-counters.json.tmp", "pending-shutdown.json.tmp"].map((name) => join(dir, name));
  for (const pipe of pipes) {
    const made = await new Deno.Command("mkfifo", { args: [pipe] }).output();
    assert.ok(made.success, `mkfifo ${pipe}`);
  }
  const child = spawnDryRunAgent(config);
  const stderr = new Response(child.stderr).text();
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const send = (status: number, su: number) =>
    sender.send(statusPacket({ sr: 5, su, status }), { transport: "udp", hostname: "127.0.0.1", port });
  const log = () => readEventLog(join(dir, "EventLog.jsonl")).catch(() => []);
  const has = async (id: string) => (await log()).some((r) => r.id === id);
  let exit: Deno.CommandStatus;
  let text = "";
  try {
    let su = 2_000;
    await waitUntilAsync(
      async () => {
        await send(ON_LINE, su++);
        return await has("CommunicationEstablished");
      },
      "the agent to hear the card",
      20_000,
    );
    // The counters' first save is now stuck in open(2). The card goes on reporting: low battery on battery.
    const sentAt = Date.now();
    await send(LOW_BATTERY, su++);
    await waitUntilAsync(
      () => has("OsShutdown"),
      "the OS shutdown step (dry run) despite the hung disk",
      15_000,
    );
    const osStep = (await log()).find((r) => r.id === "OsShutdown")!;
    const seconds = (Date.parse(osStep.time) - sentAt) / 1000;
    assert.ok(seconds < 4, `low battery -> OS step took ${seconds} s (settle delay 1 s)`);
    // A write that has not finished after 10 s is reported, naming the file.
    await waitUntilAsync(() => has("DataDiskStalled"), "the stall report", 15_000);
    const stalled = (await log()).filter((r) => r.id === "DataDiskStalled");
    assert.ok(
      stalled.some((r) => /nmc-counters\.json/.test(r.message)),
      stalled[0].message,
    );
    assert.match(stalled[0].message, /does not answer/);
  } finally {
    // The disk never answers: SIGTERM must still end the agent (the stop waits at most 5 s for the writes).
    child.kill("SIGTERM");
    exit = await child.status;
    sender.close();
    text = await stderr;
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(exit.code, 0, text.slice(-2000));
  assert.match(text, /did not finish the last writes within 5 s: stopping without them/);
});
