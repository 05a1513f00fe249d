/**
 * Shared parts of the tests/ui_*_test.ts browser tests: Debian's Chromium through npm playwright-core
 * (headless, --no-sandbox), the two viewports (desktop 1280x800, phone 390x844), logging in, and
 * screenshots into test-output/screenshots/ (ignored by git). Every wait has a timeout.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ADMIN_PASSWORD } from "../fixtures/config/web.ts";
import { CARD } from "./packets.ts";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";
/** True when Chromium is installed. */
export const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
/** In CI a missing Chromium fails the test instead of skipping it. */
export const ignoreBrowser = !hasChromium && Deno.env.get("CI") !== "true";
/** Where screenshots go. */
export const SHOTS = fileURLToPath(new URL("../../test-output/screenshots/", import.meta.url));

/** The viewports every page is checked in. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;

/** Launches headless Chromium (throws with the fix when it is missing). */
export async function launch(): Promise<Browser> {
  if (!hasChromium) throw new Error(`${CHROMIUM} not found: run apt-get install chromium (.ci/run does)`);
  await Deno.mkdir(SHOTS, { recursive: true });
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A browser context in one viewport (phone: touch and a mobile user agent size). */
export async function openContext(
  browser: Browser,
  viewport: keyof typeof VIEWPORTS,
): Promise<BrowserContext> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: VIEWPORTS[viewport],
    ...(viewport === "phone" ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  context.setDefaultTimeout(10_000);
  return context;
}

/** Logs in on `base` with the test admin account and waits for the dashboard. */
export async function login(page: Page, base: string, password = ADMIN_PASSWORD): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', CARD.username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('main button[type="submit"]')]);
}

/** A full-page screenshot `name.png` in test-output/screenshots/. */
export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The page's full height in CSS pixels. */
export function pageHeight(page: Page): Promise<number> {
  return page.evaluate<number>("document.documentElement.scrollHeight");
}

/** The page's full width in CSS pixels (wider than the viewport: it scrolls sideways). */
export function pageWidth(page: Page): Promise<number> {
  return page.evaluate<number>("document.documentElement.scrollWidth");
}

/** Polls `probe` every 50 ms until it returns true, at most `timeoutMs`; fails with `what`. */
export async function until(probe: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
