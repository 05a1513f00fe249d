import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { playScenario } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { nextEvent, startTestAgent, testConfig, waitUntil } from "./helpers/agent.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";

function simulatorFor(port: number, hostname = "127.0.0.1", address: string = CARD.address) {
  return new NmcSimulator({
    address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [{ hostname, port }],
    statusIntervalMs: 60_000,
    configIntervalMs: 60_000,
  });
}

Deno.test("a simulated power failure over loopback UDP lands in the state and the JSON-lines event log", async () => {
  const t = await startTestAgent();
  const sim = simulatorFor(t.agent.udpPort);
  try {
    await sim.start();
    await nextEvent(t.agent.bus, "CommunicationEstablished");
    const failed = nextEvent(t.agent.bus, "PowerFailed");
    const low = nextEvent(t.agent.bus, "LowBattery");
    const restored = nextEvent(t.agent.bus, "PowerRestored");
    await playScenario(sim, ["power-failure", "low-battery", "restore"], 0);
    await Promise.all([failed, low, restored]);

    const state = t.agent.status().ups[0];
    assert.equal(state.comm, "ok");
    assert.equal(state.flags.online, true);
    assert.equal(state.reading.model, "Smart-UPS 1500 RM");
    assert.equal(state.statusPackets, 4);
    await waitUntil(() => t.agent.status().ups[0].configPackets === 1, "the MACONFIG");
    assert.deepEqual(t.agent.status().ups[0].clients, ["127.0.0.1"]);

    assert.ok(await t.agent.eventLogWritten(5000));
    const log = await readEventLog(join(t.dataDir, "EventLog.jsonl"));
    assert.deepEqual(log.map((r) => r.id), [
      "MonitoringStarted",
      "CommunicationEstablished",
      "PowerFailed",
      "ShutdownPending", // on battery: 120 s countdown
      "LowBattery",
      "ShutdownStarting", // low battery always shuts down at once (dry run), right after its cause
      "RuntimeExceeded", // 2 min left < 120 s delay + 120 s shutdown + 2 min NMC margin
      "PowerRestored",
      "LowBatteryCleared",
      "RuntimeSufficient",
      "BatteryDischarged", // back on line with 2 min runtime <= the card's 5 min Low Battery Duration
    ]);
    for (const record of log) assert.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(log[2].nmc, CARD.address);
    assert.equal(log[2].severity, "critical");
    assert.equal(log[2].message, "UPS on battery (NMC 127.0.0.1)");
  } finally {
    sim.close();
    await t.close();
  }
});

Deno.test("an event whose logging is disabled in [Events] stays out of the event log but is still published", async () => {
  const t = await startTestAgent();
  try {
    const overload = nextEvent(t.agent.bus, "Overload");
    t.agent.receive(statusPacket({ su: 10, status: 0x28 }));
    await overload;
    assert.ok(await t.agent.eventLogWritten(5000));
    const log = await readEventLog(join(t.dataDir, "EventLog.jsonl"));
    assert.deepEqual(log.map((r) => r.id), ["MonitoringStarted", "CommunicationEstablished"]);
  } finally {
    await t.close();
  }
});

Deno.test("the listener receives over IPv6 loopback too (an IPv6 card, checked against its source address)", async () => {
  const t = await startTestAgent(testConfig({ udpListenAddresses: ["::1"], cards: ["::1"] }));
  const sim = simulatorFor(t.agent.udpPort, "::1", "::1");
  try {
    const established = nextEvent(t.agent.bus, "CommunicationEstablished");
    await sim.sendStatus();
    await established;
    assert.equal(t.agent.status().udp[0].hostname, "::1");
  } finally {
    sim.close();
    await t.close();
  }
});

Deno.test("a packet flood from a wrong phrase changes nothing while the real card keeps being heard", async () => {
  const t = await startTestAgent();
  const sim = simulatorFor(t.agent.udpPort);
  const attacker = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: "guessed wrong phrase",
    targets: [{ hostname: "127.0.0.1", port: t.agent.udpPort }],
    uptimeStart: 0xffffff,
  });
  try {
    await sim.sendStatus();
    await waitUntil(() => t.agent.status().packets.accepted === 1, "first packet");
    attacker.update({ flags: { onBattery: true, lowBattery: true } });
    for (let i = 0; i < 500; i++) {
      await attacker.sendStatus();
      // Sender and agent share this process's event loop: let the agent read before the socket buffer fills.
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
    }
    await sim.sendStatus();
    await waitUntil(() => t.agent.status().packets.accepted === 2, "second genuine packet");
    await waitUntil(() => t.agent.status().packets.rejected["bad-md5"] === 500, "all forged packets counted");
    assert.deepEqual(t.events.map((e) => e.id), ["CommunicationEstablished"]);
    assert.equal(t.agent.status().ups[0].flags.onBattery, false);
    assert.equal(t.logs.filter((r) => r.message.includes("packet rejected")).length, 1);
  } finally {
    sim.close();
    attacker.close();
    await t.close();
  }
});

Deno.test("a new UDP port in the config re-binds; a port already taken keeps the old listener", async () => {
  const t = await startTestAgent();
  const blocker = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const oldPort = t.agent.udpPort;
    const taken = (blocker.addr as Deno.NetAddr).port;
    const failed = nextEvent(t.agent.bus, "ListenerFailed");
    await t.agent.applyConfig(testConfig({ udpPort: taken }));
    assert.match((await failed).message, new RegExp(`still listening on UDP port ${oldPort}`));
    assert.equal(t.agent.udpPort, oldPort);

    const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    const free = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await t.agent.applyConfig(testConfig({ udpPort: free }));
    assert.equal(t.agent.udpPort, free);
    const sim = simulatorFor(free);
    const established = nextEvent(t.agent.bus, "CommunicationEstablished");
    await sim.sendStatus();
    await established;
    sim.close();
  } finally {
    blocker.close();
    await t.close();
  }
});

Deno.test("a countdown pending when the agent stops is resumed from its original start by the next agent", async () => {
  const { fakeClock } = await import("./helpers/clock.ts");
  const { Agent } = await import("../src/agent/agent.ts");
  const { memoryLogger } = await import("../src/log/logger.ts");
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-restart-" });
  const { fake, clock } = fakeClock();
  try {
    const first = Agent.start({
      config: testConfig(),
      dataDir,
      logger: memoryLogger().logger,
      clock,
      dryRun: true,
    });
    first.receive(statusPacket({ su: 10, status: 0x10 }));
    const dueAt = first.status().shutdown.countdowns[0].dueAt;
    await fake.tickAsync(60_000);
    await first.stop();

    await fake.tickAsync(5_000);
    const second = Agent.start({
      config: testConfig(),
      dataDir,
      logger: memoryLogger().logger,
      clock,
      dryRun: true,
    });
    const seen: string[] = [];
    second.bus.subscribe((e) => seen.push(e.id));
    second.receive(statusPacket({ su: 20, status: 0x10 })); // the card still reports on battery
    assert.equal(second.status().shutdown.countdowns[0].dueAt, dueAt, "same due time as before the restart");
    await fake.tickAsync(dueAt - fake.now - 1);
    assert.equal(second.status().shutdown.phase, "idle");
    await fake.tickAsync(1);
    assert.equal(second.status().shutdown.phase, "running");
    assert.ok(seen.includes("ShutdownStarting"));
    await second.stop();
    const log = await readEventLog(join(dataDir, "EventLog.jsonl"));
    assert.ok(log.some((r) => r.id === "CountdownResumed"));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
