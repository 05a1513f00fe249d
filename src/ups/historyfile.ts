/**
 * The chart history on disk (`ups-history.json` in the data directory), so a
 * restart does not blank the 24 h chart. Bounded: the rings bound what is
 * written (9 cards x 1800 samples, well under a megabyte), and a file larger
 * than {@link MAX_HISTORY_FILE_BYTES} is not read. Written atomically (temp
 * file, fsync, rename); a corrupt or foreign file is reported by the caller
 * and ignored, never trusted in part. Parsing is pure; the class is a thin
 * I/O shell.
 *
 * @module
 */
import { join } from "node:path";
import type { HistorySample, HistorySnapshot } from "./history.ts";
import { LatestFile, type LatestFileOptions, type SaveOutcome } from "../fs/latest.ts";

/** File name in the data directory. */
export const HISTORY_FILE_NAME = "ups-history.json";
/** Largest file read (bytes); a larger one is reported and ignored. */
export const MAX_HISTORY_FILE_BYTES = 4 * 1024 * 1024;
/** Most samples per card and tier accepted from the file. */
const MAX_SAMPLES = 4000;

/** A sample as stored: `[time, battery %, load %, line V, on battery (1/0)]`, absent values as null. */
type StoredSample = [number, number | null, number | null, number | null, 0 | 1];

const num = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : v);

/** The file text of a snapshot. */
export function formatHistoryFile(snapshot: HistorySnapshot, savedAt: number): string {
  const pack = (s: HistorySample): StoredSample => [
    s.time,
    num(s.batteryPercent),
    num(s.loadPercent),
    num(s.lineVoltage),
    s.onBattery ? 1 : 0,
  ];
  const cards = Object.fromEntries(
    Object.entries(snapshot.cards).map((
      [card, t],
    ) => [card, { day: t.day.map(pack), hour: t.hour.map(pack) }]),
  );
  return JSON.stringify({ version: 1, savedAt: new Date(savedAt).toISOString(), cards }) + "\n";
}

function unpack(value: unknown, where: string): HistorySample[] | string {
  if (!Array.isArray(value)) return `${where} is not a list`;
  if (value.length > MAX_SAMPLES) return `${where} has ${value.length} samples, at most ${MAX_SAMPLES}`;
  const out: HistorySample[] = [];
  let last = -Infinity;
  for (const [i, s] of value.entries()) {
    const ok = Array.isArray(s) && s.length === 5 && Number.isInteger(s[0]) && s[0] > last &&
      s.slice(1, 4).every((v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v))) &&
      (s[4] === 0 || s[4] === 1);
    if (!ok) return `${where}[${i}] is not a sample [time, battery, load, line, onBattery] in time order`;
    last = s[0];
    out.push({
      time: s[0],
      ...(s[1] !== null ? { batteryPercent: s[1] } : {}),
      ...(s[2] !== null ? { loadPercent: s[2] } : {}),
      ...(s[3] !== null ? { lineVoltage: s[3] } : {}),
      ...(s[4] === 1 ? { onBattery: true } : {}),
    });
  }
  return out;
}

/** Parses the file text; a string names what is wrong. */
export function parseHistoryFile(text: string): HistorySnapshot | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const content = value as { version?: unknown; cards?: unknown } | null;
  if (!content || content.version !== 1 || typeof content.cards !== "object" || content.cards === null) {
    return "not a history file of version 1";
  }
  const cards: Record<string, { day: HistorySample[]; hour: HistorySample[] }> = {};
  for (const [card, tiers] of Object.entries(content.cards as Record<string, unknown>)) {
    const t = tiers as { day?: unknown; hour?: unknown } | null;
    const day = unpack(t?.day, `card ${card} day`);
    if (typeof day === "string") return day;
    const hour = unpack(t?.hour, `card ${card} hour`);
    if (typeof hour === "string") return hour;
    cards[card] = { day, hour };
  }
  return { cards };
}

/** Reads and writes the history file of a data directory (written off the event loop). */
export class HistoryFile {
  readonly #file: LatestFile;

  /** Uses `ups-history.json` in `dataDir`; `options.onStall` hears of a write the disk does not finish. */
  constructor(dataDir: string, options: LatestFileOptions = {}) {
    this.#file = new LatestFile(join(dataDir, HISTORY_FILE_NAME), options);
  }

  /** Where the history is kept. */
  get path(): string {
    return this.#file.path;
  }

  /** The saved history; undefined if there is none; a message if the file cannot be used. */
  load(): HistorySnapshot | string | undefined {
    let text: string;
    try {
      const info = Deno.lstatSync(this.path);
      if (!info.isFile) return `${this.path} is not a regular file`;
      if (info.size > MAX_HISTORY_FILE_BYTES) {
        return `${this.path} is ${info.size} bytes, larger than ${MAX_HISTORY_FILE_BYTES}: not read`;
      }
      text = Deno.readTextFileSync(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      return `cannot read ${this.path}: ${(error as Error).message}`;
    }
    const parsed = parseHistoryFile(text);
    return typeof parsed === "string" ? `${this.path}: ${parsed}` : parsed;
  }

  /** Writes a temp file, syncs it and renames it over the old one, in the background; `outcome` hears how. */
  save(snapshot: HistorySnapshot, now: number, outcome?: SaveOutcome): void {
    this.#file.save(formatHistoryFile(snapshot, now), outcome);
  }

  /** True once everything saved is on disk (or failed); false after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    return this.#file.settled(timeoutMs);
  }
}
