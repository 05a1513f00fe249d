/**
 * The NUT server in the shutdown sequence: the agent's low battery sets FSD, a real upsmon secondary
 * (Debian's, with a SHUTDOWNCMD that only records) shuts down and logs out, and only then does the agent
 * take its own OS step; a secondary that never logs out delays that step by exactly hostSyncTimeout.
 * The agents here are dry runs with a recording OS executor: nothing is shut down.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import { hashPassword } from "../src/config/credentials.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { testConfig } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { LineClient, requireNutClients, SKIP_WITHOUT_NUT, startUpsmon, withNut } from "./helpers/nut.ts";
import { statusPacket } from "./helpers/packets.ts";

const PASSWORD = "Secondary-pass-1";
const USERS = [{ name: "monuser", passwordHash: hashPassword(PASSWORD) }];
const ONLINE = 0x08;
const ON_BATTERY_LOW = 0x10 | 0x40;

async function nutAgent(
  hostSyncTimeout: number,
  clock?: ReturnType<typeof fakeClock>["clock"],
  settleDelay = 0,
) {
  const base = testConfig();
  const config = withNut({ ...base, shutdown: { ...base.shutdown, settleDelay } }, {
    users: USERS,
    hostSyncTimeout,
  });
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-nut-" });
  const { logger } = memoryLogger();
  const executor = new RecordingExecutor(() => clock?.now() ?? Date.now());
  const agent = Agent.start({
    config,
    dataDir,
    logger,
    clock,
    dryRun: true,
    executor,
    persistCountdowns: false,
  });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  await agent.servers!.settled();
  const port = agent.servers!.nutAddresses[0].port;
  return {
    agent,
    executor,
    events,
    port,
    async close() {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name:
    "low battery: a real upsmon secondary gets FSD, runs its SHUTDOWNCMD and logs out before the agent's OS step",
  ignore: SKIP_WITHOUT_NUT,
  async fn() {
    requireNutClients();
    // upsmon logs out as it starts its SHUTDOWNCMD; the settle delay after the wait is NUT's FINALDELAY.
    const t = await nutAgent(30, undefined, 1);
    const upsmon = await startUpsmon({ port: t.port, ups: "nmc1", user: "monuser", password: PASSWORD });
    try {
      t.agent.receive(statusPacket({ su: 10, status: ONLINE }));
      await until(() => (t.agent.status().nut?.clients.length ?? 0) === 1, "upsmon to log in", 15_000);
      assert.equal(t.agent.status().nut?.clients[0].user, "monuser");

      t.agent.receive(statusPacket({ su: 20, status: ON_BATTERY_LOW }));
      await until(() => t.executor.calls.length === 1, "the agent's (recorded) OS step", 25_000);

      const shutdowns = await upsmon.shutdownCalls();
      assert.equal(shutdowns.length, 1, `upsmon ran its SHUTDOWNCMD once:\n${upsmon.output()}`);
      assert.ok(shutdowns[0] <= t.executor.calls[0].at, "the secondary shut down before the agent's OS step");
      const synced = t.events.find((e) => e.id === "HostSyncCompleted")!;
      assert.ok(t.executor.calls[0].at - synced.time >= 1000, "then the settle delay (FINALDELAY) ran");
      const ids = t.events.map((e) => e.id);
      const fsd = t.events.find((e) => e.id === "NutForcedShutdown");
      assert.match(fsd?.message ?? "", /FSD set on nmc1; 1 NUT secondary logged in: monuser@127\.0\.0\.1/);
      assert.ok(ids.includes("HostSyncCompleted"), ids.join(" "));
      assert.ok(!ids.includes("HostSyncTimedOut"));
      assert.ok(ids.indexOf("NutClientLoggedOut") < ids.indexOf("OsShutdown"));
      assert.ok(ids.indexOf("HostSyncCompleted") < ids.indexOf("OsShutdown"));
    } finally {
      await upsmon.stop();
      await t.close();
    }
  },
});

Deno.test("a secondary that never logs out delays the OS step by exactly hostSyncTimeout", async () => {
  const { fake, clock } = fakeClock();
  const t = await nutAgent(15, clock);
  const client = await LineClient.connect(t.port);
  try {
    assert.equal(await client.ask("USERNAME monuser"), "OK");
    assert.equal(await client.ask(`PASSWORD ${PASSWORD}`), "OK");
    assert.equal(await client.ask("LOGIN nmc1"), "OK");
    t.agent.receive(statusPacket({ su: 10, status: ONLINE }));
    t.agent.receive(statusPacket({ su: 20, status: ON_BATTERY_LOW }));
    await fake.tickAsync(0);
    const starting = t.events.find((e) => e.id === "ShutdownStarting");
    assert.ok(starting, t.events.map((e) => e.id).join(" "));
    assert.equal(await client.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "FSD OB LB"');
    assert.equal(t.agent.status().shutdown.step, "waiting for NUT secondaries");

    await fake.tickAsync(15_000 - 1);
    assert.equal(t.executor.calls.length, 0, "1 ms before hostSyncTimeout: still waiting");
    await fake.tickAsync(1);
    assert.equal(t.executor.calls.length, 1);
    assert.equal(
      t.executor.calls[0].at - starting.time,
      15_000,
      "the OS step came exactly hostSyncTimeout later",
    );
    const timedOut = t.events.find((e) => e.id === "HostSyncTimedOut");
    assert.match(timedOut?.message ?? "", /1 still logged in after 15 s: monuser@127\.0\.0\.1 \(nmc1\)/);
  } finally {
    client.close();
    await t.close();
  }
});

Deno.test("without logged-in secondaries FSD costs no time; a logout ends the wait at once", async () => {
  const { fake, clock } = fakeClock();
  const t = await nutAgent(15, clock);
  try {
    t.agent.receive(statusPacket({ su: 10, status: ONLINE }));
    t.agent.receive(statusPacket({ su: 20, status: ON_BATTERY_LOW }));
    await fake.tickAsync(0);
    assert.equal(t.executor.calls.length, 1, "nobody logged in: the OS step follows at once");
    assert.match(
      t.events.find((e) => e.id === "NutForcedShutdown")?.message ?? "",
      /no NUT secondary is logged in/,
    );
  } finally {
    await t.close();
  }
  const { fake: fake2, clock: clock2 } = fakeClock();
  const u = await nutAgent(15, clock2);
  const client = await LineClient.connect(u.port);
  try {
    await client.ask("USERNAME monuser");
    await client.ask(`PASSWORD ${PASSWORD}`);
    assert.equal(await client.ask("LOGIN nmc1"), "OK");
    u.agent.receive(statusPacket({ su: 10, status: ONLINE }));
    u.agent.receive(statusPacket({ su: 20, status: ON_BATTERY_LOW }));
    await fake2.tickAsync(3000);
    assert.equal(u.executor.calls.length, 0);
    assert.equal(await client.ask("LOGOUT"), "OK Goodbye");
    await until(() => u.events.some((e) => e.id === "NutClientLoggedOut"), "the logout", 5000);
    await fake2.tickAsync(0);
    assert.equal(u.executor.calls.length, 1);
    assert.equal(u.executor.calls[0].at - u.events.find((e) => e.id === "ShutdownStarting")!.time, 3000);
    assert.ok(u.events.some((e) => e.id === "HostSyncCompleted"));
  } finally {
    client.close();
    await u.close();
  }
});
