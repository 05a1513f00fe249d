/**
 * The cards' last accepted replay counters on disk (`nmc-counters.json` in
 * the data directory), so that a restart (clean, SIGKILL or power loss)
 * does not reopen the door to recorded packets. A thin I/O shell: when to
 * save is the packet engine's decision.
 *
 * @module
 */
import { join } from "node:path";
import type { ReplayCounters } from "./counters.ts";
import { LatestFile, type LatestFileOptions, type SaveOutcome } from "../fs/latest.ts";

/** File name of the saved counters in the data directory. */
export const COUNTER_FILE_NAME = "nmc-counters.json";

/** Reads and writes the saved counters. */
export interface CounterStore {
  /** The saved counters; undefined if none were saved; an error message if the file cannot be used. */
  load(): Map<string, ReplayCounters> | string | undefined;
  /** Replaces the saved counters (atomically, in the background); `outcome` is told the OS error on failure. */
  save(cards: ReadonlyMap<string, ReplayCounters>, outcome: SaveOutcome): void;
}

interface CounterFileContent {
  readonly version: 1;
  readonly savedAt: string;
  readonly cards: Record<string, { readonly sr: number; readonly su: number }>;
}

const isCounter = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;

/** Parses the file's text; an error message names what is wrong. */
export function parseCounterFile(text: string): Map<string, ReplayCounters> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const content = value as Partial<CounterFileContent> | null;
  if (!content || content.version !== 1 || typeof content.cards !== "object" || content.cards === null) {
    return "not a counter file of version 1";
  }
  const out = new Map<string, ReplayCounters>();
  for (const [card, c] of Object.entries(content.cards)) {
    if (!c || !isCounter(c.sr) || !isCounter(c.su)) return `card ${card}: sr/su are not counters`;
    out.set(card, { sr: c.sr, su: c.su });
  }
  return out;
}

/** The file-backed store in a data directory: written off the event loop (temp file, fsync, rename). */
export class CounterFile implements CounterStore {
  readonly #file: LatestFile;

  /** Uses `nmc-counters.json` in `dataDir`; `options.onStall` hears of a write the disk does not finish. */
  constructor(dataDir: string, options: LatestFileOptions = {}) {
    this.#file = new LatestFile(join(dataDir, COUNTER_FILE_NAME), options);
  }

  /** Where the counters are kept. */
  get path(): string {
    return this.#file.path;
  }

  /** Reads the file. */
  load(): Map<string, ReplayCounters> | string | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      return `cannot read ${this.path}: ${(error as Error).message}`;
    }
    const parsed = parseCounterFile(text);
    return typeof parsed === "string" ? `${this.path}: ${parsed}` : parsed;
  }

  /** Writes a temp file, syncs it and renames it over the old one; the temp file is removed on failure. */
  save(cards: ReadonlyMap<string, ReplayCounters>, outcome: SaveOutcome): void {
    const content: CounterFileContent = {
      version: 1,
      savedAt: new Date().toISOString(),
      cards: Object.fromEntries([...cards].map(([card, c]) => [card, { sr: c.sr, su: c.su }])),
    };
    this.#file.save(JSON.stringify(content) + "\n", outcome);
  }

  /** True once everything saved is on disk (or failed); false after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    return this.#file.settled(timeoutMs);
  }
}
