/**
 * Issue 13 items 2 and 11 where the browser matters, in Debian's Chromium (npm playwright-core): the
 * Certificate page answers an RSA-1024 upload with an error instead of "Saved." (and the next start can
 * still listen), and with `allowCommandEdits = false` the Shutdown and Events pages show the command keys
 * read-only while the other settings still save. Screenshots go to test-output/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { ADMIN_PASSWORD, fixturePair, serviceIni, startWebService } from "./fixtures/config/web.ts";
import { CARD } from "./helpers/packets.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const inCi = Deno.env.get("CI") === "true";
const OUT = fileURLToPath(new URL("../test-output/", import.meta.url));

Deno.test({
  name:
    "config browser: RSA-1024 upload refused on the Certificate page; command keys read-only on the settings pages",
  ignore: !hasChromium && !inCi,
  sanitizeResources: false, // Chromium's pipes are owned by playwright
  sanitizeOps: false,
  async fn() {
    if (!hasChromium) throw new Error(`${CHROMIUM} not found: run apt-get install chromium (.ci/run does)`);
    await Deno.mkdir(OUT, { recursive: true });
    const w = await startWebService((p) =>
      serviceIni(p, {
        WebUI: ["allowCommandEdits = false"],
        Shutdown: [
          "osShutdownCommand = /opt/site/stop-host-test",
          "shutdownCommandFile =",
          "settleDelay = 70",
        ],
        Events: ["event_PowerFailed_commandFilePath = /opt/site/on-battery.sh"],
      })
    );
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
        ],
      });
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        viewport: { width: 1200, height: 900 },
      });
      const page = await context.newPage();
      await page.goto(`${w.base}/login`);
      await page.fill('input[name="username"]', CARD.username);
      await page.fill('input[name="password"]', ADMIN_PASSWORD);
      await Promise.all([page.waitForURL(`${w.base}/`), page.click('main button[type="submit"]')]);

      // Item 2: an RSA-1024 pair is refused with the reason, nothing is "Saved."
      const rsa1024 = await fixturePair("rsa1024");
      await page.goto(`${w.base}/certificate`);
      const fingerprint = await page.textContent('[data-field="fingerprint"]');
      await page.fill('textarea[name="certificate"]', rsa1024.cert);
      await page.fill('textarea[name="key"]', rsa1024.key);
      await Promise.all([
        page.waitForLoadState("domcontentloaded"),
        page.click('main button[type="submit"]'),
      ]);
      await page.waitForSelector(".banner.error");
      assert.match((await page.textContent(".banner.error")) ?? "", /RSA 1024 bits.*at least 2048/);
      assert.doesNotMatch((await page.textContent("main")) ?? "", /Saved\./);
      assert.equal(
        await page.textContent('[data-field="fingerprint"]'),
        fingerprint,
        "the certificate stays",
      );
      await page.screenshot({ path: join(OUT, "config-01-certificate-rsa1024.png"), fullPage: true });

      // Item 11: the command keys are shown read-only; the rest of the page saves.
      await page.goto(`${w.base}/settings/shutdown`);
      for (const key of ["Shutdown.osShutdownCommand", "Shutdown.shutdownCommandFile"]) {
        assert.equal(await page.$(`input[name="${key}"]`), null, `${key} has no editable input`);
        const shown = await page.textContent(`[data-locked="${key}"]`);
        assert.match(shown ?? "", /only in pcnsconfig\.ini/, key);
      }
      assert.match(
        (await page.textContent('[data-locked="Shutdown.osShutdownCommand"]')) ?? "",
        /\/opt\/site\/stop-host-test/,
      );
      await page.fill('input[name="Shutdown.settleDelay"]', "45");
      await Promise.all([page.waitForURL(/saved=1/), page.click('main button[type="submit"]')]);
      const ini = await Deno.readTextFile(w.configPath);
      assert.match(ini, /^settleDelay = 45$/m);
      assert.match(ini, /^osShutdownCommand = \/opt\/site\/stop-host-test$/m, "the command is untouched");
      await page.screenshot({ path: join(OUT, "config-02-shutdown-locked.png"), fullPage: true });

      await page.goto(`${w.base}/settings/events`);
      assert.equal(await page.$('input[name="Events.event_PowerFailed_commandFilePath"]'), null);
      assert.equal(await page.$('input[name="Events.event_PowerFailed_enableCommandFile"]'), null);
      assert.ok(
        await page.$('input[name="Events.event_PowerFailed_shutdownDelay"]'),
        "other event keys stay editable",
      );
      // The delays are in the event's details panel of the Event actions table (issue 15).
      await page.click('[data-event="PowerFailed"] summary');
      await page.fill('input[name="Events.event_PowerFailed_shutdownDelay"]', "150");
      await Promise.all([page.waitForURL(/saved=1/), page.click('main button[type="submit"]')]);
      const after = await Deno.readTextFile(w.configPath);
      assert.match(after, /^event_PowerFailed_shutdownDelay = 150$/m);
      assert.match(after, /^event_PowerFailed_commandFilePath = \/opt\/site\/on-battery\.sh$/m);
    } finally {
      await browser?.close();
      await w.stop();
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
