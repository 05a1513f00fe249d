/**
 * `run`: the agent itself, until SIGINT/SIGTERM.
 *
 * @module
 */
import type { Command } from "commander";
import { startService } from "../agent/service.ts";
import { defaultConfigPath } from "../config/paths.ts";
import { type LogFormat, Logger, type LogLevel, stderrSink } from "../log/logger.ts";
import { RecordingExecutor, SystemExecutor } from "../shutdown/executor.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";

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

/** Adds the `run` command. */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run the agent (creates the config with defaults if it does not exist)")
    .option("-c, --config <path>", "path of pcnsconfig.ini", defaultConfigPath())
    .option("--dry-run", "never shut the OS down: log what would run instead", false)
    .option("--no-web", "do not start the web UI (TCP httpPort/httpsPort)")
    .option("--log-format <text|json>", "format of the log lines on stderr", "text")
    .option("--log-level <level>", `least severe log level shown (${LOG_LEVELS.join(", ")})`, "info")
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
        configPath: opts.config,
        logger,
        dryRun: opts.dryRun,
        executor,
        webUi: opts.web,
      });
      const signal = await stop;
      logger.info(`${signal} received: stopping`);
      await service.stop();
    });
}
