/**
 * The agent's SNMP agent read by Debian's Net-SNMP tools: v2c and v3 authPriv (SHA-256 + AES-128) walks of
 * the UPS-MIB show the simulated card's values with RFC 1628's units; a wrong community, an unknown or
 * wrongly keyed v3 user and too little security get no answer at all (a timeout, not a report); SET is
 * refused; malformed datagrams change nothing and the agent keeps answering; a config reload re-binds.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import type { AgentConfig, SnmpSettings } from "../src/config/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { applyStep } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { testConfig } from "./helpers/agent.ts";
import { freePort } from "./helpers/ports.ts";
import { parseWalk, requireTools, runTool, skipWithout, toolHome } from "./helpers/snmp.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const COMMUNITY = "ups-readers";
const USER = { name: "monitor", auth: "auth-pass-phrase", priv: "priv-pass-phrase" };

function snmpConfig(change: Partial<SnmpSettings> = {}): SnmpSettings {
  return {
    enabled: true,
    port: 0,
    listenAddresses: ["127.0.0.1"],
    nmc: "",
    communities: [COMMUNITY],
    users: [{
      name: USER.name,
      authProtocol: "sha256",
      authPassphrase: USER.auth,
      privProtocol: "aes",
      privPassphrase: USER.priv,
    }],
    trapReceivers: [],
    trapVersion: "v2c",
    trapCommunity: "public",
    trapUser: "",
    trapRepeatInterval: 30,
    ...change,
  };
}

function withSnmp(config: AgentConfig, change: Partial<SnmpSettings> = {}): AgentConfig {
  return { ...config, snmp: snmpConfig(change) };
}

const v2c = (port: number) => ["-v2c", "-c", COMMUNITY, `127.0.0.1:${port}`];
const v3 = (port: number, user = USER.name, auth = USER.auth, level = "authPriv") => [
  "-v3",
  "-l",
  level,
  "-u",
  user,
  "-a",
  "SHA-256",
  "-A",
  auth,
  ...(level === "authPriv" ? ["-x", "AES", "-X", USER.priv] : []),
  `127.0.0.1:${port}`,
];

const UPS_MIB = "1.3.6.1.2.1.33";

Deno.test({
  name: "snmpwalk v2c and v3 authPriv read the card's UPS-MIB; strangers get no answer; junk changes nothing",
  ignore: skipWithout(["snmpget", "snmpwalk", "snmpset"]),
  async fn() {
    requireTools(["snmpget", "snmpwalk", "snmpset"]);
    const home = await toolHome();
    const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-snmp-" });
    const { logger, records } = memoryLogger();
    const agent = Agent.start({ config: withSnmp(testConfig()), dataDir, logger, dryRun: true });
    const sim = new NmcSimulator({
      address: "127.0.0.1",
      username: "apc",
      authenticationPhrase: "admin user phrase",
      targets: [{ hostname: "127.0.0.1", port: agent.udpPort }],
      statusIntervalMs: 200,
      configIntervalMs: 1000,
    });
    try {
      await agent.servers!.settled();
      const snmp = agent.servers!.snmp!;
      assert.ok(snmp, `the SNMP agent runs: ${records.map((r) => r.message).join(" | ")}`);
      const port = snmp.addresses[0].port;
      sim.update({
        lineVoltage: 229,
        batteryPercent: 97,
        runtimeMinutes: 41,
        loadPercent: 33,
        temperature: 31,
      });
      await sim.start();
      let walk = new Map<string, string>();
      await waitUntilAsync(
        async () => {
          walk = parseWalk((await runTool("snmpwalk", home, [...v2c(port), UPS_MIB])).stdout);
          return walk.get(`${UPS_MIB}.1.3.3.1.3.1`) === "INTEGER: 229";
        },
        "the walk to show the card's input voltage",
        10_000,
      );
      const expected: Record<string, string> = {
        [`${UPS_MIB}.1.1.1.0`]: 'STRING: "APC"',
        [`${UPS_MIB}.1.1.2.0`]: 'STRING: "Smart-UPS 1500 RM"',
        [`${UPS_MIB}.1.1.3.0`]: 'STRING: "617.3.D"',
        [`${UPS_MIB}.1.2.1.0`]: "INTEGER: 2", // batteryNormal
        [`${UPS_MIB}.1.2.2.0`]: "INTEGER: 0", // not on battery
        [`${UPS_MIB}.1.2.3.0`]: "INTEGER: 41",
        [`${UPS_MIB}.1.2.4.0`]: "INTEGER: 97",
        [`${UPS_MIB}.1.2.5.0`]: "INTEGER: 273", // 27.3 V in 0.1 V
        [`${UPS_MIB}.1.2.7.0`]: "INTEGER: 31",
        [`${UPS_MIB}.1.3.1.0`]: "Counter32: 0",
        [`${UPS_MIB}.1.3.2.0`]: "INTEGER: 1",
        [`${UPS_MIB}.1.3.3.1.2.1`]: "INTEGER: 500", // 50 Hz in 0.1 Hz
        [`${UPS_MIB}.1.4.1.0`]: "INTEGER: 3", // normal
        [`${UPS_MIB}.1.4.4.1.2.1`]: "INTEGER: 230",
        [`${UPS_MIB}.1.4.4.1.5.1`]: "INTEGER: 33",
        [`${UPS_MIB}.1.6.1.0`]: "Gauge32: 0",
        [`${UPS_MIB}.1.9.7.0`]: "INTEGER: 5",
      };
      for (const [oid, value] of Object.entries(expected)) assert.equal(walk.get(oid), value, oid);
      assert.equal(walk.has(`${UPS_MIB}.1.3.3.1.1.1`), false, "the index column is not accessible");

      const system = parseWalk((await runTool("snmpwalk", home, [...v2c(port), "1.3.6.1.2.1.1"])).stdout);
      assert.match(system.get("1.3.6.1.2.1.1.1.0")!, /^STRING: "pcns-agent .*NMC 127\.0\.0\.1"$/);
      assert.equal(system.get("1.3.6.1.2.1.1.2.0"), `OID: .${UPS_MIB}`);
      assert.match(system.get("1.3.6.1.2.1.1.3.0")!, /^Timeticks: \(\d+\)/);

      // v3 authPriv (SHA-256, AES-128): the same values.
      const secure = await runTool("snmpwalk", home, [...v3(port), UPS_MIB]);
      assert.equal(secure.code, 0, secure.stderr);
      const v3walk = parseWalk(secure.stdout);
      for (const [oid, value] of Object.entries(expected)) assert.equal(v3walk.get(oid), value, `v3 ${oid}`);

      // Power fails: on battery; the alarm rows of on battery and of the agent's shutdown countdown.
      let lastOut = "";
      applyStep(sim, "power-failure");
      await sim.sendStatus();
      await waitUntilAsync(
        async () => {
          const out =
            (await runTool("snmpget", home, [...v2c(port), `${UPS_MIB}.1.4.1.0`, `${UPS_MIB}.1.6.1.0`]))
              .stdout;
          lastOut = out;
          return /INTEGER: 5/.test(out) && /Gauge32: 2/.test(out);
        },
        "output source battery and two alarms",
        10_000,
      ).catch((e) => {
        throw new Error(`${e.message}: ${lastOut}`);
      });
      const alarms = parseWalk((await runTool("snmpwalk", home, [...v2c(port), `${UPS_MIB}.1.6.2`])).stdout);
      assert.equal(
        alarms.get(`${UPS_MIB}.1.6.2.1.2.1`),
        `OID: .${UPS_MIB}.1.6.3.2`,
        "upsAlarmOnBattery, id 1",
      );
      assert.equal(
        alarms.get(`${UPS_MIB}.1.6.2.1.2.2`),
        `OID: .${UPS_MIB}.1.6.3.22`,
        "upsAlarmShutdownPending (PowerFailed shuts down after 120 s), id 2",
      );
      assert.match(alarms.get(`${UPS_MIB}.1.6.2.1.3.1`)!, /^Timeticks: \(\d+\)/);

      // Nobody else gets an answer: not even a USM report.
      const strangers: [string, string[]][] = [
        ["wrong community", ["-v2c", "-c", "public", `127.0.0.1:${port}`]],
        ["v1, wrong community", ["-v1", "-c", "nope", `127.0.0.1:${port}`]],
        ["unknown v3 user", v3(port, "intruder")],
        ["wrong v3 passphrase", v3(port, USER.name, "not-the-pass-phrase")],
        ["authNoPriv for an authPriv user", v3(port, USER.name, USER.auth, "authNoPriv")],
      ];
      for (const [what, args] of strangers) {
        const out = await runTool("snmpget", home, [...args, `${UPS_MIB}.1.1.1.0`]);
        assert.notEqual(out.code, 0, what);
        assert.match(out.stderr, /Timeout/, `${what}: ${out.stderr}`);
      }

      // Read-only: SET is refused.
      const set = await runTool("snmpset", home, [...v2c(port), `${UPS_MIB}.1.1.5.0`, "s", "renamed"]);
      assert.match(set.stderr + set.stdout, /notWritable/);
      const v1get = await runTool("snmpget", home, [
        "-v1",
        "-c",
        COMMUNITY,
        `127.0.0.1:${port}`,
        `${UPS_MIB}.1.2.6.0`,
      ]);
      assert.match(v1get.stderr + v1get.stdout, /noSuchName|no such variable/i, "v1 has no exception values");

      // Malformed datagrams: nothing changes, the agent keeps answering.
      const before =
        (await runTool("snmpget", home, [...v2c(port), `${UPS_MIB}.1.1.2.0`, `${UPS_MIB}.1.6.1.0`])).stdout;
      const junk = malformedDatagrams();
      const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
      try {
        for (const datagram of junk) {
          await socket.send(datagram, { hostname: "127.0.0.1", port, transport: "udp" });
        }
      } finally {
        socket.close();
      }
      await new Promise((r) => setTimeout(r, 300));
      const after = await runTool("snmpget", home, [
        ...v2c(port),
        `${UPS_MIB}.1.1.2.0`,
        `${UPS_MIB}.1.6.1.0`,
      ]);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stdout, before);
      const counters = snmp.counters();
      assert.ok(counters.malformed + counters.refused >= junk.length - 2, JSON.stringify(counters));
      const logged = records.map((r) => r.message).join("\n");
      for (const secret of [COMMUNITY, USER.auth, USER.priv]) {
        assert.ok(!logged.includes(secret), `${secret} logged`);
      }

      // Hot reload: the new community is served at once, the removed one is not.
      await agent.applyConfig(
        withSnmp(testConfig({ udpPort: agent.udpPort }), { communities: ["other-readers"] }),
      );
      await agent.servers!.settled();
      assert.equal(agent.servers!.snmp, snmp, "re-configured in place, not restarted");
      const renamed = await runTool("snmpget", home, [
        "-v2c",
        "-c",
        "other-readers",
        `127.0.0.1:${port}`,
        `${UPS_MIB}.1.1.1.0`,
      ]);
      assert.equal(renamed.code, 0, renamed.stderr);
      const old = await runTool("snmpget", home, [...v2c(port), `${UPS_MIB}.1.1.1.0`]);
      assert.match(old.stderr, /Timeout/, "the removed community gets no answer");

      // Hot reload of the address: every address ("::", dual-stack) on a new port; the old one closes.
      const next = freePort("udp");
      await agent.applyConfig(
        withSnmp(testConfig({ udpPort: agent.udpPort }), { port: next, listenAddresses: [] }),
      );
      await agent.servers!.settled();
      assert.deepEqual(snmp.addresses.map((a) => a.port), [next]);
      const moved = await runTool("snmpget", home, [...v2c(next), `${UPS_MIB}.1.1.1.0`]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match((await runTool("snmpget", home, [...v2c(port), `${UPS_MIB}.1.1.1.0`])).stderr, /Timeout/);
    } finally {
      sim.close();
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(home, { recursive: true });
    }
  },
});

/** Datagrams that are not requests the agent may answer. */
function malformedDatagrams(): Uint8Array[] {
  const bytes = (...b: number[]) => new Uint8Array(b);
  const random = (n: number, seed: number) => {
    const out = new Uint8Array(n);
    let x = seed;
    for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    return out;
  };
  return [
    bytes(),
    bytes(0x30),
    bytes(0x30, 0x84, 0xff, 0xff, 0xff, 0xff), // a length far beyond the datagram
    bytes(0x30, 0x03, 0x02, 0x01, 0x07), // version 7
    bytes(0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x78), // v2c, no PDU
    new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"),
    random(64, 1),
    random(1400, 2),
    // v2c GET with the right community but a truncated PDU.
    bytes(0x30, 0x14, 0x02, 0x01, 0x01, 0x04, 0x0b, ...new TextEncoder().encode(COMMUNITY), 0xa0, 0x10, 0x02),
    // A v3-looking header whose inner lengths do not add up, naming a configured user.
    bytes(
      0x30,
      0x20,
      0x02,
      0x01,
      0x03,
      0x30,
      0x0b,
      0x02,
      0x01,
      0x01,
      0x02,
      0x02,
      0x05,
      0xdc,
      0x04,
      0x01,
      0x04,
      0x02,
      0x01,
      0x03,
      0x04,
      0x0e,
      0x30,
      0x0c,
      0x04,
      0x00,
      0x02,
      0x01,
      0x00,
      0x02,
      0x01,
      0x00,
      0x04,
      0x07,
      ...new TextEncoder().encode(USER.name),
    ),
  ];
}
