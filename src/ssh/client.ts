/**
 * The SSH client of the SSH actions, on npm `ssh2`: one connection to the remote host, the host key checked
 * against a pinned SHA-256 fingerprint (`ssh-keygen -lf` format) before anything is sent, public-key
 * (Ed25519, ECDSA, RSA) or password authentication, then each command with its own `exec` request, in
 * order, stopping at the first that exits non-zero. The whole run (connection included) is bounded: at
 * the deadline a KILL signal request is sent for the running command and the connection is destroyed.
 * OpenSSH refuses signal requests for forced-command sessions, so there a cut-off command may run on
 * remotely; the agent has stopped waiting for it either way.
 *
 * Why exec per line and not one shell session fed line by line (as PowerChute does): each line gets its
 * own exit status, so a failing line is reported as such and the next ones are not run; there is no
 * prompt or echo to tell apart from the output; and a forced command in the remote `authorized_keys`
 * sees each line in `$SSH_ORIGINAL_COMMAND`, so it can allow exactly the lines it expects (least
 * privilege). A device whose SSH server has no exec (some switches) is not supported.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

// ssh2 takes ~70 ms to load, on the event loop: only an agent with an enabled action (at its start or a
// reload, see prepareSshClient), a key check or `ssh test` loads it, not every CLI command.
// deno-lint-ignore no-explicit-any
let ssh2Module: Promise<any> | undefined;
// deno-lint-ignore no-explicit-any
function loadSsh2(): Promise<any> {
  ssh2Module ??= import("ssh2").then((m) => m.default);
  return ssh2Module;
}

/**
 * Loads ssh2 now, so that an action's first run (in the shutdown) does not: the load holds up the whole
 * agent while it runs, and as long as its files' disk does not answer. A failed load is reported by the run.
 */
export function prepareSshClient(): void {
  loadSsh2().catch(() => {});
}

/** Whether this process has asked for ssh2 yet (tests: an agent without an enabled action never does). */
export function sshClientRequested(): boolean {
  return ssh2Module !== undefined;
}

/** Where and as whom to connect. */
export interface SshTarget {
  /** Remote host. */
  readonly host: string;
  /** Remote port. */
  readonly port: number;
  /** Remote user. */
  readonly user: string;
  /** Private key text (OpenSSH or PEM), if a key is used. */
  readonly privateKey?: string;
  /** Its passphrase. */
  readonly passphrase?: string;
  /** Password, if password authentication is used. */
  readonly password?: string;
  /** The fingerprint the host key must have (`SHA256:...`); "" accepts any key (and reports it, to pin). */
  readonly hostKeyFingerprint: string;
}

/** One command that ran. */
export interface SshCommandResult {
  /** The line sent. */
  readonly command: string;
  /** Its exit status (null: killed by a signal, cut off, or the server sent none). */
  readonly exitCode: number | null;
  /** The signal that ended it, if any. */
  readonly signal?: string;
  /** What it wrote to stdout and stderr (truncated). */
  readonly output: string;
}

/** How a run went. */
export interface SshRunResult {
  /** Connected, authenticated, and every command exited 0 within the time. */
  readonly ok: boolean;
  /** Cut off at the deadline. */
  readonly timedOut: boolean;
  /** The host key did not match the pinned fingerprint: nothing was sent. */
  readonly hostKeyMismatch: boolean;
  /** The host key's fingerprint, when the server sent one. */
  readonly fingerprint?: string;
  /** Its type (`ssh-ed25519`, `rsa-sha2-512` keys show as `ssh-rsa`). */
  readonly keyType?: string;
  /** The commands that ran (or started), in order. */
  readonly commands: readonly SshCommandResult[];
  /** What went wrong (the first problem). */
  readonly error?: string;
  /** Milliseconds from the start to the end. */
  readonly durationMs: number;
}

/** Most output kept per run, characters. */
export const SSH_OUTPUT_LIMIT = 16 * 1024;

/** The SHA-256 fingerprint of a host key blob, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(keyBlob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named at the start of a host key blob. */
export function keyTypeOf(keyBlob: Uint8Array): string {
  if (keyBlob.length < 4) return "unknown";
  const length = new DataView(keyBlob.buffer, keyBlob.byteOffset, 4).getUint32(0);
  if (length > 64 || keyBlob.length < 4 + length) return "unknown";
  return new TextDecoder().decode(keyBlob.subarray(4, 4 + length));
}

interface ParsedKey {
  readonly type: string;
  sign(data: Uint8Array, algo?: string): Uint8Array | Error;
}

/**
 * Checks a private key before it is used: parses it (with its passphrase) and signs a test message the
 * way authentication will. Returns the key's type, or a sentence saying what is wrong.
 */
export async function checkPrivateKey(
  text: string,
  passphrase?: string,
): Promise<{ type: string } | { error: string }> {
  const ssh2 = await loadSsh2();
  const utils =
    (ssh2 as unknown as { utils: { parseKey(k: string, p?: string): ParsedKey | ParsedKey[] | Error } })
      .utils;
  let parsed: ParsedKey | ParsedKey[] | Error;
  try {
    parsed = utils.parseKey(text, passphrase || undefined);
  } catch (error) {
    parsed = error instanceof Error ? error : new Error(String(error));
  }
  if (parsed instanceof Error) {
    const why = parsed.message;
    if (/passphrase/i.test(why)) {
      return {
        error: passphrase ? "the key passphrase is wrong" : "the key is encrypted: set keyPassphrase",
      };
    }
    if (/bad decrypt|unsupported/i.test(why) && passphrase) return { error: "the key passphrase is wrong" };
    return {
      error: `not a private key ssh2 can read (${why}): use an OpenSSH key (ssh-keygen -t ed25519)`,
    };
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) return { error: "the file holds no key" };
  const algo = key.type === "ssh-rsa" ? "sha512" : undefined;
  let signed: Uint8Array | Error;
  try {
    signed = key.sign(new Uint8Array([1, 2, 3]), algo);
  } catch (error) {
    signed = error instanceof Error ? error : new Error(String(error));
  }
  if (signed instanceof Error) {
    return {
      error: `the ${key.type} key cannot sign here (${signed.message}); an encrypted old-style PEM key ` +
        "(BEGIN RSA PRIVATE KEY with Proc-Type ENCRYPTED) is not supported: convert it with ssh-keygen -p -f KEY",
    };
  }
  return { type: key.type };
}

/** The text of a connection error, in words. */
function describeError(error: Error & { code?: string; level?: string }, target: SshTarget): string {
  const where = `${target.host}:${target.port}`;
  if (error.code === "ECONNREFUSED") return `connection refused by ${where} (no SSH server on that port?)`;
  if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") return `host ${target.host} not found`;
  if (error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH") return `${where} is unreachable`;
  if (error.code === "ECONNRESET") return `${where} reset the connection`;
  if (error.level === "client-authentication") {
    return `authentication as ${target.user} failed: the server refused the ${
      [target.privateKey ? "key" : "", target.password ? "password" : ""].filter((s) => s).join(" and ")
    }`;
  }
  return error.message;
}

/** Options of {@link runSshCommands}. */
export interface SshRunOptions {
  /** The lines to run, in order. */
  readonly commands: readonly string[];
  /** The whole run's budget, connection included, ms. */
  readonly timeoutMs: number;
  /** Ends the run at once (the agent is stopping). */
  readonly signal?: AbortSignal;
}

// The slice of ssh2's API used here.
interface Stream {
  on(event: "data", fn: (d: Uint8Array) => void): Stream;
  on(event: "exit", fn: (code: number | null, signal?: string) => void): Stream;
  on(event: "close", fn: () => void): Stream;
  stderr: { on(event: "data", fn: (d: Uint8Array) => void): void };
  signal(name: string): boolean;
  end(): void;
}
interface Client {
  on(event: "ready" | "close", fn: () => void): Client;
  on(event: "error", fn: (e: Error & { code?: string; level?: string }) => void): Client;
  connect(config: Record<string, unknown>): void;
  exec(command: string, cb: (err: Error | undefined, stream: Stream) => void): boolean;
  end(): void;
  destroy(): void;
}

/**
 * Connects, checks the host key, authenticates and runs the commands (see the module documentation).
 * Never rejects and never takes longer than `timeoutMs` (plus the few ms of tearing down).
 */
export async function runSshCommands(target: SshTarget, options: SshRunOptions): Promise<SshRunResult> {
  const started = performance.now();
  const ssh2 = await loadSsh2();
  const client = new (ssh2 as unknown as { Client: new () => Client }).Client();
  const commands: SshCommandResult[] = [];
  let fingerprint: string | undefined;
  let keyType: string | undefined;
  let mismatch = false;
  let stage = "connecting";
  let current: { stream?: Stream; command: string; output: string } | undefined;
  let budget = SSH_OUTPUT_LIMIT;
  let finished = false;

  return await new Promise<SshRunResult>((resolve) => {
    const finish = (ok: boolean, timedOut: boolean, error?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (current) commands.push({ command: current.command, exitCode: null, output: current.output });
      if (timedOut) current?.stream?.signal("KILL");
      try {
        client.destroy();
      } catch {
        // already closed
      }
      resolve({
        ok,
        timedOut,
        hostKeyMismatch: mismatch,
        ...(fingerprint ? { fingerprint, keyType } : {}),
        commands,
        ...(error ? { error } : {}),
        durationMs: Math.round(performance.now() - started),
      });
    };
    const timer = setTimeout(() => {
      const seconds = Math.round(options.timeoutMs / 100) / 10;
      finish(false, true, `not finished within its duration of ${seconds} s (cut off while ${stage})`);
    }, options.timeoutMs);
    const onAbort = () => {
      current?.stream?.signal("KILL");
      finish(false, false, `cancelled while ${stage}: the agent is stopping`);
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);

    const runNext = (index: number) => {
      if (finished) return;
      if (index >= options.commands.length) {
        client.end();
        finish(true, false);
        return;
      }
      const command = options.commands[index];
      stage = `running line ${index + 1}: ${command}`;
      current = { command, output: "" };
      const run = current;
      client.exec(command, (err, stream) => {
        if (finished) return;
        if (err) {
          finish(false, false, `line ${index + 1} could not be started: ${err.message}`);
          return;
        }
        run.stream = stream;
        let exitCode: number | null = null;
        let signal: string | undefined;
        const collect = (d: Uint8Array) => {
          const text = new TextDecoder().decode(d);
          const kept = text.slice(0, Math.max(0, budget));
          budget -= kept.length;
          run.output += kept;
        };
        stream.on("data", collect);
        stream.stderr.on("data", collect);
        stream.on("exit", (code, sig) => {
          exitCode = typeof code === "number" ? code : null;
          signal = sig ?? undefined;
        });
        stream.on("close", () => {
          if (finished) return;
          current = undefined;
          commands.push({ command, exitCode, ...(signal ? { signal } : {}), output: run.output });
          if (exitCode === 0) return runNext(index + 1);
          const how = signal
            ? `was killed by ${signal}`
            : exitCode === null
            ? "ended without an exit status"
            : `exited with ${exitCode}`;
          finish(false, false, `line ${index + 1} (${command}) ${how}`);
        });
      });
    };

    client.on("ready", () => runNext(0));
    client.on("error", (error) => {
      if (mismatch) {
        finish(
          false,
          false,
          `host key ${fingerprint} (${keyType}) of ${target.host} does not match the pinned ${target.hostKeyFingerprint}: refused, nothing was sent`,
        );
      } else finish(false, false, describeError(error, target));
    });
    client.on("close", () => finish(false, false, `the connection closed while ${stage}`));

    const auth = [target.privateKey ? "publickey" : "", target.password ? "password" : ""].filter((s) => s);
    try {
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...(target.privateKey ? { privateKey: target.privateKey } : {}),
        ...(target.privateKey && target.passphrase ? { passphrase: target.passphrase } : {}),
        ...(target.password ? { password: target.password } : {}),
        authHandler: auth,
        readyTimeout: Math.max(1000, options.timeoutMs),
        hostVerifier: (key: Buffer) => {
          const blob = new Uint8Array(key);
          fingerprint = fingerprintOf(blob);
          keyType = keyTypeOf(blob);
          stage = "authenticating";
          if (target.hostKeyFingerprint !== "" && fingerprint !== target.hostKeyFingerprint) {
            mismatch = true;
            return false;
          }
          return true;
        },
      });
    } catch (error) {
      finish(false, false, describeError(error as Error, target));
    }
  });
}
