/**
 * Security response headers for every web UI response, and HTML escaping for code paths that build
 * markup without JSX.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

/** The Content-Security-Policy: same-origin resources only, no inline script or style, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** Strict-Transport-Security value used when HSTS is on (one year; no includeSubDomains). */
export const HSTS_VALUE = "max-age=31536000";

/** Headers set on every response. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
};

/** The headers `securityHeaders` sets for a request path (pure; exported for tests and static serving). */
export function securityHeaderValues(path: string, options: { hsts: boolean }): Record<string, string> {
  const headers: Record<string, string> = { ...COMMON_HEADERS };
  if (options.hsts) headers["Strict-Transport-Security"] = HSTS_VALUE;
  if (!path.startsWith("/assets/")) headers["Cache-Control"] = "no-store";
  return headers;
}

/**
 * Middleware adding the security headers to every response (error responses included): CSP,
 * X-Frame-Options, X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-Policy,
 * Permissions-Policy, Strict-Transport-Security when `hsts`, and `Cache-Control: no-store` on everything
 * outside /assets/.
 */
export function securityHeaders(options: { hsts: boolean }): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const values = securityHeaderValues(c.req.path, options);
    try {
      for (const [name, value] of Object.entries(values)) c.res.headers.set(name, value);
    } catch {
      // Immutable headers (e.g. a Response passed through from fetch): copy, then set.
      c.res = new Response(c.res.body, c.res); // hono's setter copies it into a fresh, mutable Response
      for (const [name, value] of Object.entries(values)) c.res.headers.set(name, value);
    }
  };
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes & < > " ' for use in HTML text and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}
