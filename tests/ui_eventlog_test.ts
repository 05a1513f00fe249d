/**
 * Issue 15 item 7 in Debian's Chromium against the real service: the event log shows human event names
 * and local time with the UTC offset, filters with ISO date fields, downloads JSON like CSV, keeps the
 * message visible on a phone, and clears the log through an audited, CSRF-protected action.
 */
import assert from "node:assert/strict";
import { startWebService } from "./fixtures/config/web.ts";
import { CARD } from "./helpers/packets.ts";
import { ignoreBrowser, launch, login, openContext, pageWidth, shot } from "./helpers/ui.ts";

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}$/;

Deno.test({
  name: "ui event log: human names, local time with offset, ISO filter, downloads, phone, audited clear",
  ignore: ignoreBrowser,
  sanitizeResources: false, // Chromium's pipes are owned by playwright
  sanitizeOps: false,
  async fn() {
    const w = await startWebService();
    const browser = await launch();
    try {
      const agent = w.service.agent;
      agent.emit({ id: "PowerFailed", nmc: CARD.address, note: "line voltage 0 V" });
      agent.emit({
        id: "CommandFileFailed",
        note: "/opt/site/on-battery.sh exited with 3: " + "a long explanation of what went wrong ".repeat(6),
      });
      agent.emit({ id: "PowerRestored", nmc: CARD.address });
      const page = await (await openContext(browser, "desktop")).newPage();
      await login(page, w.base);
      await page.goto(`${w.base}/events`);
      const row = page.locator('tr[data-id="PowerFailed"]');
      assert.match((await row.locator("td.event").textContent())!, /^UPS on battery PowerFailed$/);
      assert.match((await row.locator("time").textContent())!, LOCAL_TIME);
      assert.match(
        (await page.textContent("main"))!,
        /Times are this host's local time \(UTC[+-]\d{2}:\d{2}\)/,
      );

      // The event filter by human name; ISO date fields (the browser refuses another format).
      await page.selectOption('select[name="id"]', { label: "UPS on battery" });
      const today = new Date();
      const iso = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${
        String(today.getDate()).padStart(2, "0")
      }`;
      await page.fill('input[name="from"]', iso);
      await Promise.all([
        page.waitForURL(/id=PowerFailed/),
        page.click('form.filters button[type="submit"]'),
      ]);
      assert.equal(await page.locator("tbody tr").count(), 1);
      assert.equal(await page.inputValue('input[name="from"]'), `${iso} 00:00`);
      await page.fill('input[name="from"]', "12/02/2026");
      assert.equal(
        await page.$eval(
          'input[name="from"]',
          (e) => (e as unknown as { validity: { valid: boolean } }).validity.valid,
        ),
        false,
        "not an ISO date",
      );
      const bad = await page.goto(`${w.base}/events?from=12%2F02%2F2026`);
      assert.equal(bad?.status(), 400);
      assert.match(
        (await page.textContent(".banner.error"))!,
        /from: "12\/02\/2026" is not a date \(YYYY-MM-DD\)/,
      );
      await page.goto(`${w.base}/events`);
      await shot(page, "eventlog-desktop");

      // JSON downloads like CSV.
      for (const [label, name] of [["JSON", "pcns-agent-events.json"], ["CSV", "pcns-agent-events.csv"]]) {
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.click(`a:text-is("${label}")`),
        ]);
        assert.equal(download.suggestedFilename(), name);
        const path = await download.path();
        const text = await Deno.readTextFile(path!);
        assert.match(text, label === "JSON" ? /"id":"PowerFailed"/ : /PowerFailed/);
      }

      // The phone: rows become cards, the message stays visible, nothing scrolls sideways.
      const phone = await (await openContext(browser, "phone")).newPage();
      await login(phone, w.base);
      await phone.goto(`${w.base}/events`);
      await shot(phone, "eventlog-phone");
      const message = phone.locator('tr[data-id="CommandFileFailed"] td.message');
      assert.ok(await message.isVisible());
      const box = (await message.boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= 390, `message at x ${box.x}..${box.x + box.width}`);
      assert.ok((await pageWidth(phone)) <= 390, "no sideways scrolling");

      // Clearing: refused without the CSRF token, then done through the form and logged as an event.
      const forged = await page.request.post(`${w.base}/events/clear`, { form: { confirm: "yes" } });
      assert.equal(forged.status(), 403);
      assert.ok((await page.locator("tbody tr").count()) >= 3, "nothing cleared by the forged request");
      await page.click("details.danger summary");
      await page.check('input[name="confirm"]');
      await Promise.all([page.waitForURL(/cleared=1/), page.click('details.danger button[type="submit"]')]);
      assert.match((await page.textContent(".banner.ok"))!, /Event log cleared/);
      const rows = await page.$$eval("tbody tr", (trs) => trs.map((t) => t.getAttribute("data-id")));
      assert.deepEqual(rows, ["EventLogCleared"]);
      assert.match(
        (await page.textContent('tr[data-id="EventLogCleared"] td.message'))!,
        /Event log cleared: by "apc" from 127\.0\.0\.1: \d+ events deleted/,
      );
      await shot(page, "eventlog-cleared-desktop");
    } finally {
      await browser.close();
      await w.stop();
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
