/**
 * Certificate pins of the cards (trust on first use): the first successful
 * HTTPS contact with a card records the SHA-256 fingerprint of its
 * certificate in `nmc-pins.json` in the data directory; later contacts compare
 * against it. Written atomically (temporary file, fsync, rename) under a lock
 * file, so the agent and the CLI can both update it.
 *
 * @module
 */
import { join } from "node:path";
import { atomicWriteFile, readTextOrNull, withFileLock } from "../config/fs.ts";

/** File name of the pin store in the data directory. */
export const PIN_FILE_NAME = "nmc-pins.json";

/** One card's pinned certificate. */
export interface CardPin {
  /** SHA-256 fingerprint, upper-case hex pairs joined by ":". */
  readonly sha256: string;
  /** The certificate's subject when it was pinned. */
  readonly subject: string;
  /** Its end of validity. */
  readonly validTo: string;
  /** When it was pinned, ISO 8601 UTC. */
  readonly pinnedAt: string;
}

/** True for a fingerprint in the `AB:CD:...` form (32 pairs). */
export function isFingerprint(value: string): boolean {
  return /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/.test(value);
}

/**
 * Parses the pin file; an error sentence names what is wrong (the caller
 * refuses to trust anything then, rather than pinning afresh).
 */
export function parsePins(text: string): Map<string, CardPin> | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` };
  }
  const v = value as { version?: unknown; pins?: unknown };
  if (!v || typeof v !== "object" || v.version !== 1 || !v.pins || typeof v.pins !== "object") {
    return { error: 'not a pin file of version 1 ({"version": 1, "pins": {...}})' };
  }
  const pins = new Map<string, CardPin>();
  for (const [card, pin] of Object.entries(v.pins as Record<string, unknown>)) {
    const p = pin as Partial<CardPin>;
    if (!p || typeof p.sha256 !== "string" || !isFingerprint(p.sha256)) {
      return { error: `the pin of card ${card} has no valid sha256 fingerprint` };
    }
    pins.set(card, {
      sha256: p.sha256,
      subject: String(p.subject ?? ""),
      validTo: String(p.validTo ?? ""),
      pinnedAt: String(p.pinnedAt ?? ""),
    });
  }
  return pins;
}

/** The pin file text for a set of pins (cards sorted, one JSON document). */
export function formatPins(pins: ReadonlyMap<string, CardPin>): string {
  const sorted = Object.fromEntries([...pins.entries()].sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({ version: 1, pins: sorted }, null, 2) + "\n";
}

/** The file-backed pin store of a data directory. */
export class PinStore {
  /** Path of the pin file. */
  readonly path: string;

  /** Uses `nmc-pins.json` in `dataDir`. */
  constructor(dataDir: string) {
    this.path = join(dataDir, PIN_FILE_NAME);
  }

  /** Reads every pin (empty when the file does not exist); throws naming the file when it is unusable. */
  async load(): Promise<Map<string, CardPin>> {
    const text = await readTextOrNull(this.path);
    if (text === null) return new Map();
    const pins = parsePins(text);
    if ("error" in pins) throw new Error(`${this.path}: ${pins.error}`);
    return pins;
  }

  /** The pin of a card, if any. */
  async get(card: string): Promise<CardPin | undefined> {
    return (await this.load()).get(card);
  }

  /** Records (or replaces) the pin of a card. */
  async set(card: string, pin: CardPin): Promise<void> {
    await this.#update((pins) => void pins.set(card, pin));
  }

  /** Forgets the pin of a card; true if there was one. */
  async delete(card: string): Promise<boolean> {
    let had = false;
    await this.#update((pins) => void (had = pins.delete(card)));
    return had;
  }

  async #update(change: (pins: Map<string, CardPin>) => void): Promise<void> {
    await withFileLock(`${this.path}.lock`, async () => {
      const pins = await this.load();
      change(pins);
      await atomicWriteFile(this.path, formatPins(pins));
    });
  }
}
