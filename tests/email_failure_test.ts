/**
 * E-mail when the SMTP server is down or slow: retries with a doubling wait (fake time), one
 * NotificationFailed per failure run with every event still in the event log, a stalled server given up
 * after the timeout, and a shutdown sequence that reaches its OS step on time while the server stalls.
 */
import assert from "node:assert/strict";
import { Agent } from "../src/agent/agent.ts";
import type { AgentConfig } from "../src/config/types.ts";
import { readEventLog } from "../src/events/eventlog.ts";
import { type AgentEvent, makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { EmailNotifier } from "../src/notify/email.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import type { Clock } from "../src/time/clock.ts";
import { nextEvent, NO_ACTIONS, testConfig, waitUntil } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { emailSettings, startSmtpServer, startStalledServer } from "./helpers/smtp.ts";

const event: AgentEvent = makeEvent({ id: "PowerFailed", nmc: CARD.address }, Date.UTC(2026, 0, 1));

/** A fake clock that also records the delay of every timer set on it. */
function recordingClock() {
  const { fake, clock } = fakeClock();
  const delays: number[] = [];
  const recording: Clock = { ...clock, setTimeout: (fn, ms) => (delays.push(ms), clock.setTimeout(fn, ms)) };
  return { fake, clock: recording, delays };
}

/** A TCP server that accepts and at once closes every connection (reachable, but no SMTP). */
function startDroppingServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        conn.close();
      }
    } catch {
      // closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    async close() {
      listener.close();
      await loop;
    },
  };
}

Deno.test("email: a failing server is retried after 5 s, 10 s, 20 s (fake time), then reported once", async () => {
  const server = startDroppingServer();
  const { fake, clock, delays } = recordingClock();
  try {
    const notifier = new EmailNotifier({
      settings: emailSettings(server.port, { retries: 3, timeout: 7 }),
      clock,
    });
    const sending = notifier.notify(event);
    for (const [attempt, wait] of [[1, 5000], [2, 10_000], [3, 20_000]]) {
      await waitUntil(
        () => server.accepted === attempt && delays.includes(wait),
        `attempt ${attempt} and its wait`,
      );
      await fake.tickAsync(wait - 1);
      assert.equal(server.accepted, attempt, `no attempt ${attempt + 1} before its ${wait} ms wait`);
      await fake.tickAsync(1);
    }
    const result = await sending;
    assert.equal(server.accepted, 4);
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 4);
    assert.match(
      result.error!,
      /^connection to smtp:\/\/127\.0\.0\.1:\d+ \(starttls\) failed: .*gave up after 4 attempts/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("email: a server that never answers is given up after the timeout, its connection closed", async () => {
  const stalled = startStalledServer();
  const { fake, clock } = fakeClock();
  try {
    const notifier = new EmailNotifier({ settings: emailSettings(stalled.port, { timeout: 30 }), clock });
    const sending = notifier.notify(event);
    await waitUntil(() => stalled.open === 1, "the connection");
    await fake.tickAsync(30_000);
    const result = await sending;
    assert.equal(result.ok, false);
    assert.match(result.error!, /did not finish within 30 s/);
    await waitUntil(() => stalled.open === 0, "the client to close its connection");
  } finally {
    await stalled.close();
  }
});

function mailConfig(port: number, change: Partial<AgentConfig["shutdown"]> = {}): AgentConfig {
  const base = testConfig();
  const notify = { ...NO_ACTIONS, enableNotification: true };
  return {
    ...base,
    shutdown: { ...base.shutdown, ...change },
    events: {
      ...base.events,
      PowerFailed: { ...base.events.PowerFailed, enableNotification: true, shutdownDelay: 1 },
      LowBattery: notify,
      PowerRestored: notify,
      ShutdownStarting: notify,
    },
    notifications: { ...base.notifications, email: emailSettings(port, { security: "none", retries: 0 }) },
  };
}

Deno.test("email: server unreachable: one NotificationFailed per failure run, every event in the event log", async () => {
  const port = freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-email-down-" });
  const { logger, records } = memoryLogger();
  const config = mailConfig(port);
  const agent = Agent.start({
    config: {
      ...config,
      events: { ...config.events, PowerFailed: { ...config.events.PowerFailed, enableShutdown: false } },
    },
    dataDir,
    logger,
    dryRun: true,
    servers: false,
    persistCountdowns: false,
  });
  const failed: AgentEvent[] = [];
  agent.bus.subscribe((e) => e.id === "NotificationFailed" && failed.push(e));
  let server: Awaited<ReturnType<typeof startSmtpServer>> | undefined;
  try {
    const first = nextEvent(agent.bus, "NotificationFailed");
    agent.emit({ id: "PowerFailed", nmc: CARD.address });
    agent.emit({ id: "LowBattery", nmc: CARD.address });
    await first;
    agent.emit({ id: "LowBatteryCleared", nmc: CARD.address }); // not notified: no action configured
    await new Promise((r) => setTimeout(r, 300)); // the second delivery fails too, silently
    assert.equal(failed.length, 1, "one report for the run, not one per event");
    assert.match(
      failed[0].message,
      /notification of (PowerFailed|LowBattery) via email smtp:\/\/127\.0\.0\.1:\d+ \(none\)/,
    );
    assert.match(failed[0].message, /ECONNREFUSED/);
    assert.match(failed[0].message, /not reported until a notification gets through again/);

    // The server comes back: the next e-mail goes out, and that ends the run.
    server = await startSmtpServer({ mode: "plain", port });
    agent.emit({ id: "PowerRestored", nmc: CARD.address });
    await waitUntil(() => server!.received.length === 1, "the e-mail after the server came back");
    await server.close();
    server = undefined;
    const second = nextEvent(agent.bus, "NotificationFailed");
    agent.emit({ id: "PowerFailed", nmc: CARD.address });
    await second;
    assert.equal(failed.length, 2, "a new failure run is reported again");
  } finally {
    await server?.close();
    await agent.stop();
  }
  const logged: string[] = (await readEventLog(agent.eventLogPath)).map((r) => r.id);
  for (const id of ["PowerFailed", "LowBattery", "LowBatteryCleared", "NotificationFailed"]) {
    assert.ok(logged.includes(id), `${id} is in the event log (${logged.join(", ")})`);
  }
  assert.ok(!records.some((r) => /secret|pass/i.test(r.message)), "nothing secret was logged");
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("email: a stalled SMTP server never delays the shutdown: the OS step comes on time", async () => {
  const stalled = startStalledServer();
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-email-slow-" });
  const executor = new RecordingExecutor();
  const agent = Agent.start({
    config: mailConfig(stalled.port, { settleDelay: 1 }),
    dataDir,
    logger: memoryLogger().logger,
    dryRun: true,
    executor,
    servers: false,
    persistCountdowns: false,
  });
  try {
    const osDown = nextEvent(agent.bus, "OsShutdown", 10_000);
    const started = performance.now();
    agent.emit({ id: "PowerFailed", nmc: CARD.address });
    await osDown;
    const seconds = (performance.now() - started) / 1000;
    // 1 s on-battery delay + 1 s settle delay; the e-mails of PowerFailed and ShutdownStarting still hang.
    assert.ok(seconds >= 1.9 && seconds < 3, `OS step after ${seconds.toFixed(2)} s (expected 2 s)`);
    assert.equal(executor.calls.length, 1);
    assert.ok(stalled.open >= 2, `both e-mails are still waiting on the server (${stalled.open} open)`);
    const stopping = performance.now();
    await agent.stop();
    // The mails would wait for their 5 s timeout: stopping well before it means the stop did not wait.
    assert.ok(performance.now() - stopping < 4000, "stopping does not wait for the mail either");
  } finally {
    await agent.stop();
    await stalled.close(); // the clients see the end of their connections and give up
    await waitUntil(() => stalled.open === 0, "the e-mail connections to close");
    await new Promise((r) => setTimeout(r, 50));
    await Deno.remove(dataDir, { recursive: true });
  }
});
