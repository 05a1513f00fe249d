/**
 * Web UI login sessions: an in-memory store with idle and absolute expiry, plus
 * the session cookie's Set-Cookie values.
 *
 * - Session ids and CSRF tokens are independent 256-bit random values (base64url, 43 characters).
 * - A session ends `idleMs` after it was last seen, and `lifetimeMs` after it was created however
 *   active it is; an expired session is deleted when it is looked up.
 * - The store holds at most `maxSessions`; when full, the least recently seen session is dropped.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../../time/clock.ts";

/** A login session as handed out by the store (a snapshot; the store keeps its own record). */
export interface Session {
  /** The session id (the cookie value): 256 random bits, base64url. */
  readonly id: string;
  /** The logged-in user name. */
  readonly username: string;
  /** The session's CSRF token: 256 random bits, base64url, independent of the id. */
  readonly csrfToken: string;
  /** When the session began (ms since the epoch); kept across `rotate`. */
  readonly createdAt: number;
  /** When the session was last used (ms since the epoch). */
  readonly lastSeenAt: number;
}

/** Options of a `SessionStore`. */
export interface SessionStoreOptions {
  /** Inactivity after which a session ends (ms). */
  idleMs: number;
  /** Time after creation at which a session ends in any case (ms). */
  lifetimeMs: number;
  /** Time source. */
  clock: Clock;
  /** Most sessions kept at once (default 1000). */
  maxSessions?: number;
}

interface Entry {
  id: string;
  username: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

/** 256 random bits as base64url (43 characters, no padding). */
function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

function snapshot(e: Entry): Session {
  return Object.freeze({ ...e });
}

/** In-memory session store with idle and absolute expiry and a size bound (LRU eviction). */
export class SessionStore {
  #idleMs: number;
  #lifetimeMs: number;
  readonly #clock: Clock;
  readonly #maxSessions: number;
  /** Ordered from least to most recently seen (an entry is re-inserted when touched). */
  readonly #sessions = new Map<string, Entry>();

  /** Creates an empty store. */
  constructor({ idleMs, lifetimeMs, clock, maxSessions = 1000 }: SessionStoreOptions) {
    this.#idleMs = idleMs;
    this.#lifetimeMs = lifetimeMs;
    this.#clock = clock;
    this.#maxSessions = Math.max(1, Math.floor(maxSessions));
  }

  /** Number of sessions held (expired ones not yet looked up included). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Changes the timeouts; they apply to existing sessions too. */
  configure({ idleMs, lifetimeMs }: { idleMs: number; lifetimeMs: number }): void {
    this.#idleMs = idleMs;
    this.#lifetimeMs = lifetimeMs;
  }

  /** Starts a session for `username` (dropping the least recently seen one when the store is full). */
  create(username: string): Session {
    const now = this.#clock.now();
    return snapshot(
      this.#insert({ id: "", username, csrfToken: randomToken(), createdAt: now, lastSeenAt: now }),
    );
  }

  /**
   * The live session with this id, or undefined when unknown, idle-expired or past its lifetime
   * (an expired session is deleted). A successful lookup counts as activity (updates lastSeenAt).
   */
  get(id: string): Session | undefined {
    const entry = this.#live(id);
    if (!entry) return undefined;
    entry.lastSeenAt = this.#clock.now();
    this.#sessions.delete(id);
    this.#sessions.set(id, entry);
    return snapshot(entry);
  }

  /**
   * Replaces a live session's id (and CSRF token) with fresh ones and invalidates the old id; used at
   * login against session fixation. The user and `createdAt` stay, so rotating never extends the
   * absolute lifetime. Undefined when the session is not live.
   */
  rotate(id: string): Session | undefined {
    const entry = this.#live(id);
    if (!entry) return undefined;
    this.#sessions.delete(id);
    return snapshot(this.#insert({
      id: "",
      username: entry.username,
      csrfToken: randomToken(),
      createdAt: entry.createdAt,
      lastSeenAt: this.#clock.now(),
    }));
  }

  /** Ends one session (logout); unknown ids are ignored. */
  destroy(id: string): void {
    this.#sessions.delete(id);
  }

  /** Ends every session (e.g. after a password change). */
  destroyAll(): void {
    this.#sessions.clear();
  }

  /** Ends every session of one user (exact user name). */
  destroyUser(username: string): void {
    for (const [id, entry] of this.#sessions) {
      if (entry.username === username) this.#sessions.delete(id);
    }
  }

  #expired(entry: Entry, now: number): boolean {
    return now - entry.lastSeenAt >= this.#idleMs || now - entry.createdAt >= this.#lifetimeMs;
  }

  #live(id: string): Entry | undefined {
    const entry = this.#sessions.get(id);
    if (!entry) return undefined;
    if (this.#expired(entry, this.#clock.now())) {
      this.#sessions.delete(id);
      return undefined;
    }
    return entry;
  }

  #insert(entry: Entry): Entry {
    while (this.#sessions.size >= this.#maxSessions) {
      // Map order is least recently seen first, so the head is the eviction candidate.
      const oldest = this.#sessions.keys().next().value as string;
      this.#sessions.delete(oldest);
    }
    let id = randomToken();
    while (this.#sessions.has(id)) id = randomToken();
    entry.id = id;
    this.#sessions.set(id, entry);
    return entry;
  }
}

/** Base name of the session cookie (plain HTTP). */
export const SESSION_COOKIE = "pcns_session";

/**
 * The session cookie's name: `__Host-pcns_session` over HTTPS (browsers then insist on Secure, Path=/
 * and no Domain, so no sibling host can plant or shadow it), `pcns_session` over plain HTTP.
 */
export function sessionCookieName(secure: boolean): string {
  return secure ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE;
}

const COOKIE_VALUE_RE = /^[A-Za-z0-9_-]+$/;

function cookieAttributes(secure: boolean): string {
  return `Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/**
 * The Set-Cookie value that stores a session id: HttpOnly, SameSite=Strict, Path=/, and Secure with the
 * `__Host-` name when `secure`. Without `maxAgeSeconds` it is a browser-session cookie.
 * Throws a RangeError for an id that is not base64url (header injection guard).
 */
export function sessionCookie(id: string, options: { secure: boolean; maxAgeSeconds?: number }): string {
  if (!COOKIE_VALUE_RE.test(id)) throw new RangeError("session id must be base64url");
  const maxAge = options.maxAgeSeconds === undefined
    ? ""
    : `; Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`;
  return `${sessionCookieName(options.secure)}=${id}; ${cookieAttributes(options.secure)}${maxAge}`;
}

/** The Set-Cookie value that deletes the session cookie (logout). */
export function clearSessionCookie(secure: boolean): string {
  return `${sessionCookieName(secure)}=; ${cookieAttributes(secure)}; Max-Age=0`;
}
