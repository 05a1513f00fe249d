/**
 * The agent in its own process for benchmarks: `deno run -A bench/agent_proc.ts <udpPort> <cards>`.
 * Prints `ready` once listening; on each stdin line `stats` prints the packet counters, the number of
 * CommunicationLost events and the process's RSS as one JSON line; `quit` stops it.
 *
 * @module
 */
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { testConfig } from "../tests/helpers/agent.ts";

const [portText, cardsText] = Deno.args;
const cards = Array.from({ length: Number(cardsText ?? 1) }, (_, i) => `127.0.0.${i + 1}`);
const dataDir = await Deno.makeTempDir({ prefix: "pcns-bench-agent-" });
const agent = Agent.start({
  config: testConfig({ cards, udpPort: Number(portText) }),
  dataDir,
  logger: memoryLogger("error").logger,
  dryRun: true,
  executor: new RecordingExecutor(),
  persistCountdowns: false,
});
let commLost = 0;
let floodFiltered = 0;
agent.bus.subscribe((e) => {
  if (e.id === "CommunicationLost") commLost++;
  if (e.id === "PacketFloodStarted") floodFiltered++;
});
console.log("ready");
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffer = "";
for await (const chunk of lines) {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const command = buffer.slice(0, nl).trim();
    buffer = buffer.slice(nl + 1);
    if (command === "stats") {
      const s = agent.status();
      const rssMiB = Deno.memoryUsage().rss / 1048576;
      console.log(JSON.stringify({ packets: s.packets, commLost, floodFiltered, rssMiB }));
    } else if (command === "quit") {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
      Deno.exit(0);
    }
  }
}
