/**
 * Notification delay and repeat (event_<Id>_notificationDelay / _notificationRepeat) through the real agent
 * and action engine on a fake clock: what is sent when, what a clearing event cancels, and the drill's
 * timeline of it.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import type { AgentConfig, EventActions } from "../src/config/types.ts";
import { runDrill } from "../src/drill/drill.ts";
import type { AgentEvent, EventId } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { notificationMark } from "../src/notify/mark.ts";
import { canRepeat, notificationPlan } from "../src/actions/notifytiming.ts";
import { NO_ACTIONS, startTestAgent, testConfig } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";

const NOTIFY: EventActions = { ...NO_ACTIONS, enableNotification: true };

function configWith(events: Partial<Record<EventId, Partial<EventActions>>>): AgentConfig {
  const base = testConfig();
  const merged: Record<string, EventActions> = { ...base.events };
  for (const [id, change] of Object.entries(events)) merged[id] = { ...NOTIFY, ...change };
  // No shutdown in these tests: the notification timing is what is watched.
  merged.PowerFailed = { ...merged.PowerFailed, enableShutdown: false };
  return { ...base, events: merged };
}

/**
 * An agent on a fake clock whose notifications are recorded with the (virtual) second they were sent at;
 * `onNotify` also hears each one as it is sent.
 */
async function timedAgent(config: AgentConfig, onNotify?: (event: AgentEvent) => void) {
  const { fake, clock } = fakeClock();
  const start = fake.now;
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-notify-timing-" });
  const sent: { at: number; event: AgentEvent }[] = [];
  const events: AgentEvent[] = [];
  const agent = Agent.start({
    config,
    dataDir,
    logger: memoryLogger().logger,
    clock,
    dryRun: true,
    persistCountdowns: false,
    servers: false,
    ports: {
      notify: (event) => {
        sent.push({ at: (fake.now - start) / 1000, event });
        onNotify?.(event);
      },
    },
  });
  agent.bus.subscribe((e) => events.push(e));
  return {
    agent,
    sent,
    events,
    /** Raises `id` on the test card now. */
    raise: (id: EventId) => agent.emit({ id, nmc: CARD.address }),
    /** Advances virtual time by `seconds`. */
    tick: (seconds: number) => fake.tickAsync(seconds * 1000),
    /** Sent notifications of `id`: [second, mark count]. */
    of: (id: EventId) =>
      sent.filter((s) => s.event.id === id).map((s) => [s.at, notificationMark(s.event)?.count ?? 0]),
    async close() {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

Deno.test("notificationDelay: PowerFailed cleared by PowerRestored within the delay sends nothing (and says so)", async () => {
  const t = await timedAgent(configWith({ PowerFailed: { notificationDelay: 30 }, PowerRestored: {} }));
  try {
    t.raise("PowerFailed");
    await t.tick(10);
    t.raise("PowerRestored");
    await t.tick(60);
    assert.deepEqual(t.of("PowerFailed"), [], "no PowerFailed notification at all");
    assert.deepEqual(t.of("PowerRestored"), [[10, 0]], "PowerRestored (no delay) is sent at once");
    const skipped = t.events.filter((e) => e.id === "NotificationSkipped");
    assert.equal(skipped.length, 1);
    assert.match(
      skipped[0].message,
      /PowerFailed of .*: PowerRestored came first within its 30 s notificationDelay/,
    );
  } finally {
    await t.close();
  }
});

Deno.test("notificationDelay: an event that still holds is sent when the delay ends, not a moment sooner", async () => {
  const t = await timedAgent(configWith({ PowerFailed: { notificationDelay: 30 } }));
  try {
    t.raise("PowerFailed");
    await t.tick(29.999);
    assert.deepEqual(t.of("PowerFailed"), []);
    await t.tick(0.001);
    assert.deepEqual(t.of("PowerFailed"), [[30, 1]]);
    assert.deepEqual(notificationMark(t.sent[0].event), { count: 1, heldSeconds: 30, repeatSeconds: 0 });
    await t.tick(600);
    assert.equal(t.of("PowerFailed").length, 1, "repeat 0 = once");
  } finally {
    await t.close();
  }
});

Deno.test("notificationRepeat: every N s until the clearing event, then never again", async () => {
  const t = await timedAgent(configWith({
    PowerFailed: { notificationRepeat: 60 },
    LowBattery: { notificationDelay: 5, notificationRepeat: 30 },
    Overload: { notificationRepeat: 20 },
  }));
  try {
    t.raise("PowerFailed");
    await t.tick(200);
    t.raise("PowerRestored");
    await t.tick(600);
    assert.deepEqual(t.of("PowerFailed"), [[0, 1], [60, 2], [120, 3], [180, 4]]);
    // LowBattery until LowBatteryCleared; Overload until OverloadCleared.
    t.raise("LowBattery");
    t.raise("Overload");
    await t.tick(70);
    t.raise("LowBatteryCleared");
    t.raise("OverloadCleared");
    await t.tick(300);
    assert.deepEqual(t.of("LowBattery"), [[805, 1], [835, 2], [865, 3]]);
    assert.deepEqual(t.of("Overload"), [[800, 1], [820, 2], [840, 3], [860, 4]]);
    assert.equal(t.events.filter((e) => e.id === "NotificationSkipped").length, 0, "all of them went out");
  } finally {
    await t.close();
  }
});

Deno.test("notificationRepeat: the monitor's own CommunicationLost (no packet for commLostTimeout) repeats until CommunicationEstablished", async () => {
  const t = await timedAgent(configWith({ CommunicationLost: { notificationRepeat: 20 } }));
  try {
    await t.tick(100); // no packet from the card: CommunicationLost after commLostTimeout (55 s)
    t.raise("CommunicationLost"); // reported again while it holds: the same run, not a second one
    await t.tick(20);
    t.raise("CommunicationEstablished");
    await t.tick(300);
    assert.deepEqual(t.of("CommunicationLost"), [[55, 1], [75, 2], [95, 3], [115, 4]]);
  } finally {
    await t.close();
  }
});

Deno.test("notificationRepeat: a power failure that returns starts its own run; the old run stops", async () => {
  const t = await timedAgent(configWith({ PowerFailed: { notificationRepeat: 100 } }));
  try {
    t.raise("PowerFailed");
    await t.tick(50);
    t.raise("PowerRestored");
    await t.tick(10);
    t.raise("PowerFailed");
    await t.tick(250);
    assert.deepEqual(t.of("PowerFailed"), [[0, 1], [60, 1], [160, 2], [260, 3]]);
  } finally {
    await t.close();
  }
});

Deno.test("notificationRepeat: events without a clearing event, and clearing events, are sent once", async () => {
  const t = await timedAgent(configWith({
    UpsTurnOffInitiated: { notificationRepeat: 10 },
    PowerRestored: { notificationRepeat: 10 },
  }));
  try {
    t.raise("PowerFailed");
    t.raise("PowerRestored");
    t.raise("UpsTurnOffInitiated");
    await t.tick(300);
    assert.deepEqual(t.of("PowerRestored"), [[0, 0]]);
    assert.deepEqual(t.of("UpsTurnOffInitiated"), [[0, 0]]);
  } finally {
    await t.close();
  }
  assert.equal(canRepeat("PowerFailed"), true);
  assert.equal(canRepeat("PowerRestored"), false);
  assert.deepEqual(notificationPlan("ReplaceBattery", { ...NOTIFY, notificationRepeat: 60 }), {
    delayMs: 0,
    repeatMs: 0,
  });
});

Deno.test("notificationDelay: an hour on fake time; switched off meanwhile (config reload) it is not sent", async () => {
  const config = configWith({ PowerFailed: { notificationDelay: 3600, notificationRepeat: 600 } });
  const t = await timedAgent(config);
  try {
    t.raise("PowerFailed");
    await t.tick(3600);
    assert.deepEqual(t.of("PowerFailed"), [[3600, 1]]);
    await t.agent.applyConfig({
      ...config,
      events: { ...config.events, PowerFailed: { ...config.events.PowerFailed, enableNotification: false } },
    });
    await t.tick(3600);
    assert.deepEqual(t.of("PowerFailed"), [[3600, 1]], "no repeat once notifications are off");
  } finally {
    await t.close();
  }
});

Deno.test("drill: delayed and repeated notifications in the timeline, and one cleared within its delay", async () => {
  const base = testConfig({ cards: ["10.0.0.5"] });
  const config: AgentConfig = {
    ...base,
    events: {
      ...base.events,
      PowerFailed: {
        ...base.events.PowerFailed,
        enableNotification: true,
        notificationDelay: 30,
        notificationRepeat: 40,
      },
    },
    notifications: { ...base.notifications, webhookUrl: "https://hooks.example.com/secret-token" },
  };
  const held = await runDrill(config, { steps: ["normal", "power-failure"], stepSeconds: 60 });
  const notes = held.timeline.filter((e) => e.text.startsWith("would notify PowerFailed"));
  assert.deepEqual(
    notes.map((e) => e.at),
    [90, 130, 170, 210, 250],
    "+30 s after the failure, then every 40 s until the OS goes down",
  );
  assert.equal(held.osShutdownAt, 250, "120 s on-battery delay + 70 s settle delay");
  assert.equal(
    notes[0].text,
    "would notify PowerFailed via webhook https://hooks.example.com/... " +
      "(still in effect after 30 s, notification 1, repeated every 40 s until it clears)",
  );
  const cleared = await runDrill(config, { steps: ["normal", "power-failure", "restore"], stepSeconds: 20 });
  assert.equal(cleared.timeline.filter((e) => e.text.startsWith("would notify PowerFailed")).length, 0);
  const skipped = cleared.timeline.find((e) => e.text.startsWith("NotificationSkipped"));
  assert.equal(skipped?.at, 40, "reported when PowerRestored comes, 20 s into the 30 s delay");
});

Deno.test("a notification without delay goes out before the event log's line is written, and the line follows", async () => {
  // A notification (or any action) must not wait for the event log: measured p50 on-battery -> syslog
  // 1.2-1.5 ms with the log first, 0.7-0.9 ms after (when the log was still written on the event loop).
  let logHadItWhenSent: boolean | undefined;
  const logged = () => {
    try {
      return Deno.readTextFileSync(t.agent.eventLogPath).includes('"PowerFailed"');
    } catch {
      return false;
    }
  };
  const t = await timedAgent(configWith({ PowerFailed: {} }), (event) => {
    if (event.id === "PowerFailed") logHadItWhenSent = logged();
  });
  try {
    t.raise("PowerFailed");
    assert.equal(logHadItWhenSent, false, "sent before the event log was written");
    assert.ok(await t.agent.eventLogWritten(5000));
    assert.equal(logged(), true, "and the event log has it right after");
  } finally {
    await t.close();
  }
});

/** Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:`port` (Linux, /proc/net/udp). */
function queuedAt(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return parseInt(fields[4].split(":")[1], 16);
  }
  throw new Error(`no UDP socket on ${local}`);
}

/** True while something holds UDP port `port` on every address. */
function portTaken(port: number): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port }).close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return true;
    throw error;
  }
}

Deno.test({
  name:
    "syslog: the first event's line is sent before the rest of its packet's work; a settings change and a stop free the socket",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const collector = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (collector.addr as Deno.NetAddr).port;
    const config = configWith({ PowerFailed: {}, PowerRestored: {} });
    const withSyslog = { ...config, notifications: { ...config.notifications, syslog: `127.0.0.1:${port}` } };
    const t = await startTestAgent(withSyslog);
    const agent = t.agent;
    try {
      // A listener after the action engine runs within the same turn as the send: the line must be queued
      // at the collector by then (a socket opened by that send would send only after the turn).
      let queuedDuringTurn = -1;
      agent.bus.subscribe((event) => {
        if (event.id === "PowerFailed") queuedDuringTurn = queuedAt(port);
      });
      await new Promise((resolve) => setTimeout(resolve, 20)); // the power fails a while after the start
      agent.emit({ id: "PowerFailed", nmc: CARD.address });
      assert.ok(
        queuedDuringTurn > 0,
        `the first line is on its way at once (queued ${queuedDuringTurn} bytes)`,
      );
      const [first, from] = await collector.receive();
      assert.match(new TextDecoder().decode(first), / PowerFailed - /);
      const oldPort = (from as Deno.NetAddr).port;

      await agent.applyConfig({
        ...withSyslog,
        notifications: { ...withSyslog.notifications, syslog: `localhost:${port}` },
      });
      assert.equal(portTaken(oldPort), false, "the replaced channel's socket is closed");
      agent.emit({ id: "PowerRestored", nmc: CARD.address });
      const [second, newFrom] = await collector.receive();
      assert.match(new TextDecoder().decode(second), / PowerRestored - /);
      const newPort = (newFrom as Deno.NetAddr).port;
      assert.equal(portTaken(newPort), true);
      await agent.stop();
      assert.equal(portTaken(newPort), false, "a stop closes it");
    } finally {
      await t.close();
      collector.close();
    }
  },
});

Deno.test({
  name: "a configuration applied after the agent stopped (a reload racing the stop) opens no socket",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const config = configWith({ PowerFailed: {} });
    const t = await startTestAgent(config);
    const agent = t.agent;
    try {
      await agent.stop();
      const udpPort = freePort("udp");
      await agent.applyConfig({
        ...config,
        networking: { ...config.networking, udpPort },
        notifications: { ...config.notifications, syslog: "127.0.0.1:5514" },
      });
      assert.equal(portTaken(udpPort), false, "no UDP listener is bound after the stop");
    } finally {
      await t.close();
    }
  },
});
