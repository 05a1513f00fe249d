/** Command files named in the config are checked when it is applied: a broken one is reported and disabled. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { commandFileProblems } from "../src/agent/wiring.ts";
import { startTestAgent, testConfig } from "./helpers/agent.ts";
import { statusPacket } from "./helpers/packets.ts";

Deno.test("a missing or non-executable command file is reported at load and never run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cmdcheck-" });
  const notExecutable = join(dir, "notify.sh");
  const marker = join(dir, "ran");
  await Deno.writeTextFile(notExecutable, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o644 });
  await Deno.chmod(notExecutable, 0o644);
  const base = testConfig();
  const config = {
    ...base,
    events: {
      ...base.events,
      PowerFailed: { ...base.events.PowerFailed, enableCommandFile: true, commandFilePath: notExecutable },
    },
    shutdown: { ...base.shutdown, shutdownCommandFile: join(dir, "missing.sh") },
  };
  assert.deepEqual(commandFileProblems(config).map((p) => p.key), [
    "Events.event_PowerFailed_commandFilePath",
    "Shutdown.shutdownCommandFile",
  ]);
  const t = await startTestAgent(config);
  try {
    const warnings = t.events.filter((e) => e.id === "ConfigWarning").map((e) => e.message);
    assert.equal(warnings.length, 0, "events before the test subscribed are in the log, not in t.events");
    assert.ok(await t.agent.eventLogWritten(5000));
    const log = await Deno.readTextFile(join(t.dataDir, "EventLog.jsonl"));
    assert.match(log, /event_PowerFailed_commandFilePath = \S*notify\.sh: .*not executable.*disabled/);
    assert.match(log, /Shutdown\.shutdownCommandFile = \S*missing\.sh: .*does not exist/);
    t.agent.receive(statusPacket({ su: 10, status: 0x10 }));
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    assert.equal(t.events.some((e) => e.id.startsWith("CommandFile")), false, "nothing tried to run it");
  } finally {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config check reports a command file that cannot run as an error (exit 1)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cmdcheck-cli-" });
  try {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      path,
      "[NetworkManagementCard]\nusername = apc\nauthenticationPhrase = admin user phrase\nip_1 = 10.0.0.5\n" +
        `[Events]\nevent_PowerFailed_enableCommandFile = true\nevent_PowerFailed_commandFilePath = ${dir}/nope.sh\n`,
      { mode: 0o600 },
    );
    const main = fileURLToPath(new URL("../main.ts", import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "config", "check", "--config", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, text);
    assert.match(text, /error: .*Events\.event_PowerFailed_commandFilePath = .*nope\.sh: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
