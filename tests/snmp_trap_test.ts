/**
 * SNMP traps received by a real snmptrapd (private config, loopback, its own port): upsTrapOnBattery when
 * the served card goes on battery, repeated while it stays there, upsTrapAlarmEntryRemoved when power
 * returns (and no repeat after); the agent's shutdown starting as upsTrapAlarmEntryAdded
 * (upsAlarmShutdownImminent); v2c with the trap community and v3 authPriv (SHA-256 + AES) with the
 * agent's engine ID; the notification test. The repeat interval is 0.5 s here (the service takes any;
 * the configuration 0 or 5-3600 s); the 30 s default is tested on a fake clock in snmp_unit_test.ts.
 */
import assert from "node:assert/strict";
import type { AgentEvent } from "../src/events/types.ts";
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { SnmpService, type SnmpServiceSettings } from "../src/snmp/service.ts";
import { sendTestTrap } from "../src/snmp/traps.ts";
import { systemClock } from "../src/time/clock.ts";
import { applyStatus, initialUpsState, type UpsState } from "../src/ups/state.ts";
import { freePort } from "./helpers/ports.ts";
import { requireTools, skipWithout, toolHome, TrapDaemon } from "./helpers/snmp.ts";
import { waitUntil } from "./helpers/agent.ts";

const CARD = "10.0.0.45";
const ON_BATTERY = "1.3.6.1.2.1.33.2.1";
const ADDED = "1.3.6.1.2.1.33.2.3";
const REMOVED = "1.3.6.1.2.1.33.2.4";

function settings(port: number, change: Partial<SnmpServiceSettings> = {}): SnmpServiceSettings {
  return {
    enabled: true,
    port: 0,
    listenAddresses: ["127.0.0.1"],
    nmc: "",
    communities: ["readers"],
    users: [{
      name: "trapper",
      authProtocol: "sha256",
      authPassphrase: "trap-auth-phrase",
      privProtocol: "aes",
      privPassphrase: "trap-priv-phrase",
    }],
    trapReceivers: [`127.0.0.1:${port}`],
    trapVersion: "v2c",
    trapCommunity: "trap-community",
    trapUser: "trapper",
    trapRepeatInterval: 0.5,
    cards: [CARD],
    names: [{ name: "nmc1", card: CARD }],
    ...change,
  };
}

function status(byte: number, state: UpsState): UpsState {
  return applyStatus(
    state,
    { flags: decodeStatusByte(byte), statusByte: byte, runtimeMinutes: 40 },
    Date.now(),
  ).state;
}

/** A service whose card state and event stream the test drives. */
async function startService(s: SnmpServiceSettings, dataDir: string) {
  let ups = status(0x08, initialUpsState(CARD));
  const listeners = new Set<(e: AgentEvent) => void>();
  const { logger, records } = memoryLogger();
  const service = await SnmpService.start(s, {
    upsState: () => ups,
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    logger,
    clock: systemClock,
    dataDir,
    hostname: "testhost",
  });
  return {
    service,
    records,
    set(byte: number, id: AgentEvent["id"]) {
      ups = status(byte, ups);
      for (const l of listeners) l(makeEvent({ id, nmc: CARD }, Date.now()));
    },
    emit(id: AgentEvent["id"]) {
      for (const l of listeners) l(makeEvent({ id }, Date.now()));
    },
  };
}

for (const version of ["v2c", "v3"] as const) {
  Deno.test({
    name: `snmptrapd receives ${version} upsTrapOnBattery, its repeat, the removal and shutdown starting`,
    ignore: skipWithout(["snmptrapd"]),
    async fn() {
      requireTools(["snmptrapd"]);
      const home = await toolHome();
      const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-snmp-trap-" });
      const port = freePort("udp");
      let daemon: TrapDaemon | undefined;
      let run: Awaited<ReturnType<typeof startService>> | undefined;
      try {
        run = await startService(settings(port, { trapVersion: version }), dataDir);
        const engine = run.service.engineId;
        const config = version === "v2c"
          ? "authCommunity log trap-community\n"
          : `createUser -e 0x${engine} trapper SHA-256 trap-auth-phrase AES trap-priv-phrase\nauthUser log trapper priv\n`;
        daemon = await TrapDaemon.start(home, port, config);
        const d = daemon;

        run.set(0x10, "PowerFailed"); // on battery
        await waitUntil(
          () => d.count(ON_BATTERY) >= 2,
          `the on-battery trap and its repeat:\n${d.output}`,
          5000,
        );
        assert.match(
          d.output,
          /\.1\.3\.6\.1\.2\.1\.33\.1\.2\.3\.0 = INTEGER: 40/,
          "upsEstimatedMinutesRemaining",
        );
        assert.match(d.output, /\.1\.3\.6\.1\.2\.1\.33\.1\.2\.2\.0 = INTEGER: \d+/, "upsSecondsOnBattery");
        assert.equal(d.count(ADDED), 0, "no AlarmEntryAdded for upsAlarmOnBattery (RFC 1628)");

        run.set(0x08, "PowerRestored");
        await waitUntil(() => d.count(REMOVED) === 1, `the removal trap:\n${d.output}`, 5000);
        assert.match(
          d.output,
          /\.1\.3\.6\.1\.2\.1\.33\.1\.6\.2\.1\.2\.1 = OID: \.1\.3\.6\.1\.2\.1\.33\.1\.6\.3\.2/,
        );
        const repeats = d.count(ON_BATTERY);
        await new Promise((r) => setTimeout(r, 1200));
        assert.equal(d.count(ON_BATTERY), repeats, "no repeat once power is back");

        run.emit("ShutdownStarting");
        await waitUntil(
          () => d.output.includes("OID: .1.3.6.1.2.1.33.1.6.3.23") && d.count(ADDED) >= 2,
          `shutdown imminent, added and repeated:\n${d.output}`,
          5000,
        );

        const results = await run.service.sendTestTrap();
        assert.deepEqual(results, [{ receiver: `127.0.0.1:${port}` }]);
        await waitUntil(() => d.count("1.3.6.1.2.1.33.2.2") === 1, `the test trap:\n${d.output}`, 5000);
        // The same from another process's point of view (`notify test`): the saved engine ID signs v3.
        assert.deepEqual(await sendTestTrap(settings(port, { trapVersion: version }), dataDir), [
          { receiver: `127.0.0.1:${port}` },
        ]);
        await waitUntil(
          () => d.count("1.3.6.1.2.1.33.2.2") === 2,
          `the standalone test trap:\n${d.output}`,
          5000,
        );
        const logged = run.records.map((r) => r.message).join("\n");
        assert.ok(!/trap-(auth|priv)-phrase|trap-community/.test(logged), "no secret logged");
      } finally {
        await run?.service.stop();
        await daemon?.stop();
        await Deno.remove(dataDir, { recursive: true });
        await Deno.remove(home, { recursive: true });
      }
    },
  });
}
