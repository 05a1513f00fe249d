/**
 * `register`, `unregister` and `check` (src/cli/register_commands.ts) against
 * the simulated card on 127.0.0.1: in-process with a captured terminal, and as
 * real processes (tests/fixtures/registration/cli.ts) for exit codes and the
 * one-line errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { startService } from "../src/agent/service.ts";
import type { CliIo } from "../src/cli/config_commands.ts";
import { CliError } from "../src/cli/errors.ts";
import {
  checkReport,
  formatCheckReport,
  registerRegistrationCommands,
} from "../src/cli/register_commands.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { waitUntil } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";
import {
  CERT_SHA256,
  freePort,
  OTHER_CERT_SHA256,
  startCard,
  startCardInConfigRange,
} from "./fixtures/registration/helpers.ts";
import { withoutDenoNotices } from "./helpers/deno_notices.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = new URL("./fixtures/registration/cli.ts", import.meta.url).pathname;
const PASSWORD = "Sturdy-Battery-42!";

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string[];
}

/** Runs the commands in-process with a captured terminal, mapping errors like main.ts. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    isTerminal: () => false,
    ask: () => Promise.resolve(null),
    readLines: () => Promise.resolve([]),
  };
  const program = new Command("pcns-agent").exitOverride().configureOutput({
    writeOut: (s) => out.push(s),
    writeErr: (s) => err.push(s.trimEnd()),
  });
  registerRegistrationCommands(program, io, { env: (name) => env[name] });
  for (const c of program.commands) {
    c.exitOverride().configureOutput({ writeErr: (s) => err.push(s.trimEnd()) });
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return { code: 0, out: out.join("\n"), err };
  } catch (error) {
    if (error instanceof CommanderError) return { code: 2, out: out.join("\n"), err };
    err.push(`pcns-agent: ${(error as Error).message}`);
    return { code: error instanceof CliError ? error.exitCode : 1, out: out.join("\n"), err };
  }
}

/** A config directory for a card on `port`. */
async function configDir(
  port: number,
  o: { protocol?: "http" | "https"; acceptCerts?: boolean; phrase?: string; http?: number; https?: number } =
    {},
) {
  const dir = await Deno.makeTempDir({ prefix: "pcns-reg-cli-" });
  const path = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    path,
    [
      "[NetworkManagementCard]",
      `username = ${CARD.username}`,
      `password = ${PASSWORD}`,
      `authenticationPhrase = ${o.phrase ?? CARD.authenticationPhrase}`,
      `ip_1 = ${CARD.address}`,
      `protocol = ${o.protocol ?? "http"}`,
      `port = ${port}`,
      `acceptCerts = ${o.acceptCerts ?? false}`,
      "[Networking]",
      `udpPort = ${freePort(true)}`,
      "udpListenAddresses = 127.0.0.1",
      `httpPort = ${o.http ?? freePort()}`,
      `httpsPort = ${o.https ?? freePort()}`,
      "uiListenAddress = 127.0.0.1",
      "[Shutdown]",
      "settleDelay = 40",
      "osShutdownDuration = 20",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return { dir, path, remove: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("cli register / check / unregister over HTTP: human and JSON output", async () => {
  const card = startCardInConfigRange();
  const cfg = await configDir(card.web.port);
  try {
    const reg = await cli(["register", "-c", cfg.path]);
    assert.equal(reg.code, 0, reg.err.join("\n"));
    assert.match(
      reg.out,
      /^NMC 127\.0\.0\.1: card 127\.0\.0\.1 registered 127\.0\.0\.1 \(UDP port \d+, 60 s to shut down\)/,
    );
    assert.deepEqual(card.sim.clients, ["127.0.0.1"]);
    assert.equal(card.sim.registeredClients[0].seconds, 60);

    const check = await cli(["check", "-c", cfg.path, "--json"]);
    assert.equal(check.code, 0, check.err.join("\n"));
    const [report] = JSON.parse(check.out);
    assert.equal(report.ok, true);
    assert.equal(report.reachable, true);
    assert.equal(report.credentials, "ok");
    assert.equal(report.localAddress, "127.0.0.1");
    assert.ok(Math.abs(report.clockSkew.seconds) <= 2, JSON.stringify(report.clockSkew));
    assert.equal(report.cardClients, 1);
    assert.equal(report.listed.state, "unknown");
    assert.match(report.listed.detail, /PCNS_AGENT_PASSWORD/);

    const human = await cli(["check", "-c", cfg.path]);
    assert.match(
      human.out,
      /^NMC 127\.0\.0\.1 \(http, port \d+\): OK\n {2}reachable: {4}yes \(from 127\.0\.0\.1\)/,
    );
    assert.match(human.out, /credentials: {2}OK/);
    assert.match(human.out, /clock skew: {3}[+-]\d+ s \(card clock read as UTC\)/);

    const unreg = await cli(["unregister", "-c", cfg.path, "--json"]);
    assert.equal(unreg.code, 0, unreg.err.join("\n"));
    assert.deepEqual(JSON.parse(unreg.out).map((r: { action: string; ok: boolean }) => [r.action, r.ok]), [
      ["unregister", true],
    ]);
    assert.deepEqual(card.sim.clients, []);
  } finally {
    await cfg.remove();
    await card.close();
  }
});

Deno.test("cli over HTTPS: register pins the certificate; check compares it; a replaced certificate fails until --repin", async () => {
  let card = startCardInConfigRange({ https: "cert" });
  const port = card.web.port;
  const cfg = await configDir(port, { protocol: "https", acceptCerts: true });
  try {
    const reg = await cli(["register", "-c", cfg.path]);
    assert.equal(reg.code, 0, reg.err.join("\n"));
    assert.match(reg.out, new RegExp(`certificate SHA-256 ${CERT_SHA256} pinned`));
    const pins = JSON.parse(await Deno.readTextFile(join(cfg.dir, "nmc-pins.json")));
    assert.equal(pins.pins["127.0.0.1"].sha256, CERT_SHA256);

    const check = await cli(["check", "-c", cfg.path, "--json"]);
    assert.equal(JSON.parse(check.out)[0].certificate.pin, "matches");

    await card.close();
    card = startCard({ https: "other", port });
    const changed = await cli(["check", "-c", cfg.path]);
    assert.equal(changed.code, 1);
    assert.match(changed.out, /PIN CHANGED/);
    assert.deepEqual(changed.err, [
      `pcns-agent: check: NMC 127.0.0.1: the card's certificate changed (pinned ${CERT_SHA256}, presented ${OTHER_CERT_SHA256})`,
    ]);
    const refused = await cli(["register", "-c", cfg.path]);
    assert.equal(refused.code, 1);
    assert.match(refused.err[0], /FAILED at pin \(pin-mismatch\)/);
    assert.equal(card.web.registrations.length, 0);

    const repin = await cli(["register", "-c", cfg.path, "--repin", "--json"]);
    assert.equal(repin.code, 0, repin.err.join("\n"));
    assert.equal(JSON.parse(repin.out)[0].pinned, OTHER_CERT_SHA256);
    assert.deepEqual(card.sim.clients, ["127.0.0.1"]);
  } finally {
    await cfg.remove();
    await card.close();
  }
});

Deno.test("cli check asks the running agent (Basic auth) whether the card lists this host", async () => {
  const card = startCardInConfigRange();
  const cfg = await configDir(card.web.port);
  const service = await startService({
    configPath: cfg.path,
    logger: memoryLogger().logger,
    dryRun: true,
    webUi: true,
    registrationDelayMs: 0,
  });
  try {
    await waitUntil(() => service.agent.status().registration?.[0]?.phase === "registered", "registration");
    await card.sim.sendConfig();
    await waitUntil(() => service.agent.status().registration?.[0]?.listed === "yes", "MACONFIG");
    const check = await cli(["check", "-c", cfg.path, "--json"], { PCNS_AGENT_PASSWORD: PASSWORD });
    assert.equal(check.code, 0, check.err.join("\n"));
    assert.deepEqual(JSON.parse(check.out)[0].listed, { state: "yes", detail: "running agent: registered" });
    const wrong = await cli(["check", "-c", cfg.path, "--json"], { PCNS_AGENT_PASSWORD: "Wrong-Passw0rd!" });
    assert.match(JSON.parse(wrong.out)[0].listed.detail, /refused the login \(HTTP 401\)/);
  } finally {
    await service.stop();
    await cfg.remove();
    await card.close();
  }
});

Deno.test("check report (pure): unreachable, wrong credentials and skew are spelled out", () => {
  const probe = {
    card: "10.0.0.5",
    action: "probe" as const,
    ok: false,
    step: "verify" as const,
    cause: "credentials" as const,
    error: "bad credentials: ...",
    pageVerified: false,
    durationMs: 1,
  };
  const listed = { state: "unknown" as const, detail: "x" };
  const report = checkReport("http", 80, probe, undefined, listed, 0, 0);
  assert.equal(report.ok, false);
  assert.equal(report.credentials, "wrong");
  assert.match(formatCheckReport(report).join("\n"), /credentials: {2}WRONG: bad credentials/);
  const skewed = checkReport(
    "http",
    80,
    {
      ...probe,
      ok: true,
      step: "challenge",
      cause: undefined,
      pageVerified: true,
      cardClock: { date: "01/01/2026", time: "00:05:00" },
    },
    undefined,
    listed,
    Date.UTC(2026, 0, 1),
    0,
  );
  assert.deepEqual(skewed.clockSkew, { seconds: 300, readAs: "UTC" });
  assert.match(formatCheckReport(skewed).join("\n"), /\+300 s .*more than a minute off/);
  const down = checkReport(
    "http",
    80,
    { ...probe, step: "connect", cause: "refused" as const },
    undefined,
    listed,
    0,
    0,
  );
  assert.equal(down.reachable, false);
  assert.equal(down.credentials, "unknown");
});

Deno.test("cli as a real process: exit 0 / 1 / 2, errors one line on stderr", async () => {
  const card = startCardInConfigRange();
  const good = await configDir(card.web.port);
  const bad = await configDir(card.web.port, { phrase: "a wrong phrase 123" });
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  };
  try {
    const [ok, wrong, usage, timeout] = await Promise.all([
      run("register", "-c", good.path),
      run("register", "-c", bad.path),
      run("register", "-c", good.path, "--only", "10.9.9.9"),
      run("check", "-c", good.path, "--timeout", "soon"),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(withoutDenoNotices(ok.stderr), "");
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout.split("\n")[0], wrong.stderr.replace(/^pcns-agent: register: /, "").trimEnd());
    assert.match(
      wrong.stderr,
      /^pcns-agent: register: NMC 127\.0\.0\.1: FAILED at verify \(credentials\): bad credentials: [^\n]*\n$/,
    );
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr,
      'pcns-agent: --only: "10.9.9.9" is not a configured NMC (configured: 127.0.0.1)\n',
    );
    assert.equal(timeout.code, 2);
    assert.match(timeout.stderr, /^pcns-agent: --timeout: "soon" is not a number of seconds[^\n]*\n$/);
  } finally {
    await good.remove();
    await bad.remove();
    await card.close();
  }
});
