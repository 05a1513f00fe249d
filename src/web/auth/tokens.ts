/**
 * API tokens for scripts and monitoring: `Authorization: Bearer <token>` on the JSON API and /metrics,
 * so no script needs the admin password.
 *
 * - A token is `pcns_<id>_<secret>`: an 8-character id (shown by `token list`, used to find it) and 256
 *   random bits. It is shown once when created; the data directory keeps only its SHA-256 (a 256-bit
 *   random secret needs no slow hash) in `api-tokens.json`, mode 0600.
 * - A read-only token may only GET (and HEAD); a full token may also change settings through the API.
 * - The file is written by `pcns-agent token create|revoke` (atomically, under a lock) and read by the
 *   running agent, which looks at its mtime, size and inode on each Bearer request and reloads it when
 *   it changed, so a revoked token stops working at once. A file that is a symbolic link, writable by
 *   group or others, or not valid JSON is not used (every token is refused) and the agent says why.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { atomicWriteFile, withFileLock } from "../../config/fs.ts";
import { resultWithin } from "../../fs/stall.ts";

/** The token file's name in the data directory. */
export const TOKENS_FILE_NAME = "api-tokens.json";
/** Lock file of the token file's writers. */
export const TOKENS_LOCK_NAME = ".api-tokens.lock";
/** Most tokens kept. */
export const MAX_TOKENS = 100;
/** Largest token file read. */
const MAX_FILE_BYTES = 256 * 1024;

/** One stored token (no secret). */
export interface ApiToken {
  /** 8 characters a-z0-9, the token's public part. */
  readonly id: string;
  /** What it is for, e.g. "monitoring" (unique). */
  readonly name: string;
  /** True: GET and HEAD only. */
  readonly readOnly: boolean;
  /** SHA-256 of the whole token, lower-case hex. */
  readonly sha256: string;
  /** When it was created (ISO 8601). */
  readonly created: string;
}

const TOKEN_RE = /^pcns_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** SHA-256 of a token, lower-case hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A fresh token and its stored parts. */
export function newToken(): { token: string; id: string; sha256: string } {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const id = [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join("");
  const token = `pcns_${id}_${randomBytes(32).toString("base64url")}`;
  return { token, id, sha256: hashToken(token) };
}

/** Problems with a token name (empty = valid). */
export function checkTokenName(name: string): string[] {
  return NAME_RE.test(name)
    ? []
    : ["must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"];
}

/** The token of an `Authorization: Bearer <token>` header, or undefined for another scheme or none. */
export function bearerToken(header: string | undefined | null): string | undefined {
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  return m ? m[1] : undefined;
}

/** The stored token that `presented` is, or undefined (constant-time comparison of the hashes). */
export function findToken(tokens: readonly ApiToken[], presented: string): ApiToken | undefined {
  const m = TOKEN_RE.exec(presented);
  const hash = Buffer.from(hashToken(presented), "hex");
  let found: ApiToken | undefined;
  for (const t of tokens) {
    const stored = Buffer.from(t.sha256, "hex");
    const same = stored.length === hash.length && timingSafeEqual(stored, hash);
    if (same && m && m[1] === t.id) found = t;
  }
  return found;
}

/** Parses the token file (pure); throws an Error naming what is wrong. */
export function parseTokenFile(text: string): ApiToken[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`);
  }
  const list = (data as { tokens?: unknown })?.tokens;
  if (!data || typeof data !== "object" || !Array.isArray(list)) {
    throw new Error('expected {"tokens": [...]}');
  }
  return list.map((entry, i) => {
    const e = entry as Record<string, unknown>;
    const ok = typeof e?.id === "string" && /^[a-z0-9]{8}$/.test(e.id) &&
      typeof e.name === "string" && checkTokenName(e.name).length === 0 &&
      typeof e.readOnly === "boolean" && typeof e.sha256 === "string" && /^[0-9a-f]{64}$/.test(e.sha256) &&
      typeof e.created === "string";
    if (!ok) throw new Error(`token ${i + 1}: expected id, name, readOnly, sha256 and created`);
    return { id: e.id, name: e.name, readOnly: e.readOnly, sha256: e.sha256, created: e.created } as ApiToken;
  });
}

/** The token file's text for `tokens` (pure). */
export function tokenFileText(tokens: readonly ApiToken[]): string {
  return JSON.stringify({ version: 1, tokens }, null, 2) + "\n";
}

/** Why the token file at `path` must not be used, or undefined (I/O: lstat). */
async function unsafeFile(path: string): Promise<string | undefined> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return "it is a symbolic link";
  if (!info.isFile) return "it is not a regular file";
  if (info.size > MAX_FILE_BYTES) return `it is larger than ${MAX_FILE_BYTES} bytes`;
  if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o022) !== 0) {
    return `group or others may write it (mode ${(info.mode & 0o777).toString(8)}; run chmod 600)`;
  }
  return undefined;
}

/** The stored tokens of a data directory ([] when there is no file); throws naming the problem. */
export async function readTokens(dataDir: string): Promise<ApiToken[]> {
  const path = join(dataDir, TOKENS_FILE_NAME);
  try {
    const problem = await unsafeFile(path);
    if (problem) throw new Error(`${path}: not used: ${problem}`);
    return parseTokenFile(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    if ((error as Error).message.startsWith(path)) throw error;
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads, changes and writes the token file under its lock. */
async function updateTokens<T>(
  dataDir: string,
  change: (tokens: ApiToken[]) => { tokens: ApiToken[]; result: T },
): Promise<T> {
  return await withFileLock(join(dataDir, TOKENS_LOCK_NAME), async () => {
    const { tokens, result } = change(await readTokens(dataDir));
    await atomicWriteFile(join(dataDir, TOKENS_FILE_NAME), tokenFileText(tokens));
    return result;
  });
}

/** Creates a token; resolves with the token (to show once) and its stored entry. Throws for a bad or taken name. */
export function createToken(
  dataDir: string,
  options: { name: string; readOnly: boolean },
  now: Date = new Date(),
): Promise<{ token: string; entry: ApiToken }> {
  const problems = checkTokenName(options.name);
  if (problems.length) return Promise.reject(new Error(`token name "${options.name}" ${problems[0]}`));
  return updateTokens(dataDir, (tokens) => {
    if (tokens.some((t) => t.name === options.name)) {
      throw new Error(`a token named "${options.name}" exists already (revoke it first)`);
    }
    if (tokens.length >= MAX_TOKENS) throw new Error(`at most ${MAX_TOKENS} tokens; revoke one first`);
    const fresh = newToken();
    const entry: ApiToken = {
      id: fresh.id,
      name: options.name,
      readOnly: options.readOnly,
      sha256: fresh.sha256,
      created: now.toISOString(),
    };
    return { tokens: [...tokens, entry], result: { token: fresh.token, entry } };
  });
}

/** Revokes the token with this name or id; resolves with it, or undefined when there is none. */
export function revokeToken(dataDir: string, nameOrId: string): Promise<ApiToken | undefined> {
  return updateTokens(dataDir, (tokens) => {
    const victim = tokens.find((t) => t.name === nameOrId || t.id === nameOrId);
    return { tokens: tokens.filter((t) => t !== victim), result: victim };
  });
}

/**
 * The running agent's view of the token file: reloaded when its mtime, size or inode changed (looked
 * at on each verification, asynchronously and one look at a time). While the file is unusable every token
 * is refused and `onProblem` is told once per distinct problem. A disk that does not answer within
 * {@link TOKEN_LOOK_WAIT_MS} leaves the tokens as last read (nothing can change the file meanwhile).
 */
export class TokenVerifier {
  readonly #path: string;
  readonly #dataDir: string;
  readonly #onProblem: (message: string) => void;
  #signature = "";
  #tokens: readonly ApiToken[] = [];
  #loading: Promise<void> | undefined;
  #lastProblem = "";
  #looking: Promise<string> | undefined;

  /** Follows `<dataDir>/api-tokens.json`. */
  constructor(dataDir: string, onProblem: (message: string) => void = () => {}) {
    this.#dataDir = dataDir;
    this.#path = join(dataDir, TOKENS_FILE_NAME);
    this.#onProblem = onProblem;
  }

  /** The stored token `presented` is, or undefined (after reloading the file if it changed). */
  async verify(presented: string): Promise<ApiToken | undefined> {
    await this.#refresh();
    return findToken(this.#tokens, presented);
  }

  /** The file's mtime, size, inode and mode (one look at a time, shared by the requests meanwhile). */
  #look(): Promise<string> {
    this.#looking ??= Deno.lstat(this.#path).then(
      (info) => `${info.mtime?.getTime()}:${info.size}:${info.ino}:${info.mode}`,
      () => "missing",
    ).finally(() => this.#looking = undefined);
    return this.#looking;
  }

  async #refresh(): Promise<void> {
    const signature = await resultWithin(this.#look(), TOKEN_LOOK_WAIT_MS, this.#signature);
    if (signature === this.#signature && !this.#loading) return;
    if (!this.#loading) {
      this.#signature = signature;
      this.#loading = (async () => {
        try {
          this.#tokens = await readTokens(this.#dataDir);
          this.#lastProblem = "";
        } catch (error) {
          this.#tokens = [];
          const message = `API tokens: ${(error as Error).message}; every token is refused`;
          if (message !== this.#lastProblem) this.#onProblem(message);
          this.#lastProblem = message;
        } finally {
          this.#loading = undefined;
        }
      })();
    }
    await resultWithin(this.#loading, TOKEN_LOOK_WAIT_MS, undefined);
  }
}

/** How long a verification waits for the token file's disk before it uses the tokens as last read. */
export const TOKEN_LOOK_WAIT_MS = 2000;
