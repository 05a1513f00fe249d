/**
 * The [SNMP] settings page against a real config store: field-level errors (a port out of range, a passphrase
 * shorter than SNMP's 8 characters), nothing saved from a bad form, secrets never sent to the browser.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configText, openStore, withTempDir } from "./fixtures/config/helpers.ts";
import { settingsClient } from "./helpers/settings_app.ts";

const PASSWORD = "Correct-Horse-7-battery";
const COMMUNITY = "Community-Never-Shown-3";

Deno.test("web UI: the SNMP page gives field-level errors, saves nothing of a bad form, never shows a secret", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      path,
      configText({ "NetworkManagementCard.password": PASSWORD, "SNMP.community_1": COMMUNITY }),
    );
    const { store } = await openStore(path);
    try {
      const { request } = await settingsClient(store, "apc", PASSWORD);
      const page = await (await request("/settings/snmp")).text();
      assert.match(page, /name="SNMP\.port"/);
      assert.ok(!page.includes(COMMUNITY), "the community is not in the page");
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1];
      const bad = await request("/settings/snmp", {
        _csrf: csrf,
        "SNMP.port": "70000",
        "SNMP.v3User_1": "monitor",
        "SNMP.v3AuthPassphrase_1": "short",
      });
      assert.equal(bad.status, 400);
      const html = await bad.text();
      for (const key of ["SNMP.port", "SNMP.v3AuthPassphrase_1"]) {
        const field = new RegExp(
          `<div class="[^"]*invalid[^"]*">(?:(?!<div class="field).)*name="${key.replace(".", "\\.")}"`,
          "s",
        );
        assert.match(html, field, `${key} is marked invalid`);
      }
      assert.ok(!html.includes(COMMUNITY) && !html.includes('value="short"'), "no secret echoed back");
      assert.equal(store.values.get("SNMP.port"), "161", "nothing of a bad form is saved");
      assert.equal(store.values.get("SNMP.v3User_1"), "");
    } finally {
      await store.close();
    }
  });
});
