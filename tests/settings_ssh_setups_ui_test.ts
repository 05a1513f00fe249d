/**
 * The [SSHActionN] and [advanced_ups_setup_N] settings pages against a real config store: field-level errors for
 * bad values (one key's own rule and a rule across keys), nothing saved from a bad form, the SSH password never
 * sent to the browser, and a good value saved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configText, openStore, withTempDir } from "./fixtures/config/helpers.ts";
import { settingsClient } from "./helpers/settings_app.ts";

const PASSWORD = "Correct-Horse-7-battery";
const SSH_SECRET = "Ssh-Pass-Never-Shown-9";

/** The HTML of the field of `name` marked invalid, with its messages (undefined when it is not marked). */
function invalidField(html: string, name: string): string | undefined {
  const escaped = name.replace(/[.]/g, "\\.");
  return new RegExp(
    `<div class="[^"]*invalid[^"]*">(?:(?!<div class="field).)*name="${escaped}"(?:(?!<div class="field).)*`,
    "s",
  )
    .exec(html)?.[0];
}

Deno.test("web UI: SSH action and advanced setup pages give field-level errors, save good values, never show the password", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      path,
      configText({
        "NetworkManagementCard.password": PASSWORD,
        "NetworkManagementCard.ip_1": "10.0.0.1",
        "NetworkManagementCard.ip_2": "10.0.0.2",
        "NetworkManagementCard.mode": "advanced",
        "WebUI.allowCommandEdits": "true", // the SSH host, port, ... are editable from the web (default false)
        "SSHAction0.name": "nas",
        "SSHAction0.host": "192.0.2.20",
        "SSHAction0.user": "ups",
        "SSHAction0.password": SSH_SECRET,
        "advanced_ups_setup_1.name": "rack-a",
        "advanced_ups_setup_1.cards": "10.0.0.1,10.0.0.2",
      }),
    );
    const { store } = await openStore(path);
    try {
      const { request } = await settingsClient(store, "apc", PASSWORD);

      const sshPage = await request("/settings/sshaction0");
      assert.equal(sshPage.status, 200);
      const sshHtml = await sshPage.text();
      assert.ok(!sshHtml.includes(SSH_SECRET), "the SSH password is not in the page");
      for (const key of ["name", "host", "port", "user", "keyFile", "commandFile", "phase", "duration"]) {
        assert.match(sshHtml, new RegExp(`name="SSHAction0\\.${key}"`), `the page has SSHAction0.${key}`);
      }
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(sshHtml)![1];

      const badSsh = await request("/settings/sshaction0", {
        _csrf: csrf,
        "SSHAction0.port": "70000",
        "SSHAction0.phase": "whenever",
        "SSHAction0.delay": "3",
      });
      assert.equal(badSsh.status, 400);
      const badSshHtml = await badSsh.text();
      assert.ok(invalidField(badSshHtml, "SSHAction0.port"), "the port is marked invalid");
      assert.ok(invalidField(badSshHtml, "SSHAction0.phase"), "the phase is marked invalid");
      assert.ok(!badSshHtml.includes(SSH_SECRET));
      assert.equal(store.values.get("SSHAction0.delay"), "0", "nothing of a bad form is saved");

      const setupPage = await (await request("/settings/advanced_ups_setup_1")).text();
      assert.match(setupPage, /name="advanced_ups_setup_1\.minimumHealthy"/);
      const badSetup = await request("/settings/advanced_ups_setup_1", {
        _csrf: csrf,
        "advanced_ups_setup_1.cards": "10.0.0.1,10.0.0.9",
        "advanced_ups_setup_1.minimumHealthy": "5",
      });
      assert.equal(badSetup.status, 400);
      const badSetupHtml = await badSetup.text();
      const cards = invalidField(badSetupHtml, "advanced_ups_setup_1.cards");
      assert.ok(cards, "an unknown card is marked on the cards field");
      assert.match(cards!, /10\.0\.0\.9/);
      assert.equal(store.values.get("advanced_ups_setup_1.cards"), "10.0.0.1,10.0.0.2");

      const good = await request("/settings/advanced_ups_setup_1", {
        _csrf: csrf,
        "advanced_ups_setup_1.minimumHealthy": "2",
      });
      assert.equal(good.status, 303);
      assert.equal(store.values.get("advanced_ups_setup_1.minimumHealthy"), "2");
      const tooMany = await request("/settings/advanced_ups_setup_1", {
        _csrf: csrf,
        "advanced_ups_setup_1.minimumHealthy": "3",
      });
      assert.equal(tooMany.status, 400, "more healthy UPSs than the setup has cannot be asked for");
      assert.ok(invalidField(await tooMany.text(), "advanced_ups_setup_1.minimumHealthy"));
      assert.equal(store.values.get("advanced_ups_setup_1.minimumHealthy"), "2");
    } finally {
      await store.close();
    }
  });
});
