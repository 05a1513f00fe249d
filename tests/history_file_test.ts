/**
 * Issue 15 item 5: the chart history is kept across restarts in a bounded file in the data directory
 * (written atomically), a corrupt or oversized file is reported and ignored, and the last hour has 10 s
 * resolution.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { UpsHistory } from "../src/ups/history.ts";
import {
  formatHistoryFile,
  HISTORY_FILE_NAME,
  HistoryFile,
  MAX_HISTORY_FILE_BYTES,
  parseHistoryFile,
} from "../src/ups/historyfile.ts";
import { fakeClock } from "./helpers/clock.ts";
import { testConfig } from "./helpers/agent.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";

Deno.test("history: 10 s samples for the last hour next to 1 min samples for 24 h", () => {
  const history = new UpsHistory();
  const t0 = Date.UTC(2026, 0, 1);
  for (let s = 0; s < 3 * 3600; s += 5) history.record("a", { time: t0 + s * 1000, batteryPercent: 100 });
  const now = t0 + 3 * 3600_000;
  const recent = history.recent("a", now);
  assert.ok(recent.length >= 359 && recent.length <= 361, `${recent.length} fine samples`);
  assert.ok(recent.every((s, i) => i === 0 || s.time - recent[i - 1].time === 10_000));
  assert.equal(history.samples("a", now).length, 180);
});

Deno.test("history file: round trip, refusals named, bounded", () => {
  const snapshot = {
    cards: {
      "10.0.0.5": {
        day: [{ time: 1000, batteryPercent: 90, loadPercent: 20, lineVoltage: 230 }, {
          time: 61_000,
          onBattery: true,
        }],
        hour: [{ time: 61_000, batteryPercent: 89, onBattery: true }],
      },
    },
  };
  assert.deepEqual(parseHistoryFile(formatHistoryFile(snapshot, 0)), snapshot);
  assert.match(parseHistoryFile("{") as string, /^not JSON/);
  assert.match(parseHistoryFile('{"version":2,"cards":{}}') as string, /not a history file of version 1/);
  assert.match(
    parseHistoryFile('{"version":1,"cards":{"a":{"day":[[5,1,1,1,0],[4,1,1,1,0]],"hour":[]}}}') as string,
    /card a day\[1\] is not a sample .* in time order/,
  );
  assert.match(
    parseHistoryFile('{"version":1,"cards":{"a":{"day":[[5,"x",1,1,0]],"hour":[]}}}') as string,
    /card a day\[0\]/,
  );
  // The largest possible history (9 cards, both tiers full) stays far under the read limit.
  const full = new UpsHistory();
  const t0 = Date.UTC(2026, 0, 1);
  for (let c = 0; c < 9; c++) {
    for (let s = 0; s < 24 * 3600; s += 10) {
      full.record(`10.0.0.${c}`, {
        time: t0 + s * 1000,
        batteryPercent: 99.9,
        loadPercent: 45.6,
        lineVoltage: 231.2,
        onBattery: true,
      });
    }
  }
  const bytes = formatHistoryFile(full.snapshot(t0 + 24 * 3600_000), 0).length;
  assert.ok(bytes < MAX_HISTORY_FILE_BYTES / 4, `a full history is ${bytes} bytes`);
});

Deno.test("history file: kept across an agent restart; a corrupt file is reported and ignored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-history-" });
  const { fake, clock } = fakeClock();
  const config = testConfig({ cards: [CARD.address] });
  const start = () =>
    Agent.start({ config, dataDir: dir, logger: memoryLogger().logger, clock, dryRun: true, servers: false });
  try {
    let agent = start();
    try {
      for (let i = 0; i < 5; i++) {
        agent.receive(statusPacket({ su: 1000 + i, status: i === 2 ? 0x10 : 0x08 }));
        fake.tick(60_000);
      }
      assert.equal(agent.history(CARD.address).length, 5);
    } finally {
      await agent.stop();
    }
    const path = join(dir, HISTORY_FILE_NAME);
    assert.ok(Deno.statSync(path).isFile);
    assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o600);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")),
      [],
      "no temp file left",
    );

    agent = start();
    try {
      const samples = agent.history(CARD.address);
      assert.equal(samples.length, 5, "the samples came back");
      assert.deepEqual(samples.map((s) => s.onBattery ?? false), [false, false, true, false, false]);
      assert.equal(agent.recentHistory(CARD.address).length, 5, "the 10 s tier too");
    } finally {
      await agent.stop();
    }

    // A corrupt file: reported (HistoryUnavailable), ignored, replaced at the next save.
    Deno.writeTextFileSync(path, '{"version":1,"cards":{"x":{"day":"garbage"}}}');
    agent = start();
    try {
      assert.equal(agent.history(CARD.address).length, 0);
      assert.ok(await agent.eventLogWritten(5000));
      const log = await Deno.readTextFile(agent.eventLogPath);
      assert.match(log, /HistoryUnavailable.*card x day is not a list; the chart starts empty/);
      agent.receive(statusPacket({ su: 5000 }));
    } finally {
      await agent.stop();
    }
    const saved = new HistoryFile(dir).load();
    assert.equal(typeof saved, "object", "the next save wrote a valid file");
    // A file larger than the limit is not even read.
    Deno.writeTextFileSync(path, " ".repeat(MAX_HISTORY_FILE_BYTES + 1));
    assert.match(new HistoryFile(dir).load() as string, /larger than 4194304: not read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
