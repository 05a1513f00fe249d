/**
 * Real-peer interop: Debian's apcupsd (its `pcnet` driver is an independent
 * PowerChute-protocol client) must accept the packets our simulator sends.
 * apcupsd runs on loopback with a private config; every file it writes is in
 * a temp dir, and its event hook is a recorder script, so nothing it does can
 * shut this machine down.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { applyStep } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const APCUPSD = ["/usr/sbin/apcupsd", "/sbin/apcupsd", "/usr/local/sbin/apcupsd"].find(exists);
const APCACCESS = ["/usr/sbin/apcaccess", "/sbin/apcaccess", "/usr/local/sbin/apcaccess"].find(exists);
const inCi = Deno.env.get("CI") === "true";

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function freePort(transport: "udp" | "tcp"): number {
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    const port = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return port;
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function apcaccess(nisPort: number): Promise<Record<string, string>> {
  const out = await new Deno.Command(APCACCESS!, {
    args: ["-h", `127.0.0.1:${nisPort}`, "status"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const fields: Record<string, string> = {};
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const match = /^(\S+)\s*:\s*(.*?)\s*$/.exec(line);
    if (match) fields[match[1]] = match[2];
  }
  return fields;
}

Deno.test({
  name: "apcupsd (real pcnet peer) accepts the simulator's packets and sees the UPS go on battery",
  ignore: !APCUPSD && !inCi,
  async fn() {
    if (!APCUPSD || !APCACCESS) {
      throw new Error("apcupsd/apcaccess not installed: run `apt-get install apcupsd` (.ci/run does)");
    }
    const dir = await Deno.makeTempDir({ prefix: "pcns-apcupsd-" });
    const udpPort = freePort("udp");
    const nisPort = freePort("tcp");
    const user = "apc";
    const phrase = "admin user phrase";
    const recorder = join(dir, "apccontrol");
    const eventsFile = join(dir, "hook-calls.log");
    // apcupsd runs SCRIPTDIR/apccontrol <event> for every event (doshutdown included): record, never act.
    await Deno.writeTextFile(recorder, `#!/bin/sh\necho "$1" >> '${eventsFile}'\nexit 0\n`, { mode: 0o755 });
    await Deno.chmod(recorder, 0o755);
    const conf = join(dir, "apcupsd.conf");
    await Deno.writeTextFile(
      conf,
      [
        "UPSNAME interop",
        "UPSCABLE ether",
        "UPSTYPE pcnet",
        `DEVICE 127.0.0.1:${user}:${phrase}:${udpPort}`,
        `LOCKFILE ${dir}`,
        `SCRIPTDIR ${dir}`,
        `PWRFAILDIR ${dir}`,
        `NOLOGINDIR ${dir}`,
        "NOLOGON disable",
        "ONBATTERYDELAY 0",
        "BATTERYLEVEL 5",
        "MINUTES 3",
        "TIMEOUT 0",
        "KILLDELAY 0",
        "NETSERVER on",
        "NISIP 127.0.0.1",
        `NISPORT ${nisPort}`,
        `EVENTSFILE ${join(dir, "apcupsd.events")}`,
        "EVENTSFILEMAX 10",
        "UPSCLASS standalone",
        "UPSMODE disable",
        "STATTIME 0",
        `STATFILE ${join(dir, "apcupsd.status")}`,
        "LOGSTATS off",
        "DATATIME 0",
        "",
      ].join("\n"),
    );
    const pidFile = join(dir, "apcupsd.pid");
    const daemon = new Deno.Command(APCUPSD, {
      args: ["-b", "-f", conf, "-P", pidFile],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const sim = new NmcSimulator({
      address: "127.0.0.1",
      username: user,
      authenticationPhrase: phrase,
      targets: [{ hostname: "127.0.0.1", port: udpPort }],
      statusIntervalMs: 300,
      configIntervalMs: 1000,
    });
    try {
      await sim.start();
      let status: Record<string, string> = {};
      await waitUntilAsync(
        async () => {
          status = await apcaccess(nisPort);
          return status.STATUS === "ONLINE" && status.LINEV !== undefined;
        },
        "apcupsd to report the simulated UPS on line",
        20_000,
      );
      assert.equal(status.LINEV, "230.0 Volts");
      assert.equal(status.BCHARGE, "100.0 Percent");
      assert.equal(status.LOADPCT, "25.0 Percent");
      assert.equal(status.TIMELEFT, "45.0 Minutes");
      assert.equal(status.MODEL, "Smart-UPS 1500 RM");
      assert.equal(status.SERIALNO, "AS0000000001");

      applyStep(sim, "power-failure");
      await sim.sendStatus();
      await waitUntilAsync(
        async () => {
          status = await apcaccess(nisPort);
          return status.STATUS === "ONBATT";
        },
        "apcupsd to report ONBATT",
        20_000,
      );
      assert.equal(status.LINEV, "0.0 Volts");
      assert.equal(status.TIMELEFT, "30.0 Minutes");
      await waitUntilAsync(
        async () => {
          const calls = await Deno.readTextFile(eventsFile).catch(() => "");
          return calls.includes("onbattery");
        },
        "apcupsd's onbattery hook",
        20_000,
      );
      const calls = (await Deno.readTextFile(eventsFile)).trim().split("\n");
      assert.ok(calls.includes("powerout"), calls.join(","));
      assert.equal(calls.includes("doshutdown"), false, "nothing asked for a shutdown");
    } finally {
      sim.close();
      const pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim()) || daemon.pid;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          daemon.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 5000);
      await daemon.stderr.cancel();
      await daemon.status;
      clearTimeout(killer);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (!APCUPSD && !inCi) {
  console.warn("apcupsd is not installed: the interop test is skipped (CI installs it and fails without it)");
}
