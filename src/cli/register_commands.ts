/**
 * `register`, `unregister` and `check`: this host's registration with the
 * configured NMCs from the command line (the PCNS "Start Registration" and
 * "Check details"), through the same client as the agent
 * (`src/nmc/registration.ts`, protocol in `src/nmc/protocol.ts`).
 *
 * - `register`: registers this host with every configured NMC (or `--only`
 *   ones) now; HTTPS certificates are pinned on first contact in
 *   `nmc-pins.json` next to the config (`--repin` forgets the old pin first).
 * - `unregister`: removes this host from the cards' client lists.
 * - `check`: changes nothing; per card: reachability, credentials (the card's
 *   signed page verifies), certificate and pin, clock skew (the page's
 *   `DT=`/`TM=` against this host's clock), and whether the card lists this
 *   host, asked of the running agent (`GET /api/v1/status`, found as `status`
 *   finds it: `--url`/`--ca` or the configuration; an API token from
 *   `--token-file` or PCNS_AGENT_TOKEN, else the password from
 *   `--password-file` or PCNS_AGENT_PASSWORD), else "unknown".
 *
 * Each takes `-c, --config`, `--json`, `--only <card...>`, `--timeout`. Exit
 * codes (as main.ts maps a thrown {@link CliError}): 0 every card fine, 1 a
 * card failed or the configuration is unusable, 2 usage error; errors are one
 * line on stderr.
 *
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { totalShutdownSeconds } from "../agent/wiring.ts";
import { defaultConfigPath, dirOf } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import type { AgentConfig } from "../config/types.ts";
import { CardConnection, CardHttpError } from "../nmc/cardhttp.ts";
import { hostHeader } from "../nmc/cardreply.ts";
import { type CardPin, PinStore } from "../nmc/pins.ts";
import { type ClockSkew, clockSkew, parseCardClock } from "../nmc/cardclock.ts";
import {
  type ClientDescription,
  probeCard,
  registerWithCard,
  type RegistrationResult,
  type RegistrationTarget,
  unregisterFromCard,
} from "../nmc/registration.ts";
import { CERT_FILE_NAME } from "../web/certificate.ts";
import { certificateFingerprint } from "../web/pem.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE, parseSecondsOption } from "./errors.ts";
import { cardTarget } from "../agent/wiring.ts";
import {
  agentBaseUrl,
  authorizationFor,
  parseAgentUrl,
  PASSWORD_ENV as AGENT_PASSWORD_ENV,
  passwordFromFile,
  TOKEN_ENV,
} from "./agent_commands.ts";
import { agentEnvironmentHelp, configFlagHelp } from "./help_text.ts";

/** Environment variable holding the web UI password for `check` (to ask the running agent). */
export const PASSWORD_ENV = AGENT_PASSWORD_ENV;

const PREFIX = "pcns-agent: ";

/** The options every command takes. */
interface CommonOptions {
  config?: string;
  json?: boolean;
  only?: string[];
  timeout: string;
}

/** The cards to work on: every configured one, or the `--only` ones (each must be configured). */
export function selectCards(configured: readonly string[], only: readonly string[] | undefined): string[] {
  if (configured.length === 0) {
    throw new CliError("no NMC is configured ([NetworkManagementCard] ip_1 ... ip_9 are empty)", EXIT_FAILED);
  }
  if (!only || only.length === 0) return [...configured];
  for (const card of only) {
    if (!configured.includes(card)) {
      throw new CliError(
        `--only: "${card}" is not a configured NMC (configured: ${configured.join(", ")})`,
        EXIT_USAGE,
      );
    }
  }
  return [...new Set(only)];
}

/** The registration target of a card per the config. */
export function targetOf(config: AgentConfig, card: string): RegistrationTarget {
  return cardTarget(config, card);
}

/** What this host registers, per the config (the configured ports; the running agent's may differ). */
export function clientOf(config: AgentConfig): ClientDescription {
  const net = config.networking;
  return {
    hostAddress: config.nmc.localHostAddress || undefined,
    udpPort: net.udpPort,
    httpPort: net.httpPort,
    httpsPort: net.uiProtocol === "https" ? net.httpsPort : 0,
    requiredSeconds: totalShutdownSeconds(config),
  };
}

/** `-c/--config` of the command, else the root program's `--config`, else the default path. */
function configPath(command: Command, program: Command): string {
  return (command.opts().config as string | undefined) ?? (program.opts().config as string | undefined) ??
    defaultConfigPath();
}

/** Loads the configuration read-only; a CliError lists its errors. */
async function loadConfig(path: string, io: CliIo): Promise<AgentConfig> {
  const { exists, evaluation } = await inspectConfig(path, false);
  if (!exists) {
    throw new CliError(`${path} not found (run the agent once, or pcns-agent config set, to create it)`);
  }
  if (!evaluation.ok || !evaluation.config) {
    const errors = evaluation.problems.filter((p) => p.level === "error").map((p) => p.message);
    if (errors.length === 1) throw new CliError(errors[0]);
    for (const line of errors) io.err(PREFIX + line);
    throw new CliError(`${path}: ${errors.length} error(s); run pcns-agent config check`);
  }
  return evaluation.config;
}

/** Fails with one line per failed card on stderr (a single one becomes the CliError itself). */
function failCards(io: CliIo, command: string, lines: readonly string[], total: number): never {
  if (lines.length === 1) throw new CliError(`${command}: ${lines[0]}`);
  for (const line of lines) io.err(`${PREFIX}${command}: ${line}`);
  throw new CliError(`${command}: ${lines.length} of ${total} NMC(s) failed`);
}

/** One line for a register/unregister result. */
export function resultLine(result: RegistrationResult, pinNote = ""): string {
  if (result.ok) return `NMC ${result.card}: ${result.detail ?? "done"}${pinNote}`;
  return `NMC ${result.card}: FAILED at ${result.step} (${result.cause}): ${result.error}`;
}

/** The JSON form of a register/unregister result. */
function resultJson(result: RegistrationResult, pinned?: string) {
  return {
    card: result.card,
    action: result.action,
    ok: result.ok,
    step: result.step,
    ...(result.ok ? { detail: result.detail } : { cause: result.cause, error: result.error }),
    hostAddress: result.hostAddress ?? null,
    clients: result.clients ?? null,
    certificate: result.certificate
      ? {
        sha256: result.certificate.sha256,
        subject: result.certificate.subject,
        verified: result.certificate.verified,
      }
      : null,
    ...(pinned ? { pinned } : {}),
    durationMs: result.durationMs,
  };
}

async function readPin(pins: PinStore, config: AgentConfig, card: string): Promise<CardPin | undefined> {
  if (config.nmc.protocol !== "https") return undefined;
  try {
    return await pins.get(card);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function registerCommand(
  path: string,
  action: "register" | "unregister",
  opts: CommonOptions & { repin?: boolean },
  io: CliIo,
): Promise<void> {
  const timeoutMs = parseSecondsOption("--timeout", opts.timeout, 1, 300) * 1000;
  const config = await loadConfig(path, io);
  const cards = selectCards(config.nmc.cards, opts.only);
  const pins = new PinStore(dirOf(path));
  const client = clientOf(config);
  const results = await Promise.all(cards.map(async (card) => {
    if (opts.repin && config.nmc.protocol === "https") await pins.delete(card);
    const pin = await readPin(pins, config, card);
    const exchange = action === "register" ? registerWithCard : unregisterFromCard;
    const result = await exchange(targetOf(config, card), client, { timeoutMs, pin: pin?.sha256 });
    let pinned: string | undefined;
    const cert = result.certificate;
    if (cert && !pin && result.pageVerified && result.cause !== "pin-mismatch") {
      await pins.set(card, {
        sha256: cert.sha256,
        subject: cert.subject,
        validTo: cert.validTo,
        pinnedAt: new Date().toISOString(),
      });
      pinned = cert.sha256;
    }
    return { result, pinned };
  }));
  if (opts.json) {
    io.out(JSON.stringify(results.map((r) => resultJson(r.result, r.pinned)), null, 2));
  } else {
    for (const { result, pinned } of results) {
      io.out(resultLine(result, pinned ? `; certificate SHA-256 ${pinned} pinned` : ""));
    }
    if (action === "register" && !config.nmc.registerWithNmc && results.some((r) => r.result.ok)) {
      io.out("note: registerWithNmc = false, so the running agent does not register by itself");
    }
    if (action === "unregister" && config.nmc.registerWithNmc && results.some((r) => r.result.ok)) {
      io.out(
        "note: a running agent registers again at its next start or configuration change; " +
          "set [NetworkManagementCard] registerWithNmc = false to stop that",
      );
    }
  }
  const failed = results.filter((r) => !r.result.ok).map((r) => resultLine(r.result));
  if (failed.length > 0) failCards(io, action, failed, results.length);
}

// ---------------------------------------------------------------------------
// check

/** Whether the card lists this host, as the running agent sees it. */
export interface ListedAnswer {
  /** yes / no / not-confirmable / unknown. */
  readonly state: "yes" | "no" | "not-confirmable" | "unknown";
  /** How it was found out (or why it is unknown). */
  readonly detail: string;
}

/** The per-card report of `check`. */
export interface CheckReport {
  /** The card. */
  readonly card: string;
  /** Protocol and port. */
  readonly protocol: "http" | "https";
  /** Port. */
  readonly port: number;
  /** True when everything needed for registration works (reachable, credentials, certificate, pin). */
  readonly ok: boolean;
  /** The card's web server answered. */
  readonly reachable: boolean;
  /** "ok", "wrong" or "unknown" (the card was not reached). */
  readonly credentials: "ok" | "wrong" | "unknown";
  /** Step and cause when the probe failed. */
  readonly problem?: { readonly step: string; readonly cause?: string; readonly error?: string };
  /** Local address of the connection (the address this host would register). */
  readonly localAddress?: string;
  /** Certificate and pin (HTTPS). */
  readonly certificate?: {
    readonly sha256: string;
    readonly subject: string;
    readonly validTo: string;
    readonly verified: boolean;
    readonly tlsVersion: string;
    readonly pinned?: string;
    readonly pin: "matches" | "changed" | "not pinned";
  };
  /** Card clock minus this host's, when the page carried DT/TM. */
  readonly clockSkew?: ClockSkew;
  /** Clients the card lists, from its page. */
  readonly cardClients?: number;
  /** Whether the card lists this host. */
  readonly listed: ListedAnswer;
}

/** Builds the per-card report from a probe (pure). */
export function checkReport(
  protocol: "http" | "https",
  port: number,
  probe: RegistrationResult,
  pin: CardPin | undefined,
  listed: ListedAnswer,
  now: number,
  localOffsetMinutes: number,
): CheckReport {
  const reachable = probe.step !== "connect";
  const credentials = probe.pageVerified ? "ok" : probe.cause === "credentials" ? "wrong" : "unknown";
  const cert = probe.certificate;
  const pinState = !cert
    ? undefined
    : !pin
    ? "not pinned"
    : pin.sha256 === cert.sha256
    ? "matches"
    : "changed";
  const cardTime = parseCardClock(probe.cardClock?.date, probe.cardClock?.time);
  return {
    card: probe.card,
    protocol,
    port,
    ok: probe.ok && pinState !== "changed",
    reachable,
    credentials,
    ...(probe.ok ? {} : { problem: { step: probe.step, cause: probe.cause, error: probe.error } }),
    ...(probe.localAddress ? { localAddress: probe.localAddress } : {}),
    ...(cert
      ? {
        certificate: {
          sha256: cert.sha256,
          subject: cert.subject,
          validTo: cert.validTo,
          verified: cert.verified,
          tlsVersion: cert.tlsVersion,
          ...(pin ? { pinned: pin.sha256 } : {}),
          pin: pinState!,
        },
      }
      : {}),
    ...(cardTime !== undefined ? { clockSkew: clockSkew(cardTime, now, localOffsetMinutes) } : {}),
    ...(probe.clients !== undefined ? { cardClients: probe.clients } : {}),
    listed,
  };
}

/** The human lines of a check report. */
export function formatCheckReport(r: CheckReport): string[] {
  const lines = [`NMC ${r.card} (${r.protocol}, port ${r.port}): ${r.ok ? "OK" : "PROBLEM"}`];
  const row = (name: string, text: string) => lines.push(`  ${`${name}:`.padEnd(13)} ${text}`);
  row(
    "reachable",
    r.reachable ? `yes${r.localAddress ? ` (from ${r.localAddress})` : ""}` : `no: ${r.problem?.error ?? ""}`,
  );
  row(
    "credentials",
    r.credentials === "ok"
      ? "OK (the card's signed page verifies with this user name and phrase)"
      : r.credentials === "wrong"
      ? `WRONG: ${r.problem?.error ?? ""}`
      : `unknown${r.reachable && r.problem ? `: ${r.problem.error}` : ""}`,
  );
  if (r.certificate) {
    const c = r.certificate;
    const pin = c.pin === "matches"
      ? "pin matches"
      : c.pin === "changed"
      ? `PIN CHANGED (pinned ${c.pinned}): registration is refused`
      : "not pinned yet (pinned at the first registration)";
    row(
      "certificate",
      `SHA-256 ${c.sha256}, ${c.subject || "no subject"}, valid to ${c.validTo}, ${
        c.verified ? "verified" : "not verified (acceptCerts)"
      }, ${c.tlsVersion}; ${pin}`,
    );
  } else if (r.protocol === "https" && r.problem?.step === "tls") {
    row("certificate", r.problem.error ?? "TLS failed");
  }
  if (r.clockSkew) {
    const s = r.clockSkew.seconds;
    const warn = Math.abs(s) > 60 ? " (more than a minute off: set the card's clock or NTP)" : "";
    row("clock skew", `${s >= 0 ? "+" : ""}${s} s (card clock read as ${r.clockSkew.readAs})${warn}`);
  } else {
    row("clock skew", "unknown (no DT=/TM= from the card)");
  }
  if (r.cardClients !== undefined) row("card clients", `${r.cardClients} listed`);
  row("listed", `${r.listed.state}: ${r.listed.detail}`);
  return lines;
}

/** Parses the running agent's /api/v1/status answer for one card (pure). */
export function listedFromStatus(status: unknown, card: string): ListedAnswer {
  const s = status as {
    registration?: { card: string; listed: string; summary: string; hostAddress?: string }[];
  };
  const entry = s?.registration?.find((r) => r.card === card);
  if (!entry) return { state: "unknown", detail: "the running agent does not register with this card" };
  const state = ["yes", "no", "not-confirmable"].includes(entry.listed)
    ? entry.listed as ListedAnswer["state"]
    : "unknown";
  return { state, detail: `running agent: ${entry.summary}` };
}

/** How `check` reaches the running agent: the connection flags of `status`, else the configuration. */
export interface AgentFlags {
  url?: string;
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  ca?: string;
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`check ${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** The Authorization header for `check`, from the flags or the environment; undefined when there is none. */
async function agentAuthorization(
  flags: AgentFlags,
  username: string,
  env: (name: string) => string | undefined,
): Promise<string | undefined> {
  let token: string | undefined;
  if (flags.tokenFile !== undefined) {
    token = passwordFromFile(await readFlagFile("--token-file", flags.tokenFile)).trim();
    if (!token) throw new CliError(`check --token-file: ${flags.tokenFile} holds no token`, EXIT_USAGE);
  } else if (flags.passwordFile === undefined) token = env(TOKEN_ENV)?.trim() || undefined;
  if (token !== undefined) return authorizationFor({ username, password: "", token });
  const password = flags.passwordFile !== undefined
    ? passwordFromFile(await readFlagFile("--password-file", flags.passwordFile))
    : env(PASSWORD_ENV);
  return password ? authorizationFor({ username, password }) : undefined;
}

/** Asks the running agent's API for its status; an answer names why it is unknown. */
async function askRunningAgent(
  config: AgentConfig,
  dataDir: string,
  flags: AgentFlags,
  env: (name: string) => string | undefined,
  timeoutMs: number,
): Promise<unknown | { unknown: string }> {
  const net = config.networking;
  const url = new URL(flags.url !== undefined ? parseAgentUrl(flags.url) : agentBaseUrl(net));
  const auth = await agentAuthorization(flags, flags.user ?? config.nmc.username, env);
  if (!auth) {
    return {
      unknown: `give --password-file or --token-file (or set ${PASSWORD_ENV} or ${TOKEN_ENV}) to ask the ` +
        "running agent",
    };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const secure = url.protocol === "https:";
  const port = Number(url.port || (secure ? 443 : 80));
  let expected: string | undefined;
  if (secure) {
    const certFile = flags.ca ?? (config.webUi.certificateFile || join(dataDir, CERT_FILE_NAME));
    try {
      expected = await certificateFingerprint(certFile);
    } catch (error) {
      return {
        unknown: `cannot read the web UI certificate ${certFile}: ${(error as Error).message}` +
          (flags.ca === undefined ? " (give --ca <ui-cert.pem>)" : ""),
      };
    }
  }
  const deadline = Date.now() + timeoutMs;
  let connection: CardConnection | undefined;
  try {
    connection = await CardConnection.open(
      { card: host, protocol: secure ? "https" : "http", port, acceptCerts: true },
      deadline,
    );
    if (expected && connection.certificate?.sha256.toUpperCase() !== expected.toUpperCase()) {
      return {
        unknown: `the agent on port ${port} presents another certificate (SHA-256 ` +
          `${connection.certificate?.sha256}) than ${flags.ca ?? CERT_FILE_NAME}`,
      };
    }
    const request = new TextEncoder().encode(
      `GET /api/v1/status HTTP/1.1\r\nHost: ${hostHeader(host)}:${port}\r\n` +
        `Authorization: ${auth}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`,
    );
    const reply = await connection.request(request, "/api/v1/status", deadline, timeoutMs);
    if (reply.status === 401 || reply.status === 429) {
      return { unknown: `the running agent refused the login (HTTP ${reply.status})` };
    }
    if (reply.status !== 200) return { unknown: `the running agent answered HTTP ${reply.status}` };
    return JSON.parse(new TextDecoder().decode(reply.body));
  } catch (error) {
    const why = error instanceof CardHttpError && error.causeCode === "refused"
      ? `no agent answers on port ${port}`
      : (error as Error).message;
    return { unknown: why };
  } finally {
    await connection?.close();
  }
}

async function checkCommand(
  path: string,
  opts: CommonOptions & AgentFlags,
  io: CliIo,
  env: (name: string) => string | undefined,
): Promise<void> {
  const timeoutMs = parseSecondsOption("--timeout", opts.timeout, 1, 300) * 1000;
  if (opts.url !== undefined) parseAgentUrl(opts.url); // a usage error before anything else
  const config = await loadConfig(path, io);
  const cards = selectCards(config.nmc.cards, opts.only);
  const pins = new PinStore(dirOf(path));
  const [status, probes] = await Promise.all([
    askRunningAgent(config, dirOf(path), opts, env, Math.min(timeoutMs, 5000)),
    Promise.all(cards.map(async (card) => ({
      card,
      probe: await probeCard(targetOf(config, card), { timeoutMs }),
      pin: await readPin(pins, config, card),
    }))),
  ]);
  const offset = -new Date().getTimezoneOffset();
  const reports = probes.map(({ card, probe, pin }) => {
    const listed: ListedAnswer = status && typeof status === "object" && "unknown" in status
      ? { state: "unknown", detail: String((status as { unknown: string }).unknown) }
      : listedFromStatus(status, card);
    return checkReport(config.nmc.protocol, config.nmc.port, probe, pin, listed, Date.now(), offset);
  });
  if (opts.json) io.out(JSON.stringify(reports, null, 2));
  else for (const report of reports) for (const line of formatCheckReport(report)) io.out(line);
  const failed = reports.filter((r) => !r.ok).map((r) =>
    r.certificate?.pin === "changed"
      ? `NMC ${r.card}: the card's certificate changed (pinned ${r.certificate.pinned}, presented ${r.certificate.sha256})`
      : `NMC ${r.card}: ${r.problem?.cause ?? "problem"}: ${r.problem?.error ?? ""}`
  );
  if (failed.length > 0) failCards(io, "check", failed, reports.length);
}

/** Replaceable sources of the commands (tests). */
export interface RegistrationCliOptions {
  /** Reads an environment variable (default Deno.env.get). */
  readonly env?: (name: string) => string | undefined;
}

/**
 * Adds `register`, `unregister` and `check` to the root program (see the
 * module doc). Failures are thrown as {@link CliError} (exit 1, or 2 for usage).
 */
export function registerRegistrationCommands(
  program: Command,
  io: CliIo = denoIo(),
  options: RegistrationCliOptions = {},
): void {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const configHelp = configFlagHelp();
  const common = (command: Command) =>
    command
      .option("-c, --config <path>", configHelp)
      .option("--only <card...>", "only these configured NMC addresses")
      .option("--timeout <seconds>", "time limit per NMC", "10")
      .option("--json", "print the results as JSON");

  common(
    program.command("register")
      .description(
        "register this host with every configured NMC now (pins HTTPS certificates on first contact)",
      )
      .option("--repin", "forget the pinned certificate first and pin the one the card presents now"),
  ).action((opts: CommonOptions & { repin?: boolean }, cmd: Command) =>
    registerCommand(configPath(cmd, program), "register", opts, io)
  );

  common(
    program.command("unregister").description(
      "remove this host from the client list of every configured NMC",
    ),
  ).action((opts: CommonOptions, cmd: Command) =>
    registerCommand(configPath(cmd, program), "unregister", opts, io)
  );

  common(
    program.command("check")
      .description(
        "check every NMC without changing anything: reachability, credentials, certificate and pin, " +
          "clock skew, and whether the card lists this host (asks the running agent)",
      )
      .option(
        "--url <url>",
        "the running agent's web UI, e.g. https://127.0.0.1:6547 (default: from the config)",
      )
      .option("--user <name>", "admin user name for the agent (default: the configured username)")
      .option(
        "--token-file <path>",
        `file whose first line is an API token for the agent (else $${TOKEN_ENV})`,
      )
      .option(
        "--password-file <path>",
        `file whose first line is the agent's admin password (else $${PASSWORD_ENV})`,
      )
      .option("--ca <pem>", "the agent's certificate (default: the data directory's ui-cert.pem)")
      .addHelpText("after", agentEnvironmentHelp(PASSWORD_ENV, TOKEN_ENV)),
  ).action((opts: CommonOptions & AgentFlags, cmd: Command) =>
    checkCommand(configPath(cmd, program), opts, io, env)
  );
}
