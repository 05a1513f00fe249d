/**
 * CPU per valid packet behind the socket: `deno run -A bench/agent_receive.ts [packets]` feeds
 * `Agent.receive` pre-built signed status packets (increasing counters, as `bench/flood.ts` sends them)
 * and prints the microseconds per packet (gate, UPS state, history, counters; no UDP). Profile it with
 * `--cpu-prof`.
 *
 * @module
 */
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { testConfig } from "../tests/helpers/agent.ts";

const WARM_UP = 5000;
const n = Math.max(WARM_UP + 1000, Number(Deno.args[0] ?? 200_000));
const dataDir = await Deno.makeTempDir({ prefix: "pcns-bench-receive-" });
const agent = Agent.start({
  config: testConfig({ cards: ["127.0.0.1"], udpPort: 0 }),
  dataDir,
  logger: memoryLogger("error").logger,
  dryRun: true,
  executor: new RecordingExecutor(),
  persistCountdowns: false,
});
try {
  const sim = new NmcSimulator({
    address: "127.0.0.1",
    username: "apc",
    authenticationPhrase: "admin user phrase",
    targets: [],
    rebootCounter: 1,
    uptimeStart: 1000,
  });
  const pool = Array.from({ length: n }, () => sim.buildStatus({ hostname: "127.0.0.1", port: 3052 }));
  const from = { hostname: "127.0.0.1", port: 3052, transport: "udp" as const };
  for (let i = 0; i < WARM_UP; i++) agent.receive(pool[i], from);
  const before = agent.status().packets.accepted;
  const t0 = performance.now();
  for (let i = WARM_UP; i < n; i++) agent.receive(pool[i], from);
  const ms = performance.now() - t0;
  const accepted = agent.status().packets.accepted - before;
  console.log(JSON.stringify({
    packets: n - WARM_UP,
    accepted,
    microsecondsPerPacket: Math.round((ms * 1000) / (n - WARM_UP) * 100) / 100,
    load: Deno.loadavg()[0],
  }));
} finally {
  await agent.stop();
  await Deno.remove(dataDir, { recursive: true });
}
