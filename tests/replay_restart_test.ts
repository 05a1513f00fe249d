/**
 * Replay protection survives a restart: a clean stop, a SIGKILL of a real `run --dry-run` process, and a data
 * directory where the counters cannot be written or read.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { readEventLog } from "../src/events/eventlog.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { COUNTER_FILE_NAME } from "../src/nmc/counterstore.ts";
import { loopbackIni, testConfig } from "./helpers/agent.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";
import { spawnDryRunAgent } from "./helpers/process.ts";
import { freePort } from "./helpers/ports.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

function startAgent(dataDir: string) {
  const { logger } = memoryLogger();
  const agent = Agent.start({ config: testConfig(), dataDir, logger, dryRun: true });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  return { agent, events, ids: () => events.map((e) => e.id) };
}

// Recorded during an earlier outage (SR 5, older SU): on battery + low battery.
const RECORDED_OUTAGE = statusPacket({ sr: 5, su: 1_500, status: 0x50 });

Deno.test("after a clean stop and start, a recorded older packet is refused as a replay", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-replay-" });
  try {
    const first = startAgent(dataDir);
    first.agent.receive(statusPacket({ sr: 5, su: 2_000 }));
    assert.deepEqual(first.ids().slice(-1), ["CommunicationEstablished"]);
    await first.agent.stop();

    const second = startAgent(dataDir);
    second.agent.receive(RECORDED_OUTAGE);
    assert.equal(second.agent.status().packets.rejected.replay, 1);
    assert.ok(!second.ids().includes("LowBattery"), second.ids().join());
    assert.ok(!second.ids().includes("PowerFailed"));
    second.agent.receive(statusPacket({ sr: 5, su: 2_500 }));
    assert.equal(second.agent.status().packets.accepted, 1, "the card's next packet is followed");
    await second.agent.stop();
    const mode = (await Deno.stat(join(dataDir, COUNTER_FILE_NAME))).mode! & 0o777;
    assert.equal(mode, 0o600);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("counters that cannot be saved are an event; packets are still checked and nothing crashes", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-replay-" });
  try {
    // The temp file's place is taken by a directory: every save fails with the OS's reason.
    await Deno.mkdir(join(dataDir, `${COUNTER_FILE_NAME}.tmp`));
    const a = startAgent(dataDir);
    a.agent.receive(statusPacket({ sr: 5, su: 2_000 }));
    a.agent.receive(statusPacket({ sr: 5, su: 2_000, status: 0x50 }));
    assert.ok(await a.agent.stateSaved(5000));
    const problems = a.events.filter((e) => e.id === "CardCountersUnavailable");
    assert.equal(problems.length, 1, "reported once, not per packet");
    assert.match(problems[0].message, /cannot save/);
    assert.equal(a.agent.status().packets.rejected.replay, 1);
    a.agent.receive(statusPacket({ sr: 5, su: 3_000, status: 0x10 }));
    assert.ok(a.ids().includes("PowerFailed"), "the card is still followed");
    await a.agent.stop();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a corrupt counter file is reported at start and the agent runs on", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-replay-" });
  try {
    await Deno.writeTextFile(join(dataDir, COUNTER_FILE_NAME), "{ not json");
    const a = startAgent(dataDir);
    assert.ok(await a.agent.eventLogWritten(5000));
    const log = await readEventLog(a.agent.eventLogPath);
    assert.match(log.find((r) => r.id === "CardCountersUnavailable")?.message ?? "", /not JSON/);
    a.agent.receive(statusPacket({ sr: 5, su: 2_000 }));
    assert.equal(a.agent.status().packets.accepted, 1);
    await a.agent.stop();
    // The next save replaced the bad file with a good one.
    const saved = JSON.parse(await Deno.readTextFile(join(dataDir, COUNTER_FILE_NAME)));
    assert.deepEqual(saved.cards[CARD.address], { sr: 5, su: 2_000 });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("after a SIGKILL of a real agent, the recorded outage packet is still refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-replay-kill-" });
  const port = freePort("udp");
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    config,
    loopbackIni(port),
  );
  const spawn = () => spawnDryRunAgent(config, { stderr: "null" });
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const send = (data: Uint8Array) => sender.send(data, { transport: "udp", hostname: "127.0.0.1", port });
  const logPath = join(dir, "EventLog.jsonl");
  const countOf = async (id: string) => (await readEventLog(logPath)).filter((r) => r.id === id).length;
  let child = spawn();
  try {
    let su = 2_000;
    await waitUntilAsync(
      async () => {
        await send(statusPacket({ sr: 5, su: su++ }));
        return (await countOf("CommunicationEstablished")) > 0;
      },
      "the agent to hear the card",
      20_000,
    );
    // A card sends every 25 s, so the counters were saved with that packet: kill without warning.
    await new Promise((r) => setTimeout(r, 1_200));
    child.kill("SIGKILL");
    await child.status;
    const startsBefore = await countOf("MonitoringStarted");
    child = spawn();
    await waitUntilAsync(
      async () => (await countOf("MonitoringStarted")) > startsBefore,
      "the restart",
      20_000,
    );
    await send(RECORDED_OUTAGE);
    await send(statusPacket({ sr: 5, su: su + 10_000 }));
    await waitUntilAsync(
      async () => (await countOf("CommunicationEstablished")) >= 2,
      "the fresh packet",
      10_000,
    );
    const log = await readEventLog(logPath);
    const afterRestart = log.slice(log.findLastIndex((r) => r.id === "MonitoringStarted"));
    assert.ok(
      !afterRestart.some((r) => r.id === "LowBattery" || r.id === "PowerFailed"),
      JSON.stringify(afterRestart),
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    sender.close();
    await Deno.remove(dir, { recursive: true });
  }
});
