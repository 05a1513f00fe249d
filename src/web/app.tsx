/**
 * The web UI and JSON API as one hono app, built from small middleware:
 * security headers -> embedded assets -> first-run setup gate -> session or
 * HTTP Basic authentication (with lockout) -> CSRF -> pages and API. The
 * app talks to the agent only through a WebAppContext.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import appCss from "../../ui/app.css" with { type: "text" };
import appJs from "../../ui/app.js" with { type: "text" };
import favicon from "../../ui/favicon.svg" with { type: "text" };
import { verifyPassword } from "../config/credentials.ts";
import { maskConfig } from "../config/build.ts";
import { sequenceSettings } from "../agent/wiring.ts";
import { registerPageRoutes } from "./app_pages.tsx";
import { liveStream } from "./live.ts";
import { planSequence } from "../shutdown/sequencer.ts";
import { csrfProtection } from "./auth/csrf.ts";
import { securityHeaders } from "./auth/headers.ts";
import type { LoginThrottle, ThrottleCheck } from "./auth/lockout.ts";
import { parseBasicAuth, verifyLogin } from "./auth/login.ts";
import {
  clearSessionCookie,
  type Session,
  sessionCookie,
  sessionCookieName,
  type SessionStore,
} from "./auth/sessions.ts";
import { type SetupToken, validatePasswordChange, validateSetup } from "./auth/setup.ts";
import { type ApiToken, bearerToken } from "./auth/tokens.ts";
import { clientText } from "./clienttext.ts";
import { EventRateLimit } from "./eventrate.ts";
import type { WebAppContext } from "./context.ts";
import { eventsToCsv, parseEventQuery, queryEvents } from "./eventquery.ts";
import { renderMetrics } from "./metrics.ts";
import type { FieldErrors } from "./pages/layout.tsx";
import { LoginPage, SetupPage } from "./pages/public.tsx";
import { AccountPage, CertificatePage } from "./pages/settings.tsx";

/** Per-request facts from the transport. */
export interface RequestInfo {
  /** Address of the client. */
  readonly remoteAddr: string;
  /** True on the TLS listener. */
  readonly secure: boolean;
}

/** Everything the app needs. */
export interface WebAppOptions {
  /** The agent, seen through a narrow interface. */
  readonly ctx: WebAppContext;
  /** Login sessions. */
  readonly sessions: SessionStore;
  /** Failed-login throttle (per user name and address pair, global slow-down). */
  readonly throttle: LoginThrottle;
  /** The first-run setup token (its value is printed on the console while no password is set). */
  readonly setup: SetupToken;
  /** API tokens (`Authorization: Bearer`); without it every Bearer token is refused. */
  readonly tokens?: { verify(token: string): Promise<ApiToken | undefined> };
}

type Env = {
  Bindings: RequestInfo;
  Variables: { session?: Session; basicUser?: string; apiToken?: ApiToken };
};

/** Paths that API tokens and HTTP Basic may open (scripts); pages need a login session. */
const isApiPath = (path: string) => path.startsWith("/api/") || path === "/metrics";

const PUBLIC_PREFIXES = ["/assets/", "/login", "/setup", "/favicon.ico"];
/** One-line notices after a redirect, by query parameter. */
const NOTICES: ReadonlyArray<readonly [string, string]> = [
  ["saved", "Saved."],
  ["cleared", "Event log cleared."],
  [
    "guided",
    "Guided setup finished: the dashboard shows the UPS as this host sees it. Run it again from " +
    "Settings > Communication.",
  ],
];
/** Throttle "user names" of setup attempts and API tokens (not valid user names: no clash). */
const SETUP_USER = "(setup)";
const TOKEN_USER = "(api token)";
/** The password key, and the body field of PUT /api/v1/config that must carry the current password with it. */
const PASSWORD_KEY = "NetworkManagementCard.password";
const CURRENT_PASSWORD_FIELD = "currentPassword";
const minutes = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));
/** Retry-After value (whole seconds, at least 1) for a wait of `ms`. */
const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));
/** How long a refused attempt must wait, as words. */
const waitText = (
  ms: number,
) => (ms < 60_000 ? `${Math.max(1, Math.ceil(ms / 1000))} s` : `${minutes(ms)} min`);

function firstString(value: unknown): string {
  if (Array.isArray(value)) return firstString(value.at(-1));
  return typeof value === "string" ? value : "";
}

/** Builds the app; call `app.fetch(request, { remoteAddr, secure })`. */
export function createWebApp(options: WebAppOptions): Hono<Env> {
  const { ctx, sessions, throttle, setup } = options;
  const app = new Hono<Env>();
  const failureEvents = new EventRateLimit({ now: () => ctx.now() });
  const withHsts = securityHeaders({ hsts: true });
  const withoutHsts = securityHeaders({ hsts: false });
  const account = () => ({ username: ctx.config().nmc.username, passwordHash: ctx.config().nmc.password });
  const needsSetup = () => ctx.config().nmc.password === "";
  const frame = (c: Context<Env>, title: string, notice?: string) => ({
    title,
    user: c.get("session")?.username,
    csrf: c.get("session")?.csrfToken,
    secure: c.env.secure,
    path: new URL(c.req.url).pathname,
    notice: notice ?? NOTICES.find(([q]) => c.req.query(q))?.[1],
    serverTime: ctx.now(),
  });
  const readForm = async (c: Context<Env>) => {
    const body = await c.req.parseBody({ all: true });
    const get = (name: string) => firstString(body[name]);
    return Object.assign(get, { has: (name: string) => name in body });
  };

  app.use("*", (c, next) => (c.env.secure ? withHsts(c, next) : withoutHsts(c, next)));
  app.use(
    "*",
    bodyLimit({ maxSize: 256 * 1024, onError: (c) => c.text("Request body too large (limit 256 KiB)", 413) }),
  );

  app.get("/assets/app.css", (c) => {
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(appCss, 200, { "Content-Type": "text/css; charset=utf-8" });
  });
  app.get("/assets/app.js", (c) => {
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(appJs, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });
  const icon = (c: Context<Env>) => {
    c.header("Cache-Control", "public, max-age=86400");
    return c.body(favicon, 200, { "Content-Type": "image/svg+xml" });
  };
  app.get("/assets/favicon.svg", icon);
  app.get("/favicon.ico", icon);

  // First start: nothing but the setup page until a password exists.
  app.use("*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (needsSetup() && !path.startsWith("/assets/") && path !== "/setup" && path !== "/favicon.ico") {
      return path.startsWith("/api/") || path === "/metrics"
        ? c.json({ error: "first-run setup required at /setup" }, 503)
        : c.redirect("/setup", 303);
    }
    await next();
  });

  // Authentication: a session cookie, or HTTP Basic for scripts (same lockout as the login form).
  app.use("*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    const cookie = c.req.header("cookie") ?? "";
    const name = sessionCookieName(c.env.secure);
    const id = cookie.split(/;\s*/).find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1);
    const session = id ? sessions.get(id) : undefined;
    if (session) c.set("session", session);
    if (PUBLIC_PREFIXES.some((p) => path.startsWith(p))) return await next();
    if (path === "/metrics" && ctx.config().webUi.metricsWithoutLogin) return await next();
    if (session) return await next();
    const bearer = isApiPath(path) ? bearerToken(c.req.header("authorization")) : undefined;
    if (bearer !== undefined) {
      const gate = await passGate(throttle.check(TOKEN_USER, c.env.remoteAddr));
      if (!gate.allowed) return refusedApi(c, gate.retryAfterMs);
      const token = await options.tokens?.verify(bearer);
      if (!token) {
        failedLogin(TOKEN_USER, c.env.remoteAddr, "API token");
        return c.json({ error: "unknown or revoked API token" }, 401);
      }
      if (token.readOnly && !["GET", "HEAD"].includes(c.req.method)) {
        return c.json({ error: `the API token "${token.name}" is read-only: only GET is allowed` }, 403);
      }
      c.set("apiToken", token);
      return await next();
    }
    const basic = parseBasicAuth(c.req.header("authorization"));
    if (basic) {
      const gate = await passGate(throttle.check(basic.username, c.env.remoteAddr));
      if (!gate.allowed) return refusedApi(c, gate.retryAfterMs);
      if (verifyLogin(basic, account())) {
        throttle.recordSuccess(basic.username, c.env.remoteAddr);
        c.set("basicUser", basic.username);
        return await next();
      }
      failedLogin(basic.username, c.env.remoteAddr, "HTTP Basic");
    }
    if (isApiPath(path)) {
      c.header("WWW-Authenticate", 'Basic realm="pcns-agent", charset="UTF-8"');
      return c.json({ error: "authentication required" }, 401);
    }
    return c.redirect("/login", 303);
  });

  app.use(
    "*",
    csrfProtection((c) => (c.get("session") as Session | undefined)?.csrfToken, {
      isBasicAuth: (c) => c.get("basicUser") !== undefined || c.get("apiToken") !== undefined,
      exempt: (c) => ["/login", "/setup"].includes(new URL(c.req.url).pathname),
    }),
  );

  /** Waits the delay the throttle asked for (global slow-down); passes refusals through. */
  async function passGate(gate: ThrottleCheck): Promise<ThrottleCheck> {
    if (gate.allowed) await throttle.delay(gate.delayMs);
    return gate;
  }

  /** 429 for an API client, with Retry-After. */
  function refusedApi(c: Context<Env>, retryAfterMs: number) {
    c.header("Retry-After", retryAfter(retryAfterMs));
    return c.json({ error: `too many failed attempts; retry in ${waitText(retryAfterMs)}` }, 429);
  }

  /**
   * Counts a failed login (or setup attempt) and raises LoginFailed (SetupFailed for setup), and
   * LoginLockedOut when the pair is now locked. Events are rate limited per address (see eventrate.ts);
   * the user name is bounded (clienttext.ts).
   */
  function failedLogin(username: string, address: string, via: string) {
    const r = throttle.recordFailure(username, address);
    const decision = failureEvents.admit(address);
    if (!decision.admitted) return r;
    const more = decision.suppressed > 0 ? ` (${decision.suppressed} more from this address not logged)` : "";
    const setupAttempt = username === SETUP_USER;
    const who = setupAttempt || username === TOKEN_USER ? "" : ` as ${JSON.stringify(clientText(username))}`;
    ctx.emit({
      id: setupAttempt ? "SetupFailed" : "LoginFailed",
      note: setupAttempt
        ? `wrong setup token from ${address}${more}`
        : `${via} login${who} from ${address}${more}`,
      details: { failures: r.failures },
    });
    if (r.lockedOut) {
      ctx.emit({
        id: "LoginLockedOut",
        note: `${setupAttempt ? "setup" : via}${who} from address ${address} locked for ${
          minutes(r.retryAfterMs ?? 0)
        } min`,
      });
    }
    return r;
  }

  function startSession(c: Context<Env>, username: string) {
    const old = c.get("session");
    if (old) sessions.destroy(old.id);
    const session = sessions.create(username);
    const lifetime = ctx.config().webUi.sessionLifetime * 60;
    c.header("Set-Cookie", sessionCookie(session.id, { secure: c.env.secure, maxAgeSeconds: lifetime }));
    return session;
  }

  // ---- setup, login, logout ----
  app.get("/setup", (c) => {
    if (!needsSetup()) return c.redirect("/login", 303);
    return c.html(<SetupPage secure={c.env.secure} values={{}} />);
  });
  app.post("/setup", async (c) => {
    if (!needsSetup()) return c.redirect("/login", 303);
    const form = await readForm(c);
    const values = { username: form("username"), authenticationPhrase: form("authenticationPhrase") };
    // Wrong tokens are counted per address (one address cannot lock out the others), and each is an event.
    const gate = await passGate(throttle.check(SETUP_USER, c.env.remoteAddr));
    if (!gate.allowed) {
      c.header("Retry-After", retryAfter(gate.retryAfterMs));
      const errors = { token: [`too many wrong tokens; try again in ${waitText(gate.retryAfterMs)}`] };
      return c.html(<SetupPage secure={c.env.secure} values={values} errors={errors} />, 429);
    }
    if (!setup.verify(form("token"))) {
      failedLogin(SETUP_USER, c.env.remoteAddr, "setup");
      const errors = { token: ["wrong setup token (see the agent's console or journal)"] };
      return c.html(<SetupPage secure={c.env.secure} values={values} errors={errors} />, 400);
    }
    const errors: FieldErrors = validateSetup({
      username: form("username"),
      password: form("password"),
      confirm: form("confirm"),
      authenticationPhrase: form("authenticationPhrase"),
    });
    if (Object.keys(errors).length) {
      return c.html(<SetupPage secure={c.env.secure} values={values} errors={errors} />, 400);
    }
    const result = await ctx.updateConfig({
      "NetworkManagementCard.username": form("username").trim(),
      "NetworkManagementCard.password": form("password"),
      "NetworkManagementCard.authenticationPhrase": form("authenticationPhrase"),
    });
    if (!result.ok) {
      const mapped = Object.fromEntries(Object.entries(result.errors).map(([k, v]) => [k.split(".")[1], v]));
      return c.html(<SetupPage secure={c.env.secure} values={values} errors={mapped} />, 400);
    }
    setup.consume();
    ctx.emit({
      id: "SetupCompleted",
      note: `administrator ${JSON.stringify(clientText(form("username").trim()))} from ${c.env.remoteAddr}`,
    });
    startSession(c, form("username").trim());
    return c.redirect("/guide/card", 303); // the guided setup goes on: the card, the UPS, the timing
  });

  app.get("/login", (c) => {
    if (c.get("session")) return c.redirect("/", 303);
    const notice = c.req.query("changed") ? "Password changed: log in with the new one." : undefined;
    return c.html(<LoginPage secure={c.env.secure} message={notice} />);
  });
  app.post("/login", async (c) => {
    const form = await readForm(c);
    const username = form("username").trim();
    const gate = await passGate(throttle.check(username, c.env.remoteAddr));
    if (!gate.allowed) {
      c.header("Retry-After", retryAfter(gate.retryAfterMs));
      const message = `Too many failed logins. Try again in ${waitText(gate.retryAfterMs)}.`;
      return c.html(<LoginPage secure={c.env.secure} message={message} username={username} />, 429);
    }
    if (!verifyLogin({ username, password: form("password") }, account())) {
      const { lockedOut } = failedLogin(username, c.env.remoteAddr, "web");
      const message = lockedOut ? "Too many failed logins. Try again later." : "Wrong user name or password.";
      return c.html(<LoginPage secure={c.env.secure} message={message} username={username} />, 401);
    }
    throttle.recordSuccess(username, c.env.remoteAddr);
    startSession(c, username);
    ctx.emit({
      id: "LoginSucceeded",
      note: `${JSON.stringify(clientText(username))} from ${c.env.remoteAddr}`,
    });
    return c.redirect("/", 303);
  });
  app.post("/logout", (c) => {
    const session = c.get("session");
    if (session) sessions.destroy(session.id);
    c.header("Set-Cookie", clearSessionCookie(c.env.secure));
    return c.redirect("/login", 303);
  });

  // ---- replay counters of a card whose counters went back (rebooted or replaced card) ----
  const resetCountersBy = (c: Context<Env>, via: string) =>
    `${c.get("session")?.username ?? c.get("basicUser") ?? "?"} via ${via} from ${c.env.remoteAddr}`;
  const knownCard = (card: string | undefined) => card === undefined || ctx.config().nmc.cards.includes(card);
  app.post("/counters/reset", async (c) => {
    const form = await readForm(c);
    const card = form("card") || undefined;
    if (!knownCard(card)) return c.text("not a configured NMC", 400);
    ctx.resetCounters?.(card, resetCountersBy(c, "the web UI"));
    return c.redirect("/", 303);
  });
  app.post("/api/v1/counters/reset", (c) => {
    const card = c.req.query("card") || undefined;
    if (!knownCard(card)) return c.json({ error: `${card} is not a configured NMC` }, 400);
    const reset = ctx.resetCounters?.(card, resetCountersBy(c, "the web API")) ?? [];
    return c.json({ reset, counters: ctx.status().counters });
  });
  app.get("/account", (c) => c.html(<AccountPage {...frame(c, "Account")} />));
  app.post("/account", async (c) => {
    const form = await readForm(c);
    const username = c.get("session")!.username;
    const gate = await passGate(throttle.check(username, c.env.remoteAddr));
    if (!gate.allowed) {
      c.header("Retry-After", retryAfter(gate.retryAfterMs));
      return c.html(
        <AccountPage {...frame(c, "Account")} errors={{ current: ["too many attempts; try later"] }} />,
        429,
      );
    }
    const errors = validatePasswordChange(
      { current: form("current"), password: form("password"), confirm: form("confirm") },
      account(),
    );
    if (errors.current) failedLogin(username, c.env.remoteAddr, "password change");
    if (Object.keys(errors).length) {
      return c.html(<AccountPage {...frame(c, "Account")} errors={errors} />, 400);
    }
    const result = await ctx.updateConfig({ "NetworkManagementCard.password": form("password") });
    if (!result.ok) {
      return c.html(
        <AccountPage {...frame(c, "Account")} errors={{ password: Object.values(result.errors) }} />,
        400,
      );
    }
    sessions.destroyAll();
    c.header("Set-Cookie", clearSessionCookie(c.env.secure));
    return c.redirect("/login?changed=1", 303);
  });

  app.get("/certificate", (c) => {
    const { info, source } = ctx.certificate();
    return c.html(<CertificatePage {...frame(c, "Certificate")} info={info} source={source} />);
  });
  app.post("/certificate", async (c) => {
    const form = await readForm(c);
    try {
      await ctx.installCertificate(form("certificate"), form("key"));
    } catch (error) {
      const { info, source } = ctx.certificate();
      const errors = { certificate: (error as Error).message };
      return c.html(
        <CertificatePage {...frame(c, "Certificate")} info={info} source={source} errors={errors} />,
        400,
      );
    }
    return c.redirect("/certificate?saved=1", 303);
  });

  // ---- JSON API and metrics ----
  app.get("/api/v1/status", (c) =>
    c.json({
      time: new Date(ctx.now()).toISOString(),
      ...ctx.status(),
      plan: planSequence(sequenceSettings(ctx.config())),
    }));
  app.get("/api/v1/history", (c) => {
    const card = c.req.query("card") ?? "";
    if (!ctx.config().nmc.cards.includes(card)) {
      return c.json({ error: `card: "${card}" is not a configured NMC` }, 400);
    }
    return c.json({ card, samples: ctx.history(card), recent: ctx.recentHistory?.(card) ?? [] });
  });
  // The status as server-sent events: a `status` event whenever it changes (at most once a second).
  app.get("/api/v1/status/stream", () => {
    return liveStream({
      event: "status",
      render: () => {
        const status = ctx.status();
        const countdowns = status.shutdown.countdowns.map(({ remainingMs: _r, ...c }) => c);
        return { status: JSON.stringify({ ...status, shutdown: { ...status.shutdown, countdowns } }) };
      },
      subscribe: ctx.subscribe ? (listener) => ctx.subscribe!(() => listener()) : undefined,
      // Token or Basic credentials are checked when the stream opens: a revoked token or a changed password
      // ends it at the next reconnect, at most 10 minutes later.
      alive: () => true,
      maxAgeMs: 10 * 60_000,
    });
  });
  app.get("/api/v1/events", async (c) => {
    const params = new URL(c.req.url).searchParams;
    const query = parseEventQuery(params, 100_000);
    if ("error" in query) return c.json({ error: query.error }, 400);
    const format = params.get("format") ?? "json";
    if (!["json", "csv"].includes(format)) {
      return c.json({ error: `format: "${format}" must be json or csv` }, 400);
    }
    const page = queryEvents(await ctx.events(), query);
    if (format === "csv") {
      c.header("Content-Disposition", 'attachment; filename="pcns-agent-events.csv"');
      return c.body(eventsToCsv(page.records), 200, { "Content-Type": "text/csv; charset=utf-8" });
    }
    // Asked for by name (the page's download link): a file, as the CSV is.
    if (params.has("format")) {
      c.header("Content-Disposition", 'attachment; filename="pcns-agent-events.json"');
    }
    return c.json(page);
  });
  // Re-arms the shutdown after a finished sequence: the request is an event the action engine acts on.
  app.post("/api/v1/shutdown/reset", (c) => {
    const before = ctx.status().shutdown;
    if (before.phase === "running") {
      return c.json(
        { error: `the shutdown sequence is running (step: ${before.step}); it cannot be reset` },
        409,
      );
    }
    if (before.phase === "idle") {
      return c.json({ rearmed: false, message: "nothing to reset: the shutdown is armed", shutdown: before });
    }
    const token = c.get("apiToken")?.name;
    const who = c.get("session")?.username ?? c.get("basicUser") ?? (token ? `API token "${token}"` : "?");
    const by = `${who} via the web API from ${c.env.remoteAddr}`;
    ctx.emit({ id: "ShutdownResetRequested", note: `by ${by}`, details: { by } });
    const after = ctx.status().shutdown;
    return c.json({ rearmed: after.phase !== "done", message: "re-armed", shutdown: after });
  });
  app.get("/api/v1/config", (c) => c.json(maskConfig(ctx.config())));
  app.put("/api/v1/config", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'the body must be a JSON object of "Section.key": "value" pairs' }, 400);
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      return c.json({ error: 'the body must be a JSON object of "Section.key": "value" pairs' }, 400);
    }
    const updates: Record<string, string> = {};
    let currentPassword: string | undefined;
    for (const [k, v] of Object.entries(body)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        return c.json({ errors: { [k]: "value must be a string, number or boolean" } }, 400);
      }
      if (k === CURRENT_PASSWORD_FIELD) currentPassword = String(v);
      else updates[k] = String(v);
    }
    if (PASSWORD_KEY in updates) {
      const refused = checkCurrentPassword(c, currentPassword);
      if (refused) return refused;
    }
    const result = await ctx.updateConfig(updates);
    return result.ok ? c.json({ changed: result.changed }) : c.json({ errors: result.errors }, 400);
  });

  /**
   * A password change through the API needs the current password (`"currentPassword"` in the body),
   * whatever authenticated the request; a wrong one counts as a failed login (same throttle and events).
   * Returns the refusal, or undefined when the current password is right.
   */
  function checkCurrentPassword(c: Context<Env>, presented: string | undefined): Response | undefined {
    const username = c.get("session")?.username ?? c.get("basicUser") ?? ctx.config().nmc.username;
    if (presented === undefined || presented === "") {
      const text = `the current password is required to change ${PASSWORD_KEY}: send it as ` +
        `"${CURRENT_PASSWORD_FIELD}" in the same body`;
      return c.json({ errors: { [CURRENT_PASSWORD_FIELD]: text } }, 400);
    }
    const gate = throttle.check(username, c.env.remoteAddr);
    if (!gate.allowed) {
      const text = `too many failed attempts; try again in ${minutes(gate.retryAfterMs)} min`;
      c.header("Retry-After", retryAfter(gate.retryAfterMs));
      return c.json({ errors: { [CURRENT_PASSWORD_FIELD]: text } }, 429);
    }
    if (!verifyPassword(presented, account().passwordHash)) {
      failedLogin(username, c.env.remoteAddr, "API password change");
      return c.json({ errors: { [CURRENT_PASSWORD_FIELD]: "the current password is incorrect" } }, 400);
    }
    return undefined;
  }
  app.get(
    "/metrics",
    (c) =>
      c.body(renderMetrics(ctx.status(), ctx.now()), 200, { "Content-Type": "text/plain; version=0.0.4" }),
  );

  registerPageRoutes(app as never, {
    ctx,
    frame: (c, title, notice) => frame(c as Context<Env>, title, notice),
    readForm: (c) => readForm(c as Context<Env>),
    sessionAlive: (id) => sessions.get(id) !== undefined,
  });
  app.onError((error, c) => {
    ctx.emit({
      id: "WebRequestFailed",
      note: `${clientText(c.req.method, 16)} ${clientText(new URL(c.req.url).pathname)}: ${
        clientText(error.message, 200)
      }`,
    });
    return c.text("Internal error", 500);
  });
  return app;
}
