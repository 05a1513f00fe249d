/**
 * Login throttling, so that nobody can lock the administrator out and guessing stays slow:
 *
 * - Failures are counted per (user name, source address) pair. After `threshold` consecutive failures
 *   the pair is locked for `durationMs`, and each further failure doubles the lockout (at most 24 h).
 *   A wrong password from one address (a stale monitoring script, an attacker) never locks the same
 *   user out elsewhere. A success resets the pair; a pair is forgotten 24 h after its last failure or,
 *   when later, 24 h after its lockout ended.
 * - A global cap slows rather than bars: once `globalThreshold` failures (any user, any address)
 *   happened within `globalWindowMs`, verifications are spaced `paceMs` apart, one after the other
 *   (`check` answers with the delay to wait); an attempt that would wait longer than `maxWaitMs` is
 *   answered "busy" with a short retry time. A pair that logged in successfully in the last 30 days
 *   (the admin's own workstation, a monitoring script) skips the queue.
 * - The throttle never looks at whether a user name exists, so its answers reveal nothing about
 *   accounts.
 *
 * Intended flow for a login attempt:
 * 1. `check(user, address)`; if refused, answer 429 with Retry-After and do not verify the password;
 *    else wait `delayMs` (see {@link LoginThrottle.delay});
 * 2. verify the credentials;
 * 3. `recordSuccess(user, address)` or `recordFailure(user, address)`.
 *
 * User names are compared case-insensitively. IPv6 sources are grouped by their /64 prefix (one host
 * usually owns a whole /64), IPv4-mapped IPv6 addresses count as the IPv4 address.
 *
 * @module
 */
import type { Clock } from "../../time/clock.ts";

const HOUR_MS = 60 * 60 * 1000;
/** Longest lockout. */
export const MAX_LOCKOUT_MS = 24 * HOUR_MS;
/** A key with no failure (and no lockout) for this long is forgotten. */
export const FAILURE_MEMORY_MS = 24 * HOUR_MS;
/** Longest part of a user name or address used as a key (longer ones are cut; they are invalid anyway). */
const MAX_KEY_CHARS = 64;

/** A successful pair skips the global slow-down for this long. */
export const TRUSTED_PAIR_MS = 30 * 24 * HOUR_MS;

/** Options of a `LoginThrottle`. */
export interface LoginThrottleOptions {
  /** Consecutive failures that lock a (user name, address) pair (at least 1). */
  threshold: number;
  /** Length of the first lockout (ms); doubles with each further failure, at most 24 h. */
  durationMs: number;
  /** Time source (and timers for {@link LoginThrottle.delay}). */
  clock: Clock;
  /** Most pairs remembered (default 10000). */
  maxEntries?: number;
  /** Failures in all within `globalWindowMs` that turn the global slow-down on (default 30). */
  globalThreshold?: number;
  /** Window of the global count (default 10 min). */
  globalWindowMs?: number;
  /** Spacing of verifications while slowed down (default 1000 ms). */
  paceMs?: number;
  /** Longest wait for a verification slot; beyond it the attempt is answered "busy" (default 10 s). */
  maxWaitMs?: number;
}

/** Answer of `LoginThrottle.check`. */
export type ThrottleCheck =
  | { allowed: true; delayMs: number }
  | { allowed: false; retryAfterMs: number; reason: "locked" | "busy" };

/** Answer of `LoginThrottle.recordFailure`. */
export interface FailureResult {
  /** True when the pair is now locked. */
  lockedOut: boolean;
  /** Time until the pair is unlocked again (only when lockedOut). */
  retryAfterMs?: number;
  /** The pair's consecutive failures. */
  failures: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** The throttle key for a user name: trimmed, lower-cased, cut to 64 characters. */
export function throttleUserKey(username: string): string {
  return username.trim().toLowerCase().slice(0, MAX_KEY_CHARS);
}

/** Expands an IPv6 address to 8 numeric groups, or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(2).map(Number);
    if (bytes.some((b) => b > 255)) return undefined;
    tail.push((bytes[0] << 8) | bytes[1], (bytes[2] << 8) | bytes[3]);
    text = v4[1].endsWith("::") ? v4[1] : v4[1].slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const zeros = new Array<number>(8 - given).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16)), ...tail];
}

/**
 * The throttle key for a source address: IPv4 as is, IPv4-mapped IPv6 as the IPv4 address, other IPv6
 * addresses as their /64 prefix (`2001:db8:1:2::/64`); anything else lower-cased and cut to 64 characters.
 */
export function throttleAddressKey(address: string): string {
  const text = address.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (!text.includes(":")) return text.slice(0, MAX_KEY_CHARS);
  const groups = ipv6Groups(text);
  if (!groups) return text.slice(0, MAX_KEY_CHARS);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join(".");
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** Counts failed logins per (user name, address) pair, locks pairs, paces everyone under attack (see module doc). */
export class LoginThrottle {
  #threshold: number;
  #durationMs: number;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #globalThreshold: number;
  readonly #globalWindowMs: number;
  readonly #paceMs: number;
  readonly #maxWaitMs: number;
  /** Ordered by last failure, oldest first (an entry is re-inserted on each failure). */
  readonly #entries = new Map<string, Entry>();
  /** Pairs that logged in, by last success (oldest first). */
  readonly #trusted = new Map<string, number>();
  /** Times of the last `globalThreshold` failures, oldest first. */
  readonly #recentFailures: number[] = [];
  /** When the next verification slot opens while slowed down. */
  #nextSlotAt = 0;

  /** Creates an empty throttle. */
  constructor(options: LoginThrottleOptions) {
    this.#threshold = Math.max(1, Math.floor(options.threshold));
    this.#durationMs = Math.max(0, options.durationMs);
    this.#clock = options.clock;
    this.#maxEntries = Math.max(2, Math.floor(options.maxEntries ?? 10000));
    this.#globalThreshold = Math.max(1, Math.floor(options.globalThreshold ?? 30));
    this.#globalWindowMs = options.globalWindowMs ?? 10 * 60_000;
    this.#paceMs = Math.max(1, options.paceMs ?? 1000);
    this.#maxWaitMs = Math.max(0, options.maxWaitMs ?? 10_000);
  }

  /** Number of pairs remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** True while the global slow-down is on. */
  get slowedDown(): boolean {
    const now = this.#clock.now();
    return this.#recentFailures.length >= this.#globalThreshold &&
      now - this.#recentFailures[0] < this.#globalWindowMs;
  }

  /** Changes threshold and first lockout length (existing lockouts keep their end). */
  configure({ threshold, durationMs }: { threshold: number; durationMs: number }): void {
    this.#threshold = Math.max(1, Math.floor(threshold));
    this.#durationMs = Math.max(0, durationMs);
  }

  /**
   * Whether a login attempt for this user name from this address may be verified, and after which
   * delay (non-zero only while slowed down; the slot is reserved by this call).
   */
  check(username: string, address: string): ThrottleCheck {
    const now = this.#clock.now();
    const key = pairKey(username, address);
    const locked = this.#remaining(key, now);
    if (locked > 0) return { allowed: false, retryAfterMs: locked, reason: "locked" };
    if (!this.slowedDown || this.#isTrusted(key, now)) return { allowed: true, delayMs: 0 };
    const slot = Math.max(now, this.#nextSlotAt);
    const wait = slot - now;
    if (wait > this.#maxWaitMs) return { allowed: false, retryAfterMs: wait, reason: "busy" };
    this.#nextSlotAt = slot + this.#paceMs;
    return { allowed: true, delayMs: wait };
  }

  /** Resolves after `ms` on the throttle's clock (the delay `check` asked for). */
  delay(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  /** Counts a failed login for the pair (and in the global count); locks the pair at the threshold. */
  recordFailure(username: string, address: string): FailureResult {
    const now = this.#clock.now();
    this.#recentFailures.push(now);
    if (this.#recentFailures.length > this.#globalThreshold) this.#recentFailures.shift();
    const entry = this.#fail(pairKey(username, address), now);
    const retryAfterMs = entry.lockedUntil - now;
    return retryAfterMs > 0
      ? { lockedOut: true, retryAfterMs, failures: entry.failures }
      : { lockedOut: false, failures: entry.failures };
  }

  /** Forgets the pair's failures after a successful login and trusts the pair (see module doc). */
  recordSuccess(username: string, address: string): void {
    const key = pairKey(username, address);
    this.#entries.delete(key);
    this.#trusted.delete(key);
    this.#trusted.set(key, this.#clock.now());
    while (this.#trusted.size > this.#maxEntries) {
      this.#trusted.delete(this.#trusted.keys().next().value as string);
    }
  }

  #isTrusted(key: string, now: number): boolean {
    const at = this.#trusted.get(key);
    if (at === undefined) return false;
    if (now - at < TRUSTED_PAIR_MS) return true;
    this.#trusted.delete(key);
    return false;
  }

  #isForgotten(entry: Entry, now: number): boolean {
    return now - Math.max(entry.lastFailureAt, entry.lockedUntil) >= FAILURE_MEMORY_MS;
  }

  /** Lockout time left for a key (<= 0: not locked); drops the key when it has decayed. */
  #remaining(key: string, now: number): number {
    const entry = this.#entries.get(key);
    if (!entry) return 0;
    if (this.#isForgotten(entry, now)) {
      this.#entries.delete(key);
      return 0;
    }
    return entry.lockedUntil - now;
  }

  #fail(key: string, now: number): Entry {
    let entry = this.#entries.get(key);
    if (entry && this.#isForgotten(entry, now)) entry = undefined;
    this.#entries.delete(key);
    if (!entry) {
      this.#makeRoom(now);
      entry = { failures: 0, lastFailureAt: now, lockedUntil: 0 };
    }
    entry.failures++;
    entry.lastFailureAt = now;
    const beyond = entry.failures - this.#threshold;
    if (beyond >= 0) {
      const lockMs = Math.min(this.#durationMs * 2 ** Math.min(beyond, 32), MAX_LOCKOUT_MS);
      entry.lockedUntil = Math.max(entry.lockedUntil, now + lockMs);
    }
    this.#entries.set(key, entry);
    return entry;
  }

  /**
   * Keeps the table below maxEntries: drops the oldest decayed or unlocked pair, or failing that the
   * oldest pair of all.
   */
  #makeRoom(now: number): void {
    while (this.#entries.size >= this.#maxEntries) {
      let victim: string | undefined;
      for (const [key, entry] of this.#entries) {
        if (this.#isForgotten(entry, now) || entry.lockedUntil <= now) {
          victim = key;
          break;
        }
      }
      this.#entries.delete(victim ?? (this.#entries.keys().next().value as string));
    }
  }
}

/** The throttle key of a (user name, address) pair. */
function pairKey(username: string, address: string): string {
  return `${throttleUserKey(username)}\n${throttleAddressKey(address)}`;
}
