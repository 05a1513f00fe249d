/**
 * Advanced UPS setups in pcnsconfig.ini: every bad value gets an error naming its key (an edit is
 * rejected; at start the setup is disabled), a good file gives typed setups; the verdict text of
 * `status`; the drill shows each setup's steps at their second.
 */
import assert from "node:assert/strict";
import { formatStatus } from "../src/cli/agent_commands.ts";
import { evaluateConfig } from "../src/config/evaluate.ts";
import { defaultConfigText, readmeConfigSection } from "../src/config/template.ts";
import { runDrill } from "../src/drill/drill.ts";
import { setupVerdict } from "../src/setups/verdict.ts";
import { setup, setupsConfig, sshAction } from "./helpers/setups.ts";

const HEAD = `[NetworkManagementCard]
username = apc
authenticationPhrase = admin user phrase
mode = advanced
ip_1 = 10.0.0.1
ip_2 = 10.0.0.2
ip_3 = 10.0.0.3
ip_4 = 10.0.0.4
[SSHAction0]
name = nas
host = 10.0.0.9
[SSHAction1]
name = boot-hook
host = 10.0.0.9
phase = onStartup
`;

function evaluate(text: string, strict: boolean) {
  return evaluateConfig(text, { file: "pcnsconfig.ini", backupFile: "pcnsconfig_backup.ini", strict });
}

Deno.test("setups config: a good file gives typed setups", () => {
  const e = evaluate(
    HEAD + `[advanced_ups_setup_1]
name = storage
cards = 10.0.0.1 , 10.0.0.2
minimumHealthy = 2
shutdownThisServer = FALSE
sshActions = NAS
turnOffUps = yes
[advanced_ups_setup_2]
cards = 10.0.0.3,10.0.0.4
`,
    true,
  );
  assert.equal(e.ok, true, e.problems.map((p) => p.message).join("\n"));
  assert.deepEqual(e.config?.upsSetups, [
    {
      section: "advanced_ups_setup_1",
      name: "storage",
      cards: ["10.0.0.1", "10.0.0.2"],
      minimumHealthy: 2,
      shutdownCommandFile: "",
      shutdownCommandFileDuration: 0,
      shutdownThisServer: false,
      sshActions: ["NAS"],
      turnOffUps: true,
    },
    {
      section: "advanced_ups_setup_2",
      name: "advanced_ups_setup_2",
      cards: ["10.0.0.3", "10.0.0.4"],
      minimumHealthy: 1,
      shutdownCommandFile: "",
      shutdownCommandFileDuration: 0,
      shutdownThisServer: true,
      sshActions: [],
      turnOffUps: false,
    },
  ]);
});

Deno.test("setups config: every bad value is an error on its key; at start the setup is disabled", () => {
  const text = HEAD + `[advanced_ups_setup_1]
name = storage
cards = 10.0.0.1, 10.0.0.2
minimumHealthy = 3
sshActions = nas, nope
[advanced_ups_setup_2]
name = Storage
cards = 10.0.0.2, 10.0.0.7
sshActions = nas, boot-hook
[advanced_ups_setup_3]
name = empty
[advanced_ups_setup_4]
cards = 10.0.0.3, 10.0.0.3
minimumHealthy = ten
shutdownCommandFile = relative/path
shutdownThisServer = maybe
[advanced_ups_setup_5]
cards = 10.0.0.4
`;
  const strict = evaluate(text, true);
  assert.equal(strict.ok, false);
  const errors = strict.problems.filter((p) => p.level === "error").map((p) => `${p.key} | ${p.message}`);
  const expect = [
    /^advanced_ups_setup_1\.minimumHealthy \| .*minimumHealthy = 3 but the setup has 2 UPSs/,
    /^advanced_ups_setup_1\.sshActions \| .*no SSH action is named nope/,
    /^advanced_ups_setup_2\.name \| .*Storage is already the name of \[advanced_ups_setup_1\]/,
    /^advanced_ups_setup_2\.cards \| .*10\.0\.0\.2 is already in \[advanced_ups_setup_1\]/,
    /^advanced_ups_setup_2\.cards \| .*10\.0\.0\.7 is not one of the configured NMCs/,
    /^advanced_ups_setup_2\.sshActions \| .*nas is already in \[advanced_ups_setup_1\]/,
    /^advanced_ups_setup_2\.sshActions \| .*boot-hook runs onStartup/,
    /^advanced_ups_setup_3\.cards \| .*is empty/,
    /^advanced_ups_setup_4\.cards \| .*lists 10\.0\.0\.3 twice/,
    /^advanced_ups_setup_4\.minimumHealthy \| .*must be a whole number/,
    /^advanced_ups_setup_4\.shutdownCommandFile \| .*must be an absolute path/,
    /^advanced_ups_setup_4\.shutdownThisServer \| .*must be true or false/,
  ];
  for (const re of expect) assert.ok(errors.some((e) => re.test(e)), `${re}\nin:\n${errors.join("\n")}`);
  assert.ok(strict.problems.filter((p) => p.level === "error").every((p) => p.line !== undefined));

  // At start: warnings, the broken setups are left out, the good one (setup 5) is used.
  const lenient = evaluate(text, false);
  const disabled = lenient.problems.filter((p) =>
    /the setup is disabled until this is fixed/.test(p.message)
  );
  assert.ok(disabled.length >= 9, lenient.problems.map((p) => p.message).join("\n"));
  assert.deepEqual(lenient.config?.upsSetups?.map((s) => s.section), ["advanced_ups_setup_5"]);
});

Deno.test("setups config: warnings for a mode that ignores them, cards in no setup, no setup for this server", () => {
  const single = evaluate(
    HEAD.replace("mode = advanced", "mode = redundant") + `[advanced_ups_setup_1]
cards = 10.0.0.1
`,
    true,
  );
  assert.equal(single.ok, true);
  assert.ok(
    single.problems.some((p) =>
      /used only with mode = advanced \(mode = redundant\): ignored/.test(p.message)
    ),
  );
  const advanced = evaluate(
    HEAD + `[Shutdown]
turnOffUps = true
[advanced_ups_setup_1]
cards = 10.0.0.1
shutdownThisServer = false
`,
    true,
  );
  const warnings = advanced.problems.filter((p) => p.level === "warning").map((p) => p.message).join("\n");
  assert.match(warnings, /NMC 10\.0\.0\.2 is in no advanced UPS setup/);
  assert.match(warnings, /Shutdown\.turnOffUps is ignored with advanced UPS setups/);
  assert.match(
    warnings,
    /no advanced UPS setup has shutdownThisServer = true: this server is never shut down/,
  );
  // One example section in the fresh file and one set of README rows, as for the SSH actions.
  assert.equal((defaultConfigText().match(/^\[advanced_ups_setup_/gm) ?? []).length, 1);
  assert.match(readmeConfigSection(), /\| advanced_ups_setup_1 \.\.\. _9 \| `minimumHealthy` \|/);
});

Deno.test("setups verdict: the words of status and the dashboard", () => {
  const base = {
    section: "advanced_ups_setup_1",
    name: "servers",
    cards: ["a", "b", "c"],
    minimumHealthy: 2,
    shutdownThisServer: true,
    healthy: 2,
    criticalCards: ["a"],
    phase: "idle" as const,
    step: "",
    countdowns: [],
  };
  assert.equal(setupVerdict(base), "2 of 3 healthy, needs 2: no shutdown");
  assert.equal(setupVerdict({ ...base, shutdownThisServer: false }), "2 of 3 healthy, needs 2: no actions");
  const countdown = {
    key: "PowerFailed@set",
    eventId: "PowerFailed" as const,
    cards: ["a", "b"],
    formedAt: 0,
    delayMs: 120_000,
    dueAt: 120_000,
    reason: "PowerFailed on 2 of 3 UPSs (2 needed), shutdown delay 120 s",
    remainingMs: 41_200,
  };
  assert.equal(
    setupVerdict({ ...base, healthy: 1, countdowns: [countdown] }),
    "1 of 3 healthy, needs 2: shutdown in 42 s (PowerFailed on 2 of 3 UPSs (2 needed), shutdown delay 120 s)",
  );
  assert.equal(
    setupVerdict({ ...base, healthy: 1, phase: "running", step: "shutdown command file" }),
    "1 of 3 healthy, needs 2: shutdown running (shutdown command file)",
  );
  assert.equal(
    setupVerdict({
      ...base,
      shutdownThisServer: false,
      phase: "done",
      rearms: "when no critical condition holds",
    }),
    "2 of 3 healthy, needs 2: done: its actions ran, this server stays up; re-arms when no critical condition holds",
  );
  const lines = formatStatus({
    time: new Date(0).toISOString(),
    setups: [{ name: "servers", verdict: "x y" }],
  }, "u");
  assert.ok(lines.includes("setup servers: x y"), lines.join("\n"));
});

Deno.test("setups drill: each setup's steps at their second, the OS step once", async () => {
  const storage = setup(1, {
    name: "storage",
    cards: ["10.0.1.1", "10.0.1.2"],
    minimumHealthy: 2,
    shutdownThisServer: false,
    sshActions: ["nas"],
    turnOffUps: true,
  });
  const servers = setup(2, { name: "servers", cards: ["10.0.3.1"], sshActions: ["hypervisor"] });
  const config = setupsConfig(
    ["10.0.1.1", "10.0.1.2", "10.0.3.1"],
    [storage, servers],
    [
      sshAction(0, "nas", { duration: 40 }),
      sshAction(1, "hypervisor", { duration: 15 }),
      sshAction(2, "switch"),
    ],
  );
  // Only a storage UPS fails: its actions run at +180 s (60 s step + 120 s delay), the host stays up.
  const one = await runDrill(config, {
    steps: ["normal", "power-failure"],
    stepSeconds: 60,
    only: ["10.0.1.1"],
  });
  const at = (r: typeof one, text: string) => r.timeline.find((e) => e.text.includes(text))?.at;
  assert.equal(
    at(one, "SetupActionsStarting: "),
    180,
    one.timeline.map((e) => `${e.at} ${e.text}`).join("\n"),
  );
  assert.equal(at(one, "would run SSH action nas on pcns@192.0.2.10:22"), 180);
  assert.match(
    one.timeline.find((e) => e.text.includes("SSH action nas"))!.text,
    /for advanced UPS setup storage/,
  );
  assert.equal(at(one, "SetupActionsDone: "), 220, "after its 40 s SSH action");
  assert.equal(at(one, "would run SSH action switch"), undefined, "the host's own action does not run");
  assert.equal(one.osShutdownAt, undefined);

  // The server UPS fails: its setup runs its action, then the host's sequence (switch, settle 70 s).
  const two = await runDrill(config, {
    steps: ["normal", "power-failure"],
    stepSeconds: 60,
    only: ["10.0.3.1"],
  });
  assert.equal(at(two, "would run SSH action hypervisor"), 180);
  assert.equal(at(two, "ShutdownStarting: "), 195);
  assert.equal(at(two, "would run SSH action switch"), 195);
  assert.equal(two.osShutdownAt, 195 + 20 + 70);
  assert.equal(two.timeline.filter((e) => e.text.startsWith("OsShutdown:")).length, 1);
});
