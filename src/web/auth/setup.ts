/**
 * First-start setup (no password configured yet) and password changes: a one-time setup token that the
 * agent prints to the console/journal, so only someone with access to the host can claim the UI, and
 * field-level validation of the setup and Account forms.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  checkAuthenticationPhrase,
  checkPasswordPolicy,
  checkUsername,
  verifyPassword,
} from "../../config/credentials.ts";
import type { Clock } from "../../time/clock.ts";
import { systemClock } from "../../time/clock.ts";

/** Field name -> messages; an empty object means the form is valid. */
export type FieldErrors = Record<string, string[]>;

/** Message for a confirmation that differs from the new password. */
export const PASSWORDS_DO_NOT_MATCH = "passwords do not match";
/** Message for a wrong current password on the Account page. */
export const CURRENT_PASSWORD_INCORRECT = "current password is incorrect";
/** Message for a new password equal to the current one. */
export const PASSWORD_UNCHANGED = "must differ from the current password";

const encoder = new TextEncoder();

/** A one-time setup token: 128 random bits as 32 hex digits, optionally expiring. */
export class SetupToken {
  readonly #clock: Clock;
  readonly #ttlMs: number | undefined;
  #token: string;
  #expiresAt: number;
  #consumed = false;

  /** Creates a fresh token; without `ttlMs` it does not expire. */
  constructor({ clock = systemClock, ttlMs }: { clock?: Clock; ttlMs?: number } = {}) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#token = randomBytes(16).toString("hex");
    this.#expiresAt = ttlMs === undefined ? Infinity : clock.now() + ttlMs;
  }

  /** The token to print for the administrator. */
  get token(): string {
    return this.#token;
  }

  /** Replaces the token with a fresh, unused one (the password was removed again while the agent runs). */
  renew(): void {
    this.#token = randomBytes(16).toString("hex");
    this.#expiresAt = this.#ttlMs === undefined ? Infinity : this.#clock.now() + this.#ttlMs;
    this.#consumed = false;
  }

  /** True while the token can still be used (not consumed, not expired). */
  get active(): boolean {
    return !this.#consumed && this.#clock.now() < this.#expiresAt;
  }

  /** True when `presented` is this token (constant time; blanks around it and letter case ignored) and it is active. */
  verify(presented: string | undefined | null): boolean {
    if (typeof presented !== "string") return false;
    const a = encoder.encode(this.token);
    const b = encoder.encode(presented.trim().toLowerCase());
    const match = a.length === b.length && timingSafeEqual(a, b);
    return match && this.active;
  }

  /** Invalidates the token once setup has completed. */
  consume(): void {
    this.#consumed = true;
  }
}

function add(errors: FieldErrors, field: string, messages: string[]): void {
  if (messages.length > 0) errors[field] = [...(errors[field] ?? []), ...messages];
}

/** The setup form. */
export interface SetupForm {
  /** New user name. */
  username: string;
  /** New password. */
  password: string;
  /** The new password again. */
  confirm: string;
  /** NMC authentication phrase. */
  authenticationPhrase: string;
}

/**
 * Validates the setup form: user name, password policy (one message per unmet rule), confirmation and
 * authentication phrase. Returns messages by field name (`username`, `password`, `confirm`,
 * `authenticationPhrase`); an empty object means valid. Passwords are compared as stored (trimmed).
 */
export function validateSetup(form: SetupForm): FieldErrors {
  const errors: FieldErrors = {};
  add(errors, "username", checkUsername(form.username));
  add(errors, "password", checkPasswordPolicy(form.password, form.username));
  if (form.password.trim() !== form.confirm.trim()) add(errors, "confirm", [PASSWORDS_DO_NOT_MATCH]);
  add(errors, "authenticationPhrase", checkAuthenticationPhrase(form.authenticationPhrase));
  return errors;
}

/** The Account page's password change form. */
export interface PasswordChangeForm {
  /** The current password. */
  current: string;
  /** New password. */
  password: string;
  /** The new password again. */
  confirm: string;
}

/**
 * Validates a password change: the current password must verify against the account's hash, the new one
 * must meet the policy for the account's user name, match its confirmation and differ from the current
 * one. Returns messages by field name (`current`, `password`, `confirm`); empty object = valid.
 * Costs one or two scrypt verifications; callers should throttle it like a login.
 */
export function validatePasswordChange(
  form: PasswordChangeForm,
  account: { username: string; passwordHash: string },
): FieldErrors {
  const errors: FieldErrors = {};
  const currentOk = verifyPassword(form.current, account.passwordHash);
  if (!currentOk) add(errors, "current", [CURRENT_PASSWORD_INCORRECT]);
  const policy = checkPasswordPolicy(form.password, account.username);
  add(errors, "password", policy);
  if (currentOk && policy.length === 0 && verifyPassword(form.password, account.passwordHash)) {
    add(errors, "password", [PASSWORD_UNCHANGED]);
  }
  if (form.password.trim() !== form.confirm.trim()) add(errors, "confirm", [PASSWORDS_DO_NOT_MATCH]);
  return errors;
}
