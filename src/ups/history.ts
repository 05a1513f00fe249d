/**
 * A bounded history of each UPS's battery charge, load and line voltage for
 * the dashboard chart: at most one sample per interval (default 60 s) for
 * the last 24 h, and a finer one (default 10 s) for the last hour, each in a
 * fixed-size ring per NMC, so memory never grows with the number of packets.
 * `historyfile.ts` keeps it across restarts.
 *
 * @module
 */

/** One history sample. */
export interface HistorySample {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Battery charge, %. */
  readonly batteryPercent?: number;
  /** Load, %. */
  readonly loadPercent?: number;
  /** Input line voltage, V. */
  readonly lineVoltage?: number;
  /** On battery power (an outage on the chart). */
  readonly onBattery?: boolean;
}

/** A fixed-capacity ring of samples, oldest overwritten first. */
export class SampleRing {
  readonly #items: (HistorySample | undefined)[];
  #next = 0;
  #size = 0;

  /** Creates a ring holding at most `capacity` samples. */
  constructor(capacity: number) {
    this.#items = new Array(Math.max(1, capacity));
  }

  /** Adds a sample, dropping the oldest when full. */
  push(sample: HistorySample): void {
    this.#items[this.#next] = sample;
    this.#next = (this.#next + 1) % this.#items.length;
    this.#size = Math.min(this.#size + 1, this.#items.length);
  }

  /** The most recent sample. */
  last(): HistorySample | undefined {
    return this.#size ? this.#items[(this.#next - 1 + this.#items.length) % this.#items.length] : undefined;
  }

  /** Samples oldest first. */
  toArray(): HistorySample[] {
    const out: HistorySample[] = [];
    const start = (this.#next - this.#size + this.#items.length) % this.#items.length;
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(start + i) % this.#items.length]!);
    return out;
  }

  /** Number of samples held. */
  get size(): number {
    return this.#size;
  }
}

/** One tier: samples at most once per interval, kept for a window. */
class Tier {
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly rings = new Map<string, SampleRing>();

  constructor(intervalMs: number, windowMs: number) {
    this.intervalMs = intervalMs;
    this.windowMs = windowMs;
  }

  record(card: string, sample: HistorySample): void {
    let ring = this.rings.get(card);
    if (!ring) {
      ring = new SampleRing(Math.ceil(this.windowMs / this.intervalMs));
      this.rings.set(card, ring);
    }
    const last = ring.last();
    if (last && sample.time - last.time < this.intervalMs) return;
    // A sample older than the last one (a clock step back) would break the order: start over.
    if (last && sample.time < last.time) {
      ring = new SampleRing(Math.ceil(this.windowMs / this.intervalMs));
      this.rings.set(card, ring);
    }
    ring.push(sample);
  }

  samples(card: string, now: number): HistorySample[] {
    return (this.rings.get(card)?.toArray() ?? []).filter((s) => s.time > now - this.windowMs);
  }
}

/** The saved form of a history: per card, both tiers, oldest first. */
export interface HistorySnapshot {
  /** Per card: the 24 h tier and the fine tier. */
  readonly cards: Readonly<Record<string, { readonly day: HistorySample[]; readonly hour: HistorySample[] }>>;
}

/** Per-NMC history, sampled at most once per interval (and once per fine interval for the last hour). */
export class UpsHistory {
  readonly #day: Tier;
  readonly #hour: Tier;
  #changes = 0;

  /**
   * Keeps `windowMs` (default 24 h) of samples taken at most every `intervalMs` (default 60 s), and the
   * last `fineWindowMs` (default 1 h) at most every `fineIntervalMs` (default 10 s).
   */
  constructor(
    intervalMs = 60_000,
    windowMs = 24 * 3600_000,
    fineIntervalMs = 10_000,
    fineWindowMs = 3600_000,
  ) {
    this.#day = new Tier(intervalMs, windowMs);
    this.#hour = new Tier(fineIntervalMs, fineWindowMs);
  }

  /** Offers a reading; each tier keeps it if its last sample of the card is at least one interval old. */
  record(card: string, sample: HistorySample): void {
    this.#day.record(card, sample);
    this.#hour.record(card, sample);
    this.#changes++;
  }

  /** The samples of a card within the 24 h window ending at `now`, oldest first. */
  samples(card: string, now: number): HistorySample[] {
    return this.#day.samples(card, now);
  }

  /** The fine samples of a card within the last hour before `now`, oldest first. */
  recent(card: string, now: number): HistorySample[] {
    return this.#hour.samples(card, now);
  }

  /** Forgets cards no longer configured. */
  retain(cards: readonly string[]): void {
    for (const tier of [this.#day, this.#hour]) {
      for (const card of [...tier.rings.keys()]) if (!cards.includes(card)) tier.rings.delete(card);
    }
  }

  /** Counts recorded offers (a saver compares it to know whether anything changed). */
  get changes(): number {
    return this.#changes;
  }

  /** Everything within the windows ending at `now`, for saving. */
  snapshot(now: number): HistorySnapshot {
    const cards: Record<string, { day: HistorySample[]; hour: HistorySample[] }> = {};
    for (const card of new Set([...this.#day.rings.keys(), ...this.#hour.rings.keys()])) {
      cards[card] = { day: this.#day.samples(card, now), hour: this.#hour.samples(card, now) };
    }
    return { cards };
  }

  /** Loads saved samples (at start, before any reading) for the cards still configured. */
  restore(snapshot: HistorySnapshot, cards: readonly string[]): void {
    for (const [card, tiers] of Object.entries(snapshot.cards)) {
      if (!cards.includes(card)) continue;
      for (const s of tiers.day) this.#day.record(card, s);
      for (const s of tiers.hour) this.#hour.record(card, s);
    }
  }
}
