/**
 * End to end on loopback: simulated NMC -> UDP -> agent -> action engine ->
 * UPS turn-off through the simulated card's web server (the real kill-power
 * flow) -> real shutdown command file -> settle delay -> OS shutdown, which
 * goes to a recorder (no test can reach a real shutdown).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RecordingExecutor, shutdownCommands } from "../src/shutdown/executor.ts";
import { NmcWebServer } from "../src/sim/http.ts";
import { applyStep } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { nextEvent, testConfig } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";

Deno.test("simulator -> agent -> kill-power + command file -> recorder shows the OS shutdown at the right offset", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-e2e-" });
  const marker = join(dir, "command-file-ran.txt");
  const script = join(dir, "on-shutdown.sh");
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\necho "$PCNS_EVENT_ID $PCNS_SHUTDOWN_TRIGGER" > '${marker}'\nsleep 0.3\n`,
  );
  await Deno.chmod(script, 0o755);

  const sim = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [],
    statusIntervalMs: 200,
    configIntervalMs: 60_000,
  });
  const web = new NmcWebServer(sim, { protocol: "http" });
  const base = testConfig();
  const config = {
    ...base,
    nmc: { ...base.nmc, protocol: "http" as const, port: web.port },
    shutdown: {
      ...base.shutdown,
      turnOffUps: true,
      shutdownCommandFile: script,
      shutdownCommandFileDuration: 5,
      settleDelay: 1,
    },
    events: { ...base.events, PowerFailed: { ...base.events.PowerFailed, shutdownDelay: 1 } },
  };
  const executor = new RecordingExecutor();
  const { logger } = memoryLogger();
  // dryRun false: the turn-off and the command file really run; the OS step is the recorder.
  const agent = Agent.start({ config, dataDir: dir, logger, executor, dryRun: false });
  const target = { hostname: "127.0.0.1", port: agent.udpPort };
  try {
    const send = () => sim.sendRaw(sim.buildStatus(target), target);
    await send();
    await nextEvent(agent.bus, "CommunicationEstablished");
    const failed = nextEvent(agent.bus, "PowerFailed");
    const osDown = nextEvent(agent.bus, "OsShutdown", 10_000);
    const turnedOff = nextEvent(agent.bus, "UpsTurnOffSent", 10_000);
    const initiated = nextEvent(agent.bus, "UpsTurnOffInitiated", 10_000);
    applyStep(sim, "power-failure");
    await send();
    const t0 = (await failed).time;
    // Keep the card talking (the next status packet carries SD=1 once the card accepted the turn-off).
    const heartbeat = setInterval(() => send().catch(() => {}), 200);
    try {
      const off = await turnedOff;
      await initiated;
      const down = await osDown;
      assert.equal(web.turnOffs.length, 1, "the simulated card accepted exactly one turn-off");
      assert.deepEqual(web.refusals, []);
      assert.match(off.message, /accepted the turn-off \(HTTP 200\)/);
      assert.equal(executor.calls.length, 1);
      assert.deepEqual(executor.calls[0].command, shutdownCommands(Deno.build.os, "")[0]);
      // 1 s event delay + command file (~0.3 s) + 1 s settle delay.
      const offset = (executor.calls[0].at - t0) / 1000;
      assert.ok(offset >= 2.2 && offset < 3.5, `OS shutdown at +${offset} s`);
      assert.ok(down.time - (await turnedOff).time >= 1_200);
      assert.equal((await Deno.readTextFile(marker)).trim(), "ShutdownStarting PowerFailed");
    } finally {
      clearInterval(heartbeat);
    }
  } finally {
    sim.close();
    await agent.stop();
    await web.close();
    await Deno.remove(dir, { recursive: true });
  }
});
