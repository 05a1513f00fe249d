import assert from "node:assert/strict";
import { join } from "node:path";
import { formatTimeline, runDrill } from "../src/drill/drill.ts";
import { testConfig } from "./helpers/agent.ts";

Deno.test("drill: an outage on a single UPS prints the exact timeline and runs nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-drill-" });
  const script = join(dir, "stop-vms");
  const marker = join(dir, "ran");
  await Deno.writeTextFile(script, `#!/bin/sh\ntouch '${marker}'\n`);
  await Deno.chmod(script, 0o755);
  const base = testConfig({ cards: ["10.0.0.5"] });
  const config = {
    ...base,
    shutdown: {
      ...base.shutdown,
      turnOffUps: true,
      shutdownCommandFile: script,
      shutdownCommandFileDuration: 30,
    },
  };
  const result = await runDrill(config, { steps: ["normal", "power-failure"], stepSeconds: 60 });
  const at = (text: string) => result.timeline.find((e) => e.text.includes(text))?.at;
  assert.equal(at("PowerFailed:"), 60);
  assert.equal(at("ShutdownStarting"), 180, "120 s on-battery delay");
  assert.equal(at("would turn the UPS off through NMC 10.0.0.5"), 180);
  assert.equal(at(`would run command file ${script}`), 180);
  assert.equal(result.osShutdownAt, 280, "30 s command file + 70 s settle delay");
  assert.match(formatTimeline(result).at(-1)!, /the OS would be shut down at \+280.0 s/);
  await assert.rejects(Deno.stat(marker), Deno.errors.NotFound, "the drill never runs the command file");

  // A command file that cannot run is called out, and the timeline shows the sequence without it.
  const broken = { ...config, shutdown: { ...config.shutdown, shutdownCommandFile: join(dir, "missing") } };
  const without = await runDrill(broken, { steps: ["normal", "power-failure"], stepSeconds: 60 });
  assert.match(
    without.timeline[0].text,
    /Shutdown\.shutdownCommandFile = .*missing: .*does not exist: it will NOT run/,
  );
  assert.equal(without.osShutdownAt, 250);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("drill: power back before the delay ends cancels, and a silent card raises CommunicationLost only", async () => {
  const config = testConfig({ cards: ["10.0.0.5"] });
  const back = await runDrill(config, { steps: ["normal", "power-failure", "restore"], stepSeconds: 100 });
  assert.equal(back.osShutdownAt, undefined);
  assert.ok(back.timeline.some((e) => e.text.startsWith("ShutdownCancelled") && e.at === 200));
  const silent = await runDrill(config, { steps: ["normal", "silence"], stepSeconds: 10 });
  assert.equal(silent.osShutdownAt, undefined);
  const lost = silent.timeline.find((e) => e.text.startsWith("CommunicationLost"));
  assert.ok(lost && lost.at >= 55 && lost.at <= 60, `comm lost at ${lost?.at}`);
});

Deno.test("drill: redundant UPSs: one on battery is only logged, both shut down after the delay", async () => {
  const base = testConfig({ cards: ["10.0.0.5", "10.0.0.6"] });
  const config = { ...base, nmc: { ...base.nmc, mode: "redundant" as const } };
  const one = await runDrill(config, {
    steps: ["normal", "power-failure"],
    stepSeconds: 30,
    only: ["10.0.0.5"],
  });
  assert.equal(one.osShutdownAt, undefined);
  assert.ok(one.timeline.some((e) => e.text.startsWith("PowerFailed") && e.text.includes("10.0.0.5")));
  const both = await runDrill(config, { steps: ["normal", "power-failure"], stepSeconds: 30 });
  assert.equal(both.osShutdownAt, 30 + 120 + 70);
});

Deno.test("item 8: drill on a file with invalid values prints every problem config check would and refuses unless --force", async () => {
  const { runMain } = await import("./fixtures/service/agent.ts");
  const { CARD } = await import("./helpers/packets.ts");
  const dir = await Deno.makeTempDir({ prefix: "pcns-drill-invalid-" });
  try {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      path,
      [
        "[NetworkManagementCard]",
        `username = ${CARD.username}`,
        `authenticationPhrase = ${CARD.authenticationPhrase}`,
        "ip_1 = 10.0.0.5",
        "[Shutdown]",
        "settleDelay = soon",
        "[Events]",
        "event_PowerFailed_shutdownDelay = -5",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const before = await Deno.readTextFile(path);
    const refused = await runMain(["drill", "--config", path]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /pcnsconfig\.ini:6: .*settleDelay = "soon"/);
    assert.match(refused.stderr, /pcnsconfig\.ini:8: .*event_PowerFailed_shutdownDelay = "-5"/);
    assert.match(refused.stderr, /--force/);
    assert.doesNotMatch(refused.stdout, /result:/, "no timeline");

    const forced = await runMain(["drill", "--config", path, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /settleDelay = "soon"/, "the problems are still printed");
    assert.match(
      forced.stdout,
      /result: the OS would be shut down at \+250\.0 s/,
      "with the defaults used at start",
    );
    assert.equal(await Deno.readTextFile(path), before, "the drill never rewrites the file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
