/**
 * Real-peer interop: Debian's apcupsd (its `pcnet` driver is an independent
 * PowerChute-protocol client) must accept the packets our simulator sends.
 * apcupsd runs on loopback with a private config; every file it writes is in
 * a temp dir, and its event hook is a recorder, so nothing it does can shut
 * this machine down.
 */
import assert from "node:assert/strict";
import { applyStep } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { APCACCESS, apcaccess, APCUPSD, startApcupsd } from "./helpers/apcupsd.ts";
import { waitUntilAsync } from "./helpers/wait.ts";
import { freePort } from "./helpers/ports.ts";

const inCi = Deno.env.get("CI") === "true";

Deno.test({
  name: "apcupsd (real pcnet peer) accepts the simulator's packets and sees the UPS go on battery",
  ignore: !APCUPSD && !inCi,
  async fn() {
    if (!APCUPSD || !APCACCESS) {
      throw new Error("apcupsd/apcaccess not installed: run `apt-get install apcupsd` (.ci/run does)");
    }
    const udpPort = freePort("udp");
    const nisPort = freePort("tcp");
    const user = "apc";
    const phrase = "admin user phrase";
    const peer = await startApcupsd({ udpPort, nisPort, username: user, phrase });
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
          const calls = await Deno.readTextFile(peer.hookLog).catch(() => "");
          // Both hooks: apcupsd forks them almost at once, and under load either may write first.
          return calls.includes("onbattery") && calls.includes("powerout");
        },
        "apcupsd's powerout and onbattery hooks",
        20_000,
      );
      const calls = (await Deno.readTextFile(peer.hookLog)).trim().split("\n");
      assert.ok(calls.includes("powerout"), calls.join(","));
      assert.equal(calls.includes("doshutdown"), false, "nothing asked for a shutdown");
    } finally {
      sim.close();
      await peer.stop();
    }
  },
});

if (!APCUPSD && !inCi) {
  console.warn("apcupsd is not installed: the interop test is skipped (CI installs it and fails without it)");
}
