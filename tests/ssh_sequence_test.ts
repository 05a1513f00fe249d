/**
 * SSH actions in the shutdown sequence: against the private sshd, a wrong key and hanging remotes never
 * stop or delay this host's own shutdown beyond their durations, and actions of one phase run in
 * parallel; a dry run records the step without connecting; the plan, the registered shutdown time and the
 * drill show each SSH step at its second; onStartup actions run at start and when power returns.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import { registrarSettings, sequenceSettings, totalShutdownSeconds } from "../src/agent/wiring.ts";
import type { SshActionSettings } from "../src/config/schema_ssh.ts";
import { runDrill } from "../src/drill/drill.ts";
import { type EventDraft, makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import {
  planSequence,
  sequenceSeconds,
  type SequenceSettings,
  ShutdownSequencer,
} from "../src/shutdown/sequencer.ts";
import { type SshActionOutcome, SshActionRunner } from "../src/ssh/actions.ts";
import { systemClock } from "../src/time/clock.ts";
import { testConfig } from "./helpers/agent.ts";
import { sshdOrSkip, startSshd } from "./helpers/sshd.ts";

const skip = sshdOrSkip();

function action(name: string, more: Partial<SshActionSettings>): SshActionSettings {
  return {
    section: "SSHAction0",
    name,
    enabled: true,
    host: "127.0.0.1",
    port: 22,
    user: "root",
    keyFile: "",
    keyPassphrase: "",
    password: "pw",
    commandFile: "/etc/pcns/nas.txt",
    delay: 0,
    duration: 30,
    phase: "beforeShutdown",
    hostKeyFingerprint: "",
    ...more,
  };
}

function baseSettings(sshActions: SshActionSettings[]): SequenceSettings {
  return {
    cards: [],
    turnOffUps: false,
    shutdownCommandFile: "/opt/stop-vms",
    shutdownCommandFileDuration: 5,
    settleDelay: 0,
    osCommands: [["os-shutdown-recorder"]], // a RecordingExecutor: never run
    sshActions,
  };
}

Deno.test({
  name:
    "ssh sequence: a wrong key and hanging remotes never stop the host's shutdown; one phase runs in parallel",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = (name: string, lines: string[]) => {
        const path = `${sshd.dir}/${name}.txt`;
        Deno.writeTextFileSync(path, lines.join("\n") + "\n");
        return path;
      };
      const common = {
        port: sshd.port,
        user: sshd.user,
        password: "",
        keyFile: sshd.keys.ed25519,
        hostKeyFingerprint: sshd.fingerprint,
      };
      const actions = [
        action("wrong-key", {
          ...common,
          section: "SSHAction0",
          keyFile: sshd.keys.stranger,
          commandFile: file("a", ["a"]),
          duration: 3,
        }),
        action("nas", {
          ...common,
          section: "SSHAction1",
          delay: 1,
          commandFile: file("b", ["b1", "b2"]),
          duration: 2,
        }),
        action("hangs-before", {
          ...common,
          section: "SSHAction2",
          commandFile: file("c", ["hang"]),
          duration: 2,
        }),
        action("hangs-too", {
          ...common,
          section: "SSHAction5",
          commandFile: file("c2", ["hang"]),
          duration: 2,
        }),
        action("hangs-after", {
          ...common,
          section: "SSHAction3",
          phase: "afterShutdown",
          commandFile: file("d", ["hang"]),
          duration: 2,
        }),
        action("at-start", {
          ...common,
          section: "SSHAction4",
          phase: "onStartup",
          commandFile: file("e", ["e"]),
        }),
      ];
      const events: { id: string; at: number; note?: string }[] = [];
      const started = Date.now();
      const emit = (d: EventDraft) => events.push({ id: d.id, at: Date.now() - started, note: d.note });
      const runner = new SshActionRunner({ clock: systemClock, emit, actions: () => actions, dryRun: false });
      const os = new RecordingExecutor();
      const sequencer = new ShutdownSequencer({
        clock: systemClock,
        emit,
        os,
        turnOffUps: () => Promise.resolve({ ok: true }),
        runCommandFile: () =>
          Promise.resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: 0 }),
        runSshActions: (phase, list) => runner.runPhase(phase, list),
      });
      const settings = baseSettings(actions);
      assert.equal(
        sequenceSeconds(settings),
        3 + 5 + 2,
        "before: 3 (wrong-key; nas 1 + 2); command file 5; after: 2",
      );
      await sequencer.start({ eventId: "LowBattery", cards: [], reason: "test" }, settings);
      const osAt = os.calls[0].at - started;
      const ids = events.map((e) => e.id);
      const fileAt = ids.indexOf("CommandFileRun");
      assert.deepEqual(ids.slice(0, 1), ["ShutdownStarting"]);
      assert.deepEqual(ids.slice(1, fileAt).sort(), [
        "SshActionFailed",
        "SshActionSucceeded",
        "SshActionTimedOut",
        "SshActionTimedOut",
      ], "the before phase, in whatever order its actions end");
      assert.deepEqual(ids.slice(fileAt), ["CommandFileRun", "SshActionTimedOut", "OsShutdown"]);
      // In parallel the first phase ends with its slowest action (at most 3 s; one after the other: 5 s or more).
      const commandFileAt = events[fileAt].at;
      assert.ok(commandFileAt >= 1900 && commandFileAt < 4000, `command file at ${commandFileAt} ms`);
      // The hung after-action is cut at its 2 s and the OS step follows; never later than the registered time.
      assert.ok(osAt - commandFileAt >= 1900 && osAt - commandFileAt < 3000, `OS shutdown at ${osAt} ms`);
      assert.ok(osAt <= sequenceSeconds(settings) * 1000);
      assert.deepEqual(
        (await sshd.recorded()).sort(),
        ["b1", "b2", "hang", "hang", "hang"],
        "onStartup did not run",
      );
      assert.match(
        events.find((e) => e.id === "SshActionFailed")!.note!,
        /wrong-key on .*: authentication as .* failed/,
      );
    } finally {
      await sshd.close();
    }
  },
});

Deno.test("ssh sequence: a dry run records the SSH step (dry run: would run ...) and never connects", async () => {
  const dir = await Deno.makeTempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })().catch(() => {});
  try {
    const commandFile = `${dir}/cmds.txt`;
    await Deno.writeTextFile(commandFile, "sync\nstop-the-nas-test\n");
    const port = (listener.addr as Deno.NetAddr).port;
    const actions = [action("nas", { port, commandFile, delay: 0, duration: 5 })];
    const drafts: EventDraft[] = [];
    const runner = new SshActionRunner({
      clock: systemClock,
      emit: (d) => drafts.push(d),
      actions: () => actions,
      dryRun: true,
    });
    const sequencer = new ShutdownSequencer({
      clock: systemClock,
      emit: (d) => drafts.push(d),
      os: new RecordingExecutor(),
      turnOffUps: () => Promise.resolve({ ok: true }),
      runCommandFile: () =>
        Promise.resolve({ ok: true, timedOut: false, exitCode: 0, output: "", durationMs: 0 }),
      runSshActions: (phase, list) => runner.runPhase(phase, list),
    });
    await sequencer.start({ eventId: "LowBattery", cards: [], reason: "test" }, {
      ...baseSettings(actions),
      shutdownCommandFile: "",
    });
    const skipped = drafts.find((d) => d.id === "SshActionSkipped");
    assert.ok(skipped, JSON.stringify(drafts.map((d) => d.id)));
    assert.match(
      skipped.note!,
      new RegExp(
        `^nas on root@127\\.0\\.0\\.1:${port}: dry run: would run 2 commands of .*cmds\\.txt \\(up to 5 s\\); nothing was sent$`,
      ),
    );
    assert.equal(connections, 0);
    assert.ok(!JSON.stringify(drafts).includes('"pw"'));
  } finally {
    listener.close();
    await accepting;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ssh sequence: the plan shows each SSH step at its second and the registered time counts them", () => {
  const actions = [
    action("nas", { delay: 10, duration: 60 }),
    action("switch", { section: "SSHAction1", duration: 20 }),
    action("hypervisor", { section: "SSHAction2", phase: "afterShutdown", delay: 5, duration: 30 }),
    action("later", { section: "SSHAction3", phase: "onStartup", duration: 600 }),
    action("off", { section: "SSHAction4", enabled: false, duration: 900 }),
  ];
  const plan = planSequence({ ...baseSettings(actions), shutdownCommandFileDuration: 30, settleDelay: 70 });
  const at = (text: string) => plan.find((s) => s.what.includes(text))?.atSeconds;
  assert.equal(at("SSH action switch"), 0);
  assert.equal(at("SSH action nas"), 10);
  assert.equal(at("run the shutdown command file"), 70, "after the longest before-action: 10 + 60");
  assert.equal(at("SSH action hypervisor"), 100 + 5);
  assert.equal(at("settle delay"), 135);
  assert.equal(at("shut down the OS"), 205);
  assert.equal(at("later"), undefined, "onStartup is not part of the sequence");
  assert.equal(at("SSH action off"), undefined, "a disabled action is not planned");
  assert.match(
    plan.find((s) => s.what.includes("action nas"))!.what,
    /on root@127\.0\.0\.1:22 \(.*nas\.txt, up to 60 s, before/,
  );

  const base = testConfig();
  const config = { ...base, sshActions: actions };
  assert.equal(totalShutdownSeconds(config), totalShutdownSeconds(base) + 70 + 35);
  assert.equal(registrarSettings(config, 0).requiredSeconds, totalShutdownSeconds(config));
  assert.equal(sequenceSettings(config).sshActions, actions);
});

Deno.test("ssh sequence: the drill shows each SSH step at its second and connects to nothing", async () => {
  const base = testConfig({ cards: ["10.0.0.5"] });
  const config = {
    ...base,
    shutdown: { ...base.shutdown, settleDelay: 10 },
    sshActions: [
      action("nas", { delay: 5, duration: 60, host: "192.0.2.10" }),
      action("switch", { section: "SSHAction1", phase: "afterShutdown", duration: 20, host: "192.0.2.11" }),
      action("boot", { section: "SSHAction2", phase: "onStartup", host: "192.0.2.12" }),
    ],
  };
  const result = await runDrill(config, { steps: ["normal", "power-failure"], stepSeconds: 60 });
  const at = (text: string) => result.timeline.find((e) => e.text.includes(text))?.at;
  assert.equal(at("ShutdownStarting"), 180);
  assert.equal(at("would run SSH action nas on root@192.0.2.10:22"), 185);
  assert.equal(at("SshActionSkipped: SSH action not run: nas"), 245);
  assert.equal(at("would run SSH action switch"), 245);
  assert.equal(at("SshActionSkipped: SSH action not run: switch"), 265);
  assert.equal(result.osShutdownAt, 275, "5 + 60 before, 20 after, 10 s settle");
  assert.equal(at("boot"), undefined, "the drill does not run onStartup actions");
});

Deno.test("ssh sequence: onStartup actions run when the agent starts and when power returns after a shutdown", async () => {
  const dataDir = await Deno.makeTempDir();
  const ran: string[] = [];
  const outcome: SshActionOutcome = {
    ok: true,
    timedOut: false,
    hostKeyMismatch: false,
    commands: [],
    durationMs: 1,
  };
  const config = {
    ...testConfig(),
    sshActions: [
      action("boot-vms", { phase: "onStartup" }),
      action("nas", { section: "SSHAction1" }),
    ],
  };
  const agent = Agent.start({
    config,
    dataDir,
    logger: memoryLogger().logger,
    dryRun: true,
    servers: false,
    persistCountdowns: false,
    persistCounters: false,
    ports: {
      sshAction: (a) => {
        ran.push(a.name);
        return Promise.resolve(outcome);
      },
    },
  });
  try {
    const wait = async () => {
      for (let i = 0; i < 100 && ran.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    };
    for (let i = 0; i < 100 && ran.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(ran, ["boot-vms"]);
    agent.bus.publish(makeEvent({ id: "PowerRestored", nmc: "x" }, Date.now()));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ran, ["boot-vms"], "power back without a shutdown sequence: nothing");
    agent.bus.publish(makeEvent({ id: "ShutdownStarting", note: "test" }, Date.now()));
    agent.bus.publish(makeEvent({ id: "PowerRestored", nmc: "x" }, Date.now()));
    await wait();
    assert.deepEqual(ran, ["boot-vms", "boot-vms"]);
  } finally {
    await agent.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
