/**
 * The dashboard chart's history as the running agent keeps it: each status reading recorded
 * ({@link UpsHistory}), saved to `ups-history.json` at most once a minute when it changed and at stop
 * ({@link HistoryFile}), restored at start. A file that cannot be read or written is reported
 * (`HistoryUnavailable`: once per failing run of saves) and never stops the agent.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Clock } from "../time/clock.ts";
import { type HistorySample, UpsHistory } from "./history.ts";
import type { HistoryFile } from "./historyfile.ts";
import type { UpsState } from "./state.ts";

/** Saves happen at most this often while readings come in. */
export const HISTORY_SAVE_INTERVAL_MS = 60_000;

/** The chart history of every card, with its file. */
export class HistoryKeeper {
  readonly #history = new UpsHistory();
  readonly #file: HistoryFile | undefined;
  readonly #clock: Clock;
  readonly #emit: (draft: EventDraft) => void;
  #saved = { at: Number.NEGATIVE_INFINITY, changes: 0 };
  #failing = false;

  /** Keeps the history in `file` (undefined: in memory only), raising events through `emit`. */
  constructor(file: HistoryFile | undefined, clock: Clock, emit: (draft: EventDraft) => void) {
    this.#file = file;
    this.#clock = clock;
    this.#emit = emit;
  }

  /** Records the reading of `ups` (a status packet that set values), and saves when a minute has passed. */
  record(ups: UpsState, time: number): void {
    const r = ups.reading;
    this.#history.record(ups.card, {
      time,
      batteryPercent: r.batteryPercent,
      loadPercent: r.loadPercent,
      lineVoltage: r.lineVoltage,
      onBattery: ups.flags.onBattery,
    });
    this.save(false);
  }

  /** The last 24 h of a card (oldest first). */
  samples(card: string): HistorySample[] {
    return this.#history.samples(card, this.#clock.now());
  }

  /** The last hour of a card at the fine interval (10 s), oldest first. */
  recent(card: string): HistorySample[] {
    return this.#history.recent(card, this.#clock.now());
  }

  /** Forgets the cards no longer configured. */
  retain(cards: readonly string[]): void {
    this.#history.retain(cards);
  }

  /** Loads the saved history of `cards`; a file that cannot be used is reported and ignored. */
  restore(cards: readonly string[]): void {
    const saved = this.#file?.load();
    if (saved === undefined) return;
    if (typeof saved === "string") {
      this.#emit({ id: "HistoryUnavailable", note: `${saved}; the chart starts empty` });
      return;
    }
    this.#history.restore(saved, cards);
    this.#saved = { at: this.#clock.now(), changes: this.#history.changes };
  }

  /** Saves when the history changed, at most once a minute (`force`: now, at stop). */
  save(force: boolean): void {
    const file = this.#file;
    const now = this.#clock.now();
    if (!file || this.#history.changes === this.#saved.changes) return;
    if (!force && now - this.#saved.at < HISTORY_SAVE_INTERVAL_MS) return;
    const changes = this.#history.changes;
    this.#saved = { at: now, changes };
    file.save(this.#history.snapshot(now), now, (error) => {
      if (!error) {
        this.#failing = false;
        return;
      }
      // Reported once per failing run of saves, retried a minute later.
      if (!this.#failing) this.#emit({ id: "HistoryUnavailable", note: `${file.path}: ${error.message}` });
      this.#failing = true;
      if (this.#saved.changes === changes) this.#saved = { at: now, changes: -1 };
    });
  }
}
