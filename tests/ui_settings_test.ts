/**
 * Issue 15 items 1 and 8 in a real browser (Debian's Chromium, desktop 1280x800 and phone 390x844): the
 * Event actions page is a compact table (one row per event, human names, only the actions an event
 * supports, a details panel for delays and paths) that saves into the ini; every settings page has human
 * labels with the ini name as a hint and is at most 3 screens tall on a desktop; a 404 page with the menu,
 * short URLs that match the menu, the favicon, and the logout button in line with the menu.
 */
import assert from "node:assert/strict";
import { CONFIG_EVENT_IDS, keyDef } from "../src/config/schema.ts";
import { settingsMenu } from "../src/web/pages/settings_registry.ts";
import { serviceIni, startWebService } from "./fixtures/config/web.ts";
import { ignoreBrowser, launch, login, openContext, pageHeight, pageWidth, shot } from "./helpers/ui.ts";

Deno.test({
  name: "ui settings: event table, human labels, heights, 404, short URLs, favicon, logout alignment",
  ignore: ignoreBrowser,
  sanitizeResources: false, // Chromium's pipes are owned by playwright
  sanitizeOps: false,
  async fn() {
    const w = await startWebService((p) => serviceIni(p, { Shutdown: ["settleDelay = 70"] }));
    const browser = await launch();
    try {
      const desktop = await openContext(browser, "desktop");
      const page = await desktop.newPage();
      await login(page, w.base);

      // Item 1: the event table.
      await page.goto(`${w.base}/settings/events`);
      const rows = page.locator('[role="row"][data-event]');
      assert.equal(await rows.count(), CONFIG_EVENT_IDS.length, "one row per configurable event");
      const onBattery = page.locator('[data-event="PowerFailed"]');
      assert.equal(await onBattery.locator(".event-name").textContent(), "UPS on battery");
      for (const col of ["enableLogging", "enableNotification", "enableCommandFile", "enableShutdown"]) {
        assert.equal(
          await onBattery.locator(`[data-col="${col}"] input[type="checkbox"]`).count(),
          1,
          `PowerFailed has a ${col} switch`,
        );
      }
      // Only the actions an event supports: LowBattery always shuts down, PowerRestored cannot.
      assert.match(
        (await page.textContent('[data-event="LowBattery"] [data-col="enableShutdown"]'))!,
        /always/,
      );
      assert.equal(
        await page.locator('[data-event="PowerRestored"] [data-col="enableShutdown"] input').count(),
        0,
      );
      assert.equal(
        await page.locator(
          '[data-event="PowerRestored"] input[name="Events.event_PowerRestored_shutdownDelay"]',
        )
          .count(),
        0,
        "no shutdown delay for an event that cannot shut down",
      );
      // Delays and paths are in a closed details panel; human labels, the ini name as a hint.
      const delay = page.locator('input[name="Events.event_PowerFailed_shutdownDelay"]');
      assert.equal(await delay.isVisible(), false, "the panel starts closed");
      const height = await pageHeight(page);
      assert.ok(height <= 3 * 800, `Event actions page is ${height} px tall on a desktop`);
      await onBattery.locator("summary").click();
      assert.equal(await delay.isVisible(), true);
      const label = await page.textContent('label[for="f-Events-event_PowerFailed_shutdownDelay"]');
      assert.equal(label, "Shut down after (s)");
      assert.match(
        (await page.textContent("#f-Events-event_PowerFailed_shutdownDelay-hint"))!,
        /\[Events\] event_PowerFailed_shutdownDelay/,
      );
      await shot(page, "settings-events-desktop");
      await onBattery.locator('[data-col="enableNotification"] input[type="checkbox"]').check();
      await delay.fill("150");
      await Promise.all([page.waitForURL(/saved=1/), page.click('.actions button[type="submit"]')]);
      const ini = await Deno.readTextFile(w.configPath);
      assert.match(ini, /^event_PowerFailed_enableNotification = true$/m);
      assert.match(ini, /^event_PowerFailed_shutdownDelay = 150$/m);
      assert.ok(
        await page.locator(
          '[data-event="PowerFailed"] [data-col="enableNotification"] input[type="checkbox"]',
        ).isChecked(),
      );
      // A refused value opens its panel and says why next to the field.
      await onBattery.locator("summary").click();
      await page.fill('input[name="Events.event_PowerFailed_commandFilePath"]', "relative.sh");
      await page.click('.actions button[type="submit"]');
      await page.waitForSelector('[data-event="PowerFailed"] details[open] .field.invalid');
      assert.match((await page.textContent('[data-event="PowerFailed"] .field.invalid'))!, /absolute path/);
      await shot(page, "settings-events-error-desktop");

      // Every settings page: human labels (the raw key only as the hint), at most 3 screens on a desktop.
      const heights: Record<string, number> = {};
      // One page per menu entry (numbered sections such as [SSHAction0..9] share one entry and one layout).
      const menu = settingsMenu().map((e) => [e.href, e.members[0]?.[1] ?? e.label] as const);
      for (const [href, title] of menu) {
        await page.goto(`${w.base}${href}`);
        assert.equal(await page.textContent("h1"), title, href);
        assert.equal(
          await page.locator('nav.subnav a[aria-current="page"]').last().getAttribute("href"),
          href,
        );
        heights[href] = await pageHeight(page);
        assert.ok(heights[href] <= 3 * 800, `${href} is ${heights[href]} px tall on a desktop`);
        const labels = await page.$$eval(
          ".field.setting > label",
          (ls) => ls.map((l) => l.textContent ?? ""),
        );
        for (const text of labels) {
          assert.ok(!keyDef(text) && !/^[a-z]+[A-Z]\w*$/.test(text), `${href}: label "${text}" is a raw key`);
        }
        await shot(page, `settings${href.replaceAll("/", "-")}-desktop`);
      }
      console.log(`settings page heights (px, desktop): ${JSON.stringify(heights)}`);

      // Item 8: the 404 page, short URLs, favicon, logout alignment.
      const missing = await page.goto(`${w.base}/comunication`);
      assert.equal(missing?.status(), 404);
      assert.equal(await page.textContent("h1"), "Page not found");
      assert.match((await page.textContent("[data-not-found]"))!, /Did you mean Communication\?/);
      assert.ok(await page.isVisible('nav[aria-label="Main"] a[href="/"]'), "the menu is on the 404 page");
      await shot(page, "not-found-desktop");
      await page.goto(`${w.base}/communication`);
      assert.equal(page.url(), `${w.base}/settings/communication`);
      await page.goto(`${w.base}/settings`);
      assert.equal(page.url(), `${w.base}/settings/communication`);
      const icon = await page.request.get(`${w.base}/favicon.ico`);
      assert.equal(icon.status(), 200);
      assert.equal(icon.headers()["content-type"], "image/svg+xml");
      assert.equal(await page.getAttribute('link[rel="icon"]', "href"), "/assets/favicon.svg");
      const centre = async (selector: string) => {
        const box = (await page.locator(selector).first().boundingBox())!;
        return box.y + box.height / 2;
      };
      const offset = Math.abs((await centre("header form.logout button")) - (await centre("header nav a")));
      assert.ok(offset <= 3, `logout button ${offset} px off the menu line`);
      assert.deepEqual(
        await page.$$eval('nav[aria-label="Main"] a', (as) => as.map((a) => a.textContent)),
        ["Dashboard", "Event log", "Settings", "Account"],
      );

      // The phone: the event table keeps one row per event, with its switches labelled.
      const phone = await openContext(browser, "phone");
      const p = await phone.newPage();
      await login(p, w.base);
      await p.goto(`${w.base}/settings/events`);
      assert.equal(await p.locator('[role="row"][data-event]').count(), CONFIG_EVENT_IDS.length);
      assert.ok(await p.isVisible('[data-event="PowerFailed"] [data-col="enableLogging"] .cell-label'));
      const width = await pageWidth(p);
      assert.ok(width <= 390, `the event table is ${width} px wide on a phone`);
      await shot(p, "settings-events-phone");
      for (const [href] of menu) {
        await p.goto(`${w.base}${href}`);
        const wide = await pageWidth(p);
        assert.ok(wide <= 390, `${href} is ${wide} px wide on a phone`);
        await shot(p, `settings${href.replaceAll("/", "-")}-phone`);
      }
      await p.goto(`${w.base}/nope`);
      await shot(p, "not-found-phone");
    } finally {
      await browser.close();
      await w.stop();
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
