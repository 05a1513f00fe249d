/**
 * Issue 17: NUT forced shutdown per UPS with advanced UPS setups. A setup that does not shut this server
 * down (shutdownThisServer = false) still sets FSD on its own UPSs, so the NUT secondaries powered by
 * them shut down, and its actions end only once they logged out (or hostSyncTimeout); a secondary of
 * another UPS sees no FSD; when the setup re-arms, FSD is cleared on its UPSs only. The setups run on a
 * fake clock against the agent's real NUT server (loopback, port 0) and stock NUT protocol lines.
 */
import assert from "node:assert/strict";
import { actionSettings } from "../src/agent/wiring.ts";
import { hashPassword } from "../src/config/credentials.ts";
import { type AgentEvent, type EventDraft, makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { NutService } from "../src/nut/service.ts";
import { nutSettings } from "../src/agent/network_servers.ts";
import { AdvancedSetups } from "../src/setups/setups.ts";
import { planSequence } from "../src/shutdown/sequencer.ts";
import { setupSequenceSettings } from "../src/setups/plan.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { initialUpsState, type UpsState } from "../src/ups/state.ts";
import { fakeClock } from "./helpers/clock.ts";
import { LineClient, withNut } from "./helpers/nut.ts";
import { ON_BATTERY, setup, setupIds, setupsConfig, setupsSite } from "./helpers/setups.ts";

const A1 = "10.0.1.1", A2 = "10.0.1.2", B1 = "10.0.2.1", B2 = "10.0.2.2";
const PASSWORD = "Secondary-pass-1";

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function secondary(port: number, ups: string): Promise<LineClient> {
  const client = await LineClient.connect(port);
  assert.equal(await client.ask("USERNAME monuser"), "OK");
  assert.equal(await client.ask(`PASSWORD ${PASSWORD}`), "OK");
  assert.equal(await client.ask(`LOGIN ${ups}`), "OK");
  return client;
}

Deno.test("setups and NUT: FSD per UPS; a setup without shutdownThisServer waits for its secondaries; re-arm clears only its UPSs", async () => {
  const storage = setup(1, {
    name: "storage",
    cards: [A1, A2],
    minimumHealthy: 2,
    shutdownThisServer: false,
    shutdownCommandFile: "/bin/true",
    shutdownCommandFileDuration: 30,
  });
  const lab = setup(2, { name: "lab", cards: [B1, B2], minimumHealthy: 2, shutdownThisServer: false });
  const config = withNut(setupsConfig([A1, A2, B1, B2], [storage, lab]), {
    users: [{ name: "monuser", passwordHash: hashPassword(PASSWORD) }],
    hostSyncTimeout: 15,
  });
  const { fake, clock } = fakeClock();
  const t0 = fake.now;
  const at = (e: AgentEvent | undefined) => e && (e.time - t0) / 1000;
  const online: UpsState = { ...initialUpsState(A1), comm: "ok" };
  const events: AgentEvent[] = [];
  const nut = await NutService.start(nutSettings(config)!, {
    upsState: (card) => ({ ...online, card, flags: { ...online.flags, online: true } }),
    emit: (draft) => events.push(makeEvent(draft, fake.now)),
    logger: memoryLogger().logger,
    clock,
    certificateFiles: () => ({ cert: "/nonexistent/cert.pem", key: "/nonexistent/key.pem" }),
  });
  const hostRuns: string[] = [];
  const setups = new AdvancedSetups({
    clock,
    emit: (draft: EventDraft) => events.push(makeEvent(draft, fake.now)),
    runCommandFile: (_path, timeoutMs) =>
      new Promise((resolve) =>
        clock.setTimeout(
          () => resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: timeoutMs }),
          timeoutMs,
        )
      ),
    turnOffUps: () => Promise.resolve({ ok: true }),
    os: new RecordingExecutor(() => fake.now),
    sshRunner: () => ({ runPhase: () => Promise.resolve(), stop: () => Promise.resolve() }),
    startHostSequence: (trigger) => {
      hostRuns.push(trigger.reason);
      return Promise.resolve();
    },
    loads: () => new Map(),
    hostSync: nut,
    dryRun: false,
  });
  setups.configure(config, actionSettings(config));
  const port = nut.addresses[0].port;
  const clients: LineClient[] = [];
  try {
    // nmc1..nmc4 are A1, A2, B1, B2: one secondary on a storage UPS, one on a lab UPS.
    const onStorage = await secondary(port, "nmc1");
    const onLab = await secondary(port, "nmc3");
    clients.push(onStorage, onLab);
    const status = (client: LineClient, ups: string) => client.ask(`GET VAR ${ups} ups.status`);
    const feed = (id: "PowerFailed" | "PowerRestored", card: string) =>
      setups.handle(makeEvent({ id, nmc: card }, fake.now));

    // The plan names the FSD step and the wait, as the drill and ShutdownStarting's details show them.
    const plan = planSequence(setupSequenceSettings(config, storage)).map((s) => `${s.atSeconds} ${s.what}`);
    assert.deepEqual(plan.filter((s) => /FSD|NUT/.test(s)), [
      "0 set FSD (forced shutdown) for the NUT secondaries of the setup's UPSs (NMC 10.0.1.1, 10.0.1.2)",
      "30 wait for the logged-in NUT secondaries to log out (at most 15 s)",
    ]);

    feed("PowerFailed", A1);
    await fake.tickAsync(120_000);
    const fsd = events.find((e) => e.id === "NutForcedShutdown");
    assert.equal(fsd?.details?.setup, "storage", JSON.stringify(events.map((e) => e.message)));
    assert.equal(at(fsd), 120);
    assert.match(fsd!.message, /: setup storage: FSD set on nmc1, nmc2; 1 NUT secondary logged in: monuser@/);
    assert.equal(await status(onStorage, "nmc1"), 'VAR nmc1 ups.status "FSD OL"');
    assert.equal(await status(onLab, "nmc3"), 'VAR nmc3 ups.status "OL"', "another setup's UPS: no FSD");
    assert.deepEqual(nut.status().fsd, ["nmc1", "nmc2"]);

    // Its command file ends at +150; its actions end only when the secondary has logged out (+155).
    await fake.tickAsync(35_000);
    assert.equal(setupIds(events, "storage").includes("SetupActionsDone"), false, "still waiting at +155");
    assert.equal(setups.status()[0].step, "waiting for NUT secondaries");
    assert.equal(await onStorage.ask("LOGOUT"), "OK Goodbye");
    await until(() => events.some((e) => e.id === "HostSyncCompleted"), "HostSyncCompleted");
    await fake.tickAsync(0);
    const done = events.find((e) => e.id === "SetupActionsDone");
    assert.equal(at(done), 155);
    assert.equal(done?.details?.setup, "storage");
    assert.deepEqual(hostRuns, [], "this server stays up");

    // The lab setup fails too; its secondary never logs out: its actions end after hostSyncTimeout.
    feed("PowerFailed", B1);
    await fake.tickAsync(120_000);
    assert.deepEqual(nut.status().fsd, ["nmc1", "nmc2", "nmc3", "nmc4"]);
    assert.equal(await status(onLab, "nmc3"), 'VAR nmc3 ups.status "FSD OL"');
    await fake.tickAsync(15_000 - 1);
    assert.equal(setupIds(events, "lab").includes("SetupActionsDone"), false);
    await fake.tickAsync(1);
    const timedOut = events.find((e) => e.id === "HostSyncTimedOut");
    assert.equal(timedOut?.details?.setup, "lab");
    assert.match(
      timedOut!.message,
      /1 still logged in after 15 s: .*\(nmc3\); the setup's actions end anyway$/,
    );
    assert.ok(setupIds(events, "lab").includes("SetupActionsDone"));

    // Power back on the storage UPS: storage re-arms and clears FSD on its own UPSs; lab's stays.
    feed("PowerRestored", A1);
    const rearmed = events.filter((e) => e.id === "ShutdownRearmed");
    assert.deepEqual(rearmed.map((e) => e.details?.setup), ["storage"]);
    assert.deepEqual(nut.status().fsd, ["nmc3", "nmc4"]);
    const fresh = await LineClient.connect(port);
    clients.push(fresh);
    assert.equal(await status(fresh, "nmc1"), 'VAR nmc1 ups.status "OL"');
    assert.equal(await status(fresh, "nmc3"), 'VAR nmc3 ups.status "FSD OL"');

    // Lab re-arms in turn: no FSD is left.
    feed("PowerRestored", B1);
    assert.deepEqual(nut.status().fsd, []);
  } finally {
    for (const c of clients) c.close();
    await setups.stop();
    await nut.stop();
  }
});

Deno.test("setups and NUT in the running agent: a setup's sequence sets FSD on its own UPSs only", async () => {
  const site = await setupsSite();
  const storage = setup(1, {
    name: "storage",
    cards: [A1, A2],
    minimumHealthy: 2,
    shutdownThisServer: false,
    shutdownCommandFile: site.script("storage-down"),
    shutdownCommandFileDuration: 30,
  });
  const lab = setup(2, { name: "lab", cards: [B1, B2], minimumHealthy: 2, shutdownThisServer: false });
  const config = withNut(setupsConfig([A1, A2, B1, B2], [storage, lab]), {
    users: [{ name: "monuser", passwordHash: hashPassword(PASSWORD) }],
    hostSyncTimeout: 15,
  });
  const clients: LineClient[] = [];
  try {
    const run = site.start(config, { servers: true });
    await until(() => (run.agent.servers?.nutAddresses.length ?? 0) > 0, "the NUT server to listen");
    const port = run.agent.servers!.nutAddresses[0].port;
    const onStorage = await secondary(port, "nmc1");
    const onLab = await secondary(port, "nmc3");
    clients.push(onStorage, onLab);
    run.set([A1], ON_BATTERY);
    await run.run(140); // the setup's on-battery delay (120 s by default) and a little more
    assert.ok(run.record.events.some((e) => e.id === "NutForcedShutdown" && e.details?.setup === "storage"));
    assert.equal(await onStorage.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "FSD OB"');
    assert.equal(
      await onLab.ask("GET VAR nmc3 ups.status"),
      'VAR nmc3 ups.status "OL"',
      "the lab UPS: no FSD",
    );
    assert.equal(run.executor.calls.length, 0, "this host is not shut down by that setup");
  } finally {
    for (const c of clients) c.close();
    await site.close();
  }
});
