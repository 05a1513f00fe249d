/**
 * A replaced card whose counters start below the old card's: `status` names the cause, `counters reset`
 * lets the card in again, against a real `run --dry-run` child over TLS; `reset --offline` edits a stopped
 * agent's saved counters.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { COUNTER_FILE_NAME } from "../src/nmc/counterstore.ts";
import { formatStatus } from "../src/cli/agent_commands.ts";
import { formatCardCounters } from "../src/cli/counters_commands.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
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
import { statusPacket } from "./helpers/packets.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

Deno.test("status and counters show name a stuck card and the command that frees it", () => {
  const stuck = {
    card: "10.0.0.5",
    counters: { sr: 0x20, su: 0x895440 },
    stuck: {
      refused: 4,
      since: Date.parse("2026-12-02T08:00:00Z"),
      latest: { sr: 1, su: 0x10 },
      last: { sr: 0x20, su: 0x895440 },
    },
  };
  assert.equal(
    formatCardCounters(stuck),
    "NMC 10.0.0.5: last accepted SR=20 SU=895440; STUCK: 4 authenticated packets refused as replayed since " +
      "2026-12-02T08:00:00.000Z (the card sends SR=1 SU=10): if it was rebooted or replaced, run " +
      "pcns-agent counters reset --card 10.0.0.5",
  );
  const lines = formatStatus({
    ups: [],
    packets: { accepted: 9, rejected: { replay: 4 } },
    counters: [stuck],
  }, "x");
  assert.ok(
    lines.includes(
      "NMC 10.0.0.5: 4 authenticated packets refused as replayed (counters went back: card rebooted or " +
        "replaced?); run pcns-agent counters reset --card 10.0.0.5",
    ),
    lines.join("\n"),
  );
});

Deno.test("counters: a replaced card is refused until counters reset lets it in again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-counters-cli-" });
  const { path, ports } = await writeAgentConfig(dir, { password: PASSWORD });
  const agent = mainCommand(["run", "--dry-run", "--config", path], {
    denoFlags: [...AGENT_UNSTABLE_FLAGS, ...AGENT_V8_FLAGS, ...AGENT_PERMISSIONS],
    stdout: "null",
  }).spawn();
  const agentLog = collectText(agent.stderr);
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const send = (sr: number, su: number, status = 0x08) =>
    socket.send(statusPacket({ sr, su, status }), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: ports.udp,
    });
  const env = { PCNS_AGENT_PASSWORD: PASSWORD };
  try {
    await waitForAgentPort(agent, agentLog, ports.https);
    // The old card, far into its uptime, with a high reboot count.
    await feedUntil(dir, ports.udp, "CommunicationEstablished", { firstSu: 50_000_000 });
    // A replacement card at the same address: SR 1, its own uptime (not near a boot).
    for (let i = 0; i < 3; i++) await send(0, 9_000_000 + i);
    const show = await runMain(["counters", "show", "--config", path], { env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^NMC 127\.0\.0\.1: last accepted SR=1 SU=/m);

    await waitUntilAsync(async () => {
      const status = JSON.parse((await runMain(["status", "--json", "--config", path], { env })).stdout);
      return status.packets.rejected.replay === 3;
    }, "the replacement card's packets to be refused");
    const reset = await runMain(["counters", "reset", "--card", "127.0.0.1", "--config", path], { env });
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /counters reset for 127\.0\.0\.1/);
    await send(0, 9_000_010, 0x10);
    await waitUntilAsync(
      async () => (await readEventLog(join(dir, "EventLog.jsonl"))).some((r) => r.id === "PowerFailed"),
      "the replacement card to be followed",
    );
    const log = await readEventLog(join(dir, "EventLog.jsonl"));
    assert.match(
      log.find((r) => r.id === "CardCountersReset")?.message ?? "",
      /reset by apc via the web API/,
    );

    const bad = await runMain(["counters", "reset", "--card", "not an ip", "--config", path], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--card: "not an ip" is not an IP address/);
  } finally {
    socket.close();
    agent.kill("SIGTERM"); // a clean stop saves the counters of the last second too
    const guard = setTimeout(() => killQuietly(agent), 10_000);
    await agent.status;
    clearTimeout(guard);
    await agentLog.done;
  }

  // The agent is stopped: --offline edits its saved counters.
  const saved = JSON.parse(await Deno.readTextFile(join(dir, COUNTER_FILE_NAME)));
  assert.ok(saved.cards["127.0.0.1"]);
  const offline = await runMain(["counters", "reset", "--offline", "--config", path]);
  assert.equal(offline.code, 0, offline.stderr);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(dir, COUNTER_FILE_NAME))).cards, {});
  await Deno.remove(dir, { recursive: true });
});
