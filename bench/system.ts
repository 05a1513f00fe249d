/**
 * Whole-process benchmarks: memory (idle RSS vs apcupsd, and flat under load),
 * start-up to ready (cold and warm, vs apcupsd), the web UI over TLS with a
 * logged-in session at 200 requests/s, and hot reload (file write to new
 * config in effect).
 *
 * @module
 */
import { join } from "node:path";
import { bundle, DENO_CONFIG } from "../build.ts";
import { fileURLToPath } from "node:url";
import { startService } from "../src/agent/service.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { AGENT_V8_FLAGS, AGENT_V8_OPTIONS } from "../src/service/permissions.ts";
import { APCUPSD, startApcupsd } from "../tests/helpers/apcupsd.ts";
import { nutSection } from "./nut.ts";
import {
  type BenchResult,
  freePort,
  MAIN,
  quantile,
  rssMiB,
  type RssParts,
  rssParts,
  sleep,
  startAgentProcess,
  until,
  writeAgentConfig,
} from "./lib.ts";

const MEMORY = fileURLToPath(new URL("./memory_proc.ts", import.meta.url));
const PASSWORD = "Bench-Password-42!";
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** The [NUT], [NIS] and [SNMP] lines that turn on every optional server, on loopback. */
function optionalServers(): string[] {
  return [
    ...nutSection(freePort()),
    "[NIS]",
    "enabled = true",
    `port = ${freePort()}`,
    "listenAddress = 127.0.0.1",
    "[SNMP]",
    "enabled = true",
    `port = ${freePort("udp")}`,
    "listenAddress = 127.0.0.1",
    "community_1 = bench",
  ];
}

/** RSS of `run --dry-run` 1.5 s after it is ready, on its second start (the first makes the certificate). */
async function idleRss(
  extra: string[],
  entry?: readonly string[],
): Promise<RssParts> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bench-rss-" });
  try {
    const config = await writeAgentConfig(dir, { udpPort: freePort("udp"), password: PASSWORD, extra });
    // The first start generates the web UI certificate (and loads the x509 library only for that):
    // measure a normal start, the second one.
    await (await startAgentProcess(config, true, entry)).stop();
    const agent = await startAgentProcess(config, true, entry);
    await sleep(1500);
    const measured = rssParts(agent.child.pid);
    await agent.stop();
    return measured;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** RSS of a bare `deno run` of a script that only waits (the floor of any Deno program). */
async function bareDenoRss(): Promise<RssParts> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=" + AGENT_V8_OPTIONS.join(","), "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("setTimeout(() => {}, 60_000);\n"));
  await writer.close();
  await sleep(1500);
  const measured = rssParts(child.pid);
  child.kill("SIGKILL");
  await child.status;
  return measured;
}

/** A result row of an idle RSS against the goal and apcupsd's, with its anonymous and file-backed parts. */
function idleRow(
  name: string,
  measured: RssParts,
  peer?: number,
): BenchResult {
  return {
    name,
    value: measured.rss,
    unit: "MiB",
    target: "< 45 MiB",
    met: measured.rss < 45,
    peer,
    details: { anonMiB: measured.anonMiB, fileMiB: measured.fileMiB },
  };
}

/** Idle RSS of `run` (web UI on; then with every optional server), of bare Deno and of apcupsd; memory under load. */
async function memory(quick: boolean): Promise<BenchResult[]> {
  const base = await idleRss([]);
  const all = await idleRss(optionalServers());
  // What the binary runs: the bundle build.ts compiles (no module graph of ~150 files, no TypeScript).
  const bundleDir = await Deno.makeTempDir({ prefix: "pcns-bench-rss-bundle-" });
  let bundled: RssParts;
  try {
    const built = await bundle(bundleDir);
    if (!built.ok) throw new Error(`deno bundle failed: ${built.error}`);
    bundled = await idleRss([], [`--config=${DENO_CONFIG}`, join(bundleDir, "main.js")]);
  } finally {
    await Deno.remove(bundleDir, { recursive: true });
  }
  const bare = await bareDenoRss();
  let peer: number | undefined;
  if (APCUPSD) {
    const apc = await startApcupsd({
      udpPort: freePort("udp"),
      nisPort: freePort(),
      username: "apc",
      phrase: "admin user phrase",
    });
    await sleep(1500);
    peer = rssMiB(apc.process.pid);
    await apc.stop();
  }
  const packets = quick ? 1_000_000 : 10_000_000;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=${["--expose-gc", ...AGENT_V8_OPTIONS].join(",")}`,
      MEMORY,
      String(packets),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const load = JSON.parse(new TextDecoder().decode(out.stdout));
  const first = load.samples[0];
  const last = load.samples.at(-1);
  return [
    idleRow("idle RSS of `run` (UDP + TLS web UI)", base, peer),
    idleRow("idle RSS of `run`, the bundle build.ts compiles into the binary", bundled, peer),
    idleRow("idle RSS of `run` with NUT, NIS and SNMP on as well", all, peer),
    {
      ...idleRow("bare `deno run` of a script that only waits (floor)", bare),
      target: "(reference: the floor of the idle RSS figures)",
      met: undefined,
    },
    {
      name: `RSS growth over ${packets / 1e6}M packets after 1 h (9 NMCs), first to last fifth`,
      value: round(last.rssMiB - first.rssMiB),
      unit: "MiB",
      target: "flat (within 5 MiB)",
      met: last.rssMiB - first.rssMiB < 5,
      details: {
        firstSampleRssMiB: first.rssMiB,
        lastSampleRssMiB: last.rssMiB,
        idleRssMiB: load.afterStart,
      },
    },
    {
      name: `RSS 25 s after ${packets / 1e6}M packets, against the RSS after the simulated hour`,
      value: round(load.settled.rssMiB - load.afterHour),
      unit: "MiB",
      target: "flat (within 5 MiB of idle)",
      met: load.settled.rssMiB - load.afterHour < 5,
      details: {
        settledRssMiB: load.settled.rssMiB,
        settledMallocMiB: load.settled.mallocMiB,
        afterOneHour9NmcsRssMiB: load.afterHour,
        afterStartRssMiB: load.afterStart,
        note: "idle after an hour of 9 cards is the agent's usual state; against the RSS just after " +
          "start, add afterOneHour9NmcsRssMiB - afterStartRssMiB",
      },
    },
    {
      name: `JS heap growth over ${packets / 1e6}M packets after 1 h (9 NMCs)`,
      value: round(last.heapMiB - first.heapMiB),
      unit: "MiB",
      target: "flat (bounded buffers)",
      met: last.heapMiB - first.heapMiB < 2,
      details: {
        afterStartRssMiB: load.afterStart,
        afterOneHour9NmcsRssMiB: load.afterHour,
        samples: load.samples,
        note: "packets handed over 64 per turn of the event loop, as the UDP listener does; the JS heap, " +
          "external memory and glibc's malloc in use (mallocMiB) stay flat; RSS follows the V8 pages " +
          "still mapped, which --memory-saver-mode gives back",
      },
    },
  ];
}

/** Process start to READY: UDP bound and the TLS listener accepting. */
async function startup(quick: boolean): Promise<BenchResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bench-start-" });
  const runs = quick ? 3 : 7;
  const config = await writeAgentConfig(dir, { udpPort: freePort("udp"), password: PASSWORD });
  const bundleDir = join(dir, "bundle");
  const bundled = await bundle(bundleDir);
  if (!bundled.ok) throw new Error(`deno bundle failed: ${bundled.error}`);
  /** main.ts from source, or the bundle build.ts compiles (`--config` for the packages left outside it). */
  const entries = {
    source: [MAIN],
    bundle: [`--config=${DENO_CONFIG}`, join(bundleDir, "main.js")],
  };
  const once = async (coldCache: boolean, entry: readonly string[] = entries.source) => {
    // A restart, as a service has it: the same file (its clear-text password was replaced by a salted hash
    // at the first start, the certificate written then), on fresh ports.
    const httpsPort = freePort();
    const text = (await Deno.readTextFile(config))
      .replace(/^(\s*udpPort\s*=\s*)\d+/m, `$1${freePort("udp")}`)
      .replace(/^(\s*httpPort\s*=\s*)\d+/m, `$1${freePort()}`)
      .replace(/^(\s*httpsPort\s*=\s*)\d+/m, `$1${httpsPort}`);
    await Deno.writeTextFile(config, text);
    const t0 = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        ...AGENT_V8_FLAGS,
        ...(coldCache ? ["--no-code-cache"] : []),
        ...entry,
        "run",
        "--dry-run",
        "--config",
        config,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { PCNS_AGENT_NO_SHUTDOWN: "1" },
    }).spawn();
    const deadline = t0 + 20_000;
    while (!(await canConnect(httpsPort))) {
      if (performance.now() > deadline) throw new Error("timed out waiting for the TLS listener");
      await sleep(1); // 1 ms resolution (until() polls every 10 ms)
    }
    const ms = performance.now() - t0;
    child.kill("SIGTERM");
    await child.status;
    return ms;
  };
  try {
    await once(false); // the first start hashes the password, writes the certificate, warms the caches
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < runs; i++) cold.push(await once(true));
    await once(false, entries.bundle); // its code cache
    const warmBundle: number[] = [];
    for (let i = 0; i < runs; i++) {
      // alternating, so that a change in the machine's load hits both alike
      warm.push(await once(false));
      warmBundle.push(await once(false, entries.bundle));
    }
    let peer: number | undefined;
    if (APCUPSD) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const nisPort = freePort();
        const t0 = performance.now();
        const apc = await startApcupsd({
          udpPort: freePort("udp"),
          nisPort,
          username: "apc",
          phrase: "admin user phrase",
        });
        await until(() => canConnect(nisPort), "apcupsd's NIS port", 20_000);
        times.push(performance.now() - t0);
        await apc.stop();
      }
      peer = round(quantile(times, 0.5));
    }
    const warm50 = round(quantile(warm, 0.5));
    const bundle50 = round(quantile(warmBundle, 0.5));
    return [
      {
        name: "start-up to ready, warm, main.ts from source (median)",
        value: warm50,
        unit: "ms",
        peer,
      },
      {
        name: "start-up to ready, warm, the bundle build.ts compiles (median)",
        value: bundle50,
        unit: "ms",
        target: "< 150 ms",
        met: bundle50 < 150,
        peer,
      },
      {
        name: "start-up to ready, no V8 code cache (median)",
        value: round(quantile(cold, 0.5)),
        unit: "ms",
        peer,
      },
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Status API and dashboard over TLS with a logged-in session, paced at 200 requests/s. */
async function web(quick: boolean): Promise<BenchResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bench-web-" });
  const httpsPort = freePort();
  const config = await writeAgentConfig(dir, { udpPort: freePort("udp"), httpsPort, password: PASSWORD });
  const agent = await startAgentProcess(config, true);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(dir, "ui-cert.pem"))] });
  const base = `https://127.0.0.1:${httpsPort}`;
  try {
    const login = await fetch(`${base}/login`, {
      method: "POST",
      client,
      redirect: "manual",
      body: new URLSearchParams({ username: "apc", password: PASSWORD }),
    });
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    const get = async (path: string) => {
      const t0 = performance.now();
      const res = await fetch(`${base}${path}`, { client, headers: { cookie } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
      return performance.now() - t0;
    };
    for (let i = 0; i < 50; i++) await get("/api/v1/status"); // warm up
    const seconds = quick ? 5 : 15;
    const rate = 200;
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < seconds * rate; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(get(i % 4 === 3 ? "/" : "/api/v1/status").then((ms) => void latencies.push(ms)));
    }
    await Promise.all(pending);
    // Throughput: 16 requests in flight for a few seconds.
    let done = 0;
    const end = performance.now() + (quick ? 2000 : 5000);
    const t1 = performance.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (performance.now() < end) {
        await get("/api/v1/status");
        done++;
      }
    }));
    const rps = Math.round(done / ((performance.now() - t1) / 1000));
    const p99 = round(quantile(latencies, 0.99), 2);
    return [
      {
        name: "web: status API + dashboard at 200 req/s over TLS, p99",
        value: p99,
        unit: "ms p99",
        target: "< 20 ms at 200 req/s",
        met: p99 < 20,
        details: {
          requests: latencies.length,
          p50: round(quantile(latencies, 0.5), 2),
          max: round(Math.max(...latencies), 2),
        },
      },
      { name: "web: status API throughput, 16 in flight", value: rps, unit: "req/s" },
    ];
  } finally {
    client.close();
    await agent.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** From writing pcnsconfig.ini to the new value in effect in the running agent. */
async function hotReload(quick: boolean): Promise<BenchResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bench-reload-" });
  const config = await writeAgentConfig(dir, {
    udpPort: freePort("udp"),
    extra: ["[Shutdown]", "settleDelay = 70"],
  });
  const service = await startService({
    configPath: config,
    logger: memoryLogger("error").logger,
    dryRun: true,
  });
  const samples: number[] = [];
  try {
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      const value = 10 + i;
      const text = (await Deno.readTextFile(config)).replace(/settleDelay = \d+/, `settleDelay = ${value}`);
      const t0 = performance.now();
      await Deno.writeTextFile(config, text);
      await until(() => service.agent.config.shutdown.settleDelay === value, "the reload", 5000);
      samples.push(performance.now() - t0);
      await sleep(100);
    }
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
  const p99 = round(quantile(samples, 0.99));
  return [{
    name: "hot reload: file written -> new config in effect, p99",
    value: p99,
    unit: "ms p99",
    target: "< 500 ms",
    met: p99 < 500,
    details: { p50: round(quantile(samples, 0.5)), trials: samples.length, debounceMs: 250 },
  }];
}

/** Runs the system benchmarks (all, or the named parts). */
export async function benchSystem(
  quick: boolean,
  parts: readonly string[] = ["memory", "startup", "web", "reload"],
): Promise<BenchResult[]> {
  const all: Record<string, (q: boolean) => Promise<BenchResult[]>> = {
    memory,
    startup,
    web,
    reload: hotReload,
  };
  const out: BenchResult[] = [];
  for (const part of parts) out.push(...await all[part](quick));
  return out;
}

if (import.meta.main) {
  const parts = Deno.args.filter((a) => !a.startsWith("--"));
  console.log(
    JSON.stringify(
      await benchSystem(Deno.args.includes("--quick"), parts.length ? parts : undefined),
      null,
      2,
    ),
  );
}
