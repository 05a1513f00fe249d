/**
 * What the UI, the CLI and the event log say about the shutdown must be
 * true: enableShutdown is fixed for the events that always shut down, not
 * offered for events that cannot, and a dry run names what it did not do.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { actionSettings } from "../src/agent/wiring.ts";
import { evaluateConfig } from "../src/config/evaluate.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { EventsSettingsPage } from "../src/web/pages/settings.tsx";
import { defaultValues } from "../src/config/schema.ts";
import { configText } from "./fixtures/config/helpers.ts";
import { runMain } from "./fixtures/service/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { NO_ACTIONS, testConfig } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";

const check = (changes: Record<string, string>, strict = true) =>
  evaluateConfig(configText(changes), { file: "pcnsconfig.ini", backupFile: "backup.ini", strict });

Deno.test("item 8: enableShutdown=false for LowBattery/UpsTurnOffInitiated is refused with the reason", () => {
  for (const id of ["LowBattery", "UpsTurnOffInitiated"]) {
    const strict = check({ [`Events.event_${id}_enableShutdown`]: "false" });
    assert.equal(strict.ok, false, id);
    const message = strict.problems.find((p) => p.key === `Events.event_${id}_enableShutdown`)?.message;
    assert.match(message ?? "", new RegExp(`${id} always shuts the host down.*cannot be disabled`));
    // At start (lenient) the file is corrected to the value in effect, with a warning.
    const lenient = check({ [`Events.event_${id}_enableShutdown`]: "no" }, false);
    assert.equal(lenient.ok, true);
    assert.equal(lenient.values.get(`Events.event_${id}_enableShutdown`), "true");
    assert.ok(lenient.problems.some((p) => p.level === "warning" && p.key?.includes(id)));
  }
  assert.equal(check({ "Events.event_LowBattery_enableShutdown": "true" }).ok, true);
});

Deno.test("item 8: events that cannot shut the host down refuse enableShutdown=true and a shutdown delay", () => {
  for (const id of ["PowerRestored", "LowBatteryCleared", "CommunicationEstablished", "ShutdownStarting"]) {
    const on = check({ [`Events.event_${id}_enableShutdown`]: "true" });
    assert.equal(on.ok, false, id);
    assert.match(on.problems[0].message, new RegExp(`${id} cannot shut the host down`));
    const delay = check({ [`Events.event_${id}_shutdownDelay`]: "30" });
    assert.equal(delay.ok, false, id);
  }
  for (const id of ["PowerFailed", "CommunicationLost", "Overload", "RuntimeExceeded"]) {
    assert.equal(check({ [`Events.event_${id}_enableShutdown`]: "true" }).ok, true, id);
  }
  // A config built in code cannot sneak one in either.
  const base = testConfig();
  const settings = actionSettings({
    ...base,
    events: { ...base.events, PowerRestored: { ...NO_ACTIONS, enableShutdown: true } },
  });
  assert.equal(settings.policy.shutdownDelays.has("PowerRestored"), false);
});

Deno.test("item 8: config set / config check refuse LowBattery enableShutdown=false (CLI)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-truth-" });
  try {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(path, configText(), { mode: 0o600 });
    const set = await runMain([
      "config",
      "set",
      "--config",
      path,
      "Events.event_LowBattery_enableShutdown=false",
    ]);
    assert.equal(set.code, 1, set.stdout + set.stderr);
    assert.match(set.stderr, /LowBattery always shuts the host down/);
    await Deno.writeTextFile(
      path,
      configText({ "Events.event_UpsTurnOffInitiated_enableShutdown": "false" }),
    );
    const checked = await runMain(["config", "check", "--config", path]);
    assert.equal(checked.code, 1, checked.stdout);
    assert.doesNotMatch(checked.stdout, /: OK$/m);
    assert.match(checked.stdout, /UpsTurnOffInitiated always shuts the host down/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("item 8: the Events page shows the forced shutdown as fixed and offers none where it cannot happen", () => {
  const html = String(
    EventsSettingsPage({
      title: "Events",
      csrf: "t",
      secure: true,
      path: "/settings/events",
      values: defaultValues(),
    }),
  );
  const input = (key: string) =>
    new RegExp(
      `<input[^>]*name="Events\\.${key}"[^>]*type="checkbox"|<input[^>]*type="checkbox"[^>]*name="Events\\.${key}"`,
    );
  assert.match(html, input("event_PowerFailed_enableShutdown"));
  for (const key of ["LowBattery", "UpsTurnOffInitiated", "PowerRestored", "ShutdownStarting"]) {
    assert.doesNotMatch(html, input(`event_${key}_enableShutdown`), key);
    assert.doesNotMatch(html, new RegExp(`name="Events\\.event_${key}_enableShutdown"`), key);
  }
  assert.match(html, /LowBattery[\s\S]*?always shuts the host down/);
  assert.doesNotMatch(html, new RegExp(`name="Events\\.event_PowerRestored_shutdownDelay"`));
});

Deno.test("item 8: a dry run names what it did not do (no 'sent' turn-off, no 'finished' command file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-truth-" });
  const script = join(dir, "on-shutdown.sh");
  const marker = join(dir, "ran");
  await Deno.writeTextFile(script, `#!/bin/sh\ntouch '${marker}'\n`);
  await Deno.chmod(script, 0o755);
  const { fake, clock } = fakeClock();
  const base = testConfig();
  const config = {
    ...base,
    shutdown: {
      ...base.shutdown,
      turnOffUps: true,
      shutdownCommandFile: script,
      shutdownCommandFileDuration: 30,
    },
  };
  const agent = Agent.start({ config, dataDir: dir, logger: memoryLogger().logger, clock, dryRun: true });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  try {
    agent.receive(statusPacket({ su: 10, status: 0x08 }));
    agent.receive(statusPacket({ su: 11, status: 0x50 }));
    await fake.tickAsync(120_000);
    const ids = events.map((e) => e.id);
    assert.ok(ids.includes("OsShutdown"), ids.join(" "));
    assert.equal(ids.includes("UpsTurnOffSent"), false, "nothing was sent");
    assert.equal(ids.includes("CommandFileRun"), false, "nothing ran");
    assert.match(events.find((e) => e.id === "UpsTurnOffSkipped")?.message ?? "", /dry run: would send/);
    assert.match(
      events.find((e) => e.id === "CommandFileSkipped")?.message ?? "",
      /dry run: would run .*on-shutdown/,
    );
    assert.match(events.find((e) => e.id === "OsShutdown")!.message, /dry run/);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
  } finally {
    await agent.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
