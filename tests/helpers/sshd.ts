/**
 * A private OpenSSH server on 127.0.0.1 for the SSH action tests (shared/spec/real-peers.md §5): Debian's
 * `/usr/sbin/sshd -D -e -f <dir>/sshd_config` on an ephemeral port, its own Ed25519 host key, and an
 * `authorized_keys` whose key lines force a command that only records what it is asked to run
 * (`$SSH_ORIGINAL_COMMAND`, one line per exec) and answers `ran: <line>`. Two lines do more: `fail`
 * exits 3, `hang` sleeps 15 s (a remote that hangs; it outlives a cut connection, so its pid is recorded
 * and `close()` kills it). The stock daemon is never started.
 *
 * Keys made: `ed25519` (accepted), `rsa` (accepted, passphrase {@link RSA_PASSPHRASE}), `stranger`
 * (not in authorized_keys).
 *
 * @module
 */
import { join } from "node:path";

/** The passphrase of the RSA client key. */
export const RSA_PASSPHRASE = "correct horse battery";

/** A running private sshd. */
export interface Sshd {
  /** Its temp directory (keys, config, log, record). */
  readonly dir: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The user to log in as (the one running the tests). */
  readonly user: string;
  /** Its host key's fingerprint, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** Client key files by name (`ed25519`, `rsa`, `stranger`). */
  readonly keys: Readonly<Record<"ed25519" | "rsa" | "stranger", string>>;
  /** The lines the remote side was asked to run so far. */
  recorded(): Promise<string[]>;
  /** Stops sshd and its session processes, and removes the directory. */
  close(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";

/** Why the tests cannot run here (no sshd or ssh-keygen), or undefined. */
export function sshdMissing(): string | undefined {
  for (const tool of [SSHD, "/usr/bin/ssh-keygen"]) {
    try {
      Deno.statSync(tool);
    } catch {
      return `${tool} is not installed (apt-get install openssh-server)`;
    }
  }
  return undefined;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Resolves when the server sends its banner, false after `ms`. */
async function bannerWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const buf = new Uint8Array(64);
        const timer = setTimeout(() => conn.close(), 1000);
        const n = await conn.read(buf).catch(() => null);
        clearTimeout(timer);
        if (n && new TextDecoder().decode(buf.subarray(0, n)).startsWith("SSH-2.0")) return true;
      } finally {
        try {
          conn.close();
        } catch { /* closed by the timer */ }
      }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** The pids below `pid` (sshd's per-connection processes and their commands). */
function descendantsOf(pid: number): number[] {
  try {
    const out = new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid="], stderr: "null" }).outputSync();
    const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      l.trim().split(/\s+/).map(Number)
    );
    const found: number[] = [];
    let frontier = [pid];
    while (frontier.length > 0) {
      const next = rows.filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
      found.push(...next);
      frontier = next;
    }
    return found;
  } catch {
    return [];
  }
}

/** Starts a private sshd (see the module documentation); throws when it does not come up within 5 s. */
export async function startSshd(): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-sshd-" });
  const user = (await run("id", ["-un"])).trim();
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "hostkey")]);
  const keys = {
    ed25519: join(dir, "client_ed25519"),
    rsa: join(dir, "client_rsa"),
    stranger: join(dir, "client_stranger"),
  };
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keys.ed25519]);
  await run("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", RSA_PASSPHRASE, "-f", keys.rsa]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keys.stranger]);
  const record = join(dir, "record");
  const script = join(dir, "record.sh");
  await Deno.writeTextFile(
    script,
    [
      "#!/bin/sh",
      `printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> '${record}'`,
      'case "$SSH_ORIGINAL_COMMAND" in',
      "  fail) echo 'failing on purpose' >&2; exit 3;;",
      `  hang) echo $$ >> '${join(dir, "hung.pids")}'; exec sleep 15;;`,
      "esac",
      'echo "ran: $SSH_ORIGINAL_COMMAND"',
      "",
    ].join("\n"),
  );
  await Deno.chmod(script, 0o755);
  const lines = [];
  for (const k of [keys.ed25519, keys.rsa]) {
    lines.push(
      `command="${script}",no-pty,no-port-forwarding ${(await Deno.readTextFile(`${k}.pub`)).trim()}`,
    );
  }
  await Deno.writeTextFile(join(dir, "authorized_keys"), lines.join("\n") + "\n");
  const fingerprint =
    (await run("ssh-keygen", ["-lf", join(dir, "hostkey.pub"), "-E", "sha256"])).split(" ")[1];
  try {
    await Deno.mkdir("/run/sshd", { recursive: true });
  } catch { /* not root: sshd runs without privilege separation */ }

  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const config = join(dir, "sshd_config");
    await Deno.writeTextFile(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(dir, "hostkey")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "",
      ].join("\n"),
    );
    const log = await Deno.open(join(dir, "sshd.log"), { write: true, create: true, append: true });
    const child = new Deno.Command(SSHD, {
      args: ["-D", "-e", "-f", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const logged = child.stderr.pipeTo(log.writable).catch(() => {});
    if (await bannerWithin(port, 5000)) {
      return {
        dir,
        port,
        user,
        fingerprint,
        keys,
        recorded: async () => {
          try {
            return (await Deno.readTextFile(record)).split("\n").filter((l) => l !== "");
          } catch {
            return [];
          }
        },
        close: async () => {
          // A cut-off `hang` outlives its connection (sshd does not pass the KILL on): its pid was recorded.
          const hung = (await Deno.readTextFile(join(dir, "hung.pids")).catch(() => "")).split("\n")
            .filter((l) => /^\d+$/.test(l)).map(Number);
          for (const pid of [...descendantsOf(child.pid), child.pid, ...hung]) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch { /* gone already */ }
          }
          await child.status;
          await logged;
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
      };
    }
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await logged;
  }
  const log = await Deno.readTextFile(join(dir, "sshd.log")).catch(() => "");
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  throw new Error(`the private sshd did not start: ${log.slice(-2000)}`);
}

/**
 * The sshd for a test file, or undefined with a message when sshd is missing here; with env CI set a
 * missing sshd is a failure (CI installs openssh-server).
 */
export function sshdOrSkip(): string | undefined {
  const missing = sshdMissing();
  if (missing === undefined) return undefined;
  if (Deno.env.get("CI")) throw new Error(`CI is set but ${missing}`);
  console.log(`SKIPPED: ${missing}`);
  return missing;
}
