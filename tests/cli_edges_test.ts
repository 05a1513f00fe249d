/**
 * CLI rough edges (issue 15 item 9), the parts a user sees without a running
 * agent: exit code without a command, "did you mean" for event ids, --since
 * forms, aligned columns, help texts, usable web UI URLs, the shared
 * command-file checks of `config set`, nmc-sim's bind error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Command } from "commander";
import { buildProgram } from "../main.ts";
import {
  alignStatusLines,
  eventsQuery,
  FOLLOW_MIN_WIDTHS,
  formatEventLine,
  formatEventLines,
} from "../src/cli/agent_commands.ts";
import { formatTokenLines } from "../src/cli/token_commands.ts";
import { parseTimeArgument } from "../src/cli/since.ts";
import { closestMatches } from "../src/text/suggest.ts";
import { localTime } from "../src/text/localtime.ts";
import { protocolMismatchMessage, untrustedCertificateMessage } from "../src/cli/tls_trust.ts";
import type { EventLogRecord } from "../src/events/eventlog.ts";
import { usableUrls } from "../src/web/ui_url.ts";
import { runMain, writeAgentConfig } from "./fixtures/service/agent.ts";

const rec = (id: string, nmc?: string): EventLogRecord =>
  ({ time: "2026-01-01T00:00:00.000Z", id, severity: "info", message: `msg ${id}`, nmc }) as EventLogRecord;

Deno.test("no command: help on stderr and exit 2; a group without its subcommand too; help itself exits 0", async () => {
  const none = await runMain([]);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /^Usage: pcns-agent /);
  const group = await runMain(["config"]);
  assert.equal(group.code, 2);
  assert.match(group.stderr, /Usage: pcns-agent config/);
  assert.equal((await runMain(["--help"])).code, 0);
  assert.equal((await runMain(["help", "status"])).code, 0);
});

Deno.test("events --id: a near miss names the closest event ids; exit 2 before asking for credentials", async () => {
  assert.deepEqual(closestMatches("PowerFaild", ["PowerFailed", "PowerRestored", "LowBattery"]), [
    "PowerFailed",
  ]);
  assert.equal(closestMatches("powerfailed", ["PowerFailed", "PowerRestored"])[0], "PowerFailed");
  assert.deepEqual(closestMatches("xyzzy", ["PowerFailed", "LowBattery"]), []);
  assert.throws(
    () => eventsQuery({ id: "LowBatery", limit: 1 }),
    /"LowBatery" is not an event id \(did you mean LowBattery/,
  );
  assert.throws(
    () => eventsQuery({ severity: "warn", limit: 1 }),
    /"warn" must be info, warning or critical \(did you mean warning\?\)/,
  );
  const r = await runMain(["events", "--id", "PowerFaild", "--config", "/nonexistent/pcnsconfig.ini"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^pcns-agent: events --id: "PowerFaild" is not an event id \(did you mean PowerFailed/,
  );
  const nothingClose = await runMain(["events", "--id", "Zzzz", "--config", "/nonexistent/pcnsconfig.ini"]);
  assert.equal(nothingClose.code, 2);
  assert.match(nothingClose.stderr, /"Zzzz" is not an event id \(e\.g\. PowerFailed, LowBattery\)/);
});

Deno.test("--since: durations, dates, local date-times and ISO; anything else names the accepted forms", async () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  const from = (since: string) => eventsQuery({ since, limit: 1 }, now).get("from");
  assert.equal(from("2h"), "2026-06-01T10:00:00.000Z");
  assert.equal(from("90s"), "2026-06-01T11:58:30.000Z");
  assert.equal(from("15m"), "2026-06-01T11:45:00.000Z");
  assert.equal(from("3d"), "2026-05-29T12:00:00.000Z");
  assert.equal(from("1h30m"), "2026-06-01T10:30:00.000Z");
  assert.equal(from("2026-12-01"), new Date(2026, 11, 1).toISOString(), "a date is local midnight");
  assert.equal(from("2026-12-01 08:00"), new Date(2026, 11, 1, 8, 0).toISOString());
  assert.equal(from("2026-12-01T08:00:30"), new Date(2026, 11, 1, 8, 0, 30).toISOString());
  assert.equal(from("2026-12-01T08:00:00Z"), "2026-12-01T08:00:00.000Z");
  assert.equal(from("2026-12-01T08:00:00+01:00"), "2026-12-01T07:00:00.000Z");
  for (const bad of ["yesterday", "2026-02-30", "2026-13-01", "2026-12-01T24:00Z", "-2h", "2 h", ""]) {
    assert.throws(
      () => parseTimeArgument(bad, now),
      /is not a date or time: give a duration back from now/,
      bad,
    );
  }
  const r = await runMain(["events", "--since", "yesterday", "--config", "/nonexistent/pcnsconfig.ini"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^pcns-agent: events --since: "yesterday" is not a date or time: give a duration .*90s, 15m, 2h, 3d.*2026-12-01.*2026-12-01 08:00.*2026-12-01T08:00:00Z/,
  );
});

Deno.test("text columns line up: events, follow lines, token list, status and counters labels", () => {
  const lines = formatEventLines([
    rec("PowerFailed", "10.0.0.5"),
    rec("CommunicationEstablished"),
    rec("LowBattery", "10.0.0.15"),
  ]);
  const at = lines.map((l) => l.indexOf("msg "));
  assert.equal(new Set(at).size, 1, lines.join("\n"));
  assert.equal(new Set(lines.map((l) => l.indexOf("info") + 4)).size, 1);
  assert.ok(lines.every((l) => l === l.trimEnd()));
  // A single line (as before) keeps its compact form.
  assert.equal(
    formatEventLine(rec("PowerFailed")),
    `${localTime(Date.parse("2026-01-01T00:00:00.000Z"))}  info      PowerFailed  msg PowerFailed`,
  );
  // --follow prints one line at a time: the widths are fixed so that later lines still line up.
  const followed = [rec("PowerFailed", "10.0.0.5"), rec("CommunicationEstablished", "192.168.100.200")]
    .map((r) => formatEventLine(r, FOLLOW_MIN_WIDTHS));
  assert.equal(new Set(followed.map((l) => l.indexOf("msg "))).size, 1, followed.join("\n"));

  const tokens = formatTokenLines([
    {
      id: "abcd1234",
      name: "a-very-long-monitoring-token-name",
      readOnly: true,
      sha256: "",
      created: "2026-01-01",
    },
    { id: "efgh5678", name: "m", readOnly: false, sha256: "", created: "2026-01-02" },
  ]);
  assert.equal(tokens[0].indexOf("abcd1234"), tokens[1].indexOf("efgh5678"), tokens.join("\n"));
  assert.equal(tokens[0].indexOf("2026-01-01"), tokens[1].indexOf("2026-01-02"), tokens.join("\n"));

  const status = alignStatusLines([
    "agent: https://x",
    "NMC 10.0.0.5: communication ok",
    "packets: 1 accepted",
  ]);
  assert.deepEqual(status, [
    "agent:        https://x",
    "NMC 10.0.0.5: communication ok",
    "packets:      1 accepted",
  ]);
});

Deno.test("web UI start-up URL: never https://:6547/ (host name and loopback when on every address)", () => {
  assert.deepEqual(usableUrls("https", "", 6547, "ups-host"), [
    "https://ups-host:6547/",
    "https://127.0.0.1:6547/",
  ]);
  assert.deepEqual(usableUrls("https", "0.0.0.0", 6547, undefined), ["https://127.0.0.1:6547/"]);
  assert.deepEqual(usableUrls("https", "::", 6547, undefined), ["https://[::1]:6547/"]);
  assert.deepEqual(usableUrls("http", "10.0.0.2", 3052, "h"), ["http://10.0.0.2:3052/"]);
  assert.deepEqual(usableUrls("https", "fe80::1", 6547, "h"), ["https://[fe80::1]:6547/"]);
});

Deno.test("untrusted agent certificate: a human message with the fingerprint and --ca, not the TLS library's", () => {
  const m = untrustedCertificateMessage(
    "status",
    "https://127.0.0.1:6547",
    "invalid peer certificate: UnknownIssuer",
    "AB:CD",
    false,
  );
  assert.match(
    m,
    /^status: the certificate of https:\/\/127\.0\.0\.1:6547 is not trusted \(it is self-signed/,
  );
  assert.match(m, /SHA-256 AB:CD/);
  assert.match(m, /--ca <file>/);
  assert.doesNotMatch(m, /UnknownIssuer|peer certificate/);
  const wrongCa = untrustedCertificateMessage(
    "status",
    "https://h:1",
    "invalid peer certificate: BadSignature",
    undefined,
    true,
  );
  assert.match(wrongCa, /the --ca file is not the certificate the agent presents/);
  // The wrong scheme for the port: said in words too.
  assert.match(
    protocolMismatchMessage(
      "status",
      "http://h:6547",
      "client error (SendRequest): invalid HTTP version parsed",
    ) ?? "",
    /speaks HTTPS, not plain HTTP: use https:\/\/h:6547/,
  );
  assert.match(
    protocolMismatchMessage(
      "status",
      "https://h:80",
      "received corrupt message of type InvalidContentType",
    ) ?? "",
    /does not speak TLS \(is it the HTTP redirect port/,
  );
  assert.equal(protocolMismatchMessage("status", "https://h:1", "Connection refused"), undefined);
});

/** Every leaf command of the program, with its full name. */
function leafCommands(command: Command, prefix = ""): [string, Command][] {
  const name = prefix ? `${prefix} ${command.name()}` : "";
  const subs = command.commands.filter((c) => c.name() !== "help");
  if (subs.length === 0) return [[name, command]];
  return subs.flatMap((c) => leafCommands(c, name || "pcns-agent"));
}

Deno.test("help texts: every --config names PCNS_AGENT_CONFIG; every command that asks the agent has --url and --password-file", async () => {
  const leaves = leafCommands(await buildProgram());
  assert.ok(leaves.length > 15, leaves.map(([n]) => n).join(", "));
  for (const [name, command] of leaves) {
    const help = command.helpInformation() + (command as unknown as { _helpText?: string })._helpText;
    const options = command.options.map((o) => o.long);
    if (options.includes("--config")) assert.match(help, /PCNS_AGENT_CONFIG/, `${name} --help`);
    if (options.includes("--password-file") || options.includes("--token-file")) {
      for (const flag of ["--url", "--password-file", "--token-file", "--ca"]) {
        assert.ok(options.includes(flag), `${name} lacks ${flag}`);
      }
    }
  }
  const run = await runMain(["run", "--help"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /PCNS_AGENT_CONFIG/);
  assert.doesNotMatch(run.stdout, /\(default: "\//, "the default is explained, not a frozen path");
  const check = await runMain(["check", "--help"]);
  assert.equal(check.code, 0);
  for (
    const flag of ["--url <url>", "--password-file <path>", "--token-file <path>", "PCNS_AGENT_PASSWORD"]
  ) {
    assert.ok(check.stdout.includes(flag), `check --help lacks ${flag}:\n${check.stdout}`);
  }
});

Deno.test("config set refuses a missing command file, as config check would; a pre-existing one does not block", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cli-edges-set-" });
  try {
    const { path } = await writeAgentConfig(dir);
    const missing = join(dir, "nowhere", "shutdown.sh");
    const before = await Deno.readTextFile(path);
    const set = await runMain(["config", "set", `Shutdown.shutdownCommandFile=${missing}`, "-c", path]);
    assert.equal(set.code, 1, set.stdout + set.stderr);
    assert.match(
      set.stderr,
      new RegExp(`Shutdown\\.shutdownCommandFile = ${missing.replaceAll(".", "\\.")}: `),
    );
    assert.ok(!(await Deno.readTextFile(path)).includes(missing), "nothing written");
    assert.equal((await runMain(["config", "check", "-c", path])).code, 0, "the file stays valid");

    const enable = await runMain([
      "config",
      "set",
      "Events.event_PowerFailed_enableCommandFile=true",
      `Events.event_PowerFailed_commandFilePath=${missing}`,
      "-c",
      path,
    ]);
    assert.equal(enable.code, 1);
    assert.match(enable.stderr, /Events\.event_PowerFailed_commandFilePath = .*shutdown\.sh/);

    // A file that already has the problem (edited by hand): other changes still go through, with a warning.
    await Deno.writeTextFile(path, `${before}[Shutdown]\nshutdownCommandFile = ${missing}\n`);
    assert.equal((await runMain(["config", "check", "-c", path])).code, 1);
    const other = await runMain(["config", "set", "Networking.udpPort=40123", "-c", path]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, /warning: .*shutdownCommandFile = .*already so before/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nmc-sim: a web port in use names the address and the port", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const r = await runMain([
      "nmc-sim",
      "--target",
      "127.0.0.1:9",
      "--count",
      "1",
      "--web-port",
      String(port),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`--web-port: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`),
    );
    const cert = await runMain([
      "nmc-sim",
      "--target",
      "127.0.0.1:9",
      "--web-port",
      "0",
      "--cert",
      "/nonexistent/c.pem",
      "--key",
      "/nonexistent/k.pem",
    ]);
    assert.equal(cert.code, 1);
    assert.match(cert.stderr, /--cert: cannot read \/nonexistent\/c\.pem/);
  } finally {
    taken.close();
  }
});
