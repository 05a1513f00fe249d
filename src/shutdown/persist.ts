/**
 * Pending shutdown countdowns and an interrupted sequence survive a restart
 * of the agent: they are written (atomically) to `pending-shutdown.json` in
 * the data directory on every change and read back at start, where the
 * resumption rules (`resume.ts`) decide what, if anything, goes on.
 *
 * Writing is best effort: the caller reports a failed save (full or
 * read-only disk) and carries on; nothing here may stop a shutdown.
 *
 * @module
 */
import type { ActiveEvent, ShutdownCandidate } from "../actions/policy.ts";
import type { SequenceTrigger } from "./sequencer.ts";
import { LatestFile, type LatestFileOptions, type SaveOutcome } from "../fs/latest.ts";

/** The sequence as persisted while it runs (a finished sequence is never persisted). */
export interface PersistedSequence {
  /** When ShutdownStarting was raised. */
  readonly startedAt: number;
  /** Why it started. */
  readonly trigger: SequenceTrigger;
  /** When an NMC accepted the UPS turn-off, if it did: the UPS cuts the power whatever happens next. */
  readonly turnOffSentAt?: number;
}

/** What is persisted. */
export interface PersistedShutdownState {
  /** Format version: 2 carries the dry-run marker; version 1 files (without it) are never resumed. */
  readonly version: 1 | 2;
  /** When it was written. */
  readonly savedAt: number;
  /** Written by a rehearsal (`--dry-run`, or an OS-shutdown recorder); absent in version 1. */
  readonly dryRun?: boolean;
  /** The host's boot it was written in (Linux boot_id), to tell an agent restart from a host reboot. */
  readonly bootId?: string;
  /** Events in effect when it was written. */
  readonly active: readonly ActiveEvent[];
  /** Countdowns pending when it was written. */
  readonly countdowns: readonly ShutdownCandidate[];
  /** The sequence, if it had started and not finished. */
  readonly sequence?: PersistedSequence;
}

/**
 * Reads and writes the persisted state. A store may throw at once, or tell `outcome` later (the file store
 * writes in the background, so that a hung disk never stalls a shutdown).
 */
export interface ShutdownStateStore {
  /** Saves the state (replacing the previous one); `outcome` is told the OS error if it cannot. */
  save(state: PersistedShutdownState, outcome?: SaveOutcome): void;
  /** Removes it (nothing pending); `outcome` is told the OS error if it cannot. */
  clear(outcome?: SaveOutcome): void;
}

/** Parses a persisted state; returns an error message instead if it is not one. */
export function parsePersistedState(text: string): PersistedShutdownState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const v = value as Partial<PersistedShutdownState>;
  if (
    !v || (v.version !== 1 && v.version !== 2) || !Array.isArray(v.active) || !Array.isArray(v.countdowns)
  ) {
    return "not a pending-shutdown file of a known version";
  }
  if (v.version === 2 && typeof v.dryRun !== "boolean") return "no dry-run marker";
  return v as PersistedShutdownState;
}

/** The file-backed store: written in the background (temp file, fsync, rename), never on the event loop. */
export class ShutdownStateFile implements ShutdownStateStore {
  readonly #file: LatestFile;
  #present: boolean | undefined;

  /** Uses the file at `path`; `options.onStall` hears of a write the disk does not finish. */
  constructor(path: string, options: LatestFileOptions = {}) {
    this.#file = new LatestFile(path, options);
  }

  /** Where the state lives. */
  get path(): string {
    return this.#file.path;
  }

  /** Reads the file: undefined if absent, an error message if unreadable. */
  load(): PersistedShutdownState | string | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      return `cannot read ${this.path}: ${(error as Error).message}`;
    }
    return parsePersistedState(text);
  }

  /** Writes atomically in the background; a failed write leaves no temp file behind. */
  save(state: PersistedShutdownState, outcome?: SaveOutcome): void {
    this.#present = true;
    this.#file.save(JSON.stringify(state) + "\n", this.#named("write", outcome));
  }

  /** Removes the file if present. */
  clear(outcome?: SaveOutcome): void {
    if (this.#present === false) {
      outcome?.(undefined);
      return;
    }
    this.#present = false;
    this.#file.save(null, this.#named("remove", outcome));
  }

  /** True once everything saved is on disk (or failed); false after `timeoutMs` (a hung disk). */
  settled(timeoutMs: number): Promise<boolean> {
    return this.#file.settled(timeoutMs);
  }

  #named(verb: string, outcome: SaveOutcome | undefined): SaveOutcome | undefined {
    if (!outcome) return undefined;
    return (error) => outcome(error && new Error(`cannot ${verb} ${this.path}: ${error.message}`));
  }
}
