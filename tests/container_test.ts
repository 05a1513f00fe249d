/**
 * The agent under a real systemd (issue 12, "Prove it under a real
 * systemd"): this machine's /usr booted as a container (tests/helpers/
 * nspawn.ts), the agent installed inside with `service install --now`, and
 * NO dry run: its real `systemctl poweroff` ends only the container.
 *
 * Checked: the unit becomes active (Type=notify, READY=1 and STATUS=), a
 * stopped agent is restarted by the watchdog, a journald that stops reading
 * (SIGSTOP) while thousands of events are logged does not stall the agent
 * (no watchdog restart), a low-battery packet from the
 * host powers the container off (OsShutdown in the event log, critical lines
 * at journald priority 2), and after booting again with power back nothing
 * is re-run. The data directory, the unit directory and the journal are
 * bound from the host, so the test reads them after the container is gone.
 *
 * Skipped (with a message) only where a container cannot run: not root, no
 * systemd-nspawn, or a probe fails; with CI set it fails instead.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EventLogRecord, readEventLogHistory } from "../src/events/eventlog.ts";
import { type Bind, Container, nspawnUnavailable } from "./helpers/nspawn.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";

const CHECKOUT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const INSTALL =
  "cd /opt/pcns-agent && /opt/deno/deno run -A main.ts service install --config /etc/pcns-agent/pcnsconfig.ini --now --watchdog 4";
const STATUS_ONLINE = 0x08;
const STATUS_ON_BATTERY = 0x10;
const STATUS_ON_BATTERY_LOW = 0x10 | 0x40;

const unavailable = await nspawnUnavailable();
const ciValue = Deno.env.get("CI");
const inCi = ciValue !== undefined && !["", "0", "false"].includes(ciValue);
if (unavailable !== undefined && !inCi) console.warn(`container_test skipped: ${unavailable}`);

/** Offsets of what happened, for the issue note. */
class Timeline {
  readonly #t0 = Date.now();
  readonly #marks: { at: number; what: string }[] = [];

  mark(what: string, at = Date.now()): void {
    this.#marks.push({ at, what });
  }

  toString(): string {
    return [...this.#marks].sort((a, b) => a.at - b.at)
      .map((m) => `+${((m.at - this.#t0) / 1000).toFixed(2).padStart(6)} s  ${m.what}`).join("\n");
  }
}

/** The unit's journal entries inside the container (systemd's own lines about it included). */
async function unitJournal(c: Container): Promise<{ at: number; message: string }[]> {
  const out = await c.exec(["journalctl", "-u", "pcns-agent.service", "-o", "json", "--no-pager"]);
  return out.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).map((e) => ({
    at: Number(e.__REALTIME_TIMESTAMP) / 1000,
    message: String(e.MESSAGE),
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The host's Deno cache (the container reads the npm packages from it). */
function denoDir(): string {
  return Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
}

async function writeConfig(dir: string, ports: { udp: number; http: number; https: number }): Promise<void> {
  const path = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    path,
    [
      "[NetworkManagementCard]",
      `username = ${CARD.username}`,
      `authenticationPhrase = ${CARD.authenticationPhrase}`,
      "protocol = http",
      `ip_1 = ${CARD.address}`,
      // Loopback only: nothing is ever sent to a card.
      "registerWithNmc = false",
      "[Networking]",
      `udpPort = ${ports.udp}`,
      "udpListenAddresses = 127.0.0.1",
      `httpPort = ${ports.http}`,
      `httpsPort = ${ports.https}`,
      "uiListenAddress = 127.0.0.1",
      "[Shutdown]",
      "turnOffUps = false",
      "settleDelay = 1",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  await Deno.chmod(path, 0o600);
}

/** Sends signed status packets to the agent, with replay counters that only go up (across boots too). */
class Card {
  readonly #socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  readonly #port: number;
  #su = 1000;

  constructor(port: number) {
    this.#port = port;
  }

  async send(status: number): Promise<void> {
    this.#su += 10;
    await this.#socket.send(statusPacket({ status, sr: 1, su: this.#su }), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: this.#port,
    });
  }

  close(): void {
    this.#socket.close();
  }
}

async function agentUnit(c: Container) {
  return await c.unit("pcns-agent.service", [
    "ActiveState",
    "SubState",
    "MainPID",
    "NRestarts",
    "StatusText",
    "Result",
  ]);
}

/** The unit once it is active with a main process (other than `not`). */
function activeAgent(c: Container, timeoutMs: number, not?: string) {
  return until(
    `pcns-agent.service active${not ? ` with a MainPID other than ${not}` : ""}`,
    timeoutMs,
    async () => {
      const unit = await agentUnit(c);
      return unit.ActiveState === "active" && unit.MainPID !== "0" && unit.MainPID !== not ? unit : undefined;
    },
  );
}

const since = (log: readonly EventLogRecord[], index: number) => log.slice(index);
const lastIndex = (log: readonly EventLogRecord[], id: string) => log.findLastIndex((r) => r.id === id);

Deno.test({
  name:
    "under a real systemd: READY, watchdog restart, a real power-off on low battery, nothing re-run after it",
  ignore: unavailable !== undefined && !inCi,
  async fn() {
    if (unavailable !== undefined) {
      throw new Error(`CI is set, but a container cannot run here: ${unavailable}`);
    }
    const t = new Timeline();
    const root = await Deno.makeTempDir({ prefix: "pcns-container-" });
    const data = join(root, "data");
    const units = join(root, "units");
    const journal = join(root, "journal");
    for (const dir of [data, units, journal]) await Deno.mkdir(dir);
    const ports = { udp: freePort("udp"), http: freePort(), https: freePort() };
    await writeConfig(data, ports);
    await Deno.mkdir(denoDir(), { recursive: true });
    const binds: Bind[] = [
      { host: CHECKOUT, container: "/opt/pcns-agent", readOnly: true },
      { host: Deno.execPath(), container: "/opt/deno/deno", readOnly: true },
      { host: denoDir(), container: "/root/.cache/deno", readOnly: true },
      { host: data, container: "/etc/pcns-agent" },
      // Kept across the two boots, like a real disk: the installed unit starts at the second boot by itself.
      { host: units, container: "/etc/systemd/system" },
      { host: journal, container: "/var/log/journal" },
    ];
    // Read with its rotated files: the outages of (2b) rotate it.
    const logPath = join(data, "EventLog.jsonl");
    const card = new Card(ports.udp);
    const containers: Container[] = [];
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    try {
      // Boot 1: install, READY.
      const first = await Container.boot({ name: `pcns-ct-${Deno.pid}-a`, binds });
      containers.push(first);
      t.mark("boot 1: systemd-nspawn started");
      t.mark(`boot 1: systemd up (${await first.waitBooted()})`);
      const install = await first.sh(INSTALL);
      assert.equal(install.code, 0, `service install failed:\n${install.stdout}\n${install.stderr}`);
      t.mark("service install --now returned");
      const ready = await activeAgent(first, 30_000);
      t.mark(`(1) unit active (READY=1), MainPID ${ready.MainPID}`);
      assert.match(ready.StatusText, /^monitoring 1 NMC\(s\) on UDP 127\.0\.0\.1:\d+; web UI on port \d+$/);

      // (2) A stopped agent stops pinging: the watchdog restarts it.
      const stop = await first.exec(["kill", "-STOP", ready.MainPID]);
      assert.equal(stop.code, 0, stop.stderr);
      t.mark(`(2) SIGSTOP to the agent (WatchdogSec=4)`);
      const restarted = await activeAgent(first, 40_000, ready.MainPID);
      t.mark(`(2) restarted by systemd: MainPID ${restarted.MainPID}, active again`);
      assert.ok(Number(restarted.NRestarts) >= 1, `NRestarts=${restarted.NRestarts}`);
      const unitLog = await unitJournal(first);
      const watchdog = unitLog.find((e) => /Watchdog timeout \(limit 4s\)/.test(e.message));
      assert.ok(watchdog, `no watchdog timeout in the journal:\n${unitLog.map((e) => e.message).join("\n")}`);
      for (const e of unitLog) {
        if (/Watchdog timeout|Killing process|Scheduled restart|^Started /.test(e.message)) {
          t.mark(`    journal: ${e.message.slice(0, 90)}`, e.at);
        }
      }

      // (3) Low battery, no dry run: the agent powers the container off.
      await until("CommunicationEstablished in the event log", 20_000, async () => {
        await card.send(STATUS_ONLINE);
        const log = await readEventLogHistory(logPath);
        return log.slice(lastIndex(log, "MonitoringStarted")).some((r) => r.id === "CommunicationEstablished")
          ? true
          : undefined;
      });
      t.mark("(3) card heard (CommunicationEstablished)");

      // (2b) journald stops reading (its own disk hangs): the agent's stream to it fills up. The agent must
      // go on: before its log was written off the event loop it froze there, and the watchdog restarted it.
      const journald = (await first.exec(["pidof", "systemd-journald"])).stdout.trim();
      assert.match(journald, /^\d+$/, "systemd-journald's pid");
      assert.equal((await first.exec(["kill", "-STOP", journald])).code, 0);
      t.mark(`(2b) SIGSTOP to systemd-journald (pid ${journald})`);
      const beforeStall = await agentUnit(first);
      for (let i = 0; i < 5000; i++) {
        await card.send(STATUS_ON_BATTERY);
        await card.send(STATUS_ONLINE);
        if (i % 100 === 99) await sleep(5);
      }
      t.mark("(2b) 5,000 outages and returns sent (some 2 MB of log lines)");
      await sleep(8000); // twice the watchdog limit
      const afterStall = await agentUnit(first);
      assert.equal(
        afterStall.MainPID,
        beforeStall.MainPID,
        "no watchdog restart while journald does not read",
      );
      assert.equal(afterStall.NRestarts, beforeStall.NRestarts);
      assert.equal(afterStall.ActiveState, "active");
      assert.equal((await first.exec(["kill", "-CONT", journald])).code, 0);
      t.mark(
        `(2b) the agent pinged its watchdog throughout (MainPID ${afterStall.MainPID}); SIGCONT to journald`,
      );
      const sentAt = Date.now();
      await card.send(STATUS_ON_BATTERY_LOW);
      t.mark("(3) on-battery + low-battery packet sent", sentAt);
      // A card repeats its status; keep sending until the container is gone.
      heartbeat = setInterval(() => card.send(STATUS_ON_BATTERY_LOW).catch(() => {}), 500);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        first.exited,
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`the container did not power off:\n${first.console}`)),
            30_000,
          )
        ),
      ]).finally(() => clearTimeout(timer));
      clearInterval(heartbeat);
      heartbeat = undefined;
      t.mark(`(3) container gone: systemd-nspawn exited with code ${status.code}`);
      assert.equal(status.code, 0, "a clean power-off of the container");
      const afterFirst = await readEventLogHistory(logPath);
      const run = since(afterFirst, lastIndex(afterFirst, "MonitoringStarted"));
      const starting = run.find((r) => r.id === "ShutdownStarting");
      const osDown = run.find((r) => r.id === "OsShutdown");
      assert.ok(starting, `no ShutdownStarting: ${run.map((r) => r.id).join(", ")}`);
      assert.ok(osDown, `no OsShutdown: ${run.map((r) => r.id).join(", ")}`);
      assert.equal(starting.details?.dryRun, false);
      const story = run.map((r) => `${r.time} ${r.id}: ${r.message}`).join("\n");
      // The platform default `systemctl poweroff`, or its fallback `shutdown -h now` (seen twice here, while a
      // container orphaned by a killed test run still shared the network; the power-off worked all the same),
      // then with why the first one was not enough (seen in CI: systemd, already powering off, killed
      // systemctl before it had its answer).
      assert.match(
        osDown.message,
        /ran: (systemctl poweroff|shutdown -h now( \(after: systemctl poweroff .*\))?)$/,
        `the OS step as logged:\n${story}`,
      );
      for (const r of run) {
        if (["LowBattery", "ShutdownStarting", "OsShutdown"].includes(r.id)) {
          t.mark(
            `(3) ${r.id}${r.id === "OsShutdown" ? ` (${r.message.split(": ").at(-1)})` : ""}`,
            Date.parse(r.time),
          );
        }
      }

      // (4) Boot again, same disk, power back: nothing is re-run.
      const second = await Container.boot({ name: `pcns-ct-${Deno.pid}-b`, binds });
      containers.push(second);
      t.mark("boot 2: systemd-nspawn started");
      t.mark(`boot 2: systemd up (${await second.waitBooted()})`);
      const again = await activeAgent(second, 30_000);
      t.mark(`(4) agent started at boot (enabled unit), MainPID ${again.MainPID}`);
      // First without any packet (what a restored sequence would do before hearing the card), then power back.
      await sleep(3000);
      const online = Date.now() + 4000;
      while (Date.now() < online) {
        await card.send(STATUS_ONLINE);
        await sleep(300);
      }
      t.mark("(4) 3 s without packets, then 4 s of on-line packets: still running");
      const afterSecond = since(await readEventLogHistory(logPath), afterFirst.length);
      t.mark(`(4) events since boot 2: ${afterSecond.map((r) => r.id).join(", ")}`);
      const rerun = afterSecond.filter((r) =>
        ["ShutdownStarting", "OsShutdown", "UpsTurnOffSent"].includes(r.id)
      );
      const resumed = afterSecond.filter((r) => r.id === "CountdownResumed");
      const engineNote = "(needs the engine fix: a finished sequence is never re-run)";
      assert.deepEqual(
        rerun.map((r) => `${r.id}: ${r.message}`),
        [],
        `re-run after the reboot ${engineNote}`,
      );
      assert.deepEqual(resumed.map((r) => r.message), [], `a countdown was resumed ${engineNote}`);
      assert.equal(second.gone, false, `the container powered off again ${engineNote}`);
      assert.ok(afterSecond.some((r) => r.id === "CommunicationEstablished"), "the agent heard the card");
      await second.stop();
      t.mark("boot 2: powered off by the test");

      // journald read the critical events at priority 2 (crit), the others lower.
      const entries = (await new Deno.Command("journalctl", {
        args: ["--directory", journal, "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=pcns-agent"],
        stdout: "piped",
        stderr: "piped",
      }).output()).stdout;
      const lines = new TextDecoder().decode(entries).split("\n").filter((l) => l !== "").map((l) =>
        JSON.parse(l)
      );
      const priorityOf = (id: string) =>
        lines.find((e) => typeof e.MESSAGE === "string" && e.MESSAGE.includes(` ${id}: `))?.PRIORITY;
      for (const id of ["LowBattery", "ShutdownStarting", "OsShutdown"]) {
        assert.equal(priorityOf(id), "2", id);
      }
      assert.equal(priorityOf("MonitoringStarted"), "6");
    } finally {
      if (heartbeat !== undefined) clearInterval(heartbeat);
      card.close();
      for (const c of containers) await c.stop();
      console.log(`container timeline:\n${t}`);
      await Deno.remove(root, { recursive: true });
    }
  },
});
