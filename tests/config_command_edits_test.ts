/**
 * Issue 13 item 11: `[WebUI] allowCommandEdits = false` makes the keys that name commands the agent runs
 * (event command files, the shutdown command file, the OS shutdown command) editable only in the file: the
 * API and the settings pages refuse a change with an error naming the key; the key itself is never
 * editable from the web. Absent, it is true (existing files keep working); a fresh file sets it to false.
 */
import assert from "node:assert/strict";
import { defaultConfigText } from "../src/config/template.ts";
import { configText, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { cli, serviceIni, withWebService } from "./fixtures/config/web.ts";

const LOCKED = [
  ["Events.event_PowerFailed_commandFilePath", "/usr/local/bin/evil.sh"],
  ["Events.event_CommunicationLost_enableCommandFile", "true"],
  ["Shutdown.shutdownCommandFile", "/usr/local/bin/evil.sh"],
  ["Shutdown.osShutdownCommand", "/usr/local/bin/evil.sh"],
] as const;

const lockedIni = (p: { udp: number; http: number; https: number }) =>
  serviceIni(p, {
    WebUI: ["allowCommandEdits = false"],
    Shutdown: ["osShutdownCommand = /opt/site/stop-host-test", "settleDelay = 70"],
  });

Deno.test("command edits: with allowCommandEdits = false the API refuses each command key, naming it", async () => {
  await withWebService(async (w) => {
    const before = await Deno.readTextFile(w.configPath);
    for (const [key, value] of LOCKED) {
      const response = await w.api("PUT", "/api/v1/config", { [key]: value, "Shutdown.settleDelay": "60" });
      const answer = await response.json();
      assert.equal(response.status, 400, `${key}: ${JSON.stringify(answer)}`);
      assert.match(
        answer.errors[key],
        new RegExp(`${key.replace(/\./g, "\\.")} can only be changed in .*pcnsconfig\\.ini`),
      );
      assert.match(answer.errors[key], /allowCommandEdits = false/);
    }
    assert.equal(await Deno.readTextFile(w.configPath), before, "nothing written, not even settleDelay");

    // The same value is no change; other keys still change.
    const same = await w.api("PUT", "/api/v1/config", {
      "Shutdown.osShutdownCommand": "/opt/site/stop-host-test",
      "Shutdown.settleDelay": "60",
    });
    assert.equal(same.status, 200, JSON.stringify(await same.clone().json()));
    assert.deepEqual((await same.json()).changed, ["Shutdown.settleDelay"]);

    // The settings page refuses a hand-made form the same way.
    const page = await w.form("/settings/shutdown", {
      "Shutdown.osShutdownCommand": "/tmp/x",
      "Shutdown.settleDelay": "61",
    });
    assert.equal(page.status, 400);
    assert.match(await page.text(), /Shutdown\.osShutdownCommand can only be changed in/);
    assert.match(await Deno.readTextFile(w.configPath), /^osShutdownCommand = \/opt\/site\/stop-host-test$/m);
  }, lockedIni);
});

Deno.test("command edits: allowCommandEdits itself can never be changed through the API", async () => {
  for (const ini of [lockedIni, undefined]) {
    await withWebService(async (w) => {
      const response = await w.api("PUT", "/api/v1/config", { "WebUI.allowCommandEdits": "true" });
      assert.equal(response.status, 400);
      assert.match((await response.json()).errors["WebUI.allowCommandEdits"], /can only be changed in/);
    }, ini);
  }
});

Deno.test("command edits: absent means allowed (existing files keep working); the CLI on the host may always edit", async () => {
  await withWebService(async (w) => {
    const response = await w.api("PUT", "/api/v1/config", {
      "Shutdown.osShutdownCommand": "/opt/site/stop-host-now-test",
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ "WebUI.allowCommandEdits": "false" }));
    const run = await cli([
      "config",
      "set",
      "-c",
      path,
      "Shutdown.osShutdownCommand=/opt/site/stop-host-now-test",
    ]);
    assert.equal(run.code, 0, run.err.join("\n"));
  });
});

Deno.test("command edits: a fresh configuration file turns command edits off", () => {
  assert.match(defaultConfigText(), /^allowCommandEdits = false$/m);
});
