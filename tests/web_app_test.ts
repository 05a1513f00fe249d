/** The web app through hono's app.request (no sockets): auth, setup, CSRF, escaping, settings, API, metrics. */
import assert from "node:assert/strict";
import type { AgentStatus } from "../src/agent/status.ts";
import { checkPasswordPolicy, hashPassword } from "../src/config/credentials.ts";
import { keyDef } from "../src/config/schema.ts";
import type { AgentConfig } from "../src/config/types.ts";
import type { EventLogRecord } from "../src/events/eventlog.ts";
import type { EventDraft } from "../src/events/types.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { NO_RUNTIME_CONDITIONS } from "../src/ups/runtime.ts";
import { LoginThrottle } from "../src/web/auth/lockout.ts";
import { SessionStore } from "../src/web/auth/sessions.ts";
import { SetupToken } from "../src/web/auth/setup.ts";
import { createWebApp } from "../src/web/app.tsx";
import type { WebAppContext } from "../src/web/context.ts";
import { fakeClock } from "./helpers/clock.ts";
import { testConfig } from "./helpers/agent.ts";

const PASSWORD = "Correct-Horse-7-battery";

function harness(options: { password?: string } = {}) {
  const { fake, clock } = fakeClock();
  let config: AgentConfig = testConfig({ cards: ["10.0.0.5"] });
  config = { ...config, nmc: { ...config.nmc, password: options.password ?? hashPassword(PASSWORD) } };
  const values = new Map<string, string>([
    ["NetworkManagementCard.ip_1", "10.0.0.5"],
    ["NetworkManagementCard.username", config.nmc.username],
    ["Shutdown.settleDelay", "70"],
  ]);
  const emitted: EventDraft[] = [];
  const updates: Record<string, string>[] = [];
  const resets: { card?: string; by: string }[] = [];
  const status: AgentStatus = {
    udp: [],
    packets: {
      accepted: 3,
      unsignedIgnored: 0,
      rejected: {
        "unknown-source": 0,
        "oversize": 0,
        "too-many-lines": 0,
        "malformed": 0,
        "bad-md5": 2,
        "unknown-card": 0,
        "no-counters": 0,
        "replay": 1,
      },
    },
    dryRun: true,
    shutdown: { phase: "idle", step: "", countdowns: [] },
    ups: [{
      card: "10.0.0.5",
      comm: "ok",
      reading: {
        model: "<script>alert(1)</script>",
        batteryPercent: 87,
        runtimeMinutes: 31,
        loadPercent: 40,
      },
      flags: decodeStatusByte(0x08),
      shuttingDown: false,
      runtime: NO_RUNTIME_CONDITIONS,
      lastStatusAt: fake.now - 3000,
      statusPackets: 3,
      configPackets: 0,
      lowBatteryCritical: false,
      lowBatteryOnLine: false,
      batteryDisconnected: false,
    }],
    counters: [{ card: "10.0.0.5", counters: { sr: 1, su: 300 } }],
  };
  const events: EventLogRecord[] = [
    {
      time: "2026-11-21T10:00:00.000Z",
      id: "PowerFailed",
      severity: "critical",
      message: "UPS on battery",
      nmc: "10.0.0.5",
    },
    {
      time: "2026-11-21T10:01:00.000Z",
      id: "PowerRestored",
      severity: "info",
      message: "=cmd|' /C calc'!A0",
    },
  ];
  const ctx: WebAppContext = {
    status: () => status,
    config: () => config,
    values: () => values,
    history: () => [],
    events: () => Promise.resolve(events),
    updateConfig: (u) => {
      updates.push({ ...u });
      const errors: Record<string, string> = {};
      for (const [k, v] of Object.entries(u)) {
        const def = keyDef(k);
        // Like the real store: a clear-text password is checked against the policy, then hashed.
        const problems = k === "NetworkManagementCard.password"
          ? checkPasswordPolicy(v, config.nmc.username)
          : def
          ? def.check(v)
          : ["unknown key"];
        if (problems.length) errors[k] = `${k}: ${problems.join("; ")}`;
      }
      if (Object.keys(errors).length) return Promise.resolve({ ok: false as const, errors });
      for (const [k, v] of Object.entries(u)) values.set(k, v);
      if (u["NetworkManagementCard.password"]) {
        config = {
          ...config,
          nmc: { ...config.nmc, password: hashPassword(u["NetworkManagementCard.password"]) },
        };
      }
      if (u["NetworkManagementCard.username"]) {
        config = { ...config, nmc: { ...config.nmc, username: u["NetworkManagementCard.username"] } };
      }
      return Promise.resolve({ ok: true as const, changed: Object.keys(u) });
    },
    checkNmc: (card) =>
      Promise.resolve({ ok: true, confirmed: false, card, step: "challenge", durationMs: 1 }),
    certificate: () => {
      throw new Error("not used");
    },
    installCertificate: () => Promise.resolve(),
    emit: (d) => emitted.push(d),
    resetCounters: (card, by) => {
      resets.push({ card, by });
      return [card ?? "10.0.0.5"];
    },
    now: () => fake.now,
  };
  const sessions = new SessionStore({ idleMs: 15 * 60_000, lifetimeMs: 12 * 3600_000, clock });
  const throttle = new LoginThrottle({ threshold: 5, durationMs: 15 * 60_000, clock });
  const setup = new SetupToken({ clock });
  const app = createWebApp({ ctx, sessions, throttle, setup });
  let cookie = "";
  const request = async (
    path: string,
    init: RequestInit & { form?: Record<string, string>; from?: string } = {},
  ) => {
    const headers = new Headers(init.headers);
    if (cookie) headers.set("cookie", cookie);
    let body = init.body;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
    const res = await app.request(`https://ui.test${path}`, { ...init, headers, body }, {
      remoteAddr: init.from ?? "192.0.2.10",
      secure: true,
    });
    const set = res.headers.get("set-cookie");
    if (set) cookie = set.includes("Max-Age=0") || set.includes("=;") ? "" : set.split(";")[0];
    return res;
  };
  const csrf = async () => {
    const html = await (await request("/account")).text();
    return /name="csrf-token" content="([^"]+)"/.exec(html)![1];
  };
  const login = (password = PASSWORD, from?: string) =>
    request("/login", { method: "POST", form: { username: "apc", password }, from });
  return {
    app,
    request,
    login,
    csrf,
    emitted,
    updates,
    setup,
    fake,
    values,
    status,
    resets,
    getCookie: () => cookie,
  };
}

Deno.test("web: every page leads to setup until a password exists; setup needs the console token", async () => {
  const h = harness({ password: "" });
  const res = await h.request("/");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/setup");
  assert.equal((await h.request("/api/v1/status")).status, 503);
  const form = {
    token: "wrong",
    username: "admin",
    password: "Another-Good-Pass-9",
    confirm: "Another-Good-Pass-9",
    authenticationPhrase: "a phrase of 16+ chars",
  };
  const bad = await h.request("/setup", { method: "POST", form });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /wrong setup token/);
  const weak = await h.request("/setup", {
    method: "POST",
    form: { ...form, token: h.setup.token, password: "short", confirm: "short" },
  });
  const text = await weak.text();
  assert.match(text, /12/);
  assert.match(text, /upper-case/i);
  const ok = await h.request("/setup", { method: "POST", form: { ...form, token: h.setup.token } });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get("location"), "/guide/card", "the guided setup goes on (issue 15)");
  assert.equal(h.updates.at(-1)!["NetworkManagementCard.username"], "admin");
  assert.ok(h.getCookie().startsWith("__Host-pcns_session="), "logged in after setup");
  assert.ok(h.emitted.some((e) => e.id === "SetupCompleted"));
});

Deno.test("web: login, escaping of card values, security headers, logout", async () => {
  const h = harness();
  assert.equal((await h.request("/")).headers.get("location"), "/login");
  const wrong = await h.login("Wrong-Password-1");
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /Wrong user name or password/);
  const ok = await h.login();
  assert.equal(ok.status, 303);
  const setCookie = ok.headers.get("set-cookie")!;
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Secure/);
  const page = await h.request("/");
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /87 %/);
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.doesNotMatch(page.headers.get("content-security-policy")!, /unsafe-inline/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(page.headers.get("strict-transport-security")!, /max-age=/);
  const token = await h.csrf();
  const out = await h.request("/logout", { method: "POST", form: { _csrf: token } });
  assert.equal(out.headers.get("location"), "/login");
  assert.equal((await h.request("/")).status, 303);
});

Deno.test("web: repeated failed logins lock out that user name from that address, without revealing the user", async () => {
  const h = harness();
  for (let i = 0; i < 5; i++) {
    await h.request("/login", { method: "POST", form: { username: "apc", password: "x" } });
  }
  const blocked = await h.request("/login", {
    method: "POST",
    form: { username: "apc", password: PASSWORD },
  });
  assert.equal(blocked.status, 429, "the pair is locked even for the right password");
  assert.equal(blocked.headers.get("retry-after"), "900");
  assert.match(await blocked.text(), /Try again in 15 min/);
  assert.ok(h.emitted.some((e) => e.id === "LoginLockedOut"));
  const elsewhere = await h.login(PASSWORD, "192.0.2.99");
  assert.equal(elsewhere.status, 303, "another address with the right password still logs in");
  h.fake.tick(15 * 60_000);
  assert.equal((await h.login(PASSWORD)).status, 303, "the lockout ends");
});

Deno.test("web: settings need the CSRF token and report field-level errors; a good value is saved", async () => {
  const h = harness();
  await h.login();
  const noToken = await h.request("/settings/shutdown", {
    method: "POST",
    form: { "Shutdown.settleDelay": "30" },
  });
  assert.equal(noToken.status, 403);
  const token = await h.csrf();
  const bad = await h.request("/settings/shutdown", {
    method: "POST",
    form: { _csrf: token, "Shutdown.settleDelay": "9999" },
  });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /Shutdown\.settleDelay: .*0-600/);
  const good = await h.request("/settings/shutdown", {
    method: "POST",
    form: { _csrf: token, "Shutdown.settleDelay": "30" },
  });
  assert.equal(good.status, 303);
  assert.equal(h.values.get("Shutdown.settleDelay"), "30");
  const foreign = await h.request("/settings/shutdown", {
    method: "POST",
    headers: { origin: "https://evil.example" },
    form: { _csrf: token, "Shutdown.settleDelay": "31" },
  });
  assert.equal(foreign.status, 403);
});

Deno.test("web: a password change ends every session", async () => {
  const h = harness();
  await h.login();
  const token = await h.csrf();
  const res = await h.request("/account", {
    method: "POST",
    form: { _csrf: token, current: PASSWORD, password: "Brand-New-Pass-42", confirm: "Brand-New-Pass-42" },
  });
  assert.equal(res.headers.get("location"), "/login?changed=1");
  assert.equal((await h.request("/")).status, 303);
  assert.equal((await h.login(PASSWORD)).status, 401);
  assert.equal((await h.login("Brand-New-Pass-42")).status, 303);
});

Deno.test("web API: Basic auth, status, events as CSV (formula-safe), config PUT validation, metrics", async () => {
  const h = harness();
  const basic = { authorization: `Basic ${btoa(`apc:${PASSWORD}`)}` };
  assert.equal((await h.request("/api/v1/status")).status, 401);
  const status = await (await h.request("/api/v1/status", { headers: basic })).json();
  assert.equal(status.ups[0].reading.batteryPercent, 87);
  const csv = await (await h.request("/api/v1/events?format=csv", { headers: basic })).text();
  assert.equal(csv.split("\r\n")[0], "time,id,severity,nmc,message");
  assert.match(csv, /PowerRestored,info,,'=cmd\|' \/C calc'!A0\r\n/, "a formula is neutralised");
  assert.ok(csv.indexOf("PowerRestored") < csv.indexOf("PowerFailed"), "newest first");
  const json = await (await h.request("/api/v1/events?severity=critical", { headers: basic })).json();
  assert.deepEqual(json.records.map((r: EventLogRecord) => r.id), ["PowerFailed"]);
  assert.equal((await h.request("/api/v1/events?from=yesterday", { headers: basic })).status, 400);
  const put = await h.request("/api/v1/config", {
    method: "PUT",
    headers: { ...basic, "content-type": "application/json" },
    body: JSON.stringify({ "Networking.udpPort": "many" }),
  });
  assert.equal(put.status, 400);
  assert.match(JSON.stringify(await put.json()), /Networking\.udpPort/);
  const config = await (await h.request("/api/v1/config", { headers: basic })).json();
  assert.equal(config.nmc.authenticationPhrase, "***");
  const metrics = await (await h.request("/metrics", { headers: basic })).text();
  assert.match(metrics, /pcns_ups_battery_percent\{nmc="10\.0\.0\.5"\} 87/);
  assert.match(metrics, /pcns_packets_rejected_total\{reason="bad-md5"\} 2/);
  assert.match(metrics, /pcns_nmc_communication_ok\{nmc="10\.0\.0\.5"\} 1/);
  const wrong = await h.request("/api/v1/status", {
    headers: { authorization: `Basic ${btoa("apc:nope")}` },
  });
  assert.equal(wrong.status, 401);
  assert.ok(h.emitted.some((e) => e.id === "LoginFailed"));
});

Deno.test("web: a card stuck on replay counters is named on the dashboard with a Reset counters button", async () => {
  const h = harness();
  const stuck = {
    refused: 4,
    since: h.fake.now - 120_000,
    latest: { sr: 0, su: 0x10 },
    last: { sr: 0xff, su: 0x895440 },
  };
  (h.status as { counters: unknown }).counters = [{ card: "10.0.0.5", counters: stuck.last, stuck }];
  await h.login();
  const page = await (await h.request("/")).text();
  assert.match(page, /4 authenticated packets refused as replayed/);
  assert.match(page, /sends SR=0 SU=10, not newer than the last accepted SR=ff SU=895440/);
  assert.match(page, /<form[^>]*action="\/counters\/reset"/);
  const forged = await h.request("/counters/reset", { method: "POST", form: { card: "10.0.0.5" } });
  assert.equal(forged.status, 403, "no CSRF token, no reset");
  assert.equal(h.resets.length, 0);
  const ok = await h.request("/counters/reset", {
    method: "POST",
    form: { card: "10.0.0.5", _csrf: await h.csrf() },
  });
  assert.equal(ok.status, 303);
  assert.equal(h.resets.length, 1);
  assert.equal(h.resets[0].card, "10.0.0.5");
  assert.match(h.resets[0].by, /^apc via the web UI from 192\.0\.2\.10$/);
  const unknown = await h.request("/counters/reset", {
    method: "POST",
    form: { card: "10.9.9.9", _csrf: await h.csrf() },
  });
  assert.equal(unknown.status, 400);
  assert.equal(h.resets.length, 1);
});
