/**
 * The agent as a service: opens the config store, starts the agent on its
 * configuration, pushes every valid config change to the agent, and stops
 * both cleanly. Used by `main.ts run` and the demo.
 *
 * Start order: config store (which already replaced values the start cannot
 * use, see src/config/requirements.ts), then the agent (UDP listener, event
 * log, monitoring), then the web UI. Nothing after the agent can stop the
 * start: a web UI that cannot start is a ListenerFailed event, the agent keeps
 * monitoring and shutting down, and the web UI is tried again after each
 * configuration change.
 *
 * @module
 */
import { ConfigStore } from "../config/store.ts";
import { settledWithin } from "../fs/stall.ts";
import { type EventDraft, makeEvent } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import type { OsShutdownExecutor } from "../shutdown/executor.ts";
import { WebUi } from "../web/server.ts";
import { Agent, type AgentPorts } from "./agent.ts";
import { returnLargeAllocations, startMemoryTrimming } from "../os/malloc.ts";

/** How to run the service. */
export interface ServiceOptions {
  /** Path of pcnsconfig.ini (created with defaults if missing). */
  readonly configPath: string;
  /** Operational log. */
  readonly logger: Logger;
  /** Never run a real OS shutdown. */
  readonly dryRun: boolean;
  /** Watch the config file and apply edits without a restart (default true). */
  readonly hotReload?: boolean;
  /** Time source. */
  readonly clock?: Clock;
  /** The OS-shutdown executor (default: a recorder). */
  readonly executor?: OsShutdownExecutor;
  /** Replacements for other side effects. */
  readonly ports?: AgentPorts;
  /** Start the web UI on [Networking] httpPort/httpsPort (default false; `run` turns it on). */
  readonly webUi?: boolean;
  /**
   * Register with the configured cards and answer their negotiation (default
   * true; `[NetworkManagementCard] registerWithNmc = false` turns the
   * registration itself off at any time).
   */
  readonly register?: boolean;
  /**
   * Milliseconds between the start and the first registration (default
   * {@link REGISTRATION_START_DELAY_MS}): a booting host's network may not be
   * up yet, and the card is only contacted once the listeners are bound.
   */
  readonly registrationDelayMs?: number;
}

/** Default wait between the service start and the first registration with the cards, ms. */
export const REGISTRATION_START_DELAY_MS = 10_000;

/** A running service. */
export interface RunningService {
  /** The agent. */
  readonly agent: Agent;
  /** The config store. */
  readonly store: ConfigStore;
  /** The web UI, while it runs (it may start later than the agent, after a configuration change). */
  readonly web: WebUi | undefined;
  /** Stops the agent and the config watcher. */
  stop(): Promise<void>;
}

/** Starts the service; throws a ConfigError (with every problem listed) if the config cannot be used. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const notReturned = returnLargeAllocations();
  if (notReturned) {
    options.logger.debug(`memory: freed large blocks may stay with the process (${notReturned})`);
  }
  const early: EventDraft[] = [];
  let agent: Agent | undefined;
  const onEvent = (draft: EventDraft) => agent ? agent.emit(draft) : early.push(draft);
  // The agent logs every event (its #record): the store's event messages are not logged twice.
  const store = await ConfigStore.open(options.configPath, {
    logger: options.logger,
    onEvent,
    eventsLogged: true,
  });
  try {
    agent = Agent.start({
      config: store.current,
      dataDir: store.dataDir,
      logger: options.logger,
      clock: options.clock,
      dryRun: options.dryRun,
      executor: options.executor,
      ports: options.ports,
      // A host key pinned on first contact goes into the file like any change by this host.
      pinSshHostKey: async (section, fingerprint) => {
        await store.set({ [`${section}.hostKeyFingerprint`]: fingerprint }, { local: true });
      },
    });
  } catch (error) {
    // No agent to log them: the store's messages so far go to the log here, once.
    for (const draft of early) options.logger.warn(`${draft.id}: ${makeEvent(draft, Date.now()).message}`);
    await store.close();
    throw error;
  }
  for (const draft of early) agent.emit(draft);
  const running = agent;
  let web: WebUi | undefined;
  let webFailure: string | undefined;
  /** Starts the web UI if it is wanted and not running; a failure is an event, never fatal. */
  const startWeb = async () => {
    if (!options.webUi || web) return;
    try {
      web = await WebUi.start({ agent: running, store, logger: options.logger, clock: options.clock });
      if (webFailure !== undefined) options.logger.info("web UI started after the configuration change");
      webFailure = undefined;
    } catch (error) {
      const reason = (error as Error).message;
      if (reason === webFailure) return; // the same failure again after an unrelated change
      webFailure = reason;
      options.logger.error(
        `${reason}; monitoring goes on without the web UI (tried again on the next change)`,
      );
      running.emit({
        id: "ListenerFailed",
        note: `${reason}; monitoring goes on without the web UI until a configuration change lets it start`,
      });
    }
  };
  await startWeb();
  if (options.register ?? true) {
    // After the web UI: the card learns the ports that answer its negotiation.
    running.startRegistration({
      initialDelayMs: options.registrationDelayMs ?? REGISTRATION_START_DELAY_MS,
      webPorts: () => {
        const n = running.config.networking;
        if (!web) return { httpPort: 0, httpsPort: 0 };
        return {
          httpPort: n.httpPort || web.httpPort,
          httpsPort: web.secure ? n.httpsPort || web.httpsPort : 0,
        };
      },
    });
  }
  let applying = Promise.resolve();
  const unsubscribe = store.subscribe((config) => {
    applying = applying
      .then(async () => {
        await running.applyConfig(config);
        if (web) web.applyConfig(config);
        else await startWeb();
      })
      .catch((error) =>
        options.logger.error(`applying the new configuration failed: ${(error as Error).message}`)
      );
  });
  if (options.hotReload ?? true) store.watch();
  const stopTrimming = startMemoryTrimming({
    clock: options.clock ?? systemClock,
    onUnavailable: (reason) =>
      options.logger.debug(`memory: freed small blocks may stay with the process (${reason})`),
  });
  return {
    agent: running,
    store,
    get web() {
      return web;
    },
    async stop() {
      stopTrimming();
      unsubscribe();
      await store.close();
      // Bounded: a reload reading from a disk that does not answer must not hold up the stop.
      if (!await settledWithin(applying, 5000)) {
        options.logger.error("a configuration reload did not finish within 5 s: stopping without it");
      }
      await web?.close();
      await running.stop();
    },
  };
}
