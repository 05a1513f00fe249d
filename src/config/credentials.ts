/**
 * PCNS credential rules and password hashing.
 *
 * - user name: 1-10 characters from a-z A-Z 0-9 and the PCNS special characters;
 * - authentication phrase: 15-32 printable ASCII characters (kept in clear: the
 *   NMC packets are signed with MD5 over it);
 * - password: 12-128 characters, upper, lower, digit and special character, only
 *   allowed characters, must not contain the user name; stored as
 *   `scrypt$16384$8$1$<salt b64>$<hash b64>`.
 *
 * @module
 */
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

/** The special characters PCNS allows in user names and passwords. */
export const SPECIAL_CHARACTERS = "_!\"#$%&'()*+,-./:;<=>?@^`{|}[]~";

const SCRYPT_N = 16384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 64;
/** Upper bound for N*r accepted from a stored hash (keeps scrypt's memory bounded). */
const MAX_COST = 1 << 20;

const HASH_RE = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function isAllowedCharacter(c: string): boolean {
  return /^[A-Za-z0-9]$/.test(c) || SPECIAL_CHARACTERS.includes(c);
}

function describeCharacters(chars: Iterable<string>): string {
  return [...new Set(chars)].map((c) => (c === " " ? "blank" : JSON.stringify(c))).join(", ");
}

/** Problems with a user name (empty list = valid). */
export function checkUsername(username: string): string[] {
  const problems: string[] = [];
  const length = [...username].length;
  if (length < 1 || length > 10) problems.push(`must be 1 to 10 characters long (is ${length})`);
  const bad = [...username].filter((c) => !isAllowedCharacter(c));
  if (bad.length > 0) {
    problems.push(
      `contains characters that are not allowed (${describeCharacters(bad)}); ` +
        `allowed: a-z A-Z 0-9 ${SPECIAL_CHARACTERS}`,
    );
  }
  return problems;
}

/** Problems with an authentication phrase (empty list = valid). */
export function checkAuthenticationPhrase(phrase: string): string[] {
  const problems: string[] = [];
  const length = [...phrase].length;
  if (length < 15 || length > 32) problems.push(`must be 15 to 32 characters long (is ${length})`);
  if ([...phrase].some((c) => c < " " || c > "~")) {
    problems.push("may only contain printable ASCII characters (blank to ~)");
  }
  return problems;
}

/**
 * Checks a clear-text password against the PCNS policy; returns one message per
 * unmet rule (empty list = acceptable). Leading and trailing blanks are ignored.
 */
export function checkPasswordPolicy(password: string, username: string): string[] {
  const pw = password.trim();
  const chars = [...pw];
  const problems: string[] = [];
  if (chars.length < 12 || chars.length > 128) {
    problems.push(`must be 12 to 128 characters long (is ${chars.length})`);
  }
  if (!/[A-Z]/.test(pw)) problems.push("must contain an upper-case letter (A-Z)");
  if (!/[a-z]/.test(pw)) problems.push("must contain a lower-case letter (a-z)");
  if (!/[0-9]/.test(pw)) problems.push("must contain a digit (0-9)");
  if (!chars.some((c) => SPECIAL_CHARACTERS.includes(c))) {
    problems.push(`must contain a special character (one of ${SPECIAL_CHARACTERS})`);
  }
  const bad = chars.filter((c) => !isAllowedCharacter(c));
  if (bad.length > 0) {
    problems.push(
      `contains characters that are not allowed (${describeCharacters(bad)}); ` +
        `allowed: a-z A-Z 0-9 ${SPECIAL_CHARACTERS}`,
    );
  }
  const user = username.trim().toLowerCase();
  if (user !== "" && pw.toLowerCase().includes(user)) problems.push("must not contain the user name");
  return problems;
}

/** Shortest derived key accepted from a stored hash, in bytes (the agent writes 64). */
const MIN_KEY_BYTES = 32;

/** True when `value` has the stored-hash form `scrypt$N$r$p$salt$hash` with sane parameters (maybe weak). */
export function isPasswordHash(value: string): boolean {
  const m = HASH_RE.exec(value);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const powerOfTwo = n > 1 && (n & (n - 1)) === 0;
  return powerOfTwo && r >= 1 && p >= 1 && p <= 16 && n * r <= MAX_COST &&
    Buffer.from(m[4], "base64").length >= 8 && Buffer.from(m[5], "base64").length >= 16;
}

/** True for anything that looks like a stored scrypt hash (`scrypt$...`, any case), well-formed or not. */
export function looksLikePasswordHash(value: string): boolean {
  return /^scrypt\$/i.test(value.trim());
}

/**
 * Why a stored password value cannot be used, or undefined when it can: it must be a well-formed
 * `scrypt$N$r$p$salt$hash` at least as strong as what {@link hashPassword} writes (N >= 16384, r >= 8,
 * p >= 1, a salt of 16 bytes or more, a key of 32 bytes or more): a weaker hash is cheap to brute-force.
 */
export function passwordHashProblem(value: string): string | undefined {
  if (!isPasswordHash(value)) return "is not a valid scrypt$N$r$p$salt$hash value";
  const m = HASH_RE.exec(value)!;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4], "base64").length;
  const key = Buffer.from(m[5], "base64").length;
  if (n >= SCRYPT_N && r >= SCRYPT_R && p >= SCRYPT_P && salt >= SALT_BYTES && key >= MIN_KEY_BYTES) {
    return undefined;
  }
  const shortSalt = salt < SALT_BYTES ? `, ${salt}-byte salt` : "";
  const shortKey = key < MIN_KEY_BYTES ? `, ${key}-byte key` : "";
  return `is a weak scrypt hash (N=${n}, r=${r}, p=${p}${shortSalt}${shortKey}); pcns-agent writes ` +
    `N=${SCRYPT_N}, r=${SCRYPT_R}, p=${SCRYPT_P} with a ${SALT_BYTES}-byte salt: type the password in clear ` +
    `text instead, it is hashed when the file is read`;
}

/**
 * Problems with a new password sent from outside the host (web UI, API): it must not be empty (that would
 * silently return the agent to first-run setup), must not be a ready-made hash (its strength and origin
 * cannot be checked), and must meet the policy. Empty list = acceptable.
 */
export function checkRemotePassword(password: string, username: string): string[] {
  if (password.trim() === "") {
    return [
      "must not be empty (the web UI and the API cannot remove the password; on the host, " +
      "`pcns-agent passwd` sets a new one)",
    ];
  }
  if (looksLikePasswordHash(password)) {
    return [
      "looks like a stored scrypt hash; send the new password itself (the agent hashes it), " +
      "ready-made hashes are not accepted from the web UI or the API",
    ];
  }
  return checkPasswordPolicy(password, username);
}

/** Hashes a clear-text password (blanks around it stripped) with scrypt and a random 16-byte salt. */
export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(password.trim(), salt, KEY_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P });
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Checks a clear-text password against a stored hash in constant time; false for a malformed hash. */
export function verifyPassword(password: string, stored: string): boolean {
  if (!isPasswordHash(stored)) return false;
  const m = HASH_RE.exec(stored)!;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4], "base64");
  const expected = Buffer.from(m[5], "base64");
  const actual = scryptSync(password.trim(), salt, expected.length, { N: n, r, p, maxmem: 256 * MAX_COST });
  return timingSafeEqual(actual, expected);
}
