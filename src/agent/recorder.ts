/**
 * The agent's record of its events: every event goes to the system log (journald priorities by severity)
 * and, unless `enableLogging` is off for it, to the event log file in the data directory. The file is
 * written off the event loop (see `src/events/eventlog.ts`); what it cannot take, the system log still has.
 *
 * @module
 */
import { join } from "node:path";
import type { AgentConfig } from "../config/types.ts";
import { EventLogWriter } from "../events/eventlog.ts";
import type { AgentEvent } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { STOP_WRITE_WAIT_MS } from "./statewrites.ts";

/** Writes events to the system log and the event log file named by the configuration. */
export class EventRecorder {
  readonly #dataDir: string;
  readonly #logger: Logger;
  readonly #onStall: (path: string, ms: number) => void;
  #config: AgentConfig;
  #log: EventLogWriter;

  /** Records into `dataDir`'s event log (as `config` names it); a write that stalls is told to `onStall`. */
  constructor(
    dataDir: string,
    config: AgentConfig,
    logger: Logger,
    onStall: (path: string, ms: number) => void,
  ) {
    this.#dataDir = dataDir;
    this.#logger = logger;
    this.#onStall = onStall;
    this.#config = config;
    this.#log = this.#open(config);
  }

  /** Where the event log is written. */
  get path(): string {
    return this.#log.path;
  }

  /** Logs `event` and appends it to the event log (never waits for the disk). */
  record(event: AgentEvent): void {
    const line = `${event.id}: ${event.message}`;
    // journald priorities: critical events <2> (crit), warnings <4>, the rest <6>.
    if (event.severity === "critical") this.#logger.critical(line);
    else if (event.severity === "warning") this.#logger.warn(line);
    else this.#logger.info(line);
    if (this.#config.events[event.id]?.enableLogging ?? true) this.#log.append(event);
  }

  /** Follows a new configuration: another file name opens a new writer (the old one finishes on its own). */
  configure(config: AgentConfig): void {
    const old = this.#config;
    this.#config = config;
    if (old.eventLog.fileName !== config.eventLog.fileName) {
      // The old file gets what is waiting for it in the background (a hung disk must not hold up the reload).
      void this.#log.close(STOP_WRITE_WAIT_MS);
      this.#log = this.#open(config);
    } else {
      this.#log.setMaxBytes(config.eventLog.maxSizeKiB * 1024);
    }
  }

  /** True once every event so far is in the event log (or counted as lost); false after `timeoutMs`. */
  written(timeoutMs: number): Promise<boolean> {
    return this.#log.written(timeoutMs);
  }

  /** Closes the event log after its last lines (bounded: a hung disk must not hold up the stop). */
  async close(): Promise<void> {
    if (await this.#log.close(STOP_WRITE_WAIT_MS)) return;
    this.#logger.error(
      `the event log ${this.#log.path} did not take its last lines within ${STOP_WRITE_WAIT_MS / 1000} s: ` +
        "stopping without them (the disk does not answer; the system log has every event)",
    );
  }

  #open(config: AgentConfig): EventLogWriter {
    const path = join(this.#dataDir, config.eventLog.fileName);
    return new EventLogWriter(path, config.eventLog.maxSizeKiB * 1024, {
      // The lines the log adds itself (reopened, rotated, flood counts, lost lines) go to the system log too.
      onNotice: (r) => this.#logger[r.severity === "info" ? "info" : "warn"](`${r.id}: ${r.message}`),
      onError: (error, lost) =>
        this.#logger.error(
          `cannot write the event log ${path}: ${error.message}` +
            (lost > 0 ? ` (${lost} events not written; the system log has them)` : ""),
        ),
      onStall: this.#onStall,
    });
  }
}
