/**
 * `deno task demo`: the agent on a throw-away config in a temp directory plus
 * a simulated NMC on loopback, playing a short power-failure scenario and
 * printing what happens. A dry run is forced: nothing is ever shut down.
 *
 * @module
 */
import { join } from "node:path";
import { startService } from "../agent/service.ts";
import { readEventLog } from "../events/eventlog.ts";
import { Logger, stderrSink } from "../log/logger.ts";
import { statusWords } from "../nmc/status.ts";
import { applyStep, SCENARIO_STEPS, type ScenarioStep } from "../sim/scenarios.ts";
import { NmcSimulator } from "../sim/simulator.ts";

/** Demo options. */
export interface DemoOptions {
  /** Seconds between scenario steps. */
  readonly stepSeconds: number;
  /** Where the demo's narration goes. */
  readonly print: (line: string) => void;
}

const USER = "apc";
const PHRASE = "admin user phrase";

function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the demo to the end and removes its temp directory. */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { print } = options;
  const dir = await Deno.makeTempDir({ prefix: "pcns-agent-demo-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const port = freeUdpPort();
  await Deno.writeTextFile(
    configPath,
    [
      "; throw-away demo configuration",
      "[NetworkManagementCard]",
      `username = ${USER}`,
      `authenticationPhrase = ${PHRASE}`,
      "ip_1 = 127.0.0.1",
      "[Networking]",
      `udpPort = ${port}`,
      "udpListenAddresses = 127.0.0.1",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  print(`pcns-agent demo: agent on UDP 127.0.0.1:${port}, config and event log in ${dir}`);
  print("dry run forced: the demo never shuts anything down\n");

  const service = await startService({
    configPath,
    logger: new Logger(stderrSink(), "error"),
    dryRun: true,
    hotReload: false,
  });
  const started = Date.now();
  const unsubscribe = service.agent.bus.subscribe((event) => {
    const at = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    print(`  +${at}s  ${event.severity.padEnd(8)} ${event.id.padEnd(25)} ${event.message}`);
  });
  const sim = new NmcSimulator({
    address: "127.0.0.1",
    username: USER,
    authenticationPhrase: PHRASE,
    targets: [{ hostname: "127.0.0.1", port }],
    statusIntervalMs: 1000,
    configIntervalMs: 5000,
  });
  const forger = new NmcSimulator({
    address: "127.0.0.1",
    username: USER,
    authenticationPhrase: "a guessed wrong phrase",
    targets: [{ hostname: "127.0.0.1", port }],
    uptimeStart: 0xfffffff,
  });
  try {
    await sim.start();
    const script: (ScenarioStep | "forged")[] = [
      "normal",
      "power-failure",
      "forged",
      "low-battery",
      "restore",
    ];
    for (const step of script) {
      await sleep(options.stepSeconds * 1000);
      if (step === "forged") {
        print("  scenario: a forged on-battery packet (wrong authentication phrase) arrives");
        forger.update({ flags: { onBattery: true, lowBattery: true }, shuttingDown: true });
        await forger.sendStatus();
        continue;
      }
      print(`  scenario: ${step}: ${SCENARIO_STEPS[step]}`);
      applyStep(sim, step);
      await sim.sendStatus();
    }
    await sleep(options.stepSeconds * 1000);
    const status = service.agent.status();
    print("\nfinal state:");
    for (const ups of status.ups) {
      const r = ups.reading;
      print(
        `  NMC ${ups.card}: comm ${ups.comm}, ${
          statusWords(ups.flags).join(" ")
        }, battery ${r.batteryPercent}%, ` +
          `runtime ${r.runtimeMinutes} min, load ${r.loadPercent}%, line ${r.lineVoltage} V, ` +
          `${ups.statusPackets} status + ${ups.configPackets} client-list packets`,
      );
    }
    const rejected = Object.entries(status.packets.rejected).filter(([, n]) => n > 0);
    print(
      `  packets accepted: ${status.packets.accepted}; rejected: ${
        rejected.map(([r, n]) => `${n} ${r}`).join(", ") || "none"
      }`,
    );
    const log = await readEventLog(join(dir, service.agent.config.eventLog.fileName));
    print(`  event log: ${log.length} JSON lines in ${service.agent.config.eventLog.fileName}`);
  } finally {
    unsubscribe();
    sim.close();
    forger.close();
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
  print("\ndemo finished; temp directory removed");
}
