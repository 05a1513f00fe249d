/**
 * `status` and `events [--follow]` against a real `run` child (web UI over TLS
 * on loopback, started with the compiled binary's permissions): found through
 * the config (ports, user, ui-cert.pem as CA) or --url; the password from a
 * file or PCNS_AGENT_PASSWORD; exit codes 0/1/2 and one-line errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EventLogRecord } from "../src/events/eventlog.ts";
import {
  agentBaseUrl,
  basicAuthorization,
  eventsQuery,
  formatEventLine,
  formatStatus,
  newRecords,
  parseAgentUrl,
  passwordFromFile,
} from "../src/cli/agent_commands.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import { localTime } from "../src/text/localtime.ts";
import {
  collectText,
  feedUntil,
  killQuietly,
  mainCommand,
  PASSWORD,
  runMain,
  waitForAgentPort,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";
import { freePort } from "./helpers/ports.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const rec = (time: string, id: string, message = id): EventLogRecord =>
  ({ time, id, severity: "info", message }) as EventLogRecord;

Deno.test("agent CLI (pure): base URL, --url, password file, Basic header, query, follow cursor, formatting", () => {
  assert.equal(
    agentBaseUrl({ uiProtocol: "https", httpsPort: 6547, uiListenAddress: "" }),
    "https://127.0.0.1:6547",
  );
  assert.equal(
    agentBaseUrl({ uiProtocol: "http", httpsPort: 8080, uiListenAddress: "::1" }),
    "http://[::1]:8080",
  );
  assert.equal(
    agentBaseUrl({ uiProtocol: "https", httpsPort: 6547, uiListenAddress: "10.0.0.2" }),
    "https://10.0.0.2:6547",
  );
  assert.equal(parseAgentUrl("https://ups-host:6547/"), "https://ups-host:6547");
  assert.throws(() => parseAgentUrl("ftp://x"), /--url: "ftp:\/\/x" must be http\(s\)/);
  assert.throws(() => parseAgentUrl("nope"), /is not a URL/);
  assert.equal(passwordFromFile("s3cret pass\nignored\n"), "s3cret pass");
  assert.equal(passwordFromFile("p\r\n"), "p");
  assert.equal(basicAuthorization("apc", "pässword"), `Basic ${btoa("apc:p\xc3\xa4ssword")}`);
  assert.equal(
    eventsQuery({ id: "PowerFailed", severity: "critical", since: "2025-01-02T03:04:05Z", limit: 5 })
      .toString(),
    "id=PowerFailed&severity=critical&from=2025-01-02T03%3A04%3A05.000Z&limit=5",
  );
  assert.throws(() => eventsQuery({ id: "Nope", limit: 1 }), /--id: "Nope" is not an event id/);
  assert.throws(() => eventsQuery({ severity: "loud", limit: 1 }), /--severity: "loud" must be info/);
  assert.throws(() => eventsQuery({ since: "yesterday", limit: 1 }), /--since: "yesterday" is not a date/);

  // Follow: a page is newest first and repeats the records at the cursor's time.
  const a = rec("2025-01-01T00:00:00.000Z", "MonitoringStarted");
  const b = rec("2025-01-01T00:00:01.000Z", "CommunicationEstablished");
  const c = rec("2025-01-01T00:00:01.000Z", "PowerFailed");
  const d = rec("2025-01-01T00:00:02.000Z", "PowerRestored");
  let step = newRecords([b, a], { keys: [] });
  assert.deepEqual(step.fresh, [a, b]);
  step = newRecords([c, b], step.cursor);
  assert.deepEqual(step.fresh, [c]);
  step = newRecords([c, b], step.cursor);
  assert.deepEqual(step.fresh, []);
  step = newRecords([d, c, b], step.cursor);
  assert.deepEqual(step.fresh, [d]);
  assert.equal(step.cursor.time, d.time);

  assert.equal(
    formatEventLine({ ...c, severity: "critical", nmc: "10.0.0.5", message: "UPS on battery" }),
    `${localTime(Date.parse(c.time))}  critical  PowerFailed  [10.0.0.5]  UPS on battery`,
  );
  const lines = formatStatus({
    time: "2025-01-01T00:01:00.000Z",
    udp: [{ hostname: "0.0.0.0", port: 3052 }],
    packets: { accepted: 3, rejected: { md5: 1, replay: 2 } },
    ups: [{
      card: "10.0.0.5",
      comm: "ok",
      flags: { onBattery: true },
      reading: { batteryPercent: 90, loadPercent: 20, runtimeMinutes: 40 },
      lastStatusAt: Date.parse("2025-01-01T00:00:50.000Z"),
    }],
    dryRun: false,
    shutdown: { phase: "idle", step: "", countdowns: [{ eventId: "PowerFailed", remainingMs: 95_000 }] },
  }, "https://127.0.0.1:6547");
  assert.deepEqual(lines, [
    "agent: https://127.0.0.1:6547",
    "UDP: 0.0.0.0:3052",
    "NMC 10.0.0.5: communication ok, ON BATTERY, battery 90%, load 20%, runtime 40 min, last status 10 s ago",
    "shutdown: PowerFailed pending, starts in 95 s",
    "packets: 3 accepted, 3 rejected",
  ]);
});

Deno.test("status and events against a running agent (TLS, Basic auth, config or --url, follow)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-agent-cli-" });
  const { path, ports } = await writeAgentConfig(dir, { password: PASSWORD });
  const passwordFile = join(dir, "password");
  await Deno.writeTextFile(passwordFile, PASSWORD + "\n", { mode: 0o600 });
  // The agent with exactly the permissions compiled into the binary, web UI on.
  const agent = mainCommand(["run", "--dry-run", "--config", path], {
    denoFlags: [...AGENT_UNSTABLE_FLAGS, ...AGENT_V8_FLAGS, ...AGENT_PERMISSIONS],
    stdout: "null",
  }).spawn();
  const agentLog = collectText(agent.stderr);
  let follower: Deno.ChildProcess | undefined;
  let stop = { code: -1, ms: 0 };
  try {
    await waitForAgentPort(agent, agentLog, ports.https);
    const su = await feedUntil(dir, ports.udp);
    const cli = ["--config", path, "--password-file", passwordFile];

    const status = await runMain(["status", ...cli]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`^agent: +https://127\\.0\\.0\\.1:${ports.https} \\(dry run`, "m"),
    );
    assert.match(status.stdout, /^NMC 127\.0\.0\.1: communication ok, on line, /m);

    const json = await runMain(["status", "--json", "--config", path], {
      env: { PCNS_AGENT_PASSWORD: PASSWORD },
    });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.ups[0].card, "127.0.0.1");
    assert.equal(parsed.dryRun, true);

    // --url and --ca instead of the config.
    const byUrl = await runMain([
      "status",
      "--json",
      "--url",
      `https://127.0.0.1:${ports.https}`,
      "--ca",
      join(dir, "ui-cert.pem"),
      "--user",
      "apc",
      "--password-file",
      passwordFile,
      "--config",
      join(dir, "missing.ini"),
    ]);
    assert.equal(byUrl.code, 0, byUrl.stderr);

    const events = await runMain(["events", "--json", "--id", "CommunicationEstablished", ...cli]);
    assert.equal(events.code, 0, events.stderr);
    const list = JSON.parse(events.stdout);
    assert.equal(list.length, 1);
    assert.equal(list[0].id, "CommunicationEstablished");
    // Text lines: local time with the UTC offset (here TZ=Europe/Berlin); --json keeps ISO UTC (above).
    assert.match(list[0].time, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const text = await runMain(["events", "--limit", "3", ...cli], { env: { TZ: "Europe/Berlin" } });
    assert.equal(text.code, 0, text.stderr);
    const textLines = text.stdout.trim().split("\n");
    assert.equal(textLines.length, 3);
    for (const line of textLines) {
      const m = line.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d:\d\d) {2}(info|warning|critical) /);
      assert.ok(m, line);
      const t = Date.parse(`${m[1]}T${m[2]}${m[3]}`);
      const berlin = new Intl.DateTimeFormat("en", { timeZone: "Europe/Berlin", timeZoneName: "longOffset" })
        .formatToParts(t).find((p) => p.type === "timeZoneName")?.value;
      assert.equal(`GMT${m[3]}`, berlin, line);
      assert.ok(Math.abs(Date.now() - t) < 10 * 60_000, `${line}: the time of an event of this run`);
    }
    // --follow: prints what is there, then each new event once; SIGTERM ends it with 0.
    follower = mainCommand(["events", "--follow", "--json", "--interval", "0.2", "--limit", "1", ...cli])
      .spawn();
    const followed = collectText(follower.stdout);
    const followErr = collectText(follower.stderr);
    await waitUntilAsync(() => Promise.resolve(followed.text().includes("\n")), "the first event", 10_000);
    await feedUntil(dir, ports.udp, "PowerFailed", { status: 0x10, firstSu: su });
    await waitUntilAsync(
      () => Promise.resolve(followed.text().includes('"PowerFailed"')),
      "PowerFailed in the follow output",
      10_000,
    );
    await new Promise((r) => setTimeout(r, 500)); // a few more polls: nothing may repeat
    follower.kill("SIGTERM");
    assert.equal((await follower.status).code, 0);
    await followed.done;
    await followErr.done;
    const records = followed.text().trim().split("\n").map((l) => JSON.parse(l));
    const keys = records.map((r) => `${r.time} ${r.id} ${r.message}`);
    assert.equal(new Set(keys).size, keys.length, `repeated: ${keys.join("\n")}`);
    assert.equal(records.filter((r) => r.id === "PowerFailed").length, 1);
    assert.equal(followErr.text(), "");

    // Failures: one line on stderr naming the problem.
    const wrongFile = join(dir, "wrong");
    await Deno.writeTextFile(wrongFile, "Not-The-Password-1!\n");
    const wrong = await runMain(["status", "--config", path, "--password-file", wrongFile]);
    assert.equal(wrong.code, 1);
    assert.equal(
      wrong.stderr,
      'pcns-agent: status: the agent refused user "apc" (HTTP 401: wrong user name or password)\n',
    );
    const closed = freePort();
    const down = await runMain(["status", "--url", `https://127.0.0.1:${closed}`, "--user", "apc"], {
      env: { PCNS_AGENT_PASSWORD: PASSWORD },
    });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`^pcns-agent: status: cannot reach the agent at https://127\\.0\\.0\\.1:${closed}: .+\\n$`),
    );
    const noPassword = await runMain(["status", "--config", path]);
    assert.equal(noPassword.code, 2);
    assert.equal(
      noPassword.stderr,
      "pcns-agent: status: no credentials: give --token-file <file> (or set PCNS_AGENT_TOKEN), " +
        "or --password-file <file> (or set PCNS_AGENT_PASSWORD)\n",
    );
    const badSeverity = await runMain(["events", "--severity", "loud", ...cli]);
    assert.equal(badSeverity.code, 2);
    assert.equal(
      badSeverity.stderr,
      'pcns-agent: events --severity: "loud" must be info, warning or critical\n',
    );
    const noConfig = await runMain([
      "events",
      "--config",
      join(dir, "missing.ini"),
      "--password-file",
      passwordFile,
    ]);
    assert.equal(noConfig.code, 1);
    assert.match(noConfig.stderr, /^pcns-agent: events: .*missing\.ini not found; give --config or --url\n$/);
    for (const command of ["status", "events"]) {
      const help = await runMain([command, "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--password-file <path>/);
      assert.match(help.stdout, /--json/);
    }
  } finally {
    if (follower) killQuietly(follower);
    const asked = Date.now();
    agent.kill("SIGTERM");
    stop = { code: (await agent.status).code, ms: Date.now() - asked };
    await agentLog.done;
    await Deno.remove(dir, { recursive: true });
  }
  // With the web UI listening too, SIGTERM ends the agent cleanly within 2 s.
  assert.equal(stop.code, 0);
  assert.ok(stop.ms < 2000, `stopped in ${stop.ms} ms`);
  assert.doesNotMatch(agentLog.text(), /NotCapable|Requires .* access/);
});
