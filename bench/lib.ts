/**
 * Shared benchmark helpers: statistics, ports, processes, a results table.
 * Benchmarks print numbers; they never pass or fail.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import { freePort } from "../tests/helpers/ports.ts";

export { freePort };

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** main.ts of this checkout. */
export const MAIN = join(ROOT, "main.ts");

/** One line of the results table. */
export interface BenchResult {
  /** What was measured. */
  readonly name: string;
  /** Our value. */
  readonly value: number;
  /** Unit of the value. */
  readonly unit: string;
  /** The target from the issue, as text. */
  readonly target?: string;
  /** Whether the target is met (undefined: no target). */
  readonly met?: boolean;
  /** The peer's value for the same measure, if it has the capability. */
  readonly peer?: number;
  /** Extra numbers (p50, samples, ...). */
  readonly details?: Record<string, unknown>;
}

/** The q-quantile (0..1) of samples, nearest-rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A process's resident memory, MiB: all of it, its own (anonymous) and its mapped files' (the binary). */
export interface RssParts {
  /** VmRSS. */
  readonly rss: number;
  /** RssAnon. */
  readonly anonMiB: number;
  /** RssFile + RssShmem. */
  readonly fileMiB: number;
}

/** {@linkcode RssParts} of a process, from one read of /proc/<pid>/status (Linux). */
export function rssParts(pid: number): RssParts {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mib = (...fields: string[]) => {
    const kb = fields.reduce(
      (sum, f) => sum + Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN),
      0,
    );
    return Math.round((kb / 1024) * 10) / 10;
  };
  return { rss: mib("VmRSS"), anonMiB: mib("RssAnon"), fileMiB: mib("RssFile", "RssShmem") };
}

/** Resident set size of a process in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  return rssParts(pid).rss;
}

/** CPU time (user + system) of a process in ms (Linux /proc). */
export function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ = 100 on Linux
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true (polling every 10 ms) or throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Writes an agent config for benchmarks (loopback, dry run friendly). */
export async function writeAgentConfig(
  dir: string,
  o: {
    udpPort: number;
    httpPort?: number;
    httpsPort?: number;
    cards?: string[];
    extra?: string[];
    password?: string;
  },
): Promise<string> {
  const path = join(dir, "pcnsconfig.ini");
  const cards = o.cards ?? ["127.0.0.1"];
  await Deno.writeTextFile(
    path,
    [
      "[NetworkManagementCard]",
      "username = apc",
      "authenticationPhrase = admin user phrase",
      ...(o.password ? [`password = ${o.password}`] : []),
      ...cards.map((c, i) => `ip_${i + 1} = ${c}`),
      "[Networking]",
      `udpPort = ${o.udpPort}`,
      "udpListenAddresses = 127.0.0.1",
      `httpPort = ${o.httpPort ?? freePort()}`,
      `httpsPort = ${o.httpsPort ?? freePort()}`,
      "uiListenAddress = 127.0.0.1",
      ...(o.extra ?? []),
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return path;
}

/**
 * Starts `main.ts run --dry-run` (or `entry`: the bundle, say) in a child process; resolves once its log
 * says the listeners are up.
 */
export async function startAgentProcess(configPath: string, web: boolean, entry: readonly string[] = [MAIN]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...AGENT_V8_FLAGS,
      ...entry,
      "run",
      "--dry-run",
      "--config",
      configPath,
      ...(web ? [] : ["--no-web"]),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const ready = web ? /web UI on/ : /Monitoring started/;
  while (!ready.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the agent exited before it was ready:\n${text}`);
    text += value;
  }
  // Keep draining stderr so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return {
    child,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
    },
  };
}

/** A text stream read line by line (a child's output, a socket). */
export interface LineReader {
  /** The next line, without its "\n"; throws `endedMessage` when the stream ends first. */
  next(): Promise<string>;
  /** Stops reading (the stream is cancelled). */
  cancel(): void;
}

/** Reads `stream` as UTF-8 text, one line at a time. */
export function lineReader(stream: ReadableStream<Uint8Array>, endedMessage: string): LineReader {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<string> {
      while (!buffer.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(endedMessage);
        buffer += value;
      }
      const i = buffer.indexOf("\n");
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      return line;
    },
    cancel(): void {
      reader.cancel().catch(() => {});
    },
  };
}

/** The anonymous and file-backed parts of an RSS change, for a result's details ("28.5 -> 30.5"). */
export function rssChange(from: RssParts, to: RssParts): { anonymousMiB: string; fileBackedMiB: string } {
  return {
    anonymousMiB: `${from.anonMiB} -> ${to.anonMiB}`,
    fileBackedMiB: `${from.fileMiB} -> ${to.fileMiB}`,
  };
}

/**
 * Runs `deno <args>` (a small server given as `deno eval` code, say) whose first output line is the port it
 * listens on; resolves with the child and that port.
 */
export async function startPortPrinter(args: readonly string[], what: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = lineReader(child.stdout, `${what} exited before it printed its port`);
  const port = Number(await output.next());
  output.cancel();
  return { child, port };
}

/** Prints the results table. */
export function printTable(results: readonly BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    `${r.value} ${r.unit}`,
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "met" : "MISSED",
    r.peer === undefined ? "" : `${r.peer} ${r.unit}`,
    r.peer === undefined ? "" : ratioText(r),
  ]);
  const head = ["measure", "pcns-agent", "target", "", "apcupsd", "ratio"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

/** "12.3x faster" / "2.0x less" etc. (peer / ours for lower-is-better units). */
export function ratioText(r: BenchResult): string {
  if (r.peer === undefined || r.value === 0) return "";
  const lowerIsBetter = !/\/s$/.test(r.unit);
  const ratio = lowerIsBetter ? r.peer / r.value : r.value / r.peer;
  return ratio >= 1 ? `${ratio.toFixed(1)}x better` : `${(1 / ratio).toFixed(1)}x worse`;
}
