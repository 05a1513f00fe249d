import assert from "node:assert/strict";
import { Hono } from "hono";
import { hashPassword } from "../src/config/credentials.ts";
import {
  CSRF_FIELD,
  CSRF_HEADER,
  csrfProtection,
  sameOriginRequest,
  verifyCsrf,
} from "../src/web/auth/csrf.ts";
import {
  CONTENT_SECURITY_POLICY,
  escapeHtml,
  securityHeaders,
  securityHeaderValues,
} from "../src/web/auth/headers.ts";
import {
  LoginThrottle,
  MAX_LOCKOUT_MS,
  throttleAddressKey,
  throttleUserKey,
} from "../src/web/auth/lockout.ts";
import { parseBasicAuth, verifyLogin } from "../src/web/auth/login.ts";
import {
  clearSessionCookie,
  SESSION_COOKIE,
  sessionCookie,
  sessionCookieName,
  SessionStore,
} from "../src/web/auth/sessions.ts";
import {
  CURRENT_PASSWORD_INCORRECT,
  PASSWORD_UNCHANGED,
  PASSWORDS_DO_NOT_MATCH,
  SetupToken,
  validatePasswordChange,
  validateSetup,
} from "../src/web/auth/setup.ts";
import { fakeClock } from "./helpers/clock.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

// One scrypt hash for every test that needs an account (each hash/verify costs ~40 ms).
const PASSWORD = "Good-Passw0rd!";
const ACCOUNT = { username: "apc", passwordHash: hashPassword(PASSWORD) };

// ---------------------------------------------------------------- sessions

function store(overrides: { maxSessions?: number } = {}) {
  const { fake, clock } = fakeClock();
  return {
    fake,
    sessions: new SessionStore({ idleMs: 15 * MIN, lifetimeMs: 12 * HOUR, clock, ...overrides }),
  };
}

Deno.test("sessions: ids and CSRF tokens are 43 base64url characters, independent and unique", () => {
  const { sessions } = store();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const s = sessions.create("apc");
    assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
    assert.match(s.csrfToken, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(s.id, s.csrfToken);
    seen.add(s.id).add(s.csrfToken);
  }
  assert.equal(seen.size, 2000);
  assert.equal(sessions.size, 1000);
});

Deno.test("sessions: idle expiry exactly at idleMs after the last touch", () => {
  const { fake, sessions } = store();
  const s = sessions.create("apc");
  assert.equal(s.username, "apc");
  assert.equal(s.createdAt, fake.now);
  fake.tick(15 * MIN - 1);
  const touched = sessions.get(s.id);
  assert.equal(touched?.lastSeenAt, fake.now, "alive at idleMs-1; the lookup touches it");
  fake.tick(15 * MIN - 1);
  assert.ok(sessions.get(s.id), "alive idleMs-1 after the last touch");
  fake.tick(15 * MIN);
  assert.equal(sessions.get(s.id), undefined, "gone idleMs after the last touch");
  assert.equal(sessions.size, 0, "the expired session was deleted");
  assert.equal(sessions.get("no-such-id"), undefined);
});

Deno.test("sessions: absolute lifetime ends even an active session; configure applies to existing ones", () => {
  const { fake, sessions } = store();
  const s = sessions.create("apc");
  for (let t = 0; t < 12 * HOUR - 10 * MIN; t += 10 * MIN) {
    fake.tick(10 * MIN);
    assert.ok(sessions.get(s.id), `alive at ${t + 10 * MIN} ms`);
  }
  fake.tick(10 * MIN);
  assert.equal(sessions.get(s.id), undefined, "ended at the lifetime despite activity");

  const t = sessions.create("apc");
  sessions.configure({ idleMs: MIN, lifetimeMs: 12 * HOUR });
  fake.tick(MIN);
  assert.equal(sessions.get(t.id), undefined, "new idle timeout applies to an existing session");
});

Deno.test("sessions: rotate issues a new id and token for the same user and invalidates the old id", () => {
  const { fake, sessions } = store();
  const old = sessions.create("apc");
  fake.tick(MIN);
  const fresh = sessions.rotate(old.id);
  assert.ok(fresh);
  assert.notEqual(fresh.id, old.id);
  assert.notEqual(fresh.csrfToken, old.csrfToken);
  assert.equal(fresh.username, "apc");
  assert.equal(fresh.createdAt, old.createdAt, "rotation does not extend the lifetime");
  assert.equal(sessions.get(old.id), undefined);
  assert.equal(sessions.get(fresh.id)?.id, fresh.id);
  assert.equal(sessions.rotate(old.id), undefined, "a dead id cannot be rotated");
  assert.equal(sessions.size, 1);
});

Deno.test("sessions: destroy, destroyUser and destroyAll", () => {
  const { sessions } = store();
  const a = sessions.create("apc");
  const b = sessions.create("apc");
  const c = sessions.create("other");
  sessions.destroy(a.id);
  assert.equal(sessions.get(a.id), undefined);
  assert.ok(sessions.get(b.id));
  sessions.destroyUser("apc");
  assert.equal(sessions.get(b.id), undefined);
  assert.ok(sessions.get(c.id));
  sessions.create("apc");
  sessions.destroyAll();
  assert.equal(sessions.size, 0);
  assert.equal(sessions.get(c.id), undefined);
});

Deno.test("sessions: when full, the least recently seen session is evicted", () => {
  const { fake, sessions } = store({ maxSessions: 3 });
  const a = sessions.create("a");
  fake.tick(1);
  const b = sessions.create("b");
  fake.tick(1);
  const c = sessions.create("c");
  fake.tick(1);
  sessions.get(a.id); // a is now the most recently seen; b the least
  const d = sessions.create("d");
  assert.equal(sessions.size, 3);
  assert.equal(sessions.get(b.id), undefined);
  for (const s of [a, c, d]) assert.ok(sessions.get(s.id), s.username);
});

Deno.test("sessions: returned sessions are snapshots that cannot change the store", () => {
  const { sessions } = store();
  const s = sessions.create("apc");
  assert.throws(() => ((s as { username: string }).username = "root"));
  assert.equal(sessions.get(s.id)?.username, "apc");
});

Deno.test("sessions: cookie strings", () => {
  const id = "A".repeat(43);
  assert.equal(SESSION_COOKIE, "pcns_session");
  assert.equal(sessionCookieName(false), "pcns_session");
  assert.equal(sessionCookieName(true), "__Host-pcns_session");

  const secure = sessionCookie(id, { secure: true, maxAgeSeconds: 43200 });
  assert.ok(secure.startsWith(`__Host-pcns_session=${id};`), secure);
  for (const attr of ["HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=43200"]) {
    assert.ok(secure.split("; ").includes(attr), `${attr} in ${secure}`);
  }
  assert.ok(!/Domain=/i.test(secure));

  const plain = sessionCookie(id, { secure: false });
  assert.ok(plain.startsWith(`pcns_session=${id};`), plain);
  assert.ok(plain.includes("HttpOnly") && plain.includes("SameSite=Strict") && plain.includes("Path=/"));
  assert.ok(!plain.includes("Secure") && !plain.includes("__Host-") && !plain.includes("Max-Age"));

  assert.throws(() => sessionCookie("x; Domain=evil", { secure: true }), RangeError);

  const cleared = clearSessionCookie(true);
  assert.ok(cleared.startsWith("__Host-pcns_session=;"));
  assert.ok(cleared.includes("Max-Age=0") && cleared.includes("Secure") && cleared.includes("HttpOnly"));
  assert.ok(clearSessionCookie(false).startsWith("pcns_session=;"));
  assert.ok(!clearSessionCookie(false).includes("Secure"));
});

// ---------------------------------------------------------------- lockout

function throttle(maxEntries?: number) {
  const { fake, clock } = fakeClock();
  return { fake, t: new LoginThrottle({ threshold: 5, durationMs: 15 * MIN, clock, maxEntries }) };
}

const OPEN = { allowed: true, delayMs: 0 };

Deno.test("lockout: 5 failures lock the (user, address) pair for 15 min; the next failure after it doubles to 30 min", () => {
  const { fake, t } = throttle();
  for (let i = 1; i <= 4; i++) {
    assert.deepEqual(t.check("apc", "10.0.0.1"), OPEN);
    assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), { lockedOut: false, failures: i });
  }
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), {
    lockedOut: true,
    retryAfterMs: 15 * MIN,
    failures: 5,
  });
  assert.deepEqual(t.check("apc", "10.0.0.1"), { allowed: false, retryAfterMs: 15 * MIN, reason: "locked" });

  fake.tick(15 * MIN - 1);
  assert.equal(t.check("apc", "10.0.0.1").allowed, false);
  fake.tick(1);
  assert.deepEqual(t.check("apc", "10.0.0.1"), OPEN, "the lockout has passed");
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), {
    lockedOut: true,
    retryAfterMs: 30 * MIN,
    failures: 6,
  });
  fake.tick(30 * MIN);
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), {
    lockedOut: true,
    retryAfterMs: 60 * MIN,
    failures: 7,
  });
});

Deno.test("lockout: a locked pair locks neither the user elsewhere nor other user names from that address", () => {
  const { t } = throttle();
  for (let i = 0; i < 5; i++) t.recordFailure(i % 2 ? "APC" : "apc", "192.0.2.7"); // names are case-insensitive
  assert.deepEqual(t.check("Apc", "192.0.2.7"), { allowed: false, retryAfterMs: 15 * MIN, reason: "locked" });
  assert.deepEqual(t.check("apc", "192.0.2.8"), OPEN, "the admin elsewhere is not locked out");
  assert.deepEqual(t.check("monitor", "192.0.2.7"), OPEN);
  // Five wrong logins from five addresses (a stale script on each) lock nobody.
  const { t: spread } = throttle();
  for (let i = 0; i < 5; i++) spread.recordFailure("apc", `10.0.0.${i}`);
  assert.deepEqual(spread.check("apc", "10.9.9.9"), OPEN);
  // The same IPv6 /64 counts as one address.
  for (let i = 0; i < 5; i++) t.recordFailure("apc", `2001:db8:1:2::${i + 1}`);
  assert.equal(t.check("apc", "2001:db8:1:2:ffff::9").allowed, false);
  assert.equal(t.check("apc", "2001:db8:1:3::1").allowed, true);
});

Deno.test("lockout: doubling stops at 24 h, and a pair is remembered 24 h past its lockout", () => {
  const { fake, t } = throttle();
  const lockouts: number[] = [];
  for (let i = 0; i < 14; i++) {
    const r = t.recordFailure("apc", "10.0.0.1");
    if (r.retryAfterMs) lockouts.push(r.retryAfterMs / MIN);
    fake.tick(r.retryAfterMs ?? 0);
  }
  assert.deepEqual(lockouts, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
  assert.equal(MAX_LOCKOUT_MS, 24 * HOUR);
  fake.tick(24 * HOUR - 1);
  assert.equal(t.recordFailure("apc", "10.0.0.1").retryAfterMs, MAX_LOCKOUT_MS, "still remembered");
  fake.tick(MAX_LOCKOUT_MS + 24 * HOUR);
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), { lockedOut: false, failures: 1 }, "forgotten");
});

Deno.test("lockout: success resets the pair's counter", () => {
  const { t } = throttle();
  for (let i = 0; i < 4; i++) t.recordFailure("apc", "10.0.0.1");
  t.recordSuccess("apc", "10.0.0.1");
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), { lockedOut: false, failures: 1 });
  assert.equal(t.size, 1);
  for (let i = 0; i < 4; i++) t.recordFailure("apc", "10.0.0.1");
  assert.equal(t.check("apc", "10.0.0.1").allowed, false);
  t.recordSuccess("apc", "10.0.0.1");
  assert.deepEqual(t.check("apc", "10.0.0.1"), OPEN);
});

Deno.test("lockout: unknown and known user names behave identically", () => {
  const run = (username: string) => {
    const { fake, t } = throttle();
    const trace: unknown[] = [];
    for (let i = 0; i < 8; i++) {
      trace.push(t.check(username, "10.0.0.1"), t.recordFailure(username, "10.0.0.1"));
      fake.tick(20 * MIN);
    }
    return trace;
  };
  assert.deepEqual(run("nobody"), run("apc"));
});

Deno.test("lockout: counters are forgotten after 24 h without a failure", () => {
  const { fake, t } = throttle();
  for (let i = 0; i < 4; i++) t.recordFailure("apc", "10.0.0.1");
  fake.tick(24 * HOUR - 1);
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), {
    lockedOut: true,
    retryAfterMs: 15 * MIN,
    failures: 5,
  });
  t.recordSuccess("apc", "10.0.0.1");
  for (let i = 0; i < 4; i++) t.recordFailure("apc", "10.0.0.1");
  fake.tick(24 * HOUR);
  assert.deepEqual(t.check("apc", "10.0.0.1"), OPEN);
  assert.equal(t.size, 0, "the decayed pairs were dropped");
  assert.deepEqual(t.recordFailure("apc", "10.0.0.1"), { lockedOut: false, failures: 1 });
});

Deno.test("lockout: memory stays bounded and locked pairs outlive unlocked ones", () => {
  const { t } = throttle(100);
  for (let i = 0; i < 5; i++) t.recordFailure("apc", "10.0.0.1"); // locks (apc, 10.0.0.1)
  for (let i = 0; i < 5000; i++) t.recordFailure(`spray${i}`, `10.${i >> 8 & 255}.${i & 255}.1`);
  assert.ok(t.size <= 100, `size ${t.size}`);
  assert.equal(t.check("apc", "10.0.0.1").allowed, false, "the locked pair survived the spray");
});

Deno.test("lockout: many failures in all slow every new pair down (one verification a second), never bar it", async () => {
  const { fake, clock } = fakeClock();
  const t = new LoginThrottle({
    threshold: 5,
    durationMs: 15 * MIN,
    clock,
    globalThreshold: 30,
    globalWindowMs: 10 * MIN,
    paceMs: 1000,
    maxWaitMs: 3000,
  });
  t.recordSuccess("apc", "10.0.0.2"); // the admin's workstation
  for (let i = 0; i < 29; i++) t.recordFailure("apc", `198.51.100.${i}`); // a spray from many addresses
  assert.equal(t.slowedDown, false);
  assert.deepEqual(t.check("apc", "203.0.113.1"), OPEN);
  t.recordFailure("apc", "198.51.100.99");
  assert.equal(t.slowedDown, true);
  // New pairs queue for slots one second apart; past maxWaitMs they are told to come back soon.
  const delays = [1, 2, 3, 4, 5].map((i) => t.check("apc", `203.0.113.${i}`));
  assert.deepEqual(delays.slice(0, 4), [0, 1000, 2000, 3000].map((delayMs) => ({ allowed: true, delayMs })));
  assert.deepEqual(delays[4], { allowed: false, retryAfterMs: 4000, reason: "busy" });
  // The admin's known pair is not queued, and no pair is locked by the others' failures.
  assert.deepEqual(t.check("apc", "10.0.0.2"), OPEN);
  // delay() waits on the throttle's clock.
  let waited = false;
  t.delay(1000).then(() => (waited = true));
  await fake.tickAsync(999);
  assert.equal(waited, false);
  await fake.tickAsync(1);
  assert.equal(waited, true);
  // The slow-down ends when the window has passed.
  fake.tick(10 * MIN);
  assert.equal(t.slowedDown, false);
  assert.deepEqual(t.check("apc", "203.0.113.9"), OPEN);
});

Deno.test("lockout: address keys", () => {
  assert.equal(throttleAddressKey("192.0.2.1"), "192.0.2.1");
  assert.equal(throttleAddressKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(throttleAddressKey("[2001:DB8:0:1::5]"), "2001:db8:0:1::/64");
  assert.equal(throttleAddressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(throttleAddressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(throttleAddressKey("::1"), "0:0:0:0::/64");
  assert.equal(throttleAddressKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assert.equal(throttleAddressKey("not:an:address"), "not:an:address");
  assert.equal(throttleUserKey("  APC "), "apc");
  assert.equal(throttleUserKey("x".repeat(1000)).length, 64);
});

// ---------------------------------------------------------------- CSRF

const TOKEN = "t".repeat(43);

function csrfApp() {
  const app = new Hono();
  app.use(
    "*",
    csrfProtection((c) => (c.req.header("cookie") === "session=1" ? TOKEN : undefined), {
      isBasicAuth: (c) => c.req.header("authorization")?.startsWith("Basic ") ?? false,
      exempt: (c) => c.req.path === "/login",
    }),
  );
  app.get("/page", (c) => c.text("page"));
  app.post("/save", async (c) => {
    const body = await c.req.parseBody(); // the route can still read the form
    return c.text(`saved ${body.value ?? ""}`);
  });
  app.post("/api", async (c) => c.text(`api ${await c.req.text()}`));
  app.delete("/item", (c) => c.text("deleted"));
  app.post("/login", (c) => c.text("login"));
  return app;
}

const withSession = { cookie: "session=1" };
const form = (fields: Record<string, string>) => new URLSearchParams(fields);

Deno.test("csrf: verifyCsrf is exact and refuses absent or differently long tokens", () => {
  assert.equal(verifyCsrf(TOKEN, TOKEN), true);
  assert.equal(verifyCsrf(TOKEN, TOKEN.slice(1) + "u"), false);
  assert.equal(verifyCsrf(TOKEN, TOKEN + "t"), false);
  assert.equal(verifyCsrf(TOKEN, ""), false);
  assert.equal(verifyCsrf(TOKEN, undefined), false);
  assert.equal(verifyCsrf(TOKEN, null), false);
  assert.equal(verifyCsrf("", ""), false);
});

Deno.test("csrf: state-changing requests need the session's token in the header or the form", async () => {
  const app = csrfApp();
  const post = (headers: Record<string, string>, body?: BodyInit) =>
    app.request("http://ui.local/save", { method: "POST", headers, body });

  let res = await post(withSession, form({ value: "1" }));
  assert.equal(res.status, 403, "no token");
  assert.match(await res.text(), /CSRF/);
  assert.equal(
    (await post(withSession, form({ value: "1", [CSRF_FIELD]: "wrong" }))).status,
    403,
    "wrong token",
  );
  assert.equal((await post({ ...withSession, [CSRF_HEADER]: "wrong" })).status, 403, "wrong header");
  assert.equal((await post({}, form({ [CSRF_FIELD]: TOKEN }))).status, 403, "no session");

  res = await post({ ...withSession, [CSRF_HEADER]: TOKEN }, form({ value: "2" }));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "saved 2");

  res = await post(withSession, form({ value: "3", [CSRF_FIELD]: TOKEN }));
  assert.equal(res.status, 200, "form field");
  assert.equal(await res.text(), "saved 3", "the route still reads the form after the check");

  const fd = new FormData();
  fd.set(CSRF_FIELD, TOKEN);
  fd.set("value", "4");
  res = await post(withSession, fd);
  assert.equal(await res.text(), "saved 4", "multipart form");

  res = await app.request("http://ui.local/api", {
    method: "POST",
    headers: { ...withSession, [CSRF_HEADER]: TOKEN, "content-type": "application/json" },
    body: '{"a":1}',
  });
  assert.equal(await res.text(), 'api {"a":1}');

  assert.equal(
    (await app.request("http://ui.local/item", { method: "DELETE", headers: withSession })).status,
    403,
  );
  res = await app.request("http://ui.local/item", {
    method: "DELETE",
    headers: { ...withSession, [CSRF_HEADER]: TOKEN },
  });
  assert.equal(res.status, 200);
});

Deno.test("csrf: GET is unaffected; Basic auth and exempt routes need no token", async () => {
  const app = csrfApp();
  const res = await app.request("http://ui.local/page", { headers: { origin: "https://evil.example" } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "page");

  const basic = { authorization: `Basic ${btoa("apc:x")}` };
  assert.equal((await app.request("http://ui.local/save", { method: "POST", headers: basic })).status, 200);
  assert.equal((await app.request("http://ui.local/login", { method: "POST", body: form({}) })).status, 200);
});

Deno.test("csrf: a foreign Origin or a cross-site fetch is refused, even with a token or Basic auth", async () => {
  const app = csrfApp();
  const post = (headers: Record<string, string>) =>
    app.request("https://ui.local:6547/save", {
      method: "POST",
      headers: { ...withSession, [CSRF_HEADER]: TOKEN, ...headers },
    });
  assert.equal((await post({ origin: "https://ui.local:6547" })).status, 200);
  let res = await post({ origin: "https://evil.example" });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /cross-site/);
  assert.equal((await post({ origin: "https://ui.local:6548" })).status, 403, "other port");
  assert.equal((await post({ origin: "null" })).status, 403);
  assert.equal((await post({ "sec-fetch-site": "cross-site" })).status, 403);
  assert.equal((await post({ "sec-fetch-site": "same-origin" })).status, 200);
  res = await post({ origin: "https://evil.example", authorization: `Basic ${btoa("apc:x")}` });
  assert.equal(res.status, 403, "a browser replaying cached Basic credentials cross-site");
  res = await app.request("http://ui.local/login", {
    method: "POST",
    headers: { origin: "http://evil.example" },
  });
  assert.equal(res.status, 403, "login CSRF");
  assert.equal(sameOriginRequest(new Request("http://ui.local/", { method: "POST" })), true, "no Origin");
});

// ---------------------------------------------------------------- login

Deno.test("login: verifyLogin accepts only the right user name and password", () => {
  assert.equal(verifyLogin({ username: "apc", password: PASSWORD }, ACCOUNT), true);
  assert.equal(verifyLogin({ username: " apc ", password: ` ${PASSWORD} ` }, ACCOUNT), true, "blanks around");
  assert.equal(verifyLogin({ username: "apc", password: "Good-Passw0rd?" }, ACCOUNT), false);
  assert.equal(verifyLogin({ username: "APC", password: PASSWORD }, ACCOUNT), false);
  assert.equal(verifyLogin({ username: "ap", password: PASSWORD }, ACCOUNT), false);
  assert.equal(verifyLogin({ username: "", password: "" }, ACCOUNT), false);
});

Deno.test("login: with no password set, nothing logs in", () => {
  const none = { username: "apc", passwordHash: "" };
  assert.equal(verifyLogin({ username: "apc", password: "" }, none), false);
  assert.equal(verifyLogin({ username: "apc", password: PASSWORD }, none), false);
  assert.equal(verifyLogin({ username: "", password: "" }, { username: "", passwordHash: "" }), false);
  assert.equal(
    verifyLogin({ username: "apc", password: "x" }, { username: "apc", passwordHash: "garbage" }),
    false,
  );
});

Deno.test("login: unknown user and wrong password take comparable time", () => {
  const time = (username: string) => {
    const start = performance.now();
    verifyLogin({ username, password: "Wrong-Passw0rd!" }, ACCOUNT);
    return performance.now() - start;
  };
  time("nobody");
  time("apc"); // warm-up
  const unknown: number[] = [];
  const known: number[] = [];
  for (let i = 0; i < 10; i++) {
    unknown.push(time("nobody"));
    known.push(time("apc"));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const ratio = median(unknown) / median(known);
  assert.ok(ratio > 0.5 && ratio < 2, `unknown/known time ratio ${ratio.toFixed(2)}`);
  const noPassword = { username: "apc", passwordHash: "" };
  const unsetTimes: number[] = [];
  for (let i = 0; i < 7; i++) { // medians on both sides: one sample on a loaded machine says little
    const start = performance.now();
    verifyLogin({ username: "apc", password: "x" }, noPassword);
    unsetTimes.push(performance.now() - start);
  }
  const unset = median(unsetTimes);
  assert.ok(unset > median(known) * 0.5, `no-password check still runs scrypt (${unset.toFixed(1)} ms)`);
});

Deno.test("login: parseBasicAuth", () => {
  const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  assert.deepEqual(parseBasicAuth(`Basic ${b64("apc:Pass:w0rd")}`), {
    username: "apc",
    password: "Pass:w0rd",
  });
  assert.deepEqual(parseBasicAuth(`basic  ${b64("apc:")}`), { username: "apc", password: "" });
  assert.deepEqual(parseBasicAuth(`Basic ${b64("ä:ö")}`), { username: "ä", password: "ö" }, "UTF-8");
  assert.equal(parseBasicAuth(undefined), undefined);
  assert.equal(parseBasicAuth(""), undefined);
  assert.equal(parseBasicAuth(`Bearer ${b64("apc:x")}`), undefined);
  assert.equal(parseBasicAuth(`Basic ${b64("no-colon")}`), undefined);
  assert.equal(parseBasicAuth("Basic !!!"), undefined);
  assert.equal(parseBasicAuth("Basic"), undefined);
  assert.equal(parseBasicAuth(`Basic ${btoa("\xff:\xfe")}`), undefined, "invalid UTF-8");
});

// ---------------------------------------------------------------- setup

Deno.test("setup: the token is 32 hex digits, verifies in any case, and stops after consume", () => {
  const token = new SetupToken();
  assert.match(token.token, /^[0-9a-f]{32}$/);
  assert.notEqual(new SetupToken().token, token.token);
  assert.equal(token.verify(token.token), true);
  assert.equal(token.verify(` ${token.token.toUpperCase()} `), true);
  assert.equal(token.verify(token.token.slice(0, 31)), false);
  assert.equal(token.verify(token.token.slice(0, 31) + (token.token[31] === "0" ? "1" : "0")), false);
  assert.equal(token.verify(undefined), false);
  assert.equal(token.verify(""), false);
  token.consume();
  assert.equal(token.active, false);
  assert.equal(token.verify(token.token), false);
});

Deno.test("setup: the token can expire", () => {
  const { fake, clock } = fakeClock();
  const token = new SetupToken({ clock, ttlMs: HOUR });
  fake.tick(HOUR - 1);
  assert.equal(token.verify(token.token), true);
  fake.tick(1);
  assert.equal(token.verify(token.token), false);
  const forever = new SetupToken({ clock });
  fake.tick(1000 * HOUR);
  assert.equal(forever.verify(forever.token), true);
});

const PHRASE = "admin user phrase";

Deno.test("setup: validateSetup reports messages per field and rule", () => {
  assert.deepEqual(
    validateSetup({ username: "apc", password: PASSWORD, confirm: PASSWORD, authenticationPhrase: PHRASE }),
    {},
  );
  assert.deepEqual(
    validateSetup({
      username: "apc",
      password: ` ${PASSWORD}`,
      confirm: PASSWORD,
      authenticationPhrase: PHRASE,
    }),
    {},
    "compared as stored (trimmed)",
  );
  const errors = validateSetup({
    username: "",
    password: "abc",
    confirm: "abd",
    authenticationPhrase: "short",
  });
  assert.deepEqual(Object.keys(errors).sort(), ["authenticationPhrase", "confirm", "password", "username"]);
  assert.deepEqual(errors.confirm, [PASSWORDS_DO_NOT_MATCH]);
  assert.match(errors.username.join(), /1 to 10 characters/);
  assert.match(errors.authenticationPhrase.join(), /15 to 32/);
  assert.equal(errors.password.length, 4, errors.password.join(" | "));
  for (const re of [/12 to 128/, /upper-case/, /digit/, /special/]) {
    assert.ok(errors.password.some((m) => re.test(m)));
  }

  const rules: [string, RegExp][] = [
    ["good-passw0rd!", /upper-case/],
    ["GOOD-PASSW0RD!", /lower-case/],
    ["Good-Password!", /digit/],
    ["GoodPassw0rd12", /special/],
    ["Good-Passw0rd é", /not allowed/],
    ["Good-apc-Passw0rd", /user name/],
    ["Go-0d", /12 to 128/],
  ];
  for (const [password, re] of rules) {
    const e = validateSetup({ username: "apc", password, confirm: password, authenticationPhrase: PHRASE });
    assert.deepEqual(Object.keys(e), ["password"], password);
    assert.equal(e.password.length, 1, `${password}: ${e.password.join(" | ")}`);
    assert.match(e.password[0], re);
  }
  assert.match(
    validateSetup({ username: "ap c", password: PASSWORD, confirm: PASSWORD, authenticationPhrase: PHRASE })
      .username.join(),
    /not allowed/,
  );
  assert.match(
    validateSetup({
      username: "apc",
      password: PASSWORD,
      confirm: PASSWORD,
      authenticationPhrase: `${PHRASE}\u00e9`,
    })
      .authenticationPhrase.join(),
    /printable ASCII/,
  );
});

Deno.test("setup: validatePasswordChange checks the current password, policy, confirmation and change", () => {
  const next = "Other-Passw0rd#";
  assert.deepEqual(validatePasswordChange({ current: PASSWORD, password: next, confirm: next }, ACCOUNT), {});
  assert.deepEqual(
    validatePasswordChange({ current: "wrong", password: next, confirm: next }, ACCOUNT),
    { current: [CURRENT_PASSWORD_INCORRECT] },
  );
  const e = validatePasswordChange({ current: PASSWORD, password: "apc-weak", confirm: "x" }, ACCOUNT);
  assert.deepEqual(Object.keys(e).sort(), ["confirm", "password"]);
  assert.ok(e.password.some((m) => /user name/.test(m)));
  assert.deepEqual(e.confirm, [PASSWORDS_DO_NOT_MATCH]);
  assert.deepEqual(
    validatePasswordChange({ current: PASSWORD, password: PASSWORD, confirm: PASSWORD }, ACCOUNT),
    { password: [PASSWORD_UNCHANGED] },
  );
});

// ---------------------------------------------------------------- headers

function headersApp(hsts: boolean) {
  const app = new Hono();
  app.use("*", securityHeaders({ hsts }));
  app.get("/", (c) => c.html("<p>hi</p>"));
  app.get("/assets/app.css", (c) => c.body("p{}", 200, { "content-type": "text/css" }));
  app.get("/api/status", (c) => c.json({ ok: true }));
  app.get("/proxied", () => Response.redirect("http://ui.local/", 302)); // immutable headers
  app.get("/boom", () => {
    throw new Error("boom");
  });
  app.onError((_err, c) => c.text("internal error", 500));
  return app;
}

Deno.test("headers: every security header is present; HSTS only when asked; no 'unsafe-inline'", async () => {
  for (const hsts of [false, true]) {
    const app = headersApp(hsts);
    for (const path of ["/", "/api/status", "/assets/app.css", "/proxied", "/boom", "/missing"]) {
      const res = await app.request(`http://ui.local${path}`);
      await res.body?.cancel();
      const h = res.headers;
      assert.equal(h.get("content-security-policy"), CONTENT_SECURITY_POLICY, path);
      assert.equal(h.get("x-frame-options"), "DENY");
      assert.equal(h.get("x-content-type-options"), "nosniff");
      assert.equal(h.get("referrer-policy"), "no-referrer");
      assert.equal(h.get("cross-origin-opener-policy"), "same-origin");
      assert.equal(h.get("permissions-policy"), "camera=(), microphone=(), geolocation=()");
      assert.equal(
        h.get("strict-transport-security"),
        hsts ? "max-age=31536000" : null,
        `${path} hsts=${hsts}`,
      );
      assert.equal(h.get("cache-control"), path.startsWith("/assets/") ? null : "no-store", path);
    }
  }
  assert.ok(!CONTENT_SECURITY_POLICY.includes("unsafe"));
  for (
    const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "object-src 'none'",
    ]
  ) assert.ok(CONTENT_SECURITY_POLICY.split("; ").includes(directive), directive);
  assert.equal(securityHeaderValues("/assets/x.js", { hsts: false })["Cache-Control"], undefined);
});

Deno.test("headers: escapeHtml", () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&amp;</a>`),
    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;",
  );
  assert.equal(escapeHtml("plain text"), "plain text");
  assert.equal(escapeHtml(""), "");
});

Deno.test("csrf: a same-origin form post with Origin: null (no-referrer policy) passes; cross-site and same-site do not", async () => {
  const { sameOriginRequest } = await import("../src/web/auth/csrf.ts");
  const post = (headers: Record<string, string>) =>
    new Request("https://127.0.0.1:6547/settings/shutdown", { method: "POST", headers });
  assert.equal(sameOriginRequest(post({ origin: "null", "sec-fetch-site": "same-origin" })), true);
  assert.equal(sameOriginRequest(post({ origin: "null", "sec-fetch-site": "cross-site" })), false);
  assert.equal(
    sameOriginRequest(post({ "sec-fetch-site": "same-site" })),
    false,
    "another port on the same host",
  );
  assert.equal(sameOriginRequest(post({ origin: "null" })), false, "without Sec-Fetch-Site, null is foreign");
  assert.equal(sameOriginRequest(post({ origin: "https://127.0.0.1:6547" })), true);
  assert.equal(sameOriginRequest(post({ origin: "https://evil.example" })), false);
});
