/** Hot reload through the whole service: a file edit reaches the running agent without a restart. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startService } from "../src/agent/service.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { nextEvent, waitUntil } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";

const ini = (port: number, cards: string[]) =>
  [
    "; test config",
    "[NetworkManagementCard]",
    `username = ${CARD.username}`,
    `authenticationPhrase = ${CARD.authenticationPhrase}`,
    ...cards.map((card, i) => `ip_${i + 1} = ${card}`),
    "[Networking]",
    `udpPort = ${port}`,
    "udpListenAddresses = 127.0.0.1",
    "",
  ].join("\n");

Deno.test("editing pcnsconfig.ini adds an NMC and moves the UDP port in the running agent within 1 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-service-reload-" });
  const path = join(dir, "pcnsconfig.ini");
  const firstPort = freePort("udp");
  await Deno.writeTextFile(path, ini(firstPort, ["127.0.0.1"]), { mode: 0o600 });
  const service = await startService({ configPath: path, logger: memoryLogger().logger, dryRun: true });
  const second = (port: number) =>
    new NmcSimulator({
      address: "127.0.0.2",
      username: CARD.username,
      authenticationPhrase: CARD.authenticationPhrase,
      targets: [{ hostname: "127.0.0.1", port }],
    });
  try {
    assert.equal(service.agent.udpPort, firstPort);
    const early = second(firstPort);
    await early.sendStatus();
    await waitUntil(
      () => service.agent.status().packets.rejected["unknown-card"] === 1,
      "the unknown card's packet",
    );
    early.close();

    const newPort = freePort("udp");
    const reloaded = nextEvent(service.agent.bus, "ConfigReloaded", 3000);
    const written = Date.now();
    await Deno.writeTextFile(path, ini(newPort, ["127.0.0.1", "127.0.0.2"]));
    await reloaded;
    await waitUntil(() => service.agent.udpPort === newPort, "the listener to move", 1000);
    const tookMs = Date.now() - written;
    assert.ok(tookMs < 1000, `in effect after ${tookMs} ms`);
    assert.deepEqual(service.agent.status().ups.map((u) => u.card), ["127.0.0.1", "127.0.0.2"]);

    const sim = second(newPort);
    const established = nextEvent(
      service.agent.bus,
      "CommunicationEstablished",
      3000,
      (e) => e.nmc === "127.0.0.2",
    );
    await sim.sendStatus();
    await established;
    sim.close();

    // An invalid edit is rejected and the running config stays.
    const rejected = nextEvent(service.agent.bus, "ConfigRejected", 3000);
    await Deno.writeTextFile(
      path,
      ini(newPort, ["127.0.0.1"]).replace(`udpPort = ${newPort}`, "udpPort = many"),
    );
    assert.match((await rejected).message, /udpPort/);
    assert.equal(service.agent.udpPort, newPort);
    assert.equal(service.agent.config.nmc.cards.length, 2);
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
