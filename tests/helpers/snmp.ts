/**
 * Debian's Net-SNMP tools for the SNMP tests: snmpget/snmpwalk/snmpset (package snmp) and snmptrapd
 * (package snmptrapd), always with numeric OIDs (`-m "" -On`), a private configuration and persistent
 * directory (SNMPCONFPATH, SNMP_PERSISTENT_DIR: nothing read from or written to /etc, /var/lib/snmp or
 * ~/.snmp), loopback only. Tests skip with a message when the tools are missing, and fail when CI is set.
 */
import { IN_CI } from "./nut.ts";

function which(name: string, dirs = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]): string | undefined {
  for (const dir of dirs) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not there */ }
  }
  return undefined;
}

/** The tools, where installed. */
export const TOOLS = {
  snmpget: which("snmpget"),
  snmpwalk: which("snmpwalk"),
  snmpset: which("snmpset"),
  snmptrapd: which("snmptrapd"),
};

/** What is missing, for the skip message (undefined: everything is there). */
export function missingTools(names: (keyof typeof TOOLS)[]): string | undefined {
  const missing = names.filter((n) => !TOOLS[n]);
  return missing.length === 0
    ? undefined
    : `${
      missing.join(", ")
    } not installed (apt-get install snmp snmptrapd): the SNMP interop tests need them`;
}

/** Ignore a test needing `names` when they are missing, except in CI (there it must fail). */
export function skipWithout(names: (keyof typeof TOOLS)[]): boolean {
  const missing = missingTools(names);
  if (missing && !IN_CI) console.warn(`skipping: ${missing}`);
  return missing !== undefined && !IN_CI;
}

/** Throws (CI) when a tool is missing. */
export function requireTools(names: (keyof typeof TOOLS)[]): void {
  const missing = missingTools(names);
  if (missing) throw new Error(missing);
}

/** A private directory for the tools' configuration and persistent state. */
export async function toolHome(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "pcns-agent-snmp-tools-" });
}

function toolEnv(home: string): Record<string, string> {
  return { SNMPCONFPATH: home, SNMP_PERSISTENT_DIR: home, HOME: home, MIBS: "", MIBDIRS: home };
}

/** The result of one tool run. */
export interface ToolResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Runs snmpget/snmpwalk/snmpset with `-m "" -On`, a 1 s timeout and no retry unless `args` say otherwise. */
export async function runTool(
  tool: "snmpget" | "snmpwalk" | "snmpset",
  home: string,
  args: string[],
): Promise<ToolResult> {
  const path = TOOLS[tool];
  if (!path) throw new Error(`${tool} not installed`);
  const command = new Deno.Command(path, {
    args: ["-m", "", "-On", "-t", "1", "-r", "0", ...args],
    env: toolEnv(home),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  });
  const out = await command.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** `OID = TYPE: value` lines of a walk as a map OID -> "TYPE: value". */
export function parseWalk(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const m = /^\.?([0-9.]+) = (.*)$/.exec(line.trim());
    if (m && !m[2].startsWith("No more variables")) out.set(m[1], m[2]); // endOfMibView after the last
  }
  return out;
}

/** A private snmptrapd on 127.0.0.1:`port` logging every trap to stdout. */
export class TrapDaemon {
  readonly #child: Deno.ChildProcess;
  #output = "";
  readonly #done: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const decoder = new TextDecoder();
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#output += decoder.decode(chunk, { stream: true });
    };
    this.#done = Promise.all([read(child.stdout), read(child.stderr)]).then(() => {});
  }

  /** Starts snmptrapd with `config` (snmptrapd.conf lines) in `home`; resolves once it listens. */
  static async start(home: string, port: number, config: string): Promise<TrapDaemon> {
    const path = TOOLS.snmptrapd;
    if (!path) throw new Error("snmptrapd not installed");
    const conf = `${home}/snmptrapd.conf`;
    await Deno.writeTextFile(conf, config);
    const child = new Deno.Command(path, {
      args: ["-f", "-Lo", "-C", "-c", conf, "-m", "", "-On", "-n", `udp:127.0.0.1:${port}`],
      env: toolEnv(home),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const daemon = new TrapDaemon(child);
    const deadline = Date.now() + 5000;
    while (!/NET-SNMP version/.test(daemon.output)) {
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`snmptrapd did not start: ${daemon.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return daemon;
  }

  /** Everything it printed so far. */
  get output(): string {
    return this.#output;
  }

  /** How many received traps carry snmpTrapOID.0 = `trapOid`. */
  count(trapOid: string): number {
    return this.#output.split(`.1.3.6.1.6.3.1.1.4.1.0 = OID: .${trapOid}`).length - 1;
  }

  /** Stops it. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await Promise.race([this.#done, new Promise((r) => setTimeout(r, 3000))]);
    await this.#child.status.catch(() => {});
  }
}
