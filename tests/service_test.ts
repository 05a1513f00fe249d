/**
 * Running as a service: the systemd unit and WinSW XML (pure, and as written
 * by `service install --root`, never touching the real system), sd_notify to
 * a test socket from a real `run` child, SIGTERM, and the log line formats.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { formatLogLine } from "../src/log/logger.ts";
import {
  type InstallOptions,
  parseSystemctlShow,
  parseWinswStatus,
  planInstall,
  planUninstall,
  runPlanned,
  underRoot,
} from "../src/service/install.ts";
import {
  notifyMessage,
  notifySocketAddress,
  SystemdNotifier,
  watchdogIntervalMs,
} from "../src/service/notify.ts";
import { isValidUnixUser, needsLowPorts, systemdUnit, unitWord } from "../src/service/systemd.ts";
import { winswXml, xmlEscape } from "../src/service/winsw.ts";
import {
  collectText,
  feedUntil,
  killQuietly,
  MAIN,
  mainCommand,
  runMain,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";

const DENO = Deno.execPath();

// ---- pure parts ----

Deno.test("systemd unit: Type=notify, restart, hardening, capabilities, watchdog only when set", () => {
  const unit = systemdUnit({
    execStart: ["/usr/local/bin/pcns-agent", "run", "--config", "/etc/pcns-agent/pcnsconfig.ini"],
    dataDir: "/etc/pcns-agent",
    watchdogSec: 30,
    lowPorts: false,
  });
  for (
    const line of [
      "Type=notify",
      "ExecStart=/usr/local/bin/pcns-agent run --config /etc/pcns-agent/pcnsconfig.ini",
      "Restart=on-failure",
      "WatchdogSec=30",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/etc/pcns-agent",
      "PrivateTmp=yes",
      "CapabilityBoundingSet=CAP_SYS_BOOT",
      "AmbientCapabilities=CAP_SYS_BOOT",
      "WantedBy=multi-user.target",
    ]
  ) assert.ok(unit.split("\n").includes(line), `missing: ${line}\n${unit}`);
  assert.doesNotMatch(unit, /User=|NET_BIND/);

  const low = systemdUnit({
    execStart: ["/opt/pcns agent/bin", "run"],
    dataDir: "/srv/ups 50%",
    user: "pcns",
    watchdogSec: 0,
    lowPorts: true,
  });
  assert.match(low, /^ExecStart="\/opt\/pcns agent\/bin" run$/m);
  assert.match(low, /^ReadWritePaths="\/srv\/ups 50%%"$/m);
  assert.match(low, /^User=pcns$/m);
  assert.match(low, /^CapabilityBoundingSet=CAP_SYS_BOOT CAP_NET_BIND_SERVICE$/m);
  assert.doesNotMatch(low, /WatchdogSec/);
  assert.throws(() =>
    systemdUnit({ execStart: ["pcns-agent"], dataDir: "/x", watchdogSec: 0, lowPorts: false })
  );
});

Deno.test("systemd words: quoting, % and $ escaped; ports below 1024; user names", () => {
  assert.equal(unitWord("/a/b.ini"), "/a/b.ini");
  assert.equal(unitWord('a "b"\\c'), '"a \\"b\\"\\\\c"');
  assert.equal(unitWord("50%"), "50%%");
  assert.equal(unitWord("$HOME/x", true), '"$$HOME/x"');
  assert.equal(needsLowPorts([3052, 6547, 3052]), false);
  assert.equal(needsLowPorts([3052, 443]), true);
  assert.equal(needsLowPorts([0, 80]), true);
  assert.ok(isValidUnixUser("pcns-agent"));
  assert.ok(!isValidUnixUser("bad user"));
  assert.ok(!isValidUnixUser("x;rm"));
});

Deno.test("WinSW XML: executable, one <argument> each (escaped), restart on failure, rolled logs", () => {
  const xml = winswXml({
    executable: "C:\\Program Files\\pcns-agent\\pcns-agent.exe",
    arguments: ["run", "--config", "C:\\ProgramData\\R&D <ups>\\pcnsconfig.ini"],
    logDir: "C:\\ProgramData\\pcns-agent\\logs",
  });
  assert.match(xml, /<id>pcns-agent<\/id>/);
  assert.match(xml, /<executable>C:\\Program Files\\pcns-agent\\pcns-agent\.exe<\/executable>/);
  assert.match(xml, /<argument>run<\/argument>\r\n {2}<argument>--config<\/argument>/);
  assert.match(xml, /<argument>C:\\ProgramData\\R&amp;D &lt;ups&gt;\\pcnsconfig\.ini<\/argument>/);
  assert.match(xml, /<onfailure action="restart" delay="10 sec"\/>/);
  assert.match(xml, /<log mode="roll-by-size">/);
  assert.match(xml, /<stoptimeout>15 sec<\/stoptimeout>/);
  assert.equal(xmlEscape(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
});

Deno.test("install plans: files below --root, no commands with a root, WinSW beside the binary", async () => {
  assert.equal(underRoot("/tmp/r", "/etc/systemd/system/x"), "/tmp/r/etc/systemd/system/x");
  assert.equal(underRoot("/tmp/r", "C:\\Program Files\\a.xml"), "/tmp/r/C/Program Files/a.xml");
  assert.equal(underRoot(undefined, "/etc/x"), "/etc/x");

  const linuxOptions: InstallOptions = {
    os: "linux",
    unitDir: "/etc/systemd/system",
    command: ["/usr/local/bin/pcns-agent"],
    configPath: "/etc/pcns-agent/pcnsconfig.ini",
    watchdogSec: 60,
    lowPorts: false,
    start: true,
  };
  const linux = planInstall(linuxOptions);
  assert.equal(linux.file.path, "/etc/systemd/system/pcns-agent.service");
  assert.deepEqual(linux.commands.map((c) => c.argv), [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "pcns-agent.service"],
  ]);
  assert.deepEqual(linux.dirs, [{ path: "/etc/pcns-agent", mode: 0o700 }]);

  const rooted = planInstall({
    os: "linux",
    unitDir: "/etc/systemd/system",
    root: "/tmp/img",
    command: ["/usr/local/bin/pcns-agent"],
    configPath: "/etc/pcns-agent/pcnsconfig.ini",
    watchdogSec: 0,
    lowPorts: false,
    start: false,
  });
  assert.equal(rooted.file.path, "/tmp/img/etc/systemd/system/pcns-agent.service");
  assert.deepEqual(rooted.commands, []);
  assert.equal(rooted.skipped.length, 2);

  const windowsOptions: InstallOptions = {
    os: "windows",
    unitDir: "C:\\Program Files\\pcns-agent",
    command: ["C:\\Program Files\\pcns-agent\\pcns-agent.exe"],
    configPath: "C:\\ProgramData\\pcns-agent\\pcnsconfig.ini",
    watchdogSec: 60,
    lowPorts: false,
    start: false,
  };
  const windows = planInstall(windowsOptions);
  assert.equal(windows.file.path, "C:\\Program Files\\pcns-agent\\pcns-agent-service.xml");
  assert.equal(windows.requires, "C:\\Program Files\\pcns-agent\\pcns-agent-service.exe");
  assert.deepEqual(windows.commands.map((c) => c.argv), [[
    "C:\\Program Files\\pcns-agent\\pcns-agent-service.exe",
    "install",
  ]]);
  assert.match(windows.file.text, /<logpath>C:\\ProgramData\\pcns-agent\\logs<\/logpath>/);
  assert.throws(
    () => planInstall({ ...windowsOptions, user: "bob" }),
    /not supported on Windows/,
  );
  assert.throws(() => planInstall({ ...linuxOptions, configPath: "pcnsconfig.ini" }), /must be absolute/);

  const un = planUninstall({ os: "linux", unitDir: "/etc/systemd/system" });
  assert.deepEqual(un.before.map((c) => c.argv), [["systemctl", "disable", "--now", "pcns-agent.service"]]);
  assert.deepEqual(un.after.map((c) => c.argv), [["systemctl", "daemon-reload"]]);

  // The command runner is injected: a failing command is named, a tolerated one is not.
  const ran: string[] = [];
  await runPlanned(un.before, (argv) => {
    ran.push(argv.join(" "));
    return Promise.resolve({ code: 5, stdout: "", stderr: "Unit not loaded." });
  });
  await assert.rejects(
    runPlanned(un.after, () => Promise.resolve({ code: 1, stdout: "", stderr: "Access denied\nmore" })),
    /^Error: systemctl daemon-reload failed: Access denied$/,
  );
  assert.deepEqual(ran, ["systemctl disable --now pcns-agent.service"]);
  assert.deepEqual(parseSystemctlShow("LoadState=loaded\nActiveState=active\nMainPID=42\n"), {
    LoadState: "loaded",
    ActiveState: "active",
    MainPID: "42",
  });
  assert.equal(parseWinswStatus("Active (running)"), "running");
  assert.equal(parseWinswStatus("Inactive (stopped)"), "stopped");
  assert.equal(parseWinswStatus("NonExistent"), "not-installed");
});

Deno.test("sd_notify formatting: messages, socket addresses, watchdog interval", () => {
  assert.equal(notifyMessage({ READY: 1, STATUS: "listening\non UDP" }), "READY=1\nSTATUS=listening on UDP");
  assert.equal(
    notifySocketAddress("@/org/freedesktop/systemd1/notify"),
    "\0/org/freedesktop/systemd1/notify",
  );
  assert.equal(notifySocketAddress("/run/systemd/notify"), "/run/systemd/notify");
  assert.equal(notifySocketAddress(undefined), undefined);
  assert.equal(notifySocketAddress("vsock:2:1234"), undefined);
  assert.equal(watchdogIntervalMs("30000000", undefined, 7), 15_000);
  assert.equal(watchdogIntervalMs("30000000", "7", 7), 15_000);
  assert.equal(watchdogIntervalMs("30000000", "8", 7), undefined);
  assert.equal(watchdogIntervalMs("0", undefined, 7), undefined);
  assert.equal(watchdogIntervalMs("abc", undefined, 7), undefined);
  assert.equal(watchdogIntervalMs(undefined, undefined, 7), undefined);
});

Deno.test("sd_notify: no-op without NOTIFY_SOCKET; abstract socket; one error report for a dead socket", async () => {
  const off = new SystemdNotifier({});
  assert.equal(off.enabled, false);
  assert.equal(await off.ready("x"), false);
  off.close();

  const name = `pcns-test-${crypto.randomUUID()}`;
  const receiver = Deno.listenDatagram({ transport: "unixpacket", path: `\0${name}` });
  const notifier = new SystemdNotifier({ socket: `@${name}`, watchdogMs: 20 });
  try {
    assert.equal(await notifier.ready("up"), true);
    const got: string[] = [];
    while (got.length < 3) got.push(new TextDecoder().decode((await receiver.receive())[0]));
    assert.equal(got[0], "READY=1\nSTATUS=up");
    assert.deepEqual(got.slice(1), ["WATCHDOG=1", "WATCHDOG=1"]);
  } finally {
    notifier.close();
    receiver.close();
  }

  const errors: string[] = [];
  const dead = new SystemdNotifier({ socket: "/nonexistent/notify.sock", onError: (m) => errors.push(m) });
  assert.equal(await dead.notify({ STATUS: "a" }), false);
  assert.equal(await dead.notify({ STATUS: "b" }), false);
  dead.close();
  assert.equal(errors.length, 1);
  assert.match(errors[0], /sd_notify to \/nonexistent\/notify\.sock failed/);
});

Deno.test("log lines: text with a <priority> prefix, one line per record; JSON objects", () => {
  const time = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
  assert.equal(
    formatLogLine({ time, level: "warn", message: "PowerFailed: UPS on battery" }, "text"),
    "<4>WARN PowerFailed: UPS on battery",
  );
  assert.equal(formatLogLine({ time, level: "info", message: "a\nb\r\nc" }, "text"), "<6>INFO a\\nb\\nc");
  assert.equal(formatLogLine({ time, level: "error", message: "x" }, "text"), "<3>ERROR x");
  assert.deepEqual(JSON.parse(formatLogLine({ time, level: "debug", message: "m\nn" }, "json")), {
    time: "2025-01-02T03:04:05.006Z",
    level: "debug",
    message: "m\nn",
  });
});

// ---- the real command line ----

async function systemdAnalyze(): Promise<boolean> {
  try {
    return (await new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}
const HAVE_SYSTEMD_ANALYZE = await systemdAnalyze();
if (!HAVE_SYSTEMD_ANALYZE) {
  console.warn("service_test: systemd-analyze not found (package systemd): the unit verification is skipped");
}

Deno.test({
  name:
    "systemd-analyze verify accepts the unit `service install --print` writes (with and without a low port)",
  ignore: !HAVE_SYSTEMD_ANALYZE,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-unit-" });
    try {
      const { path } = await writeAgentConfig(dir);
      for (const extra of [[], ["--watchdog", "0"]]) {
        const r = await runMain(["service", "install", "--print", "--config", path, ...extra]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^Type=notify$/m);
        const execStart = r.stdout.split("\n").find((l) => l.startsWith("ExecStart="));
        assert.ok(execStart?.includes(`${unitWord(DENO, true)} run `), execStart);
        assert.ok(execStart?.includes(`${unitWord(MAIN, true)} run --config `), execStart);
        const unit = join(dir, "pcns-agent.service");
        await Deno.writeTextFile(unit, r.stdout);
        const v = await new Deno.Command("systemd-analyze", {
          args: ["verify", unit],
          stdout: "piped",
          stderr: "piped",
        })
          .output();
        const said = new TextDecoder().decode(v.stderr) + new TextDecoder().decode(v.stdout);
        assert.equal(v.code, 0, said);
        assert.equal(said.trim(), "", `systemd-analyze verify complained:\n${said}`);
      }
      // Port 443 in the config: CAP_NET_BIND_SERVICE is kept.
      await Deno.writeTextFile(
        path,
        (await Deno.readTextFile(path)).replace(/httpsPort = \d+/, "httpsPort = 443"),
      );
      const low = await runMain(["service", "install", "--print", "--config", path]);
      assert.match(low.stdout, /^AmbientCapabilities=CAP_SYS_BOOT CAP_NET_BIND_SERVICE$/m);
      const unit = join(dir, "pcns-agent.service");
      await Deno.writeTextFile(unit, low.stdout);
      const v = await new Deno.Command("systemd-analyze", { args: ["verify", unit], stderr: "piped" })
        .output();
      assert.equal(v.code, 0);
      assert.equal(new TextDecoder().decode(v.stderr).trim(), "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("service install/status/uninstall --root: files in a temp dir, systemctl never called", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-service-root-" });
  try {
    // A fake systemctl first in PATH records any call: there must be none.
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    const marker = join(dir, "systemctl-called");
    await Deno.writeTextFile(join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> '${marker}'\nexit 1\n`, {
      mode: 0o755,
    });
    const env = { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
    const root = join(dir, "root");
    const config = "/etc/pcns-agent-test/pcnsconfig.ini";
    const install = await runMain(
      [
        "service",
        "install",
        "--root",
        root,
        "--config",
        config,
        "--binary",
        "/usr/local/bin/pcns-agent",
        "--json",
      ],
      { env },
    );
    assert.equal(install.code, 0, install.stderr);
    const summary = JSON.parse(install.stdout);
    const unitPath = join(root, "etc/systemd/system/pcns-agent.service");
    assert.equal(summary.file, unitPath);
    assert.deepEqual(summary.ran, []);
    assert.deepEqual(summary.skipped, [["systemctl", "daemon-reload"], [
      "systemctl",
      "enable",
      "pcns-agent.service",
    ]]);
    const unit = await Deno.readTextFile(unitPath);
    assert.match(
      unit,
      /^ExecStart=\/usr\/local\/bin\/pcns-agent run --config \/etc\/pcns-agent-test\/pcnsconfig\.ini$/m,
    );
    assert.match(unit, /^ReadWritePaths=\/etc\/pcns-agent-test$/m);
    assert.equal((await Deno.stat(join(root, "etc/pcns-agent-test"))).mode! & 0o777, 0o700);

    const status = await runMain(["service", "status", "--root", root, "--json"], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).installed, true);

    const text = await runMain(["service", "uninstall", "--root", root], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /removed .*pcns-agent\.service/);
    assert.match(text.stdout, /not run \(--root\): systemctl disable --now pcns-agent\.service/);
    await assert.rejects(Deno.stat(unitPath), Deno.errors.NotFound);

    const gone = await runMain(["service", "status", "--root", root], { env });
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr.trim(), "pcns-agent: service status: the service is not installed");

    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound, "systemctl was called");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service install --os windows --root writes the WinSW XML beside the binary; usage errors exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-service-win-" });
  try {
    const r = await runMain([
      "service",
      "install",
      "--os",
      "windows",
      "--root",
      dir,
      "--binary",
      "C:\\Program Files\\pcns-agent\\pcns-agent.exe",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const xml = await Deno.readTextFile(join(dir, "C/Program Files/pcns-agent/pcns-agent-service.xml"));
    assert.match(xml, /<executable>C:\\Program Files\\pcns-agent\\pcns-agent\.exe<\/executable>/);
    assert.match(xml, /<argument>C:\\ProgramData\\pcns-agent\\pcnsconfig\.ini<\/argument>/);
    assert.match(
      r.stdout,
      /not run \(--root\): C:\\Program Files\\pcns-agent\\pcns-agent-service\.exe install/,
    );

    const printed = await runMain([
      "service",
      "install",
      "--os",
      "windows",
      "--print",
      "--binary",
      "C:\\a\\b.exe",
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^<service>/m);

    const usage = [
      [["service", "install", "--os", "windows", "--print"], /--os windows: give --binary/],
      [["service", "install", "--os", "beos", "--print"], /--os: "beos" must be linux or windows/],
      [["service", "install", "--os", "windows", "--binary", "C:\\a.exe"], /differs from this machine/],
      [["service", "install", "--print", "--watchdog", "soon"], /--watchdog: "soon" is not a whole number/],
      [
        ["service", "install", "--print", "--user", "bad user"],
        /--user: "bad user" is not a valid user name/,
      ],
      [["service", "install", "--bogus"], /unknown option '--bogus'/],
    ] as const;
    for (const [args, message] of usage) {
      const u = await runMain(args);
      assert.equal(u.code, 2, `${args.join(" ")}: ${u.stderr}`);
      assert.match(u.stderr, message);
    }
    const help = await runMain(["service", "install", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--root <dir>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run under a notify socket: READY=1 once UDP listens, WATCHDOG=1, RELOADING=1, STOPPING=1, clean SIGTERM in 2 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-notify-" });
  const socketPath = join(dir, "notify.sock");
  const receiver = Deno.listenDatagram({ transport: "unixpacket", path: socketPath });
  const { path, ports } = await writeAgentConfig(dir);
  const child = mainCommand(["run", "--dry-run", "--no-web", "--config", path, "--log-format", "json"], {
    env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "400000" },
    stdout: "null",
  }).spawn();
  const stderr = collectText(child.stderr);
  const messages: string[] = [];
  const receiving = (async () => {
    try {
      while (true) messages.push(new TextDecoder().decode((await receiver.receive())[0]));
    } catch {
      // closed
    }
  })();
  const waitFor = async (what: string, test: (m: string) => boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!messages.some(test)) {
      if (Date.now() > deadline) {
        throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(messages)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await waitFor("READY=1", (m) => m.startsWith("READY=1\n"));
    const ready = messages.find((m) => m.startsWith("READY=1\n"))!;
    assert.match(
      ready,
      new RegExp(`^READY=1\\nSTATUS=monitoring 1 NMC\\(s\\) on UDP 127\\.0\\.0\\.1:${ports.udp}$`),
    );
    // READY=1 came after the UDP listener was open: the first packet is heard at once.
    await feedUntil(dir, ports.udp, "CommunicationEstablished", { timeoutMs: 3000 });
    await waitFor("WATCHDOG=1", (m) => m === "WATCHDOG=1", 3000);
    // A configuration edit is applied without a restart: RELOADING=1, then READY=1 again.
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(
      path,
      text.replace("[NetworkManagementCard]", "[NetworkManagementCard]\ncommLostTimeout = 60"),
    );
    await waitFor(
      "READY=1 after the reload",
      (m) => /^READY=1\nSTATUS=.*configuration reloaded \(1 key/.test(m),
      5000,
    );
    assert.ok(messages.some((m) => m.startsWith("RELOADING=1\n")));

    const asked = Date.now();
    child.kill("SIGTERM");
    const status = await child.status;
    const took = Date.now() - asked;
    assert.equal(status.code, 0);
    assert.ok(took < 2000, `stopped in ${took} ms`);
    await waitFor("STOPPING=1", (m) => m.startsWith("STOPPING=1"), 1000);
    const ids = (await readEventLog(join(dir, "EventLog.jsonl"))).map((r) => r.id);
    assert.equal(ids.at(-1), "MonitoringStopped"); // the event log was flushed before the exit

    // The log: one JSON object per line, each event on its own line.
    await stderr.done;
    const lines = stderr.text().trim().split("\n");
    const records = lines.map((line) => JSON.parse(line));
    for (const r of records) assert.deepEqual(Object.keys(r), ["time", "level", "message"]);
    assert.ok(records.some((r) => r.message.startsWith("CommunicationEstablished: ")));
    assert.ok(records.some((r) => r.message === "SIGTERM received: stopping"));
  } finally {
    killQuietly(child);
    await stderr.done.catch(() => {});
    receiver.close();
    await receiving;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run without NOTIFY_SOCKET: text log lines with <priority> prefixes, SIGINT stops it cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-textlog-" });
  const { path, ports } = await writeAgentConfig(dir);
  const child = mainCommand(["run", "--dry-run", "--no-web", "--config", path], { stdout: "null" }).spawn();
  const stderr = collectText(child.stderr);
  try {
    await feedUntil(dir, ports.udp);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0);
    await stderr.done;
    const lines = stderr.text().trim().split("\n");
    for (const line of lines) assert.match(line, /^<[3-7]>(DEBUG|INFO|WARN|ERROR) \S/);
    assert.ok(lines.some((l) => /^<6>INFO CommunicationEstablished: /.test(l)), lines.join("\n"));
    assert.ok(lines.includes("<6>INFO SIGINT received: stopping"));
  } finally {
    killQuietly(child);
    await stderr.done.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
