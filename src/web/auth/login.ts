/**
 * Credential checks for the web UI login form and HTTP Basic API access.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isPasswordHash, verifyPassword } from "../../config/credentials.ts";

/** Credentials as presented by a client. */
export interface LoginInput {
  /** User name as typed. */
  username: string;
  /** Clear-text password as typed. */
  password: string;
}

/** The configured account ("" passwordHash = no password set yet). */
export interface Account {
  /** Configured user name. */
  username: string;
  /** Stored hash (`scrypt$...`), or "" when no password is set. */
  passwordHash: string;
}

/**
 * A hash of a random, discarded password with the same scrypt parameters as `hashPassword`; verified
 * instead of the real one when there is none, so the work done never depends on the account.
 */
const DUMMY_HASH =
  "scrypt$16384$8$1$KLHDUmBy9cMTTIMgmWRIFQ==$g50tmpjhyiFrYVYuk0SJ4PUM+XlL12mKdpeM7Ns3iw/O4wG/AaZ1G0hM6fhS2qJiZ4Tbd682HaHWWyAnrzdF2g==";

/** Compares two strings in time independent of where (or whether) they differ, lengths included. */
function equalConstantTime(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

/**
 * True when the user name (blanks around it ignored, case-sensitive) and the password match the
 * account. Always performs exactly one scrypt verification — against the account's hash, or a dummy
 * hash when no password is set — and compares user names in constant time, so the response time does
 * not reveal whether a user name exists. With no password set nothing logs in.
 */
export function verifyLogin(input: LoginInput, account: Account): boolean {
  const configured = account.username !== "" && isPasswordHash(account.passwordHash);
  const userOk = equalConstantTime(input.username.trim(), account.username);
  const passwordOk = verifyPassword(input.password, configured ? account.passwordHash : DUMMY_HASH);
  return configured && userOk && passwordOk;
}

/**
 * Parses an `Authorization: Basic <base64(user:password)>` header (UTF-8); undefined when absent,
 * of another scheme, not valid base64/UTF-8, or without the ":" separator.
 */
export function parseBasicAuth(header: string | undefined): LoginInput | undefined {
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header ?? "");
  if (!m) return undefined;
  let text: string;
  try {
    const bytes = Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0));
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
