/**
 * `status` and `events [--follow]`: talk to a running agent through its JSON
 * API (`/api/v1/status`, `/api/v1/events`) with HTTP Basic authentication.
 * The agent is found through the configuration (web UI protocol, port and
 * address, the user name, and `ui-cert.pem` in the data directory as the CA)
 * or `--url` / `--ca` / `--user`. Credentials never come from a flag: an API
 * token (`pcns-agent token create --read-only`, sent as `Authorization: Bearer`)
 * from `--token-file` or PCNS_AGENT_TOKEN, else the admin password from
 * `--password-file` or PCNS_AGENT_PASSWORD (HTTP Basic).
 *
 * @module
 */
import type { Command } from "commander";
import { join } from "node:path";
import { defaultConfigPath, dirOf } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import type { AgentConfig, NetworkingSettings } from "../config/types.ts";
import type { EventLogRecord } from "../events/eventlog.ts";
import { EVENT_CATALOG } from "../events/types.ts";
import { CERT_FILE_NAME } from "../web/certificate.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { stopRequested } from "./run_command.ts";
import { CliError, EXIT_USAGE, parseIntegerOption, parseSecondsOption } from "./errors.ts";
import { parseTimeArgument, TIME_FORMS } from "./since.ts";
import { didYouMean } from "../text/suggest.ts";
import { columnWidths } from "./table.ts";
import {
  alignStatusLines,
  eventCells,
  FOLLOW_MIN_WIDTHS,
  formatEventLine,
  formatEventLines,
  SEVERITIES,
} from "./event_lines.ts";

import { agentEnvironmentHelp, configFlagHelp } from "./help_text.ts";
import {
  isUntrustedCertificate,
  presentedFingerprint,
  protocolMismatchMessage,
  untrustedCertificateMessage,
} from "./tls_trust.ts";

export {
  alignStatusLines,
  EVENT_MIN_WIDTHS,
  eventCells,
  FOLLOW_MIN_WIDTHS,
  formatEventLine,
  formatEventLines,
} from "./event_lines.ts";

/** Name of the environment variable holding the admin password for the CLI. */
export const PASSWORD_ENV = "PCNS_AGENT_PASSWORD";
/** Name of the environment variable holding an API token for the CLI. */
export const TOKEN_ENV = "PCNS_AGENT_TOKEN";

/** Where and how to reach the agent. */
export interface AgentConnection {
  /** `https://host:port` (no trailing slash). */
  readonly baseUrl: string;
  /** Admin user name (with a password). */
  readonly username: string;
  /** Admin password ("" when a token is used). */
  readonly password: string;
  /** API token (used instead of the user name and password). */
  readonly token?: string;
  /** PEM certificates to trust (the agent's own certificate). */
  readonly caCerts: readonly string[];
  /** True when the certificates came from `--ca` (not from the configuration's data directory). */
  readonly caGiven?: boolean;
}

/** Flags of the commands that talk to the agent. */
export interface ConnectionFlags {
  config?: string;
  url?: string;
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  ca?: string;
  json?: boolean;
}

/**
 * The web UI base URL for a configuration (pure): its protocol and
 * `httpsPort`, on `uiListenAddress`, or 127.0.0.1 when it listens on every
 * address.
 */
export function agentBaseUrl(
  n: Pick<NetworkingSettings, "uiProtocol" | "httpsPort" | "uiListenAddress">,
): string {
  const address = n.uiListenAddress.trim();
  let host = ["", "0.0.0.0", "::", "[::]"].includes(address) ? "127.0.0.1" : address;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `${n.uiProtocol}://${host}:${n.httpsPort}`;
}

/** Checks and normalizes `--url` (pure): http(s) only, no path, query or credentials. */
export function parseAgentUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--url: "${value}" is not a URL (e.g. https://127.0.0.1:6547)`, EXIT_USAGE);
  }
  if (!["http:", "https:"].includes(url.protocol) || url.username || url.password || url.search) {
    throw new CliError(
      `--url: "${value}" must be http(s)://host:port without credentials or query`,
      EXIT_USAGE,
    );
  }
  return url.origin;
}

/** The password from a password file's text (pure): its first line, without the line break. */
export function passwordFromFile(text: string): string {
  return text.split(/\r?\n/)[0];
}

/** The `Authorization` header for a connection (pure): Bearer with a token, else Basic. */
export function authorizationFor(c: Pick<AgentConnection, "username" | "password" | "token">): string {
  return c.token !== undefined ? `Bearer ${c.token}` : basicAuthorization(c.username, c.password);
}

/** `Authorization: Basic ...` for a user name and password (pure, UTF-8). */
export function basicAuthorization(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/**
 * Filters of `events` (pure; `now` for `--since 2h`): the API query string, validated with usage errors
 * naming the flag and the value, with the closest ids or severities for a near miss.
 */
export function eventsQuery(
  o: { id?: string; severity?: string; since?: string; limit: number },
  now: number = Date.now(),
): URLSearchParams {
  const params = new URLSearchParams();
  if (o.id !== undefined) {
    if (!(o.id in EVENT_CATALOG)) {
      const hint = didYouMean(o.id, Object.keys(EVENT_CATALOG)) || " (e.g. PowerFailed, LowBattery)";
      throw new CliError(`events --id: "${o.id}" is not an event id${hint}`, EXIT_USAGE);
    }
    params.set("id", o.id);
  }
  if (o.severity !== undefined) {
    if (!SEVERITIES.includes(o.severity)) {
      throw new CliError(
        `events --severity: "${o.severity}" must be info, warning or critical${
          didYouMean(o.severity, SEVERITIES)
        }`,
        EXIT_USAGE,
      );
    }
    params.set("severity", o.severity);
  }
  if (o.since !== undefined) {
    let t: number;
    try {
      t = parseTimeArgument(o.since, now);
    } catch (error) {
      throw new CliError(`events --since: ${(error as Error).message}`, EXIT_USAGE);
    }
    params.set("from", new Date(t).toISOString());
  }
  params.set("limit", String(o.limit));
  return params;
}

/** A record's identity, to recognise it again when polling. */
function recordKey(r: EventLogRecord): string {
  return JSON.stringify([r.time, r.id, r.nmc ?? "", r.message]);
}

/** What `events --follow` has printed so far: the newest time, and the records seen at that time. */
export interface FollowCursor {
  /** ISO time of the newest record printed. */
  readonly time?: string;
  /** Keys of the records printed with that time. */
  readonly keys: readonly string[];
}

/**
 * The records not printed yet, oldest first, and the new cursor (pure).
 * `page` is an API page (newest first) queried from `cursor.time` on, so it
 * repeats the records at exactly that time.
 */
export function newRecords(
  page: readonly EventLogRecord[],
  cursor: FollowCursor,
): { fresh: EventLogRecord[]; cursor: FollowCursor } {
  const seen = new Set(cursor.keys);
  const fresh = [...page].reverse().filter((r) => !(r.time === cursor.time && seen.has(recordKey(r))));
  if (fresh.length === 0) return { fresh, cursor };
  const time = fresh[fresh.length - 1].time;
  const atTime = [...page].filter((r) => r.time === time).map(recordKey);
  return { fresh, cursor: { time, keys: time === cursor.time ? [...cursor.keys, ...atTime] : atTime } };
}

// deno-lint-ignore no-explicit-any
type Json = any;

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** The status answer as text lines (pure; `now` for ages). */
export function formatStatus(status: Json, baseUrl: string): string[] {
  const now = Date.parse(status.time ?? "") || Date.now();
  const lines = [`agent: ${baseUrl}${status.dryRun ? " (dry run: the OS is never shut down)" : ""}`];
  const udp = (status.udp ?? []).map((a: Json) => `${a.hostname}:${a.port}`).join(", ");
  lines.push(`UDP: ${udp || "not listening"}`);
  for (const u of status.ups ?? []) {
    const f = u.flags ?? {};
    const r = u.reading ?? {};
    const power = f.onBattery ? "ON BATTERY" : f.online ? "on line" : "unknown";
    const parts = [
      `communication ${u.comm}`,
      power,
      ...(f.lowBattery ? ["LOW BATTERY"] : []),
      ...(f.overload ? ["OVERLOAD"] : []),
      ...(f.replaceBattery ? ["replace battery"] : []),
      ...(r.batteryPercent !== undefined ? [`battery ${r.batteryPercent}%`] : []),
      ...(r.loadPercent !== undefined ? [`load ${r.loadPercent}%`] : []),
      ...(r.runtimeMinutes !== undefined ? [`runtime ${r.runtimeMinutes} min`] : []),
      ...(u.lastStatusAt !== undefined ? [`last status ${seconds(now - u.lastStatusAt)} ago`] : []),
    ];
    lines.push(`NMC ${u.card}: ${parts.join(", ")}`);
  }
  if (status.nut) {
    const clients: Json[] = status.nut.clients ?? [];
    const where = (status.nut.listening ?? []).map((a: Json) => `${a.hostname}:${a.port}`).join(", ");
    const who = clients.map((c) => `${c.user}@${c.address} on ${c.ups}${c.tls ? " (TLS)" : ""}`).join(", ");
    const fsd = (status.nut.fsd ?? []).length ? `; FSD set on ${status.nut.fsd.join(", ")}` : "";
    lines.push(
      `NUT: ${where}, ${clients.length} secondar${clients.length === 1 ? "y" : "ies"} logged in${
        who ? `: ${who}` : ""
      }${fsd}`,
    );
  }
  const s = status.shutdown ?? {};
  if (s.phase === "done") {
    lines.push(`shutdown: done (${finishedText(s)})`);
  } else if (s.phase && s.phase !== "idle") {
    lines.push(`shutdown: ${s.phase}${s.step ? ` (${s.step})` : ""}`);
  } else if ((s.countdowns ?? []).length > 0) {
    for (const c of s.countdowns) {
      lines.push(`shutdown: ${c.eventId} pending, starts in ${seconds(c.remainingMs)}`);
    }
  } else lines.push("shutdown: none pending");
  // Advanced UPS setups: each one's verdict ("2 of 3 healthy, needs 2: no shutdown").
  for (const u of status.setups ?? []) lines.push(`setup ${u.name}: ${u.verdict}`);
  const p = status.packets ?? {};
  const rejected = Object.values(p.rejected ?? {}).reduce((a: number, b) => a + Number(b), 0);
  const unsigned = p.unsignedIgnored ? `, ${p.unsignedIgnored} with unsigned data after MD= (ignored)` : "";
  lines.push(`packets: ${p.accepted ?? 0} accepted, ${rejected} rejected${unsigned}`);
  for (const c of status.counters ?? []) {
    if (c.stuck) {
      lines.push(
        `NMC ${c.card}: ${c.stuck.refused} authenticated packets refused as replayed (counters went back: card ` +
          `rebooted or replaced?); run pcns-agent counters reset --card ${c.card}`,
      );
    }
  }
  return lines;
}

/** How a finished sequence ended and what re-arms it (pure). */
function finishedText(s: Json): string {
  const o = s.outcome;
  const at = o?.at !== undefined ? ` at ${new Date(o.at).toISOString()}` : "";
  const what = o?.result === "shut-down"
    ? `OS shutdown ran${at}: ${o.note}`
    : o?.result === "rehearsed"
    ? `dry run rehearsed${at}`
    : o?.result === "failed"
    ? `OS shutdown FAILED${at}: ${o.note}`
    : "finished";
  const rearm = s.rearms ? `re-arms ${s.rearms}, or ` : "";
  return `${what}; ${rearm}re-arm with pcns-agent shutdown reset`;
}

function envGetter(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`${what}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Resolves the connection from the flags and the configuration (impure: reads files and env). */
export async function connection(
  flags: ConnectionFlags,
  what: string,
  configPath: string,
): Promise<AgentConnection> {
  let token: string | undefined;
  if (flags.tokenFile !== undefined) {
    token = passwordFromFile(await readText(flags.tokenFile, `${what} --token-file`)).trim();
    if (!token) throw new CliError(`${what} --token-file: ${flags.tokenFile} holds no token`, EXIT_USAGE);
  } else if (flags.passwordFile === undefined) token = envGetter(TOKEN_ENV)?.trim() || undefined;
  let password: string | undefined;
  if (token === undefined) {
    if (flags.passwordFile !== undefined) {
      password = passwordFromFile(await readText(flags.passwordFile, `${what} --password-file`));
    } else password = envGetter(PASSWORD_ENV);
    if (!password) {
      throw new CliError(
        `${what}: no credentials: give --token-file <file> (or set ${TOKEN_ENV}), ` +
          `or --password-file <file> (or set ${PASSWORD_ENV})`,
        EXIT_USAGE,
      );
    }
  }
  let exists = false;
  let config: AgentConfig | undefined;
  try {
    const inspection = await inspectConfig(configPath, false);
    exists = inspection.exists;
    config = exists ? inspection.evaluation.config : undefined;
  } catch (error) {
    if (flags.url === undefined) {
      throw new CliError(`${what}: cannot read ${configPath}: ${(error as Error).message} (or give --url)`);
    }
  }
  if (!config && flags.url === undefined) {
    throw new CliError(
      `${what}: ${configPath} ${exists ? "has errors (run pcns-agent config check)" : "not found"}; ` +
        "give --config or --url",
    );
  }
  const baseUrl = flags.url !== undefined ? parseAgentUrl(flags.url) : agentBaseUrl(config!.networking);
  const username = flags.user ?? config?.nmc.username ?? "";
  if (!username && token === undefined) throw new CliError(`${what}: no user name: give --user`, EXIT_USAGE);
  let caCerts: string[] = [];
  if (flags.ca !== undefined) caCerts = [await readText(flags.ca, `${what} --ca`)];
  else if (config) {
    const certPath = config.webUi.certificateFile || join(dirOf(configPath), CERT_FILE_NAME);
    try {
      caCerts = [await Deno.readTextFile(certPath)];
    } catch {
      caCerts = []; // no certificate yet (or plain HTTP): the system's trust store decides
    }
  }
  return { baseUrl, username, password: password ?? "", token, caCerts, caGiven: flags.ca !== undefined };
}

/** Innermost error message (fetch wraps the network error). */
function rootCause(error: unknown): string {
  let e = error as { message?: string; cause?: unknown };
  while (e?.cause && typeof e.cause === "object") e = e.cause as typeof e;
  return (e?.message ?? String(error)).replace(/\s+/g, " ").trim();
}

/**
 * GETs (or POSTs, with `method`) an API path; a CliError naming the problem when the agent cannot be
 * reached or refuses.
 */
export async function apiGet(
  c: AgentConnection,
  path: string,
  what: string,
  client?: Deno.HttpClient,
  method: "GET" | "POST" = "GET",
): Promise<Json> {
  let res: Response;
  try {
    res = await fetch(`${c.baseUrl}${path}`, {
      method,
      headers: { authorization: authorizationFor(c), accept: "application/json" },
      client,
      redirect: "manual",
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = rootCause(error);
    if (c.baseUrl.startsWith("https:") && isUntrustedCertificate(cause)) {
      const fingerprint = await presentedFingerprint(c.baseUrl);
      throw new CliError(
        untrustedCertificateMessage(what, c.baseUrl, cause, fingerprint, c.caGiven === true),
      );
    }
    const mismatch = protocolMismatchMessage(what, c.baseUrl, cause);
    throw new CliError(mismatch ?? `${what}: cannot reach the agent at ${c.baseUrl}: ${cause}`);
  }
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok && body !== undefined) return body;
  const detail = body?.error ? `: ${body.error}` : "";
  if (res.status === 401) {
    throw new CliError(
      c.token !== undefined
        ? `${what}: the agent refused the API token (HTTP 401: unknown or revoked; see pcns-agent token list)`
        : `${what}: the agent refused user "${c.username}" (HTTP 401: wrong user name or password)`,
    );
  }
  if (res.status === 429) {
    throw new CliError(
      `${what}: the agent refused the attempt (HTTP 429: too many failed logins; retry after ` +
        `${res.headers.get("retry-after") ?? "?"} s)${detail}`,
    );
  }
  if (res.status >= 300 && res.status < 400) {
    throw new CliError(
      `${what}: ${c.baseUrl} redirects to ${res.headers.get("location")}; use that as --url`,
    );
  }
  throw new CliError(`${what}: the agent answered HTTP ${res.status}${detail}`);
}

/** An HTTP client trusting the agent's certificate (undefined: the system's trust store). */
export function httpClient(c: AgentConnection): Deno.HttpClient | undefined {
  return c.caCerts.length > 0 ? Deno.createHttpClient({ caCerts: [...c.caCerts] }) : undefined;
}

/** The --config of a subcommand, else of the program, else the default. */
export function configPathOf(command: Command, program: Command): string {
  return (command.opts().config as string | undefined) ?? (program.opts().config as string | undefined) ??
    defaultConfigPath();
}

interface StatusFlags extends ConnectionFlags {
  get?: string;
  ups?: string;
}

async function statusAction(flags: StatusFlags, configPath: string, io: CliIo): Promise<void> {
  if (flags.ups !== undefined && flags.get === undefined) {
    throw new CliError("status --ups: give --get <variable> too (e.g. --get battery.charge)", EXIT_USAGE);
  }
  const c = await connection(flags, "status", configPath);
  const client = httpClient(c);
  try {
    const status = await apiGet(c, "/api/v1/status", "status", client);
    if (flags.get !== undefined) {
      // Loaded only here: an agent process never loads the NUT code unless [NUT] is on.
      const { lookupVariable } = await import("../nut/variables.ts");
      const found = lookupVariable(status, flags.get, flags.ups);
      if ("error" in found) throw new CliError(`status --get ${flags.get}: ${found.error}`);
      io.out(flags.json ? JSON.stringify(found.value) : found.value);
      return;
    }
    if (flags.json) io.out(JSON.stringify(status, null, 2));
    else for (const line of alignStatusLines(formatStatus(status, c.baseUrl))) io.out(line);
  } finally {
    client?.close();
  }
}

interface EventsFlags extends ConnectionFlags {
  id?: string;
  severity?: string;
  since?: string;
  limit: string;
  follow?: boolean;
  interval: string;
}

async function eventsAction(flags: EventsFlags, configPath: string, io: CliIo): Promise<void> {
  const limit = parseIntegerOption("--limit", flags.limit, 1, 100_000);
  const intervalMs = parseSecondsOption("--interval", flags.interval, 0.1, 3600) * 1000;
  // Usage errors before anything else; `--since 2h` is resolved once, so --follow keeps the same start.
  const from = eventsQuery({ id: flags.id, severity: flags.severity, since: flags.since, limit }).get("from");
  const base = { id: flags.id, severity: flags.severity, since: from ?? undefined };
  const c = await connection(flags, "events", configPath);
  const client = httpClient(c);
  let widths = FOLLOW_MIN_WIDTHS;
  const print = (r: EventLogRecord) => io.out(flags.json ? JSON.stringify(r) : formatEventLine(r, widths));
  try {
    const first = await apiGet(c, `/api/v1/events?${eventsQuery({ ...base, limit })}`, "events", client);
    const records: EventLogRecord[] = first.records ?? [];
    const oldestFirst = [...records].reverse();
    if (!flags.follow) {
      if (flags.json) io.out(JSON.stringify(oldestFirst));
      else for (const line of formatEventLines(oldestFirst)) io.out(line);
      return;
    }
    let cursor: FollowCursor = { keys: [] };
    ({ cursor } = newRecords(records, cursor));
    widths = columnWidths(oldestFirst.map(eventCells), FOLLOW_MIN_WIDTHS);
    for (const r of oldestFirst) print(r);
    const stop = stopRequested();
    let stopped = false;
    stop.then(() => (stopped = true));
    let lost = false;
    while (!stopped) {
      await Promise.race([stop, new Promise((r) => setTimeout(r, intervalMs))]);
      if (stopped) break;
      const since = cursor.time ?? base.since;
      try {
        const page = await apiGet(
          c,
          `/api/v1/events?${eventsQuery({ ...base, since, limit: 100_000 })}`,
          "events",
          client,
        );
        if (lost) io.err("pcns-agent: events: the agent answers again");
        lost = false;
        const next = newRecords(page.records ?? [], cursor);
        cursor = next.cursor;
        for (const r of next.fresh) print(r);
      } catch (error) {
        if (!lost) io.err(`pcns-agent: ${(error as Error).message}; retrying`);
        lost = true;
      }
    }
  } finally {
    client?.close();
  }
}

/** Connection options shared by the commands that talk to the agent. */
export function connectionOptions(command: Command, configHelp: string): Command {
  return command
    .option("-c, --config <path>", configHelp)
    .option(
      "--url <url>",
      "the agent's web UI, e.g. https://127.0.0.1:6547 (default: from the configuration)",
    )
    .option("--user <name>", "admin user name (default: the configured username)")
    .option(
      "--token-file <path>",
      `file whose first line is an API token (else $${TOKEN_ENV}); see pcns-agent token`,
    )
    .option("--password-file <path>", `file whose first line is the admin password (else $${PASSWORD_ENV})`)
    .option("--ca <pem>", "certificate to trust (default: the data directory's ui-cert.pem)")
    .option("--json", "print JSON")
    .addHelpText("after", agentEnvironmentHelp(PASSWORD_ENV, TOKEN_ENV));
}

/**
 * Adds `status` and `events` to the root program. Exit codes: 0 ok, 1 the
 * agent cannot be reached or refuses, 2 usage error.
 */
export function registerAgentCommands(program: Command, io: CliIo = denoIo()): void {
  const configHelp = configFlagHelp("configuration file, to find the agent");
  connectionOptions(
    program.command("status").description("show the running agent's UPS and shutdown state (JSON API)"),
    configHelp,
  )
    .option(
      "--get <variable>",
      "print one value by its NUT name, e.g. battery.charge or ups.status (as upsc)",
    )
    .option(
      "--ups <name>",
      "the UPS for --get, as NUT names it (nmc1 for ip_1, or [NUT] upsName_N; default the first)",
    )
    .action((flags: StatusFlags, cmd: Command) => statusAction(flags, configPathOf(cmd, program), io));

  connectionOptions(
    program.command("events").description(
      "list the running agent's events, oldest first; --follow for new ones",
    ),
    configHelp,
  )
    .option("--id <EventId>", "only this event, e.g. PowerFailed")
    .option("--severity <level>", "only info, warning or critical")
    .option("--since <time>", `only events at or after this time: ${TIME_FORMS}`)
    .option("--limit <n>", "the newest n events", "20")
    .option("-f, --follow", "keep printing new events until interrupted (with --json: one object per line)")
    .option("--interval <seconds>", "how often --follow asks the agent", "2")
    .action((flags: EventsFlags, cmd: Command) => eventsAction(flags, configPathOf(cmd, program), io));
}
