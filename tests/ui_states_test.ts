/**
 * Issue 15 items 4, 5 and 6 for states a live simulator cannot reach in a few seconds, in Debian's
 * Chromium (desktop and phone): the web app over a hand-made agent status, served on loopback TLS.
 * Communication lost with packets rejected (wrong phrase, unknown card address) explained with the remedy
 * and the values marked stale; a card stuck on replay counters with its Reset button; a parallel setup
 * explained ("1 of 3 UPSs critical: no shutdown"); a 24 h chart with an outage and a gap, its axes, legend
 * and hover/keyboard values; the UPS details (firmware, transfer cause, self-test date, runtime exceeded,
 * battery replacement).
 */
import assert from "node:assert/strict";
import type { AgentStatus } from "../src/agent/status.ts";
import { hashPassword } from "../src/config/credentials.ts";
import type { AgentConfig } from "../src/config/types.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import type { HistorySample } from "../src/ups/history.ts";
import { NO_RUNTIME_CONDITIONS } from "../src/ups/runtime.ts";
import type { UpsState } from "../src/ups/state.ts";
import { systemClock } from "../src/time/clock.ts";
import { LoginThrottle } from "../src/web/auth/lockout.ts";
import { SessionStore } from "../src/web/auth/sessions.ts";
import { SetupToken } from "../src/web/auth/setup.ts";
import { createWebApp } from "../src/web/app.tsx";
import type { WebAppContext } from "../src/web/context.ts";
import { ADMIN_PASSWORD, fixturePair } from "./fixtures/config/web.ts";
import { testConfig } from "./helpers/agent.ts";
import { ignoreBrowser, launch, login, openContext, pageWidth, shot } from "./helpers/ui.ts";

const NOW = Date.now();
const [A, B, C] = ["10.0.0.5", "10.0.0.6", "10.0.0.7"];

function ups(card: string, change: Partial<UpsState>): UpsState {
  return {
    card,
    comm: "ok",
    reading: {
      model: "Smart-UPS 1500",
      serial: "AS123",
      firmware: "UPS 09.3 / ID18",
      lastTransferCause: "Low line voltage",
      selfTestResult: "Passed",
      hoursSinceSelfTest: 50,
      batteryDate: "2024-03-01",
      batteryPercent: 97,
      loadPercent: 31,
      lineVoltage: 229,
      runtimeMinutes: 41,
    },
    flags: decodeStatusByte(0x08),
    shuttingDown: false,
    runtime: NO_RUNTIME_CONDITIONS,
    lastStatusAt: NOW - 2000,
    statusPackets: 10,
    configPackets: 1,
    lowBatteryCritical: false,
    lowBatteryOnLine: false,
    batteryDisconnected: false,
    ...change,
  };
}

/** 24 h at one sample a minute: an outage 6 h ago (on battery 20 min, battery falling) and a 40 min gap. */
function dayHistory(): HistorySample[] {
  const out: HistorySample[] = [];
  for (let t = NOW - 24 * 3600_000 + 60_000; t <= NOW; t += 60_000) {
    const ago = (NOW - t) / 60_000;
    if (ago > 120 && ago < 160) continue; // agent stopped
    const outage = ago > 340 && ago < 360;
    out.push({
      time: t,
      batteryPercent: outage ? 100 - (360 - ago) * 2 : 100,
      loadPercent: 30 + 5 * Math.sin(ago / 50),
      lineVoltage: outage ? 0 : 230,
      ...(outage ? { onBattery: true } : {}),
    });
  }
  return out;
}

function harness() {
  const base = testConfig({ cards: [A, B, C] });
  const config: AgentConfig = {
    ...base,
    nmc: { ...base.nmc, mode: "parallel", password: hashPassword(ADMIN_PASSWORD) },
  };
  const status: AgentStatus = {
    udp: [],
    packets: {
      accepted: 120,
      unsignedIgnored: 0,
      rejected: {
        "unknown-source": 0,
        "oversize": 0,
        "too-many-lines": 0,
        "malformed": 0,
        "bad-md5": 14,
        "unknown-card": 3,
        "no-counters": 0,
        "replay": 0,
      },
    },
    dryRun: false,
    shutdown: {
      phase: "idle",
      step: "",
      countdowns: [],
      active: [{ id: "PowerFailed", card: A, since: NOW - 60_000 }],
    },
    ups: [
      ups(A, {
        flags: decodeStatusByte(0x10 | 0x80), // on battery, replace battery
        runtime: { ...NO_RUNTIME_CONDITIONS, runtimeExceeded: true },
        reading: { ...ups(A, {}).reading, lineVoltage: 0, batteryPercent: 80 },
      }),
      ups(B, { comm: "lost", lastStatusAt: NOW - 20 * 60_000 }),
      ups(C, {}),
    ],
    counters: [
      { card: A },
      { card: B },
      {
        card: C,
        counters: { sr: 3, su: 5000 },
        stuck: { refused: 12, since: NOW - 300_000, latest: { sr: 1, su: 40 }, last: { sr: 3, su: 5000 } },
      },
    ],
  };
  const ctx: WebAppContext = {
    status: () => status,
    config: () => config,
    values: () => new Map(),
    history: (card) => (card === A ? dayHistory() : []),
    // Relative to the moment the page asks (a loaded machine may render long after NOW): a full last hour.
    recentHistory: (card) => {
      const asked = Date.now();
      return card === A
        ? Array.from({ length: 360 }, (_, i) => ({ time: asked - (359 - i) * 10_000, batteryPercent: 80 }))
        : [];
    },
    events: () => Promise.resolve([]),
    updateConfig: () => Promise.resolve({ ok: true, changed: [] }),
    checkNmc: (card) =>
      Promise.resolve({ ok: true, confirmed: false, card, step: "challenge", durationMs: 1 }),
    certificate: () => {
      throw new Error("not used");
    },
    installCertificate: () => Promise.resolve(),
    emit: () => {},
    now: () => Date.now(),
  };
  return { ctx, status };
}

Deno.test({
  name:
    "ui states: comm lost explained and stale, replay reset, parallel explanation, chart hover, UPS details",
  ignore: ignoreBrowser,
  sanitizeResources: false, // Chromium's pipes are owned by playwright
  sanitizeOps: false,
  async fn() {
    const { ctx } = harness();
    const sessions = new SessionStore({ idleMs: 15 * 60_000, lifetimeMs: 3600_000, clock: systemClock });
    const app = createWebApp({
      ctx,
      sessions,
      throttle: new LoginThrottle({ threshold: 5, durationMs: 60_000, clock: systemClock }),
      setup: new SetupToken(),
    });
    const tls = await fixturePair("p384");
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen: () => {} },
      (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr.hostname, secure: true }),
    );
    const base = `https://127.0.0.1:${server.addr.port}`;
    const browser = await launch();
    try {
      const page = await (await openContext(browser, "desktop")).newPage();
      await login(page, base);
      const card = (c: string) => `section.ups[data-card="${c}"]`;

      // Item 4: why B is not heard, with the remedies; its values marked stale.
      const reason = (await page.textContent(`${card(B)} [data-field="comm-reason"]`))!;
      assert.match(reason, /Communication lost: packets arrive but are rejected \(17/);
      assert.match(reason, /14 wrong signature: the user name or authentication phrase/);
      assert.match(reason, /3 unknown card address/);
      assert.ok(await page.isVisible(`${card(B)} [data-stale]`), "stale note");
      assert.match(
        (await page.textContent(`${card(B)} [data-stale]`))!,
        /Stale: the last values received at/,
      );
      assert.match(
        (await page.textContent(`${card(B)} [data-field="lastPacket"]`))!,
        /\d{2}:\d{2}:\d{2} \(20 min ago\)/,
      );
      assert.equal(await page.locator(`${card(B)} dl.readings.stale`).count(), 1);
      assert.equal(await page.locator(`${card(A)} [data-stale]`).count(), 0, "A is heard: not stale");
      // C: refused as replayed, with the reset button.
      assert.match(
        (await page.textContent(`${card(C)} [data-field="counters-stuck"]`))!,
        /refused as replayed/,
      );
      assert.ok(await page.isVisible(`${card(C)} form[action="/counters/reset"] button`));
      // Parallel: one UPS on battery is not enough.
      assert.match((await page.textContent("[data-why]"))!, /1 of 3 UPSs critical: no shutdown \(parallel/);

      // Item 6: the details.
      const field = async (c: string, f: string) =>
        (await page.textContent(`${card(c)} [data-field="${f}"]`))!;
      assert.equal(await field(A, "firmware"), "UPS 09.3 / ID18");
      assert.equal(await field(A, "lastTransferCause"), "Low line voltage");
      assert.match(await field(A, "selfTest"), /^Passed on \d{4}-\d{2}-\d{2}$/);
      assert.match(await field(A, "runtimeExceeded"), /^yes/);
      assert.match(await field(A, "replaceBattery"), /replace the battery \(battery date 2024-03-01\)/);

      // Item 5: the chart: axes, outage and gap bands, hover and keyboard values.
      const day = `[data-chart="${A}"][data-window="day"]`;
      assert.equal(await page.locator(`${day} rect.outage`).count(), 1, "one outage band");
      assert.ok((await page.locator(`${day} rect.gap`).count()) >= 1, "the gap is marked");
      assert.ok((await page.locator(`${day} polyline.battery`).count()) >= 2, "the line breaks at the gap");
      const svg = page.locator(`${day} svg`);
      await svg.scrollIntoViewIfNeeded();
      const box = (await svg.boundingBox())!;
      assert.ok(box.height < box.width / 2.5, `chart not stretched (${box.width}x${box.height})`);
      await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
      assert.match(
        (await page.textContent(`${day} .readout`))!,
        /^\d{2}:\d{2}: battery \d+ %, load \d+ %, input \d+ V/,
      );
      await svg.focus();
      await page.keyboard.press("End");
      const last = (await page.textContent(`${day} .readout`))!;
      await page.keyboard.press("ArrowLeft");
      assert.notEqual(await page.textContent(`${day} .readout`), last, "the arrow keys move the readout");
      // 350 min ago, inside the outage (the plot spans x 50..590 of the 640 wide chart).
      await page.mouse.move(box.x + box.width * (50 + (1 - 350 / 1440) * 540) / 640, box.y + box.height / 2);
      assert.match((await page.textContent(`${day} .readout`))!, /on battery|input 0 V/);
      const hour = `[data-chart="${A}"][data-window="hour"]`;
      assert.equal(await page.getAttribute(`${hour} svg`, "data-samples"), "360", "10 s resolution");
      await shot(page, "dashboard-states-desktop");

      const phone = await (await openContext(browser, "phone")).newPage();
      await login(phone, base);
      assert.ok((await pageWidth(phone)) <= 390, "no sideways scrolling on a phone");
      assert.ok(await phone.isVisible(`${card(B)} [data-field="comm-reason"]`));
      await shot(phone, "dashboard-states-phone");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
