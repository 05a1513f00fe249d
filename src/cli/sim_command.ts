/**
 * `nmc-sim`: runs a simulated NMC from the command line, sending signed
 * packets to one or more agents and playing a scenario.
 *
 * @module
 */
import type { Command } from "commander";
import { parseScenario, playScenario, SCENARIO_STEPS, SCENARIOS } from "../sim/scenarios.ts";
import { NmcWebServer, type NmcWebServerOptions } from "../sim/http.ts";
import { forceNegotiation } from "../sim/negotiation.ts";
import { NmcSimulator, type SimTarget } from "../sim/simulator.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE, parseIntegerOption, parseSecondsOption } from "./errors.ts";

/** Parses `host:port` or `[v6]:port` (port defaults to 3052). */
export function parseTarget(text: string): SimTarget {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [hostname, port] = v6
    ? [v6[1], v6[2]]
    : text.includes(":") && text.indexOf(":") === text.lastIndexOf(":")
    ? text.split(":")
    : [text, undefined];
  if (!hostname) throw new CliError(`--target: "${text}" has no host`, EXIT_USAGE);
  return { hostname, port: port === undefined ? 3052 : parseIntegerOption("--target port", port, 1, 65535) };
}

/** `host:port` as one writes it in a URL (IPv6 in brackets). */
function hostPort(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** The message for a web side that cannot listen (pure): names the address, the port and the flag to change. */
export function listenErrorMessage(error: unknown, hostname: string, port: number): string {
  const where = hostPort(hostname, port);
  if (error instanceof Deno.errors.AddrInUse) {
    return `--web-port: cannot listen on ${where}: the port is already in use (another nmc-sim or program ` +
      "has it); choose another --web-port, or 0 for any free port";
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `--web-address: cannot listen on ${where}: ${hostname} is not an address of this host`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `--web-port: cannot listen on ${where}: permission denied (ports below 1024 need privileges)`;
  }
  return `cannot listen on ${where}: ${(error as Error).message}`;
}

/** Starts the card's web side; a CliError naming address and port when it cannot listen. */
function startWebSide(sim: NmcSimulator, options: NmcWebServerOptions): NmcWebServer {
  try {
    return new NmcWebServer(sim, options);
  } catch (error) {
    const port = options.port ?? 0;
    const hostname = options.hostname ?? "127.0.0.1";
    const usage = error instanceof Deno.errors.AddrNotAvailable || error instanceof TypeError;
    throw new CliError(listenErrorMessage(error, hostname, port), usage ? EXIT_USAGE : EXIT_FAILED);
  }
}

/** Reads a PEM file given by a flag; a CliError naming the flag and the path otherwise. */
async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Adds the `nmc-sim` command. */
export function registerSimCommand(program: Command): void {
  const steps = Object.keys(SCENARIO_STEPS).join(", ");
  program
    .command("nmc-sim")
    .description("run a simulated Network Management Card that sends signed UDP packets to agents")
    .requiredOption(
      "-t, --target <host:port...>",
      "agent(s) to send to (port defaults to 3052; IPv6 as [addr]:port)",
    )
    .option("--address <ip>", "the card's own address, sent as PC=", "127.0.0.1")
    .option("--username <name>", "PowerChute user name configured on the card", "apc")
    .option("--phrase <text>", "authentication phrase (or env PCNS_SIM_PHRASE)", "admin user phrase")
    .option("--status-interval <seconds>", "seconds between status packets", "25")
    .option("--config-interval <seconds>", "seconds between client notifications", "100")
    .option("--scenario <name|steps>", `a scenario (${Object.keys(SCENARIOS).join(", ")}) or steps: ${steps}`)
    .option("--step <seconds>", "seconds between scenario steps", "30")
    .option("--line-ending <lf|crlf>", "line ending of the packets", "lf")
    .option("--count <n>", "stop after this many status packets (0 = run until interrupted)", "0")
    .option(
      "--web-port <port>",
      "also serve the card's web side (UPS turn-off flow) on this TCP port of 127.0.0.1",
    )
    .option("--web-address <ip>", "address the card's web side listens on", "127.0.0.1")
    .option("--cert <file>", "serve the web side over HTTPS with this PEM certificate (needs --key)")
    .option("--key <file>", "PEM private key for --cert")
    .option(
      "--force-negotiation-every <seconds>",
      "with --web-port: ask every registered client for its shutdown time this often (Force Negotiation)",
    )
    .action(async (opts) => {
      const targets = (opts.target as string[]).map(parseTarget);
      if (!["lf", "crlf"].includes(opts.lineEnding)) {
        throw new CliError(`--line-ending: "${opts.lineEnding}" must be lf or crlf`, EXIT_USAGE);
      }
      let scenario: ReturnType<typeof parseScenario> | undefined;
      try {
        scenario = opts.scenario ? parseScenario(opts.scenario) : undefined;
      } catch (error) {
        throw new CliError(`--scenario: ${(error as Error).message}`, EXIT_USAGE);
      }
      const sim = new NmcSimulator({
        address: opts.address,
        username: opts.username,
        authenticationPhrase: Deno.env.get("PCNS_SIM_PHRASE") ?? opts.phrase,
        targets,
        statusIntervalMs: parseSecondsOption("--status-interval", opts.statusInterval) * 1000,
        configIntervalMs: parseSecondsOption("--config-interval", opts.configInterval) * 1000,
        lineEnding: opts.lineEnding === "crlf" ? "\r\n" : "\n",
      });
      const count = parseIntegerOption("--count", opts.count, 0, 1_000_000_000);
      const stepMs = parseSecondsOption("--step", opts.step) * 1000;
      const where = targets.map((t) => `${t.hostname}:${t.port}`).join(", ");
      console.log(`simulated NMC ${opts.address} sending to ${where}`);
      if ((opts.cert === undefined) !== (opts.key === undefined)) {
        throw new CliError("--cert and --key go together", EXIT_USAGE);
      }
      let web: NmcWebServer | undefined;
      if (opts.webPort !== undefined) {
        const port = parseIntegerOption("--web-port", opts.webPort, 0, 65535);
        const tls = opts.cert
          ? {
            protocol: "https" as const,
            cert: await readFlagFile("--cert", opts.cert),
            key: await readFlagFile("--key", opts.key),
          }
          : { protocol: "http" as const };
        web = startWebSide(sim, { ...tls, hostname: opts.webAddress, port });
        web.onTurnOff = (record) => console.log(`turn-off command accepted from ${JSON.stringify(record)}`);
        web.onRegistration = (r) =>
          console.log(
            `${r.action} ${r.address} (UDP ${r.udpPort}, ${r.seconds} s) from ${r.remoteAddress}: ${r.outcome}; ` +
              `${r.clients} client(s) listed`,
          );
        console.log(`card web side on ${tls.protocol}://${opts.webAddress}:${web.port}/macontrol.htm`);
      }
      let negotiationTimer: ReturnType<typeof setInterval> | undefined;
      if (opts.forceNegotiationEvery !== undefined) {
        if (!web) throw new CliError("--force-negotiation-every needs --web-port", EXIT_USAGE);
        const everyMs = parseSecondsOption("--force-negotiation-every", opts.forceNegotiationEvery, 1) * 1000;
        const protocol = web.protocol;
        negotiationTimer = setInterval(() => {
          forceNegotiation(sim, { protocol }).then((result) => {
            for (const c of result.clients) {
              console.log(
                `negotiation ${c.address}: ${
                  c.ok ? `${c.seconds} s` : `assumed ${c.seconds} s (${c.error})`
                }`,
              );
            }
            console.log(`maximum required delay: ${result.maximumRequiredDelaySeconds} s`);
          }).catch((error) => console.log(`negotiation failed: ${(error as Error).message}`));
        }, everyMs);
      }
      const aborter = new AbortController();
      const stop = () => aborter.abort();
      Deno.addSignalListener("SIGINT", stop);
      try {
        await sim.start();
        if (scenario) {
          await playScenario(
            sim,
            scenario,
            stepMs,
            (step) => console.log(`step: ${step} (${SCENARIO_STEPS[step]})`),
            aborter.signal,
          );
        }
        while (!aborter.signal.aborted && (count === 0 || sim.sent.status < count)) {
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        clearInterval(negotiationTimer);
        Deno.removeSignalListener("SIGINT", stop);
        sim.close();
        await web?.close();
        console.log(`sent ${sim.sent.status} status and ${sim.sent.config} client notification packets`);
      }
    });
}
