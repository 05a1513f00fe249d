/**
 * The [Email] fields in the web UI (the Notifications settings page) against a real config store: the
 * fields are there, the password is never sent to the browser, bad values get field-level errors and
 * nothing is saved, good ones are saved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configText, openStore, withTempDir } from "./fixtures/config/helpers.ts";
import { settingsClient } from "./helpers/settings_app.ts";

const PASSWORD = "Correct-Horse-7-battery";
const SMTP_SECRET = "Smtp-Pass-Never-Shown-5";

Deno.test("web UI: the Notifications page edits [Email] with field-level errors; the password never reaches the page", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      path,
      configText({
        "NetworkManagementCard.password": PASSWORD,
        "Email.smtpHost": "mail.example.com",
        "Email.user": "ups",
        "Email.password": SMTP_SECRET,
        "Email.from": "ups@example.com",
        "Email.to_1": "ops@example.com",
      }),
    );
    const { store } = await openStore(path);
    try {
      const { request } = await settingsClient(store, "apc", PASSWORD);
      const page = await (await request("/settings/notifications")).text();
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1];
      for (const key of ["smtpHost", "smtpPort", "security", "user", "password", "from", "to_1", "to_10"]) {
        assert.match(page, new RegExp(`name="Email\\.${key}"`), `the page has Email.${key}`);
      }
      assert.match(page, /<input[^>]*name="Email\.password"[^>]*type="password"[^>]*value=""/);
      assert.ok(!page.includes(SMTP_SECRET), "the SMTP password is not in the page");

      const bad = await request("/settings/notifications", {
        _csrf: csrf,
        "Email.to_2": "not-an-address",
        "Email.smtpPort": "99999",
        "Email.security": "ssl",
        "Email.subjectPrefix": "[UPS]",
      });
      assert.equal(bad.status, 400);
      const html = await bad.text();
      for (const key of ["to_2", "smtpPort", "security"]) {
        const field = new RegExp(
          `<div class="[^"]*invalid[^"]*">(?:(?!<div class="field).)*name="Email\\.${key}"`,
          "s",
        );
        assert.match(html, field, `Email.${key} is marked invalid`);
      }
      assert.match(html, /Email\.to_2 = &quot;not-an-address&quot;: must be an e-mail address/);
      assert.match(html, /must be 1-65535/);
      assert.equal(store.values.get("Email.subjectPrefix"), "[pcns-agent]", "nothing of a bad form is saved");
      assert.ok(!html.includes(SMTP_SECRET));

      const good = await request("/settings/notifications", {
        _csrf: csrf,
        "Email.to_2": "it@example.org",
        "Email.security": "tls",
        "Email.password": "",
      });
      assert.equal(good.status, 303);
      assert.equal(store.current.notifications.email!.to.join(","), "ops@example.com,it@example.org");
      assert.equal(store.current.notifications.email!.smtpPort, 465, "the port follows security = tls");
      assert.equal(
        store.current.notifications.email!.password,
        SMTP_SECRET,
        "an empty password field keeps it",
      );
    } finally {
      await store.close();
    }
  });
});
