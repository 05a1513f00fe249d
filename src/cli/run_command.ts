/**
 * `run`: the agent itself, until SIGINT/SIGTERM. Under systemd (`Type=notify`)
 * it sends READY=1 once UDP and the web UI listen, WATCHDOG=1 pings when
 * `WatchdogSec=` is set, RELOADING=1/READY=1 around configuration reloads,
 * and STOPPING=1 when asked to stop.
 *
 * @module
 */
import type { Command } from "commander";
import { type RunningService, startService } from "../agent/service.ts";
import { defaultConfigPath } from "../config/paths.ts";
import { type LogFormat, Logger, type LogLevel, stderrSink } from "../log/logger.ts";
import { stderrFlushed } from "../log/stderr.ts";
import { SystemdNotifier } from "../service/notify.ts";
import { RecordingExecutor, SystemExecutor } from "../shutdown/executor.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { configFlagHelp, runEnvironmentHelp } from "./help_text.ts";

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Resolves when the process is asked to stop (SIGINT, SIGTERM; SIGBREAK on Windows). */
export function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT", "SIGBREAK"]
      : ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
  });
}

/** The STATUS= line for systemd (pure over the service): what the agent listens on. */
export function readyStatus(service: Pick<RunningService, "agent" | "web" | "store">): string {
  const udp = service.agent.status().udp.map((a) => `${a.hostname}:${a.port}`).join(", ");
  const cards = service.store.current.nmc.cards.length;
  const web = service.web ? `; web UI on port ${service.web.httpsPort}` : "";
  return `monitoring ${cards} NMC(s) on UDP ${udp || "(none)"}${web}`;
}

/** Adds the `run` command. */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run the agent (creates the config with defaults if it does not exist)")
    .option("-c, --config <path>", configFlagHelp("path of pcnsconfig.ini"))
    .option("--dry-run", "never shut the OS down: log what would run instead", false)
    .option("--no-web", "do not start the web UI (TCP httpPort/httpsPort)")
    .option("--log-format <text|json>", "format of the log lines on stderr", "text")
    .option("--log-level <level>", `least severe log level shown (${LOG_LEVELS.join(", ")})`, "info")
    .addHelpText("after", runEnvironmentHelp())
    .action(async (opts) => {
      if (!["text", "json"].includes(opts.logFormat)) {
        throw new CliError(`--log-format: "${opts.logFormat}" must be text or json`, EXIT_USAGE);
      }
      if (!LOG_LEVELS.includes(opts.logLevel)) {
        throw new CliError(
          `--log-level: "${opts.logLevel}" must be one of ${LOG_LEVELS.join(", ")}`,
          EXIT_USAGE,
        );
      }
      const logger = new Logger(stderrSink(opts.logFormat as LogFormat), opts.logLevel as LogLevel);
      // Listen for SIGTERM/SIGINT before starting, so a stop request during start-up still ends cleanly.
      const stop = stopRequested();
      // The one place the real OS-shutdown executor is created: `run` without --dry-run.
      const executor = opts.dryRun ? new RecordingExecutor() : new SystemExecutor();
      const service = await startService({
        configPath: opts.config ?? defaultConfigPath(),
        logger,
        dryRun: opts.dryRun,
        executor,
        webUi: opts.web,
      });
      // startService has returned: UDP (and the web UI) listen. Tell systemd, if it is watching.
      const notifier = SystemdNotifier.fromEnv((message) => logger.warn(message));
      await notifier.ready(readyStatus(service));
      const unsubscribe = service.store.subscribe((_config, change) => {
        if (!notifier.enabled) return;
        void notifier.reloading().then(() =>
          notifier.notify({
            READY: 1,
            STATUS: `${
              readyStatus(service)
            }; configuration reloaded (${change.changed.length} key(s) changed)`,
          })
        );
      });
      const signal = await stop;
      logger.info(`${signal} received: stopping`);
      unsubscribe();
      await notifier.stopping();
      await service.stop();
      notifier.close();
      // The last lines (the stop's own) are still on their way to the system log: bounded, it may not read.
      await stderrFlushed(2000);
    });
}
