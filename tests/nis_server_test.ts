/**
 * apcupsd's NIS served by the agent, read by Debian's `apcaccess`, side by side with a real apcupsd (its
 * pcnet driver hears the same simulated card): the same field names, padding, units and values; the
 * framing (APC header counts, zero-length end); apcupsd's answer to an unknown request; `events`.
 * apcupsd runs privately (tests/helpers/apcupsd.ts), never with its stock config.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import type { AgentConfig } from "../src/config/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { encodeMessage } from "../src/nis/protocol.ts";
import { nisDate, record, statusMessages } from "../src/nis/status.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { applyStep } from "../src/sim/scenarios.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { applyStatus, initialUpsState } from "../src/ups/state.ts";
import { testConfig } from "./helpers/agent.ts";
import { APCACCESS, apcaccess, APCUPSD, startApcupsd } from "./helpers/apcupsd.ts";
import { freePort } from "./helpers/ports.ts";
import { IN_CI } from "./helpers/nut.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

function withNis(config: AgentConfig, port = 0): AgentConfig {
  return { ...config, nis: { enabled: true, port, listenAddresses: ["127.0.0.1"], nmc: "" } };
}

/** One NIS request over a raw connection; the whole answer's messages (undefined: the server hung up). */
async function nisAsk(
  port: number,
  request: Uint8Array,
): Promise<{ messages: Uint8Array[]; closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(request);
    const messages: Uint8Array[] = [];
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(65536);
    const deadline = Date.now() + 5000;
    for (;;) {
      while (buffer.length >= 2) {
        const length = (buffer[0] << 8) | buffer[1];
        if (buffer.length < 2 + length) break;
        if (length === 0) return { messages, closed: false };
        messages.push(buffer.slice(2, 2 + length));
        buffer = buffer.slice(2 + length);
      }
      if (Date.now() > deadline) throw new Error("no complete NIS answer");
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return { messages, closed: true };
      const joined = new Uint8Array(buffer.length + n);
      joined.set(buffer);
      joined.set(chunk.subarray(0, n), buffer.length);
      buffer = joined;
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("status records: apcupsd's padding, units and APC header counts (pure)", () => {
  const ups = applyStatus(initialUpsState("10.0.0.45"), {
    flags: decodeStatusByte(0x08),
    statusByte: 0x08,
    lineVoltage: 0,
    batteryPercent: 100,
    runtimeMinutes: 45,
    model: "Smart-UPS 1500 RM",
    lastTransferCode: "O",
  }, Date.UTC(2026, 11, 2, 10, 6, 3)).state;
  const messages = statusMessages({
    ups,
    upsName: "nmc1",
    hostname: "vm",
    startedAt: Date.UTC(2026, 11, 2, 10, 6, 2),
    now: Date.UTC(2026, 11, 2, 10, 6, 3),
    transfers: { count: 0, cumulativeMs: 0 },
    utcOffsetMinutes: () => 0,
  });
  assert.equal(messages[1], "DATE     : 2026-12-02 10:06:03 +0000  \n");
  assert.ok(messages.includes("STATUS   : ONLINE \n"));
  assert.ok(messages.includes("LINEV    : 0.0 Volts\n"));
  assert.ok(messages.includes("BCHARGE  : 100.0 Percent\n"));
  assert.ok(messages.includes("TIMELEFT : 45.0 Minutes\n"));
  assert.ok(messages.includes("LASTXFER : No transfers since turnon\n"));
  assert.ok(messages.includes("STATFLAG : 0x05000008\n"));
  assert.equal(messages.at(-1), "END APC  : 2026-12-02 10:06:03 +0000  \n");
  const rest = messages.slice(1);
  const bytes = rest.reduce((n, m) => n + m.length, 0);
  assert.equal(
    messages[0],
    `APC      : 001,${String(rest.length).padStart(3, "0")},${String(bytes).padStart(4, "0")}\n`,
  );
  assert.equal(record("STARTTIME", "x"), "STARTTIME: x\n");
  assert.equal(nisDate(Date.UTC(2026, 0, 5, 1, 2, 3), -90), "2026-01-04 23:32:03 -0130  ");
});

Deno.test({
  name: "apcaccess reads the agent's NIS as it reads a real apcupsd hearing the same card",
  ignore: (!APCUPSD || !APCACCESS) && !IN_CI,
  async fn() {
    if (!APCUPSD || !APCACCESS) throw new Error("apcupsd/apcaccess not installed (apt-get install apcupsd)");
    const peerUdp = freePort("udp");
    const peerNis = freePort("tcp");
    const peer = await startApcupsd({
      udpPort: peerUdp,
      nisPort: peerNis,
      username: "apc",
      phrase: "admin user phrase",
    });
    const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-nis-" });
    const agent = Agent.start({
      config: withNis(testConfig()),
      dataDir,
      logger: memoryLogger().logger,
      dryRun: true,
    });
    await agent.servers!.settled();
    const nisPort = agent.servers!.nisAddresses[0].port;
    const sim = new NmcSimulator({
      address: "127.0.0.1",
      username: "apc",
      authenticationPhrase: "admin user phrase",
      targets: [{ hostname: "127.0.0.1", port: peerUdp }, { hostname: "127.0.0.1", port: agent.udpPort }],
      statusIntervalMs: 300,
      configIntervalMs: 1000,
    });
    try {
      await sim.start();
      let real: Record<string, string> = {};
      let ours: Record<string, string> = {};
      await waitUntilAsync(
        async () => {
          real = await apcaccess(peerNis);
          ours = await apcaccess(nisPort);
          return real.LINEV !== undefined && ours.LINEV !== undefined;
        },
        "both to report the simulated UPS",
        20_000,
      );
      const same = [
        "CABLE",
        "DRIVER",
        "UPSMODE",
        "MODEL",
        "STATUS",
        "LINEV",
        "LOADPCT",
        "BCHARGE",
        "TIMELEFT",
        "OUTPUTV",
        "DLOWBATT",
        "ITEMP",
        "BATTV",
        "LINEFREQ",
        "LASTXFER",
        "NUMXFERS",
        "TONBATT",
        "XOFFBATT",
        "SELFTEST",
        "STATFLAG",
        "SERIALNO",
        "FIRMWARE",
      ];
      for (const key of same) {
        assert.equal(ours[key], real[key], `${key}: ours ${ours[key]}, apcupsd ${real[key]}`);
      }
      assert.equal(ours.UPSNAME, "nmc1");
      const raw = (await nisAsk(nisPort, encodeMessage("status"))).messages.map((m) =>
        new TextDecoder().decode(m)
      );
      assert.match(raw[0], /^APC {6}: 001,\d{3},\d{4}\n$/);
      assert.match(raw.at(-1)!, /^END APC {2}: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} {2}\n$/);

      applyStep(sim, "power-failure");
      await sim.sendStatus();
      await waitUntilAsync(
        async () => {
          real = await apcaccess(peerNis);
          ours = await apcaccess(nisPort);
          return real.STATUS === "ONBATT" && ours.STATUS === "ONBATT";
        },
        "both to report ONBATT",
        20_000,
      );
      for (const key of ["LINEV", "TIMELEFT", "STATFLAG", "NUMXFERS"]) {
        assert.equal(ours[key], real[key], `${key} on battery: ours ${ours[key]}, apcupsd ${real[key]}`);
      }
      const one = await new Deno.Command(APCACCESS, {
        args: ["-h", `127.0.0.1:${nisPort}`, "-p", "BCHARGE"],
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(one.stdout).trim(), ours.BCHARGE);
      assert.match(ours.BCHARGE, /^\d+\.\d Percent$/);

      // apcupsd's framing, byte for byte: the unknown request and its end.
      const bogus = encodeMessage("bogus");
      const mine = await nisAsk(nisPort, bogus);
      const theirs = await nisAsk(peerNis, bogus);
      assert.deepEqual(mine.messages, theirs.messages);
      assert.equal(new TextDecoder().decode(mine.messages[0]), "Invalid command\n\0");
      const events = await nisAsk(nisPort, encodeMessage("events"));
      const lines = events.messages.map((m) => new TextDecoder().decode(m));
      assert.ok(
        lines.some((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} {2}UPS on battery/.test(l)),
        lines.join(""),
      );
      // An oversized request (apcupsd reads at most 256 bytes) closes the connection, as apcupsd does.
      const long = new Uint8Array(2 + 300);
      long[0] = 300 >> 8;
      long[1] = 300 & 0xff;
      assert.equal((await nisAsk(nisPort, long)).closed, true);
      assert.equal((await nisAsk(peerNis, long)).closed, true);
    } finally {
      sim.close();
      await agent.stop();
      await peer.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
