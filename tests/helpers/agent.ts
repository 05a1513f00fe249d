/** Starting an agent on loopback for tests, and waiting for its events. */
import { Agent } from "../../src/agent/agent.ts";
import type { AgentConfig, EventActions } from "../../src/config/types.ts";
import type { EventBus } from "../../src/events/bus.ts";
import type { AgentEvent, EventId } from "../../src/events/types.ts";
import { memoryLogger } from "../../src/log/logger.ts";
import type { Clock } from "../../src/time/clock.ts";
import { CARD } from "./packets.ts";
import { freePort } from "./ports.ts";

/** Every action off (the base of test event configs). */
export const NO_ACTIONS: EventActions = {
  enableLogging: true,
  enableNotification: false,
  enableCommandFile: false,
  commandFilePath: "",
  commandFileDelay: 0,
  commandFileDuration: 0,
  enableShutdown: false,
  shutdownDelay: 0,
};

/** A complete config for tests: one card on loopback, UDP on an ephemeral port of 127.0.0.1. */
export function testConfig(
  change: { cards?: string[]; udpListenAddresses?: string[]; udpPort?: number; requireCardSource?: boolean } =
    {},
): AgentConfig {
  return {
    nmc: {
      username: CARD.username,
      password: "",
      authenticationPhrase: CARD.authenticationPhrase,
      protocol: "http",
      port: 80,
      acceptCerts: false,
      mode: "single",
      cards: change.cards ?? [CARD.address],
      localHostAddress: "",
      registerWithNmc: true,
      commLostTimeout: 55,
      redundantUps: 1,
    },
    networking: {
      udpPort: change.udpPort ?? 0,
      udpListenAddresses: change.udpListenAddresses ?? ["127.0.0.1"],
      requireCardSource: change.requireCardSource ?? true,
      httpPort: 0,
      httpsPort: 0,
      uiProtocol: "https",
      uiListenAddress: "127.0.0.1",
    },
    shutdown: {
      shutdownCommandFile: "",
      shutdownCommandFileDuration: 0,
      turnOffUps: false,
      settleDelay: 70,
      osShutdownCommand: "",
      osShutdownDuration: 50,
    },
    events: {
      PowerFailed: { ...NO_ACTIONS, enableShutdown: true, shutdownDelay: 120 },
      Overload: { ...NO_ACTIONS, enableLogging: false },
    },
    eventLog: { fileName: "EventLog.jsonl", maxSizeKiB: 1024 },
    notifications: { webhookUrl: "", webhookTimeout: 5, webhookRetries: 3, syslog: "" },
    runtimeThreshold: 0,
    webUi: {
      certificateFile: "",
      keyFile: "",
      sessionIdleTimeout: 15,
      sessionLifetime: 720,
      lockoutThreshold: 5,
      lockoutDuration: 15,
      metricsWithoutLogin: false,
    },
  };
}

/** Starts an agent in a fresh temp data dir; `close()` stops it and removes the dir. */
export async function startTestAgent(config: AgentConfig = testConfig(), clock?: Clock) {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-test-" });
  const { logger, records } = memoryLogger();
  const agent = Agent.start({ config, dataDir, logger, clock, dryRun: true });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  return {
    agent,
    dataDir,
    logs: records,
    events,
    async close() {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Resolves with the next event `id` on `bus` (optionally matching `where`), or rejects after `timeoutMs`. */
export function nextEvent(
  bus: EventBus,
  id: EventId,
  timeoutMs = 5000,
  where: (e: AgentEvent) => boolean = () => true,
): Promise<AgentEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${id} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = bus.subscribe((event) => {
      if (event.id !== id || !where(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** Polls `check` every 10 ms until it returns true, or throws after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The pcnsconfig.ini of a child `run` on loopback: the test card, no registration, UDP on `udpPort`, the web UI
 * on free loopback ports (never the real 3052/6547), then `more` lines (e.g. a [Shutdown] section).
 */
export function loopbackIni(udpPort: number, more: readonly string[] = []): string {
  return [
    "[NetworkManagementCard]",
    `username = ${CARD.username}`,
    `authenticationPhrase = ${CARD.authenticationPhrase}`,
    `ip_1 = ${CARD.address}`,
    "registerWithNmc = false",
    "[Networking]",
    `udpPort = ${udpPort}`,
    "udpListenAddresses = 127.0.0.1",
    `httpPort = ${freePort()}`,
    `httpsPort = ${freePort()}`,
    "uiListenAddress = 127.0.0.1",
    ...more,
    "",
  ].join("\n");
}
