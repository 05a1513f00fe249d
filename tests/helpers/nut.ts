/**
 * Debian's NUT clients for tests: `upsc`, and `upsmon` as a secondary with a private configuration whose
 * SHUTDOWNCMD only records (it can never shut anything down), each started and stopped by its PID. The
 * clients are unpacked from the nut-client package (which conflicts with apcupsd) into a private folder:
 * $PCNS_NUT_CLIENT_ROOT, else test-output/nut-client/root in the checkout (.ci/run unpacks it there),
 * else /opt/nut/root. Also a raw line client for protocol tests.
 */
import { join } from "node:path";

const REPO = new URL("../../", import.meta.url).pathname;

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function clientRoot(): string | undefined {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("PCNS_NUT_CLIENT_ROOT");
  } catch {
    fromEnv = undefined;
  }
  return [fromEnv, join(REPO, "test-output/nut-client/root"), "/opt/nut/root"]
    .find((dir) => dir !== undefined && isFile(join(dir, "bin/upsc")));
}

const ROOT = clientRoot();
/** upsc, if unpacked. */
export const UPSC: string | undefined = ROOT ? join(ROOT, "bin/upsc") : undefined;
/** upsmon (the binary itself, not the wrapper that wants /etc/nut/nut.conf), if unpacked. */
export const UPSMON: string | undefined = ROOT && isFile(join(ROOT, "lib/nut/upsmon"))
  ? join(ROOT, "lib/nut/upsmon")
  : undefined;

/** True when the tests run in CI, where missing clients are a failure, not a skip. */
export const IN_CI = (() => {
  try {
    return Deno.env.get("CI") === "true";
  } catch {
    return false;
  }
})();

/** Why the NUT clients cannot be used here (undefined: they can). */
export function nutClientsMissing(): string | undefined {
  if (!UPSC || !UPSMON) {
    return "Debian's NUT clients are not unpacked (apt-get install libupsclient6; apt-get download nut-client; " +
      "dpkg -x nut-client_*.deb test-output/nut-client/root; .ci/run does this)";
  }
  return undefined;
}

/** Ignore a test needing the clients when they are missing, except in CI (there it must fail). */
export const SKIP_WITHOUT_NUT = nutClientsMissing() !== undefined && !IN_CI;

/** Throws (CI) when the clients are missing. */
export function requireNutClients(): void {
  const missing = nutClientsMissing();
  if (missing) throw new Error(missing);
}

/** Runs upsc; resolves with its exit code and output (stdout, stderr). */
export async function upsc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(UPSC!, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NUT_CONFPATH: "/nonexistent", NUT_STATEPATH: "/nonexistent" },
    signal: AbortSignal.timeout(15_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Options of a private upsmon secondary. */
export interface UpsmonOptions {
  /** The server's port on 127.0.0.1. */
  readonly port: number;
  /** The UPS name to monitor. */
  readonly ups: string;
  /** User name and password. */
  readonly user: string;
  readonly password: string;
  /** Extra upsmon.conf lines (e.g. CERTPATH, FORCESSL). */
  readonly extra?: readonly string[];
}

/** A running private upsmon. */
export interface RunningUpsmon {
  /** Its temp directory. */
  readonly dir: string;
  /** File the recording SHUTDOWNCMD appends to (one line per call: epoch milliseconds). */
  readonly shutdownLog: string;
  /** The times SHUTDOWNCMD ran (epoch ms). */
  shutdownCalls(): Promise<number[]>;
  /** Its output so far. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Stops it by its PID (SIGTERM, then SIGKILL after 5 s) and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts `upsmon -D -F` as a secondary with a private configuration: POLLFREQ 1, DEADTIME 15, FINALDELAY 0,
 * NOTIFYCMD /bin/true, and a SHUTDOWNCMD that only appends the time to a file.
 */
export async function startUpsmon(o: UpsmonOptions): Promise<RunningUpsmon> {
  requireNutClients();
  const dir = await Deno.makeTempDir({ prefix: "pcns-upsmon-" });
  const shutdownLog = join(dir, "shutdown-calls.log");
  const recorder = join(dir, "record-shutdown.sh");
  await Deno.writeTextFile(recorder, `#!/bin/sh\ndate +%s%3N >> '${shutdownLog}'\nexit 0\n`);
  await Deno.chmod(recorder, 0o755);
  await Deno.writeTextFile(join(dir, "nut.conf"), "MODE=netclient\n");
  const conf = join(dir, "upsmon.conf");
  await Deno.writeTextFile(
    conf,
    [
      "RUN_AS_USER root",
      `MONITOR ${o.ups}@127.0.0.1:${o.port} 1 ${o.user} "${o.password.replace(/["\\]/g, "\\$&")}" secondary`,
      "MINSUPPLIES 1",
      `SHUTDOWNCMD "${recorder}"`,
      "NOTIFYCMD /bin/true",
      "POLLFREQ 1",
      "POLLFREQALERT 1",
      "DEADTIME 15",
      `POWERDOWNFLAG ${join(dir, "killpower")}`,
      "FINALDELAY 0",
      "RBWARNTIME 43200",
      "NOCOMMWARNTIME 300",
      ...(o.extra ?? []),
      "",
    ].join("\n"),
  );
  await Deno.chmod(conf, 0o600);
  const child = new Deno.Command(UPSMON!, {
    args: ["-D", "-F"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NUT_CONFPATH: dir, NUT_STATEPATH: dir, NUT_ALTPIDPATH: dir },
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-64 * 1024);
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const exited = child.status;
  return {
    dir,
    shutdownLog,
    async shutdownCalls() {
      const log = await Deno.readTextFile(shutdownLog).catch(() => "");
      return log.split("\n").filter((l) => l.trim() !== "").map(Number);
    },
    output: () => text,
    exited,
    async stop() {
      // upsmon forks (a privileged parent and the monitoring child): stop both, each by its PID.
      const pids = [child.pid, ...descendants(child.pid)];
      const signal = (sig: Deno.Signal) => {
        for (const pid of pids) {
          try {
            Deno.kill(pid, sig);
          } catch {
            // already gone
          }
        }
      };
      signal("SIGTERM");
      const killer = setTimeout(() => signal("SIGKILL"), 5000);
      await exited;
      const deadline = Date.now() + 6000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      clearTimeout(killer);
      if (pids.some(alive)) signal("SIGKILL");
      await reading.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The PIDs of the processes below `pid` (from /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A raw NUT protocol client: send lines, read answer lines. */
export class LineClient {
  readonly conn: Deno.TcpConn;
  #buffer = "";
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #decoder = new TextDecoder("latin1");

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    void this.#pump();
  }

  /** Connects to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<LineClient> {
    return new LineClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** True once the server closed the connection (and every line was read). */
  get ended(): boolean {
    return this.#ended && this.#buffer === "";
  }

  async #pump(): Promise<void> {
    const chunk = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.conn.read(chunk);
        if (n === null) break;
        this.#buffer += this.#decoder.decode(chunk.subarray(0, n));
        this.#wake?.();
      }
    } catch {
      // reset or closed
    }
    this.#ended = true;
    this.#wake?.();
  }

  /** Sends one line (a line break is added). */
  async send(line: string): Promise<void> {
    await this.conn.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Reads one answer line (undefined at end of stream), within `timeoutMs`. */
  async line(timeoutMs = 5000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#buffer.includes("\n")) {
      if (this.#ended) return this.#buffer === "" ? undefined : this.#take(this.#buffer.length);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no answer line within ${timeoutMs} ms (have ${JSON.stringify(this.#buffer)})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#take(this.#buffer.indexOf("\n"));
  }

  /** Waits until the server closes the connection (true) or `timeoutMs` passes (false). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.#ended;
  }

  /** Sends a request and reads one answer line. */
  async ask(line: string): Promise<string | undefined> {
    await this.send(line);
    return await this.line();
  }

  /** Sends a LIST request and reads up to its END LIST line. */
  async list(line: string): Promise<string[]> {
    await this.send(line);
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l === undefined) return lines;
      lines.push(l);
      if (l.startsWith("END LIST") || l.startsWith("ERR ")) return lines;
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed
    }
  }

  #take(end: number): string {
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return line;
  }
}

/** `config` with the NUT server on (ephemeral port on 127.0.0.1), serving the config's cards as nmc1.. . */
export function withNut(
  config: import("../../src/config/types.ts").AgentConfig,
  nut: Partial<import("../../src/config/types.ts").NutSettings> = {},
): import("../../src/config/types.ts").AgentConfig {
  return {
    ...config,
    nut: {
      enabled: true,
      port: 0,
      listenAddresses: ["127.0.0.1"],
      users: [],
      ups: config.nmc.cards.map((card, i) => ({ name: `nmc${i + 1}`, card })),
      hostSyncTimeout: 15,
      maxConnections: 256,
      maxConnectionsPerAddress: 32,
      idleTimeout: 60,
      ...nut,
    },
  };
}
