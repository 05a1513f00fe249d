/**
 * Issue 15 item 2 in Debian's Chromium against the real service: the first start goes on past the
 * credentials to the card (address, protocol, port) with the client-list warning up front, a live Check
 * details against a simulated card's web server, the UPS configuration, the turn-off choice and the shutdown
 * timing, and ends on the dashboard; every answer lands in the ini; the guide can be run again.
 */
import assert from "node:assert/strict";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { NmcWebServer } from "../src/sim/http.ts";
import { ADMIN_PASSWORD, startWebService } from "./fixtures/config/web.ts";
import { CARD } from "./helpers/packets.ts";
import { ignoreBrowser, launch, openContext, pageWidth, shot } from "./helpers/ui.ts";

/** A free TCP port in the range the card's web server port may have (5000-32768). */
function cardPort(): number {
  for (let port = 20000 + Math.floor(Math.random() * 10000); port < 32768; port++) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken */ }
  }
  throw new Error("no free port in 20000-32767");
}

Deno.test({
  name: "ui guide: setup goes on to the card, check, UPS configuration, turn-off, timing, dashboard",
  ignore: ignoreBrowser,
  sanitizeResources: false, // Chromium's pipes are owned by playwright
  sanitizeOps: false,
  async fn() {
    const w = await startWebService((p) =>
      [
        "[NetworkManagementCard]",
        `username = ${CARD.username}`,
        `authenticationPhrase = ${CARD.authenticationPhrase}`, // as a fresh template has it
        "[Networking]",
        `udpPort = ${p.udp}`,
        "udpListenAddresses = 127.0.0.1",
        `httpPort = ${p.http}`,
        `httpsPort = ${p.https}`,
        "uiListenAddress = 127.0.0.1",
        "",
      ].join("\n")
    );
    const sim = new NmcSimulator({
      address: CARD.address,
      username: CARD.username,
      authenticationPhrase: CARD.authenticationPhrase,
      targets: [],
    });
    const port = cardPort();
    const web = new NmcWebServer(sim, { protocol: "http", port });
    const browser = await launch();
    try {
      const page = await (await openContext(browser, "desktop")).newPage();
      await page.goto(`${w.base}/`);
      assert.equal(page.url(), `${w.base}/setup`);
      await page.fill('input[name="token"]', w.service.web!.setupToken!);
      await page.fill('input[name="username"]', CARD.username);
      await page.fill('input[name="password"]', ADMIN_PASSWORD);
      await page.fill('input[name="confirm"]', ADMIN_PASSWORD);
      await page.fill('input[name="authenticationPhrase"]', CARD.authenticationPhrase);
      await Promise.all([page.waitForURL(`${w.base}/guide/card`), page.click('main button[type="submit"]')]);

      // The card, with the client-list warning up front.
      assert.match(
        (await page.textContent("[data-client-list]"))!,
        /added to the card's PowerChute .* client list/,
      );
      assert.match((await page.textContent("ol.guide-steps li.current"))!, /The Network Management Card/);
      await page.fill('input[name="NetworkManagementCard.ip_1"]', CARD.address);
      await page.selectOption('select[name="NetworkManagementCard.protocol"]', "http");
      await page.fill('input[name="NetworkManagementCard.port"]', String(port));
      await shot(page, "guide-1-card-desktop");
      await Promise.all([
        page.waitForURL(`${w.base}/guide/check`),
        page.click('.actions button[type="submit"]'),
      ]);

      // A live check against the card's web server.
      await Promise.all([
        page.waitForLoadState("domcontentloaded"),
        page.click('main button:text("Check details")'),
      ]);
      await page.waitForSelector("[data-checks] li");
      assert.match(
        (await page.textContent(`[data-checks] li[data-card="${CARD.address}"]`))!,
        /NMC 127\.0\.0\.1: OK/,
      );
      await shot(page, "guide-2-check-desktop");
      await Promise.all([page.waitForURL(`${w.base}/guide/ups`), page.click('a:text("Continue")')]);

      await page.check('input[name="NetworkManagementCard.mode"][value="single"]');
      await shot(page, "guide-3-ups-desktop");
      await Promise.all([
        page.waitForURL(`${w.base}/guide/turn-off`),
        page.click('.actions button[type="submit"]'),
      ]);
      await page.check('input[name="Shutdown.turnOffUps"][value="true"]');
      await Promise.all([
        page.waitForURL(`${w.base}/guide/timing`),
        page.click('.actions button[type="submit"]'),
      ]);
      await page.fill('input[name="Events.event_PowerFailed_shutdownDelay"]', "300");
      await shot(page, "guide-5-timing-desktop");
      await Promise.all([
        page.waitForURL(`${w.base}/?guided=1`),
        page.click('.actions button[type="submit"]'),
      ]);
      assert.match((await page.textContent(".banner.ok"))!, /Guided setup finished/);
      assert.ok(
        await page.isVisible(`section.ups[data-card="${CARD.address}"]`),
        "the dashboard shows the card",
      );

      const ini = await Deno.readTextFile(w.configPath);
      for (const line of ["ip_1 = 127.0.0.1", "protocol = http", `port = ${port}`, "mode = single"]) {
        assert.match(ini, new RegExp(`^${line}$`, "m"), line);
      }
      assert.match(ini, /^turnOffUps = true$/m);
      assert.match(ini, /^event_PowerFailed_shutdownDelay = 300$/m);

      // Run again from the settings: the answers are there.
      await page.goto(`${w.base}/settings/communication`);
      await Promise.all([page.waitForURL(`${w.base}/guide/card`), page.click("[data-guide]")]);
      assert.equal(await page.inputValue('input[name="NetworkManagementCard.ip_1"]'), CARD.address);
      // A bad answer is refused next to its field, and the guide stays on the step.
      await page.fill('input[name="NetworkManagementCard.port"]', "70000");
      await page.$eval("form.settings", (f) => (f as unknown as { noValidate: boolean }).noValidate = true);
      await page.click('.actions button[type="submit"]');
      await page.waitForSelector(".field.invalid");
      assert.match(page.url(), /\/guide\/card$/);
      assert.match((await page.textContent(".field.invalid"))!, /80, 443 or 5000-32768/);

      const phone = await (await openContext(browser, "phone")).newPage();
      await phone.goto(`${w.base}/login`);
      await phone.fill('input[name="username"]', CARD.username);
      await phone.fill('input[name="password"]', ADMIN_PASSWORD);
      await Promise.all([phone.waitForURL(`${w.base}/`), phone.click('main button[type="submit"]')]);
      await phone.goto(`${w.base}/guide/ups`);
      assert.ok((await pageWidth(phone)) <= 390);
      await shot(phone, "guide-3-ups-phone");
    } finally {
      await browser.close();
      await web.close();
      sim.close();
      await w.stop();
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
