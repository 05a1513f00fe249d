/**
 * The web app against a hostile LAN user, through hono's app.request (no sockets): nobody can lock the
 * admin out, setup attempts are recorded per address, client strings are bounded in events, events a
 * client causes are rate limited, and API tokens (Bearer) replace the admin password for scripts.
 */
import assert from "node:assert/strict";
import type { AgentStatus } from "../src/agent/status.ts";
import { hashPassword } from "../src/config/credentials.ts";
import type { AgentConfig } from "../src/config/types.ts";
import type { EventDraft } from "../src/events/types.ts";
import { createWebApp } from "../src/web/app.tsx";
import { LoginThrottle } from "../src/web/auth/lockout.ts";
import { SessionStore } from "../src/web/auth/sessions.ts";
import { SetupToken } from "../src/web/auth/setup.ts";
import { createToken, revokeToken, TokenVerifier } from "../src/web/auth/tokens.ts";
import { CLIENT_TEXT_MAX, clientText } from "../src/web/clienttext.ts";
import type { WebAppContext } from "../src/web/context.ts";
import { EventRateLimit } from "../src/web/eventrate.ts";
import { testConfig } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";

const PASSWORD = "Correct-Horse-7-battery";
const HASH = hashPassword(PASSWORD);

function harness(options: { password?: string; dataDir?: string } = {}) {
  const { fake, clock } = fakeClock();
  let config: AgentConfig = testConfig({ cards: ["10.0.0.5"] });
  config = { ...config, nmc: { ...config.nmc, password: options.password ?? HASH } };
  const emitted: EventDraft[] = [];
  const updates: Record<string, string>[] = [];
  const ctx: WebAppContext = {
    status: () => ({ udp: [], ups: [], dryRun: true } as unknown as AgentStatus),
    config: () => config,
    values: () => new Map(),
    history: () => [],
    events: () => Promise.resolve([]),
    updateConfig: (u) => {
      updates.push({ ...u });
      if (u["NetworkManagementCard.password"]) {
        config = {
          ...config,
          nmc: { ...config.nmc, password: hashPassword(u["NetworkManagementCard.password"]) },
        };
      }
      return Promise.resolve({ ok: true as const, changed: Object.keys(u) });
    },
    checkNmc: () => Promise.reject(new Error("not used")),
    certificate: () => {
      throw new Error("not used");
    },
    installCertificate: () => Promise.resolve(),
    emit: (d) => emitted.push(d),
    now: () => fake.now,
  };
  const sessions = new SessionStore({ idleMs: 15 * 60_000, lifetimeMs: 12 * 3600_000, clock });
  const throttle = new LoginThrottle({ threshold: 5, durationMs: 15 * 60_000, clock });
  const setup = new SetupToken({ clock });
  const tokens = options.dataDir ? new TokenVerifier(options.dataDir) : undefined;
  const app = createWebApp({ ctx, sessions, throttle, setup, tokens });
  const request = (
    path: string,
    init: RequestInit & { form?: Record<string, string>; from?: string } = {},
  ) => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
    return app.request(`https://ui.test${path}`, { ...init, headers, body }, {
      remoteAddr: init.from ?? "192.0.2.10",
      secure: true,
    });
  };
  const login = (password: string, from?: string, username = "apc") =>
    request("/login", { method: "POST", form: { username, password }, from });
  const basic = (password: string) => ({ authorization: `Basic ${btoa(`apc:${password}`)}` });
  return { request, login, basic, emitted, updates, setup, fake, throttle };
}

const ids = (events: EventDraft[], id: string) => events.filter((e) => e.id === id);

Deno.test("security: a stale script failing Basic auth from one address never locks the admin out elsewhere", async () => {
  const h = harness();
  for (let i = 0; i < 20; i++) {
    const r = await h.request("/api/v1/status", { headers: h.basic("old-password"), from: "192.0.2.50" });
    await r.body?.cancel();
  }
  const script = await h.request("/api/v1/status", { headers: h.basic("old-password"), from: "192.0.2.50" });
  assert.equal(script.status, 429, "the script's own address is locked");
  assert.match(script.headers.get("retry-after") ?? "", /^\d+$/);
  assert.ok(Number(script.headers.get("retry-after")) >= 15 * 60);
  await script.body?.cancel();
  // The admin, from the workstation, logs in with the form and through the API.
  assert.equal((await h.login(PASSWORD, "192.0.2.10")).status, 303);
  assert.equal(
    (await h.request("/api/v1/status", { headers: h.basic(PASSWORD), from: "192.0.2.11" })).status,
    200,
  );
});

Deno.test("security: wrong setup tokens are events and lock only the address that sent them", async () => {
  const h = harness({ password: "" });
  const form = {
    username: "admin",
    password: "Another-Good-Pass-9",
    confirm: "Another-Good-Pass-9",
    authenticationPhrase: "a phrase of 16+ chars",
  };
  for (let i = 0; i < 5; i++) {
    const r = await h.request("/setup", {
      method: "POST",
      form: { ...form, token: `guess${i}` },
      from: "192.0.2.66",
    });
    assert.equal(r.status, 400);
    await r.body?.cancel();
  }
  const failed = ids(h.emitted, "SetupFailed");
  assert.equal(failed.length, 5, "every wrong token is recorded");
  assert.match(failed[0].note!, /wrong setup token from 192\.0\.2\.66/);
  assert.ok(ids(h.emitted, "LoginLockedOut").some((e) => /setup.*192\.0\.2\.66/.test(e.note!)));
  const locked = await h.request("/setup", {
    method: "POST",
    form: { ...form, token: h.setup.token },
    from: "192.0.2.66",
  });
  assert.equal(locked.status, 429, "the guessing address is locked, even with the right token");
  assert.equal(locked.headers.get("retry-after"), "900");
  await locked.body?.cancel();
  // The administrator at another address is not locked out by the guesser.
  const ok = await h.request("/setup", {
    method: "POST",
    form: { ...form, token: h.setup.token },
    from: "192.0.2.10",
  });
  assert.equal(ok.status, 303);
  assert.ok(ids(h.emitted, "SetupCompleted").length === 1);
});

Deno.test("security: a 250 KB user name reaches the event log bounded, control characters replaced", async () => {
  const h = harness();
  const huge = "A".repeat(250_000);
  await h.request("/login", { method: "POST", form: { username: huge, password: "x" } });
  await h.request("/login", {
    method: "POST",
    form: { username: "evil\r\nINFO forged line\u202e", password: "x" },
  });
  await h.request("/api/v1/status", {
    headers: { authorization: `Basic ${btoa(`${"B".repeat(5000)}:x`)}` },
    from: "192.0.2.77",
  });
  const notes = ids(h.emitted, "LoginFailed").map((e) => e.note!);
  assert.equal(notes.length, 3);
  for (const note of notes) assert.ok(note.length < 300, `note of ${note.length} characters`);
  assert.match(notes[0], /A{96}…\[\+249904 chars\]/);
  assert.doesNotMatch(notes[1], /[\r\n\u202e]/);
  assert.match(notes[1], /evil\ufffd\ufffdINFO forged line\ufffd/);
  assert.match(notes[2], /B{96}…\[\+4904 chars\]/);
});

Deno.test("security: one address cannot flood the event log with failed logins (5 a minute, then a count)", async () => {
  const h = harness();
  for (let i = 0; i < 25; i++) { // below the global slow-down (30)
    const r = await h.login(`wrong-${i}`, "192.0.2.88", `user${i}`); // a new user name each time: never locked
    await r.body?.cancel();
  }
  assert.equal(ids(h.emitted, "LoginFailed").length, 5);
  // Another address is still heard.
  await h.login("wrong", "192.0.2.89");
  assert.equal(ids(h.emitted, "LoginFailed").length, 6);
  h.fake.tick(60_000);
  await h.login("wrong", "192.0.2.88", "later");
  const last = ids(h.emitted, "LoginFailed").at(-1)!;
  assert.match(last.note!, /\(20 more from this address not logged\)/);
});

Deno.test("security: API tokens: read-only GETs, full ones may PUT, revoked or unknown ones get 401", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-tokens-" });
  try {
    const ro = await createToken(dir, { name: "monitoring", readOnly: true });
    const full = await createToken(dir, { name: "automation", readOnly: false });
    const stat = await Deno.stat(`${dir}/api-tokens.json`);
    assert.equal(stat.mode! & 0o777, 0o600);
    const stored = await Deno.readTextFile(`${dir}/api-tokens.json`);
    assert.ok(!stored.includes(ro.token) && !stored.includes(full.token), "only hashes are stored");
    const h = harness({ dataDir: dir });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    assert.equal((await h.request("/api/v1/status", { headers: bearer(ro.token) })).status, 200);
    assert.equal((await h.request("/api/v1/events", { headers: bearer(ro.token) })).status, 200);
    const put = (token: string) =>
      h.request("/api/v1/config", {
        method: "PUT",
        headers: { ...bearer(token), "content-type": "application/json" },
        body: JSON.stringify({ "Shutdown.settleDelay": "30" }),
      });
    const refused = await put(ro.token);
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error, /read-only/);
    assert.equal(h.updates.length, 0);
    const changed = await put(full.token);
    assert.equal(changed.status, 200, "a full token needs no CSRF token (no cookie involved)");
    assert.deepEqual(h.updates, [{ "Shutdown.settleDelay": "30" }]);
    // A token opens the API only, not the pages.
    const page = await h.request("/", { headers: bearer(full.token) });
    assert.equal(page.status, 303);
    // Revoked: refused at once (the file is looked at on each request).
    await revokeToken(dir, "monitoring");
    const revoked = await h.request("/api/v1/status", { headers: bearer(ro.token) });
    assert.equal(revoked.status, 401);
    await revoked.body?.cancel();
    const forged = await h.request("/api/v1/status", {
      headers: bearer(ro.token.slice(0, -4) + "AAAA"),
      from: "192.0.2.99",
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
    assert.ok(ids(h.emitted, "LoginFailed").some((e) => /API token login from 192\.0\.2\.99/.test(e.note!)));
    assert.ok(
      ids(h.emitted, "LoginFailed").every((e) => !e.note!.includes(ro.token.slice(5, 20))),
      "no secret logged",
    );
    // A token file others may write is not trusted.
    await Deno.chmod(`${dir}/api-tokens.json`, 0o666);
    assert.equal((await h.request("/api/v1/status", { headers: bearer(full.token) })).status, 401);
    // Nor one that is a symbolic link (to a file that would otherwise be fine).
    await Deno.chmod(`${dir}/api-tokens.json`, 0o600);
    await Deno.rename(`${dir}/api-tokens.json`, `${dir}/elsewhere.json`);
    await Deno.symlink(`${dir}/elsewhere.json`, `${dir}/api-tokens.json`);
    assert.equal((await h.request("/api/v1/status", { headers: bearer(full.token) })).status, 401);
    await Deno.remove(`${dir}/api-tokens.json`);
    await Deno.rename(`${dir}/elsewhere.json`, `${dir}/api-tokens.json`);
    assert.equal((await h.request("/api/v1/status", { headers: bearer(full.token) })).status, 200, "back");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: under a password spray from many addresses, logins are slowed, not barred", async () => {
  const h = harness();
  assert.equal((await h.login(PASSWORD, "192.0.2.10")).status, 303, "the admin's usual address");
  for (let i = 0; i < 30; i++) {
    const r = await h.login(`guess-${i}`, `198.51.100.${i}`);
    await r.body?.cancel();
  }
  assert.equal(h.throttle.slowedDown, true);
  // The admin's known address goes straight through.
  assert.equal((await h.login(PASSWORD, "192.0.2.10")).status, 303);
  // A new address waits for its slot (one second apart), then logs in.
  const first = await h.login(PASSWORD, "192.0.2.20");
  assert.equal(first.status, 303, "the first slot is free");
  let answered = false;
  const second = Promise.resolve(h.login(PASSWORD, "192.0.2.21")).then((r) => {
    answered = true;
    return r;
  });
  await h.fake.tickAsync(500);
  assert.equal(answered, false, "slowed down");
  await h.fake.tickAsync(600);
  assert.equal((await second).status, 303);
});

Deno.test("security: clientText and EventRateLimit (pure)", () => {
  assert.equal(clientText("short"), "short");
  assert.equal(clientText("x".repeat(CLIENT_TEXT_MAX)), "x".repeat(CLIENT_TEXT_MAX));
  assert.equal(clientText("x".repeat(CLIENT_TEXT_MAX + 1)), `${"x".repeat(CLIENT_TEXT_MAX)}…[+1 chars]`);
  assert.equal(clientText("a\u0000b\u001bc\u2028d"), "a\ufffdb\ufffdc\ufffdd");
  assert.equal(clientText("😀".repeat(100), 3), "😀😀😀…[+97 chars]", "code points, not halves");
  let now = 0;
  const limit = new EventRateLimit({ perKey: 2, total: 3, windowMs: 1000, maxKeys: 3, now: () => now });
  assert.deepEqual(limit.admit("a"), { admitted: true, suppressed: 0 });
  assert.deepEqual(limit.admit("a"), { admitted: true, suppressed: 0 });
  assert.deepEqual(limit.admit("a"), { admitted: false });
  assert.deepEqual(limit.admit("b"), { admitted: true, suppressed: 0 });
  assert.deepEqual(limit.admit("c"), { admitted: false }, "the total cap");
  now = 1000;
  assert.deepEqual(limit.admit("a"), { admitted: true, suppressed: 1 });
});
