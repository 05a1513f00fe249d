/**
 * The page routes of the web app (registered by app.tsx after authentication
 * and CSRF): the dashboard and its live stream, the event log with its
 * audited clearing, the schema-driven settings pages, short URLs that match
 * the menu (`/communication`), and the 404 page.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { actionSettings, sequenceSettings } from "../agent/wiring.ts";
import { keyDef } from "../config/schema.ts";
import { editDistance } from "../text/suggest.ts";
import { planSequence } from "../shutdown/sequencer.ts";
import type { Session } from "./auth/sessions.ts";
import { clientText } from "./clienttext.ts";
import { RejectionWindow } from "./commdiag.ts";
import type { WebAppContext } from "./context.ts";
import { parseEventQuery, queryEvents } from "./eventquery.ts";
import { liveStream } from "./live.ts";
import { type DashboardData, dashboardFragments, DashboardPage } from "./pages/dashboard.tsx";
import { EventsPage } from "./pages/events.tsx";
import { GUIDE_STEPS, GuidePage } from "./pages/guide.tsx";
import type { FieldErrors, PageFrame } from "./pages/layout.tsx";
import { KNOWN_PAGES, NotFoundPage } from "./pages/notfound.tsx";
import { SettingsPage } from "./pages/settings.tsx";
import { pageKeys, type SettingsPageDef, settingsPages } from "./pages/settings_registry.ts";

/** What the page routes need from the app. */
export interface PageRouteHelpers {
  /** The agent. */
  readonly ctx: WebAppContext;
  /** The page frame of a request. */
  frame(c: Context, title: string, notice?: string): PageFrame;
  /** The submitted form: `get(name)` (last value) and `has(name)`. */
  readForm(c: Context): Promise<((name: string) => string) & { has(name: string): boolean }>;
  /** True while the session with this id is live. */
  sessionAlive(id: string): boolean;
}

/** Short URLs that lead to the page of the same name in the menu. */
export function aliasFor(path: string): string | undefined {
  const p = path.replace(/\/+$/, "").toLowerCase() || "/";
  const fixed: Record<string, string> = {
    "/dashboard": "/",
    "/log": "/events",
    "/logs": "/events",
    "/eventlog": "/events",
    "/event-log": "/events",
    "/settings": "/settings/communication",
    "/event-actions": "/settings/events",
    "/settings/certificate": "/certificate",
    "/settings/account": "/account",
  };
  if (fixed[p]) return fixed[p];
  const slug = p.slice(1);
  const page = settingsPages().find((s) => s.slug === slug);
  return page && slug !== "events" ? `/settings/${page.slug}` : undefined;
}

/** The known page nearest to a missing path (by edit distance of the last segment), if any is close. */
export function suggestPage(path: string): readonly [string, string] | undefined {
  const last = path.toLowerCase().split("/").filter(Boolean).at(-1) ?? "";
  let best: readonly [string, string] | undefined;
  let bestDistance = Infinity;
  for (const page of KNOWN_PAGES) {
    const seg = page[0].split("/").filter(Boolean).at(-1) ?? "dashboard";
    const d = Math.min(editDistance(last, seg), editDistance(last, page[1].toLowerCase()));
    if (d < bestDistance) [best, bestDistance] = [page, d];
  }
  return bestDistance <= Math.max(2, Math.floor(last.length / 3)) ? best : undefined;
}

/** Registers the page routes on `app`. */
export function registerPageRoutes(app: Hono<never>, h: PageRouteHelpers): void {
  // deno-lint-ignore no-explicit-any
  const a = app as unknown as Hono<any>;
  const { ctx } = h;
  const rejections = new RejectionWindow();
  const dashboardData = (c: Context): DashboardData => {
    const config = ctx.config();
    const now = ctx.now();
    const status = ctx.status();
    return {
      status,
      now,
      plan: planSequence(sequenceSettings(config)),
      policy: actionSettings(config).policy,
      recent: rejections.recent(status.packets, now),
      history: (card) => ctx.history(card),
      recentHistory: (card) => ctx.recentHistory?.(card) ?? ctx.history(card),
      csrf: (c.get("session") as Session | undefined)?.csrfToken,
    };
  };

  a.get("/", (c) => c.html(<DashboardPage {...h.frame(c, "Dashboard")} data={dashboardData(c)} />));
  a.get("/dashboard/live", (c) => {
    const session = c.get("session") as Session | undefined;
    if (!session) return c.text("the live dashboard needs a login session", 401);
    return liveStream({
      render: () => dashboardFragments(dashboardData(c)),
      subscribe: ctx.subscribe ? (listener) => ctx.subscribe!(() => listener()) : undefined,
      alive: () => h.sessionAlive(session.id),
    });
  });

  a.get("/events", async (c) => {
    const parsed = parseEventQuery(new URL(c.req.url).searchParams, 200);
    const query = "error" in parsed ? { page: 1, perPage: 50 } : parsed;
    const result = queryEvents(await ctx.events(), query);
    const error = "error" in parsed ? parsed.error : undefined;
    return c.html(
      <EventsPage {...h.frame(c, "Event log")} query={query} result={result} error={error} now={ctx.now()} />,
      error ? 400 : 200,
    );
  });
  a.post("/events/clear", async (c) => {
    const form = await h.readForm(c);
    if (form("confirm") !== "yes") return c.text("tick the confirmation box to clear the event log", 400);
    if (!ctx.clearEvents) return c.text("clearing the event log is not available here", 501);
    const before = (await ctx.events()).length;
    const who = (c.get("session") as Session | undefined)?.username ?? "?";
    try {
      await ctx.clearEvents();
    } catch (error) {
      return c.text(`the event log was not cleared: ${(error as Error).message}`, 500);
    }
    ctx.emit({
      id: "EventLogCleared",
      note: `by ${JSON.stringify(clientText(who))} from ${c.env.remoteAddr}: ${before} events deleted`,
      details: { by: who, address: c.env.remoteAddr, deleted: before },
    });
    return c.redirect("/events?cleared=1", 303);
  });

  for (const page of settingsPages()) registerSettingsPage(a, h, page);
  a.post("/settings/communication/check", async (c) => {
    const page = settingsPages().find((p) => p.slug === "communication")!;
    const checks = await Promise.all(ctx.config().nmc.cards.map((card) => ctx.checkNmc(card)));
    return c.html(
      <SettingsPage {...h.frame(c, page.title)} page={page} values={ctx.values()} checks={checks} />,
    );
  });

  registerGuide(a, h);

  a.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    if (path.startsWith("/api/") || path === "/metrics") {
      return c.json({ error: `no API endpoint ${clientText(path)}` }, 404);
    }
    const alias = c.req.method === "GET" ? aliasFor(path) : undefined;
    if (alias) return c.redirect(alias, 301);
    if (!c.get("session")) return c.text("Not found", 404);
    return c.html(
      <NotFoundPage
        {...h.frame(c, "Page not found")}
        missing={clientText(path)}
        suggestion={suggestPage(path)}
      />,
      404,
    );
  });
}

/** GET and POST of one settings page: only the page's own keys are taken from the form. */
function registerSettingsPage(
  // deno-lint-ignore no-explicit-any
  app: Hono<any>,
  h: PageRouteHelpers,
  page: SettingsPageDef,
): void {
  const { ctx } = h;
  const path = `/settings/${page.slug}`;
  const keys = pageKeys(page);
  const render = (c: Context, values: ReadonlyMap<string, string>, errors?: FieldErrors) => (
    <SettingsPage {...h.frame(c, page.title)} page={page} values={values} errors={errors} />
  );
  app.get(path, (c) => c.html(render(c, ctx.values())));
  app.post(path, async (c) => {
    const form = await h.readForm(c);
    const updates: Record<string, string> = {};
    const submitted = new Map(ctx.values());
    for (const key of keys) {
      if (!form.has(key)) continue; // not on the submitted form: unchanged
      const value = form(key);
      const isSecret = keyDef(key)?.secret === true;
      if (value === "" && isSecret) continue; // empty secret field: unchanged
      updates[key] = value;
      if (!isSecret) submitted.set(key, value);
    }
    const result = await ctx.updateConfig(updates);
    if (!result.ok) return c.html(render(c, submitted, result.errors), 400);
    return c.redirect(`${path}?saved=1`, 303);
  });
}

/** The guided setup: `/guide/<step>`; each step saves like a settings page, the last ends on the dashboard. */
function registerGuide(
  // deno-lint-ignore no-explicit-any
  app: Hono<any>,
  h: PageRouteHelpers,
): void {
  const { ctx } = h;
  const stepOf = (c: Context) => GUIDE_STEPS.find((s) => s.slug === c.req.param("step"));
  const title = "Guided setup";
  app.get("/guide", (c) => c.redirect(`/guide/${GUIDE_STEPS[0].slug}`, 303));
  app.get("/guide/:step", (c) => {
    const step = stepOf(c);
    if (!step) return c.notFound();
    return c.html(<GuidePage {...h.frame(c, `${title}: ${step.title}`)} step={step} values={ctx.values()} />);
  });
  app.post("/guide/:step", async (c) => {
    const step = stepOf(c);
    if (!step) return c.notFound();
    const frame = h.frame(c, `${title}: ${step.title}`);
    if (step.keys.length === 0) {
      const checks = await Promise.all(ctx.config().nmc.cards.map((card) => ctx.checkNmc(card)));
      return c.html(<GuidePage {...frame} step={step} values={ctx.values()} checks={checks} />);
    }
    const form = await h.readForm(c);
    const updates: Record<string, string> = {};
    for (const key of step.keys) if (form.has(key)) updates[key] = form(key);
    const result = await ctx.updateConfig(updates);
    if (!result.ok) {
      const values = new Map([...ctx.values(), ...Object.entries(updates)]);
      return c.html(<GuidePage {...frame} step={step} values={values} errors={result.errors} />, 400);
    }
    const next = GUIDE_STEPS[GUIDE_STEPS.indexOf(step) + 1];
    return c.redirect(next ? `/guide/${next.slug}` : "/?guided=1", 303);
  });
}
