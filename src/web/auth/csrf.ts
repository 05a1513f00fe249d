/**
 * Cross-site request forgery protection for the web UI: synchronizer tokens (one per session, sent back
 * in a header or a hidden form field) plus an Origin check on every state-changing request.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";

/** Name of the hidden form field carrying the CSRF token. */
export const CSRF_FIELD = "_csrf";
/** Name of the request header carrying the CSRF token (fetch/XHR). */
export const CSRF_HEADER = "x-csrf-token";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const encoder = new TextEncoder();

/**
 * True when `presented` equals the session's token. Constant time for equal lengths; false when absent,
 * empty or of another length.
 */
export function verifyCsrf(sessionToken: string, presented: string | undefined | null): boolean {
  if (typeof presented !== "string" || sessionToken === "" || presented === "") return false;
  const a = encoder.encode(sessionToken);
  const b = encoder.encode(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True for methods that may change state (anything but GET, HEAD and OPTIONS). */
export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/**
 * True unless the request comes from a foreign site. Browsers send `Sec-Fetch-Site` (which pages cannot
 * forge): only "same-origin" and "none" (typed address, bookmark) pass. Without it, an `Origin` header must
 * have the request's host. (With `Referrer-Policy: no-referrer`, browsers send `Origin: null` even on
 * same-origin form posts, so `Sec-Fetch-Site` is checked first.) Requests with neither header (non-browser
 * clients) pass; the CSRF token is still required where a session is used.
 */
export function sameOriginRequest(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site")?.toLowerCase();
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  try {
    return new URL(origin).host === new URL(request.url).host;
  } catch {
    return false; // "null" and other unparsable origins
  }
}

/** Options of `csrfProtection`. */
export interface CsrfOptions {
  /**
   * True when the request authenticated with HTTP Basic (API clients, no cookie): such requests need no
   * token. The Origin check still applies (a browser may replay cached Basic credentials cross-site;
   * API clients send no Origin).
   */
  isBasicAuth?: (c: Context) => boolean;
  /** True for requests that need no token (e.g. the login and setup forms); the Origin check still applies. */
  exempt?: (c: Context) => boolean;
}

async function presentedToken(c: Context): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header !== undefined) return header;
  try {
    // hono caches the parsed form, so the route can still read the body.
    const body = await c.req.parseBody();
    const value = body[CSRF_FIELD];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Middleware rejecting state-changing requests (POST, PUT, PATCH, DELETE, ...) with 403 when they come
 * from a foreign origin, or when neither the `x-csrf-token` header nor the `_csrf` form field matches the
 * session's token (`getSessionToken`; no session means no valid token). Safe methods pass untouched.
 */
export function csrfProtection(
  getSessionToken: (c: Context) => string | undefined,
  options: CsrfOptions = {},
): MiddlewareHandler {
  return async (c, next) => {
    if (!isStateChanging(c.req.method)) return await next();
    if (!sameOriginRequest(c.req.raw)) return c.text("Forbidden: cross-site request refused", 403);
    if (options.isBasicAuth?.(c) || options.exempt?.(c)) return await next();
    const token = getSessionToken(c);
    if (token === undefined || !verifyCsrf(token, await presentedToken(c))) {
      return c.text("Forbidden: missing or invalid CSRF token", 403);
    }
    return await next();
  };
}
