/**
 * The web app in front of a real config store, driven with app.request (no sockets): for tests of what the
 * settings pages show and save.
 *
 * @module
 */
import { ConfigError } from "../../src/config/problems.ts";
import type { ConfigStore } from "../../src/config/store.ts";
import { createWebApp } from "../../src/web/app.tsx";
import { LoginThrottle } from "../../src/web/auth/lockout.ts";
import { SessionStore } from "../../src/web/auth/sessions.ts";
import { SetupToken } from "../../src/web/auth/setup.ts";
import type { WebAppContext } from "../../src/web/context.ts";
import { problemsByKey } from "../../src/web/server.ts";
import { systemClock } from "../../src/time/clock.ts";

/** A logged-in browser stand-in: `request(path)` GETs, `request(path, form)` POSTs, the session cookie kept. */
export interface SettingsClient {
  request(path: string, form?: Record<string, string>): Promise<Response>;
}

/** Builds the app on `store` and logs in as `username` / `password`; throws if the login fails. */
export async function settingsClient(
  store: ConfigStore,
  username: string,
  password: string,
): Promise<SettingsClient> {
  const ctx = {
    config: () => store.current,
    values: () => store.values,
    now: () => Date.now(),
    emit: () => {},
    updateConfig: async (updates: Record<string, string>) => {
      try {
        const change = await store.set(updates);
        return { ok: true as const, changed: change.changed };
      } catch (error) {
        if (error instanceof ConfigError) return { ok: false as const, errors: problemsByKey(error) };
        throw error;
      }
    },
  } as unknown as WebAppContext;
  const app = createWebApp({
    ctx,
    sessions: new SessionStore({ idleMs: 60_000, lifetimeMs: 3_600_000, clock: systemClock }),
    throttle: new LoginThrottle({ threshold: 5, durationMs: 60_000, clock: systemClock }),
    setup: new SetupToken({}),
  });
  let cookie = "";
  const request = async (path: string, form?: Record<string, string>) => {
    const headers = new Headers();
    if (cookie) headers.set("cookie", cookie);
    if (form) headers.set("content-type", "application/x-www-form-urlencoded");
    const res = await app.request(`https://ui.test${path}`, {
      method: form ? "POST" : "GET",
      headers,
      body: form ? new URLSearchParams(form).toString() : undefined,
    }, { remoteAddr: "192.0.2.10", secure: true });
    const set = res.headers.get("set-cookie");
    if (set) cookie = set.split(";")[0];
    return res;
  };
  const login = await request("/login", { username, password });
  await login.body?.cancel();
  if (login.status !== 303) throw new Error(`login failed: HTTP ${login.status}`);
  return { request };
}
