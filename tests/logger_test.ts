/**
 * The operational log as journald reads it: the `<N>` syslog priority of
 * each line, critical events at `<2>`, and bounded lines.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent } from "../src/agent/agent.ts";
import { formatLogLine, Logger, type LogRecord, memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { loopbackIni, nextEvent, NO_ACTIONS, testConfig } from "./helpers/agent.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

Deno.test("syslog priorities: critical <2>, error <3>, warn <4>, info <6>, debug <7>", () => {
  const line = (level: LogRecord["level"]) => formatLogLine({ time: 0, level, message: "m" }, "text");
  assert.equal(line("critical"), "<2>CRITICAL m");
  assert.equal(line("error"), "<3>ERROR m");
  assert.equal(line("warn"), "<4>WARN m");
  assert.equal(line("info"), "<6>INFO m");
  assert.equal(line("debug"), "<7>DEBUG m");
  assert.equal(
    JSON.parse(formatLogLine({ time: 0, level: "critical", message: "m" }, "json")).level,
    "critical",
  );
  const records: LogRecord[] = [];
  new Logger((r) => records.push(r), "error").critical("kept above the error threshold");
  assert.equal(records.length, 1);
});

Deno.test("a huge message is one bounded line with a marker", () => {
  const line = formatLogLine(
    { time: 0, level: "warn", message: `LoginFailed: user ${"x".repeat(300_000)}` },
    "text",
  );
  assert.ok(line.length < 20_000, `${line.length} characters`);
  assert.match(line, /^<4>WARN LoginFailed: user xxx/);
  assert.match(line, /\[\.\.\. \d+ characters truncated\]$/);
});

Deno.test("the agent logs critical events at critical, warnings at warn, the rest at info", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-logger-" });
  const base = testConfig();
  const config = {
    ...base,
    shutdown: { ...base.shutdown, settleDelay: 0 },
    events: { ...base.events, LowBattery: { ...NO_ACTIONS, enableShutdown: true } },
  };
  const { logger, records } = memoryLogger();
  const agent = Agent.start({ config, dataDir, logger, dryRun: true, executor: new RecordingExecutor() });
  try {
    const down = nextEvent(agent.bus, "OsShutdown");
    agent.receive(statusPacket({ su: 100, status: 0x08 }));
    agent.receive(statusPacket({ su: 200, status: 0x50 }));
    await down;
    const levelOf = (id: string) => records.find((r) => r.message.startsWith(`${id}: `))?.level;
    for (const id of ["PowerFailed", "LowBattery", "ShutdownStarting", "OsShutdown"]) {
      assert.equal(levelOf(id), "critical", id);
    }
    assert.equal(levelOf("ShutdownPending"), "warn");
    assert.equal(levelOf("CommunicationEstablished"), "info");
    const line = formatLogLine(records.find((r) => r.message.startsWith("LowBattery: "))!, "text");
    assert.match(line, /^<2>CRITICAL LowBattery: Low battery condition occurred/);
  } finally {
    await agent.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("run --dry-run writes <2> lines on stderr for a low battery shutdown (what journald reads)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-logger-run-" });
  const port = freePort("udp");
  const config = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    config,
    loopbackIni(port, ["[Shutdown]", "settleDelay = 0"]),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "--config", config, "--dry-run", "--no-web"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
  }).spawn();
  let stderr = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  const sim = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [{ hostname: "127.0.0.1", port }],
  });
  try {
    await waitUntilAsync(
      async () => {
        await sim.sendStatus();
        return stderr.includes("CommunicationEstablished");
      },
      "the agent to hear the card",
      15_000,
    );
    sim.update({ flags: { onBattery: true, lowBattery: true } });
    await sim.sendStatus();
    await waitUntilAsync(() => Promise.resolve(stderr.includes("OsShutdown")), "the (recorded) OS shutdown");
    const lines = stderr.split("\n");
    for (const id of ["LowBattery", "ShutdownStarting", "OsShutdown"]) {
      const line = lines.find((l) => l.includes(` ${id}: `));
      assert.match(line ?? "", new RegExp(`^<2>CRITICAL ${id}: `), `${id}: ${line}`);
    }
    assert.match(lines.find((l) => l.includes(" CommunicationEstablished: ")) ?? "", /^<6>INFO /);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
