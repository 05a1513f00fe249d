/**
 * Pending shutdown countdowns survive a restart of the agent: they are
 * written (atomically) to `pending-shutdown.json` in the data directory on
 * every change and read back at start.
 *
 * @module
 */
import type { ActiveEvent, ShutdownCandidate } from "../actions/policy.ts";
import type { SequenceTrigger } from "./sequencer.ts";

/** What is persisted. */
export interface PersistedShutdownState {
  /** Format version. */
  readonly version: 1;
  /** When it was written. */
  readonly savedAt: number;
  /** Events in effect when it was written. */
  readonly active: readonly ActiveEvent[];
  /** Countdowns pending when it was written. */
  readonly countdowns: readonly ShutdownCandidate[];
  /** The sequence, if it had started. */
  readonly sequence?: { readonly startedAt: number; readonly trigger: SequenceTrigger };
}

/** Reads and writes the persisted state. */
export interface ShutdownStateStore {
  /** Saves the state (replacing the previous one). */
  save(state: PersistedShutdownState): void;
  /** Removes it (nothing pending). */
  clear(): void;
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
  if (!v || v.version !== 1 || !Array.isArray(v.active) || !Array.isArray(v.countdowns)) {
    return "not a pending-shutdown file of this version";
  }
  return v as PersistedShutdownState;
}

/** The file-backed store. */
export class ShutdownStateFile implements ShutdownStateStore {
  readonly #path: string;
  #present: boolean | undefined;

  /** Uses the file at `path`. */
  constructor(path: string) {
    this.#path = path;
  }

  /** Reads the file: undefined if absent, an error message if unreadable. */
  load(): PersistedShutdownState | string | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      return `cannot read ${this.#path}: ${(error as Error).message}`;
    }
    return parsePersistedState(text);
  }

  /** Writes atomically: temp file, fsync, rename. */
  save(state: PersistedShutdownState): void {
    const tmp = `${this.#path}.tmp`;
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      file.writeSync(new TextEncoder().encode(JSON.stringify(state) + "\n"));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, this.#path);
    this.#present = true;
  }

  /** Removes the file if present. */
  clear(): void {
    if (this.#present === false) return;
    try {
      Deno.removeSync(this.#path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#present = false;
  }
}
