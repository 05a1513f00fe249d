/**
 * `deno task demo`: the agent on a throw-away config in a temp directory plus
 * a simulated NMC on loopback, playing a short power-failure scenario and
 * printing what happens: a countdown cancelled by returning power, a forged
 * packet rejected, then low battery, the UPS turned off through the simulated
 * card's web server, and the (recorded) OS shutdown. A dry run is forced:
 * nothing on this machine is ever shut down, and the turned-off UPS is the
 * simulated one. Delays are shortened so it all fits in a few seconds.
 *
 * @module
 */
import { join } from "node:path";
import { startService } from "../agent/service.ts";
import { readEventLog } from "../events/eventlog.ts";
import { Logger, type LogSink, stderrSink } from "../log/logger.ts";

/**
 * Operational errors only (the demo prints every event itself, so critical event lines would come twice),
 * and the agent's "packet rejected" warnings to `onRejected`, which the demo narrates.
 */
function demoSink(sink: LogSink, onRejected: (message: string) => void): LogSink {
  return (record) => {
    if (record.level === "warn" && record.message.startsWith("packet rejected")) onRejected(record.message);
    else if (record.level === "error") sink(record);
  };
}

/** Total packets rejected so far, whatever the reason. */
function rejectedTotal(rejected: Readonly<Record<string, number>>): number {
  return Object.values(rejected).reduce((a, b) => a + b, 0);
}
import { statusWords } from "../nmc/status.ts";
import { applyStep, SCENARIO_STEPS, type ScenarioStep } from "../sim/scenarios.ts";
import { NmcWebServer } from "../sim/http.ts";
import { NmcSimulator } from "../sim/simulator.ts";
import { turnOffThroughNmc } from "../agent/wiring.ts";

/** Demo options. */
export interface DemoOptions {
  /** Seconds between scenario steps. */
  readonly stepSeconds: number;
  /** Where the demo's narration goes. */
  readonly print: (line: string) => void;
}

const USER = "apc";
const PHRASE = "admin user phrase";

/** Binds the simulated card's web server on a free port in the range the config accepts (5000-32768). */
function startCardWebServer(sim: NmcSimulator): NmcWebServer {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 5000 + Math.floor(Math.random() * 27768);
    try {
      return new NmcWebServer(sim, { protocol: "http", port });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error("no free TCP port in 5000-32768 for the simulated card's web server");
}

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
  const sim = new NmcSimulator({
    address: "127.0.0.1",
    username: USER,
    authenticationPhrase: PHRASE,
    targets: [{ hostname: "127.0.0.1", port }],
    statusIntervalMs: 1000,
    configIntervalMs: 5000,
  });
  const card = startCardWebServer(sim);
  await Deno.writeTextFile(
    configPath,
    [
      "; throw-away demo configuration (short delays so the demo fits in a few seconds)",
      "[NetworkManagementCard]",
      `username = ${USER}`,
      `authenticationPhrase = ${PHRASE}`,
      "ip_1 = 127.0.0.1",
      "protocol = http",
      `port = ${card.port}`,
      "[Networking]",
      `udpPort = ${port}`,
      "udpListenAddresses = 127.0.0.1",
      "[Shutdown]",
      "turnOffUps = true",
      "settleDelay = 3",
      "[Events]",
      "event_PowerFailed_shutdownDelay = 4",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  print(`pcns-agent demo: agent on UDP 127.0.0.1:${port}, simulated NMC 127.0.0.1 (web on TCP ${card.port})`);
  print(`config and event log in ${dir}; on-battery delay 4 s, settle delay 3 s`);
  print("dry run forced: the OS shutdown is only recorded; the UPS turned off is the simulated one\n");

  const started = Date.now();
  const rejections: string[] = [];
  const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  const service = await startService({
    configPath,
    logger: new Logger(demoSink(stderrSink(), (message) => rejections.push(message)), "warn"),
    dryRun: true,
    hotReload: false,
    ports: {
      // The demo's UPS is simulated, so the real kill-power flow may run against it.
      turnOffUps: (nmc) =>
        turnOffThroughNmc(service.agent.config, nmc, {
          get: () => undefined,
          advance: () => {},
        }),
    },
  });
  const osDown = Promise.withResolvers<void>();
  const unsubscribe = service.agent.bus.subscribe((event) => {
    print(`  ${stamp()}  ${event.severity.padEnd(8)} ${event.id.padEnd(25)} ${event.message}`);
    if (event.id === "OsShutdown") osDown.resolve();
  });
  card.onTurnOff = () =>
    print(`  ${stamp()}  simulated card: turn-off command accepted (answer to its MD5 challenge)`);
  const forger = new NmcSimulator({
    address: "127.0.0.1",
    username: USER,
    authenticationPhrase: "a guessed wrong phrase",
    targets: [{ hostname: "127.0.0.1", port }],
    uptimeStart: 0xfffffff,
  });
  const step = (name: string, text: string) => print(`  ${stamp()}  scenario: ${name}: ${text}`);
  /** Sends the forged packet and tells what the agent did with it: rejected, with the reason, and nothing else. */
  const showRejection = async (send: () => Promise<void>) => {
    const before = { ...service.agent.status().packets.rejected };
    const logged = rejections.length;
    await send();
    const deadline = Date.now() + 2000;
    while (rejectedTotal(service.agent.status().packets.rejected) === rejectedTotal(before)) {
      if (Date.now() > deadline) {
        print(`  ${stamp()}  agent: the forged packet was NOT rejected within 2 s`);
        return;
      }
      await sleep(20);
    }
    const now = service.agent.status().packets.rejected;
    const reasons = Object.keys(now).filter((r) =>
      now[r as keyof typeof now] > (before[r as keyof typeof before] ?? 0)
    );
    const why = rejections.length > logged
      ? rejections[rejections.length - 1]
      : `packet rejected: ${reasons.join(", ")}`;
    print(`  ${stamp()}  REJECTED ${reasons.join(", ").padEnd(24)} agent: ${why}`);
    print(
      `  ${stamp()}  agent: no event, no countdown, no shutdown: the forged "low battery" changed nothing`,
    );
  };
  try {
    await sim.start();
    const script: (ScenarioStep | "forged")[] = [
      "power-failure",
      "restore",
      "forged",
      "power-failure",
      "low-battery",
    ];
    for (const next of script) {
      await sleep(options.stepSeconds * 1000);
      if (next === "forged") {
        step("forged packet", "on battery + low battery + SD=1, signed with a wrong authentication phrase");
        forger.update({ flags: { onBattery: true, lowBattery: true }, shuttingDown: true });
        await showRejection(() => forger.sendStatus());
        continue;
      }
      step(next, SCENARIO_STEPS[next]);
      applyStep(sim, next);
      await sim.sendStatus();
    }
    const timeout = setTimeout(() => osDown.resolve(), 20_000);
    await osDown.promise;
    clearTimeout(timeout);
    const status = service.agent.status();
    print("\nfinal state:");
    for (const ups of status.ups) {
      const r = ups.reading;
      print(
        `  NMC ${ups.card}: comm ${ups.comm}, ${statusWords(ups.flags).join(" ")}${
          ups.shuttingDown ? " SD=1" : ""
        }, ` +
          `battery ${r.batteryPercent}%, runtime ${r.runtimeMinutes} min, load ${r.loadPercent}%, ` +
          `${ups.statusPackets} status + ${ups.configPackets} client-list packets`,
      );
    }
    const rejected = Object.entries(status.packets.rejected).filter(([, n]) => n > 0);
    print(
      `  packets accepted: ${status.packets.accepted}; rejected: ${
        rejected.map(([r, n]) => `${n} ${r}`).join(", ") || "none"
      }`,
    );
    print(`  simulated card: ${card.turnOffs.length} turn-off command(s) accepted`);
    await service.agent.eventLogWritten(5000);
    const log = await readEventLog(join(dir, service.agent.config.eventLog.fileName));
    print(`  event log: ${log.length} JSON lines in ${service.agent.config.eventLog.fileName}`);
  } finally {
    unsubscribe();
    sim.close();
    forger.close();
    await service.stop();
    await card.close();
    await Deno.remove(dir, { recursive: true });
  }
  print("\ndemo finished; temp directory removed");
}
