/**
 * Checking NUT users' passwords (`[NUT] user_N` / `password_N`, stored as the agent's scrypt hashes) without
 * ever blocking the event loop the UDP path and the shutdown share:
 *
 * - scrypt runs asynchronously (node:crypto's thread pool; measured here: a 20-verification burst keeps
 *   the event loop's longest pause at ~20 ms on 2 cores, where one synchronous check blocks ~85 ms), at
 *   most {@link MAX_CONCURRENT} at a time, with at most {@link MAX_QUEUED} waiting; beyond that a LOGIN
 *   is refused at once (`busy`);
 * - a pair of user name and password that was verified is remembered (as an HMAC under a key that lives
 *   only in this process), and identical checks running at once share one scrypt, so 500 secondaries
 *   logging in together after a restart cost one scrypt per distinct credential, not 500 (found by the
 *   benchmark: without sharing, all but the first 34 were refused as busy);
 * - failures are throttled per (user, address) pair by the web UI's {@link LoginThrottle} (5 failures, then
 *   a lockout of 60 s doubling with each further failure), and an unknown user costs the same scrypt as
 *   a known one, so timing does not tell which users exist.
 *
 * @module
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { hashPassword, isPasswordHash } from "../config/credentials.ts";
import type { Clock } from "../time/clock.ts";
import { LoginThrottle } from "../web/auth/lockout.ts";

/** scrypt checks running at once. */
export const MAX_CONCURRENT = 2;
/** scrypt checks waiting for a slot; a LOGIN beyond that is refused. */
export const MAX_QUEUED = 32;
/** Verified credentials remembered. */
const MAX_REMEMBERED = 1024;

/** One NUT user. */
export interface NutUser {
  /** User name (as the secondary's upsmon.conf MONITOR line gives it). */
  readonly name: string;
  /** Its password as an scrypt hash ("" = this user cannot log in). */
  readonly passwordHash: string;
}

/** The outcome of a check. */
export type CheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "wrong" | "locked-out" | "busy"; readonly lockedOut?: boolean };

interface ParsedHash {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** The parameters of a stored `scrypt$N$r$p$salt$hash` (one the credentials module accepts), else undefined. */
function parseHash(stored: string): ParsedHash | undefined {
  if (!isPasswordHash(stored)) return undefined;
  const [, n, r, p, salt, key] = stored.split("$");
  return {
    n: Number(n),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(salt, "base64"),
    key: Buffer.from(key, "base64"),
  };
}

function scryptAsync(password: string, h: ParsedHash): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password.trim(),
      h.salt,
      h.key.length,
      { N: h.n, r: h.r, p: h.p, maxmem: 256 * h.n * h.r + (1 << 20) },
      (error, derived) => (error ? reject(error) : resolve(derived)),
    )
  );
}

/** Verifies NUT users' passwords (see the module documentation). */
export class NutPasswords {
  #users = new Map<string, ParsedHash>();
  readonly #throttle: LoginThrottle;
  readonly #cacheKey = randomBytes(32);
  readonly #remembered = new Set<string>();
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly #dummy: ParsedHash;
  #running = 0;
  #scryptRuns = 0;
  readonly #waiting: (() => void)[] = [];

  /** A checker for `users`, throttled on `clock`. */
  constructor(users: readonly NutUser[], clock: Clock) {
    this.#throttle = new LoginThrottle({ threshold: 5, durationMs: 60_000, clock });
    this.#dummy = parseHash(hashPassword(randomBytes(16).toString("hex")))!;
    this.configure(users);
  }

  /** Replaces the users (remembered checks of changed passwords no longer match). */
  configure(users: readonly NutUser[]): void {
    const next = new Map<string, ParsedHash>();
    for (const u of users) {
      const parsed = parseHash(u.passwordHash);
      if (parsed) next.set(u.name, parsed);
    }
    this.#users = next;
  }

  /** Number of scrypt checks started so far (tests, the benchmark). */
  get scryptRuns(): number {
    return this.#scryptRuns;
  }

  /** Number of scrypt checks running or waiting (tests, the benchmark). */
  get pending(): number {
    return this.#running + this.#waiting.length;
  }

  /** Checks `password` for `username` from `address`. */
  async check(username: string, password: string, address: string): Promise<CheckResult> {
    const gate = this.#throttle.check(username, address);
    if (!gate.allowed) return { ok: false, reason: gate.reason === "locked" ? "locked-out" : "busy" };
    const user = this.#users.get(username);
    const memo = user ? this.#memoKey(username, password, user) : undefined;
    if (memo && this.#remembered.has(memo)) {
      this.#throttle.recordSuccess(username, address);
      return { ok: true };
    }
    if (
      !(memo && this.#inFlight.has(memo)) && this.#running >= MAX_CONCURRENT &&
      this.#waiting.length >= MAX_QUEUED
    ) {
      return { ok: false, reason: "busy" };
    }
    await this.#throttle.delay(gate.delayMs);
    // Looked up after the wait: checks that arrived together (one read of many sockets) share one scrypt.
    if (memo && this.#remembered.has(memo)) {
      this.#throttle.recordSuccess(username, address);
      return { ok: true };
    }
    const shared = memo ? this.#inFlight.get(memo) : undefined;
    let ok: boolean;
    if (shared) ok = await shared;
    else {
      const running = this.#verify(password, user);
      if (memo) this.#inFlight.set(memo, running);
      try {
        ok = await running;
      } finally {
        if (memo) this.#inFlight.delete(memo);
      }
    }
    if (ok && memo) {
      if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
      this.#remembered.add(memo);
      this.#throttle.recordSuccess(username, address);
      return { ok: true };
    }
    const failure = this.#throttle.recordFailure(username, address);
    return { ok: false, reason: "wrong", lockedOut: failure.lockedOut };
  }

  /** One scrypt check (against a dummy hash for an unknown user, so it takes as long). */
  async #verify(password: string, user: ParsedHash | undefined): Promise<boolean> {
    const target = user ?? this.#dummy;
    this.#scryptRuns++;
    await this.#slot();
    try {
      const derived = await scryptAsync(password, target);
      return user !== undefined && derived.length === target.key.length &&
        timingSafeEqual(derived, target.key);
    } catch {
      return false;
    } finally {
      this.#release();
    }
  }

  #memoKey(username: string, password: string, user: ParsedHash): string {
    return createHmac("sha256", this.#cacheKey)
      .update(
        `${username}\0${password.trim()}\0${user.salt.toString("base64")}${user.key.toString("base64")}`,
      )
      .digest("base64");
  }

  #slot(): Promise<void> {
    if (this.#running < MAX_CONCURRENT) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(() => resolve()));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next(); // the slot passes to the next waiter
    else this.#running--;
  }
}
