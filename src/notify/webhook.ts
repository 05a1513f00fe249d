/**
 * Webhook notifications: each event is POSTed as JSON to an http(s) URL, with
 * a per-attempt timeout and retries (doubling backoff) on network errors,
 * timeouts, 5xx and 429. Other 4xx answers are final. The URL may hold a
 * secret (token in the path or query, user:password), so names and error texts
 * only ever show the scheme and host.
 *
 * @module
 */
import type { AgentEvent } from "../events/types.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { errorText, type Notifier, type NotifyResult } from "./notifier.ts";

/** Settings of a {@linkcode WebhookNotifier}. */
export interface WebhookOptions {
  /** http:// or https:// URL to POST to (`user:password@` becomes a Basic Authorization header). */
  readonly url: string;
  /** Limit for one attempt (connect, send, response headers), in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt. Default 3 (so up to 4 attempts). */
  readonly retries?: number;
  /** Wait before the first retry, in ms; doubles for each further retry (capped at 60 s). Default 1000. */
  readonly backoffMs?: number;
  /** Extra request headers (e.g. Authorization); never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The fetch to use (tests inject one). Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Clock for timeouts and backoff waits. Default the system clock. */
  readonly clock?: Clock;
  /** Host name sent in the payload. Default `Deno.hostname()`. */
  readonly hostname?: string;
}

/** The JSON document POSTed for one event. */
export interface WebhookPayload {
  /** Event time, ISO 8601 with milliseconds (UTC). */
  readonly time: string;
  /** Event id, e.g. `PowerFailed`. */
  readonly id: string;
  /** `info`, `warning` or `critical`. */
  readonly severity: string;
  /** Human-readable text. */
  readonly message: string;
  /** The NMC the event concerns, if any. */
  readonly nmc?: string;
  /** Extra event values, if any. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Name of the host the agent runs on. */
  readonly host: string;
}

/** A checked webhook URL. */
export interface WebhookTarget {
  /** The URL to request, without user info. */
  readonly url: URL;
  /** Secret-free form for names and messages: `https://host[:port]` plus `/...` if there is a path. */
  readonly display: string;
  /** `Basic ...` header built from `user:password@` in the URL, if any. */
  readonly authorization?: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RETRIES = 3;
const DEFAULT_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
const USER_AGENT = "pcns-agent";

/**
 * Checks and splits a webhook URL; throws an Error naming the bad value when
 * it is not a valid http(s) URL.
 */
export function parseWebhookUrl(raw: string): WebhookTarget {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`webhook URL "${raw}" is not a valid URL (expected http://... or https://...)`);
  }
  const display = displayUrl(url);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`webhook URL "${display}" must start with http:// or https://`);
  }
  let authorization: string | undefined;
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    authorization = `Basic ${base64(`${user}:${password}`)}`;
    url = new URL(url.href);
    url.username = "";
    url.password = "";
  }
  return { url, display, ...(authorization ? { authorization } : {}) };
}

/** Scheme and host of `url`, plus `/...` when the rest (which may hold a token) is hidden. */
export function displayUrl(url: URL): string {
  if (!url.host) return `${url.protocol}...`;
  const hidden = (url.pathname && url.pathname !== "/") || url.search || url.hash;
  return `${url.protocol}//${url.host}${hidden ? "/..." : ""}`;
}

/** Replaces every URL in `text` by the secret-free `display` form. */
export function redactUrls(text: string, display: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)"'<>]+/gi, display);
}

/** The JSON document for `event`. */
export function webhookPayload(event: AgentEvent, host: string): WebhookPayload {
  return {
    time: new Date(event.time).toISOString(),
    id: event.id,
    severity: event.severity,
    message: event.message,
    ...(event.nmc !== undefined ? { nmc: event.nmc } : {}),
    ...(event.details !== undefined ? { details: event.details } : {}),
    host,
  };
}

/** The request body for `event` (bigints become strings). */
export function webhookBody(event: AgentEvent, host: string): string {
  return JSON.stringify(
    webhookPayload(event, host),
    (_key, value) => typeof value === "bigint" ? value.toString() : value,
  );
}

/** What to do with an HTTP status: done, try again later, or give up. */
export function classifyStatus(status: number): "ok" | "retry" | "fail" {
  if (status >= 200 && status < 300) return "ok";
  if (status === 429 || status >= 500) return "retry";
  return "fail";
}

/** Wait before the retry that follows failed attempt number `attempt` (1-based): base, 2x base, 4x base... */
export function backoffDelay(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), Math.max(baseMs, MAX_BACKOFF_MS));
}

type Attempt = { readonly kind: "ok" | "retry" | "fail"; readonly error?: string };

/** Marks an abort caused by our own per-attempt timer. */
class AttemptTimeout extends Error {}

/** Sends events to an HTTP(S) endpoint as JSON POSTs. */
export class WebhookNotifier implements Notifier {
  /** `webhook <scheme>://<host>` (no path, query or credentials). */
  readonly name: string;
  readonly #target: WebhookTarget;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #headers: Headers;
  readonly #fetch: typeof globalThis.fetch;
  readonly #clock: Clock;
  readonly #hostname: string;

  /** Checks the settings; throws a clear Error on a bad URL, header or number. */
  constructor(options: WebhookOptions) {
    this.#target = parseWebhookUrl(options.url);
    this.name = `webhook ${this.#target.display}`;
    this.#timeoutMs = positive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, "timeoutMs");
    this.#retries = count(options.retries ?? DEFAULT_RETRIES, "retries");
    this.#backoffMs = count(options.backoffMs ?? DEFAULT_BACKOFF_MS, "backoffMs");
    this.#headers = buildHeaders(options.headers ?? {}, this.#target.authorization);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#clock = options.clock ?? systemClock;
    this.#hostname = options.hostname ?? localHostname();
  }

  /** POSTs `event`, retrying as configured; never throws. */
  async notify(event: AgentEvent): Promise<NotifyResult> {
    let body: string;
    try {
      body = webhookBody(event, this.#hostname);
    } catch (error) {
      return { ok: false, attempts: 0, error: `cannot encode the event as JSON: ${errorText(error)}` };
    }
    const maxAttempts = this.#retries + 1;
    let attempts = 0;
    for (;;) {
      attempts++;
      const outcome = await this.#attempt(body);
      if (outcome.kind === "ok") return { ok: true, attempts };
      if (outcome.kind === "fail") return { ok: false, attempts, error: `${outcome.error} (not retried)` };
      if (attempts >= maxAttempts) {
        const gaveUp = attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
        return { ok: false, attempts, error: `${outcome.error}${gaveUp}` };
      }
      await sleep(this.#clock, backoffDelay(attempts, this.#backoffMs));
    }
  }

  /** One POST, bounded by the timeout. */
  async #attempt(body: string): Promise<Attempt> {
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(
      () => controller.abort(new AttemptTimeout("timeout")),
      this.#timeoutMs,
    );
    try {
      const response = await this.#fetch(this.#target.url, {
        method: "POST",
        headers: this.#headers,
        body,
        redirect: "manual",
        signal: controller.signal,
      });
      await response.body?.cancel().catch(() => {});
      const kind = classifyStatus(response.status);
      if (kind === "ok") return { kind };
      const text = response.statusText ? ` ${response.statusText}` : "";
      return { kind, error: `${this.#target.display} answered HTTP ${response.status}${text}` };
    } catch (error) {
      if (controller.signal.reason instanceof AttemptTimeout) {
        return {
          kind: "retry",
          error: `${this.#target.display} did not answer within ${this.#timeoutMs} ms`,
        };
      }
      const text = redactUrls(errorText(error), this.#target.display);
      return { kind: "retry", error: `request to ${this.#target.display} failed: ${text}` };
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }
}

/** Waits `ms` on `clock`. */
function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Request headers: JSON content type, our User-Agent, then the configured ones. */
function buildHeaders(extra: Readonly<Record<string, string>>, authorization?: string): Headers {
  const headers = new Headers({ "Content-Type": "application/json", "User-Agent": USER_AGENT });
  if (authorization) headers.set("Authorization", authorization);
  for (const [name, value] of Object.entries(extra)) {
    try {
      headers.set(name, value);
    } catch {
      // The message names the header but never shows its value (it may be a token).
      throw new Error(`webhook header "${name}" has an invalid name or value`);
    }
  }
  return headers;
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`webhook ${what} must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}

function count(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`webhook ${what} must be a whole number >= 0, got ${value}`);
  }
  return value;
}

/** Base64 of the UTF-8 bytes of `text`. */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** `Deno.hostname()`, or "unknown" without the sys permission. */
export function localHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}
