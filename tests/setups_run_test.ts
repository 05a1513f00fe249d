/**
 * Several advanced UPS setups in one agent (fake clock, every side effect recorded): each setup counts
 * only its own UPSs and runs its own countdown and sequence; a setup without shutdownThisServer runs its
 * SSH actions and command file and leaves the host up; one that stays healthy does nothing; one with
 * shutdownThisServer starts the host's sequence, whose OS step runs once. A restart while a setup's
 * sequence runs resumes it from the setup's own state file.
 */
import assert from "node:assert/strict";
import { basicDashboardData, dashboardFragments } from "../src/web/pages/dashboard.tsx";
import {
  ON_BATTERY,
  ON_LINE,
  setup,
  setupIds,
  setupsConfig,
  setupsSite,
  sshAction,
} from "./helpers/setups.ts";

const A1 = "10.0.1.1", A2 = "10.0.1.2", B1 = "10.0.2.1", B2 = "10.0.2.2";
const C1 = "10.0.3.1", C2 = "10.0.3.2", C3 = "10.0.3.3";

type Script = (name: string) => string;
const storage = (script: Script) =>
  setup(1, {
    name: "storage",
    cards: [A1, A2],
    minimumHealthy: 2,
    shutdownThisServer: false,
    shutdownCommandFile: script("storage-down"),
    shutdownCommandFileDuration: 30,
    sshActions: ["nas"],
    turnOffUps: true,
  });
const lab = (script: Script) =>
  setup(2, {
    name: "lab",
    cards: [B1, B2],
    minimumHealthy: 1,
    shutdownThisServer: false,
    shutdownCommandFile: script("lab-down"),
    shutdownCommandFileDuration: 10,
  });
const servers = (script: Script) =>
  setup(3, {
    name: "servers",
    cards: [C1, C2, C3],
    minimumHealthy: 2,
    shutdownCommandFile: script("servers-down"),
    shutdownCommandFileDuration: 20,
    sshActions: ["hypervisor"],
  });
const actions = [sshAction(0, "nas"), sshAction(1, "hypervisor"), sshAction(2, "switch")];

Deno.test("setups: one runs its actions and leaves the host up, one stays healthy, one shuts the host down once", async () => {
  const site = await setupsSite();
  try {
    const s = site.script;
    const a = site.start(
      setupsConfig([A1, A2, B1, B2, C1, C2, C3], [storage(s), lab(s), servers(s)], actions, s("host-down")),
    );
    const verdicts = () =>
      Object.fromEntries((a.agent.status().setups ?? []).map((s) => [s.name, s.verdict]));
    assert.deepEqual(verdicts(), {
      storage: "2 of 2 healthy, needs 2: no actions",
      lab: "2 of 2 healthy, needs 1: no actions",
      servers: "3 of 3 healthy, needs 2: no shutdown",
    });

    // One UPS of each setup on battery: only storage (needs both) is short.
    a.set([A1, B1, C1], ON_BATTERY);
    const v = verdicts();
    assert.match(v.storage, /^1 of 2 healthy, needs 2: its actions in 120 s \(PowerFailed on 10\.0\.1\.1/);
    assert.equal(v.lab, "1 of 2 healthy, needs 1: no actions");
    assert.equal(v.servers, "2 of 3 healthy, needs 2: no shutdown");
    // The dashboard lists each setup with the same words.
    const now = a.agent.status();
    const html = String(dashboardFragments(basicDashboardData(now, Date.now(), [])).shutdown);
    assert.match(
      html,
      /<li[^>]*data-setup="servers"[^>]*><strong>servers<\/strong> \(10\.0\.3\.1, 10\.0\.3\.2, 10\.0\.3\.3\): 2 of 3 healthy, needs 2: no shutdown/,
    );
    assert.match(
      html,
      /data-setup="lab".*does not shut this server down\): 1 of 2 healthy, needs 1: no actions/,
    );
    const pending = a.record.events.find((e) => e.id === "ShutdownPending");
    assert.equal(pending?.details?.setup, "storage", "the countdown names its setup");
    assert.match(pending?.message ?? "", /setup storage: /);

    await a.run(160);
    const started = a.record.events.find((e) => e.id === "SetupActionsStarting");
    assert.equal(started?.details?.setup, "storage");
    assert.equal((started!.time - a.record.events[0].time) / 1000, 120);
    assert.deepEqual(
      a.record.turnOffs,
      [{ card: A1, at: 120 }, { card: A2, at: 120 }],
      "the setup's UPSs only",
    );
    assert.deepEqual(a.record.ssh, [{ name: "nas", at: 120 }]);
    assert.deepEqual(a.record.commands, [{ path: s("storage-down"), at: 125, setup: "storage" }]);
    assert.deepEqual(setupIds(a.record.events, "storage").filter((id) => id.startsWith("Setup")), [
      "SetupActionsStarting",
      "SetupActionsDone",
    ]);
    assert.equal(a.record.events.some((e) => e.id === "ShutdownStarting"), false, "the host stays up");
    assert.equal(a.executor.calls.length, 0);
    assert.match(verdicts().storage, /^1 of 2 healthy, needs 2: done: its actions ran, this server stays up/);

    // A second server UPS fails at +160 s: the servers setup decides the host's shutdown 120 s later.
    a.set([C2], ON_BATTERY);
    await a.run(60);
    a.set([C3], ON_BATTERY); // a third one during the countdown changes nothing
    await a.run(300);
    const host = a.record.events.filter((e) => e.id === "ShutdownStarting");
    assert.equal(host.length, 1);
    assert.match(host[0].message, /advanced UPS setup servers: PowerFailed on 3 of 3 UPSs \(2 needed\)/);
    assert.equal(host[0].details?.setup, undefined, "the host's own sequence");
    assert.deepEqual(a.record.ssh.map((s) => [s.name, s.at]), [["nas", 120], ["hypervisor", 280], [
      "switch",
      305,
    ]]);
    assert.deepEqual(a.record.commands.map((c) => [c.path, c.at, c.setup]), [
      [s("storage-down"), 125, "storage"],
      [s("servers-down"), 285, "servers"],
      [s("host-down"), 310, undefined],
    ]);
    assert.equal(a.executor.calls.length, 1, "the OS step ran once");
    assert.equal(
      (a.executor.calls[0] - a.record.events[0].time) / 1000,
      390,
      "305 + 5 s SSH + 10 s file + 70 s",
    );
    assert.equal(a.record.turnOffs.length, 2, "no other setup turned a UPS off");
    assert.deepEqual(setupIds(a.record.events, "lab"), [], "the healthy setup did nothing");
    assert.match(
      verdicts().servers,
      /^0 of 3 healthy, needs 2: done: its actions and this server's shutdown/,
    );

    // Power back on the storage UPS: that setup re-arms for the next outage.
    a.set([A1], ON_LINE);
    const rearmed = a.record.events.filter((e) => e.id === "ShutdownRearmed");
    assert.deepEqual(rearmed.map((e) => e.details?.setup), ["storage"]);
    assert.equal(verdicts().storage, "2 of 2 healthy, needs 2: no actions");
  } finally {
    await site.close();
  }
});

Deno.test("setups: a restart while a setup's sequence runs resumes it from its own state file", async () => {
  const site = await setupsSite();
  const slow = { ...storage(site.script), turnOffUps: false, shutdownCommandFileDuration: 60 };
  const config = setupsConfig([A1, A2, C1, C2, C3], [slow, servers(site.script)], actions);
  try {
    const first = site.start(config);
    first.set([A1], ON_BATTERY);
    await first.run(130); // started at +120, in its command file until +185
    assert.equal(first.agent.status().setups?.[0].phase, "running");
    assert.ok(await first.agent.stateSaved(5000));
    const saved = site.readPending("advanced_ups_setup_1");
    assert.equal(saved?.sequence?.trigger?.eventId, "PowerFailed", JSON.stringify(saved));
    assert.equal(site.readPending(), undefined, "the host's own state file stays empty");
    await first.stop();
    assert.equal(first.record.events.some((e) => e.id === "SetupActionsDone"), false, "interrupted");
    assert.ok(site.readPending("advanced_ups_setup_1")?.sequence, "kept for the restart");

    await site.fake.tickAsync(5000);
    const second = site.start(config, { onBattery: [A1] }); // the card still reports it
    const resumed = (await site.sinceStart()).find((e) => e.id === "CountdownResumed");
    assert.equal(resumed?.details?.setup, "storage");
    await second.run(10); // its sequence runs again at once (past its 5 s SSH action)
    assert.deepEqual(setupIds(second.record.events, "storage").filter((id) => id.startsWith("Setup")), [
      "SetupActionsStarting",
    ]);
    assert.equal(second.record.commands[0]?.path, site.script("storage-down"));
    await second.stop();

    // Third start: power came back meanwhile; the interrupted sequence is dropped, its file removed.
    await site.fake.tickAsync(5000);
    const third = site.start(config);
    await third.run(1);
    const dropped = (await site.sinceStart()).filter((e) => e.id === "CountdownDropped");
    assert.ok(
      dropped.some((e) => e.details?.setup === "storage"),
      JSON.stringify(dropped.map((e) => e.message)),
    );
    assert.equal(setupIds(third.record.events, "storage").includes("SetupActionsStarting"), false);
    assert.ok(await third.agent.stateSaved(5000));
    assert.equal(site.readPending("advanced_ups_setup_1"), undefined);
    assert.equal(third.executor.calls.length + second.executor.calls.length + first.executor.calls.length, 0);
  } finally {
    await site.close();
  }
});
