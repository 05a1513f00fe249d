/**
 * Login throttling: consecutive failed logins are counted per user name and per source address; after
 * `threshold` of them the key is locked for `durationMs`, and each further failure doubles the lockout
 * (at most 24 h). A success resets the user's and the address's counters; a key is forgotten 24 h after
 * its last failure or, when later, 24 h after its lockout ended (so the longest lockout does not expire
 * together with the memory of it and hand out a fresh set of attempts). The throttle never looks at whether a user name exists, so locked and unlocked
 * answers reveal nothing about accounts.
 *
 * Intended flow for a login attempt:
 * 1. `check(user, address)`; if refused, answer 429 with Retry-After and do not verify the password;
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

/** Options of a `LoginThrottle`. */
export interface LoginThrottleOptions {
  /** Consecutive failures that lock a user name or address (at least 1). */
  threshold: number;
  /** Length of the first lockout (ms); doubles with each further failure, at most 24 h. */
  durationMs: number;
  /** Time source. */
  clock: Clock;
  /** Most keys (user names + addresses) remembered (default 10000). */
  maxEntries?: number;
}

/** Answer of `LoginThrottle.check`. */
export type ThrottleCheck =
  | { allowed: true }
  | { allowed: false; retryAfterMs: number; reason: "user" | "address" };

/** Answer of `LoginThrottle.recordFailure`. */
export interface FailureResult {
  /** True when the user name or the address is now locked. */
  lockedOut: boolean;
  /** Time until both are unlocked again (only when lockedOut). */
  retryAfterMs?: number;
  /** Consecutive failures: the larger of the user name's and the address's count. */
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

/** Counts failed logins per user name and per source address and locks them out (see module doc). */
export class LoginThrottle {
  #threshold: number;
  #durationMs: number;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  /** Ordered by last failure, oldest first (an entry is re-inserted on each failure). */
  readonly #entries = new Map<string, Entry>();

  /** Creates an empty throttle. */
  constructor({ threshold, durationMs, clock, maxEntries = 10000 }: LoginThrottleOptions) {
    this.#threshold = Math.max(1, Math.floor(threshold));
    this.#durationMs = Math.max(0, durationMs);
    this.#clock = clock;
    this.#maxEntries = Math.max(2, Math.floor(maxEntries));
  }

  /** Number of keys remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Changes threshold and first lockout length (existing lockouts keep their end). */
  configure({ threshold, durationMs }: { threshold: number; durationMs: number }): void {
    this.#threshold = Math.max(1, Math.floor(threshold));
    this.#durationMs = Math.max(0, durationMs);
  }

  /** Whether a login attempt for this user name from this address may be verified now. */
  check(username: string, address: string): ThrottleCheck {
    const now = this.#clock.now();
    const user = this.#remaining(userKey(username), now);
    const addr = this.#remaining(addressKey(address), now);
    if (user <= 0 && addr <= 0) return { allowed: true };
    return user >= addr
      ? { allowed: false, retryAfterMs: user, reason: "user" }
      : { allowed: false, retryAfterMs: addr, reason: "address" };
  }

  /** Counts a failed login for the user name and the address; locks them when the threshold is reached. */
  recordFailure(username: string, address: string): FailureResult {
    const now = this.#clock.now();
    const user = this.#fail(userKey(username), now);
    const addr = this.#fail(addressKey(address), now);
    const retryAfterMs = Math.max(user.lockedUntil, addr.lockedUntil) - now;
    const failures = Math.max(user.failures, addr.failures);
    return retryAfterMs > 0 ? { lockedOut: true, retryAfterMs, failures } : { lockedOut: false, failures };
  }

  /** Forgets the failures of the user name and of the address after a successful login. */
  recordSuccess(username: string, address: string): void {
    this.#entries.delete(userKey(username));
    this.#entries.delete(addressKey(address));
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
   * Keeps the table below maxEntries: drops the oldest decayed or unlocked key, or failing that the
   * oldest key of all.
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

function userKey(username: string): string {
  return `u:${throttleUserKey(username)}`;
}

function addressKey(address: string): string {
  return `a:${throttleAddressKey(address)}`;
}
