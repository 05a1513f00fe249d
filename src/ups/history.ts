/**
 * A bounded history of each UPS's battery charge, load and line voltage for
 * the dashboard chart: at most one sample per interval (default 60 s), the
 * last 24 h kept in a fixed-size ring per NMC, so memory never grows with
 * the number of packets.
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

/** Per-NMC history, sampled at most once per interval. */
export class UpsHistory {
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #rings = new Map<string, SampleRing>();

  /** Keeps `windowMs` (default 24 h) of samples taken at most every `intervalMs` (default 60 s). */
  constructor(intervalMs = 60_000, windowMs = 24 * 3600_000) {
    this.#intervalMs = intervalMs;
    this.#windowMs = windowMs;
  }

  /** Offers a reading; it is kept if the card's last sample is at least one interval old. */
  record(card: string, sample: HistorySample): void {
    let ring = this.#rings.get(card);
    if (!ring) {
      ring = new SampleRing(Math.ceil(this.#windowMs / this.#intervalMs));
      this.#rings.set(card, ring);
    }
    const last = ring.last();
    if (last && sample.time - last.time < this.#intervalMs) return;
    ring.push(sample);
  }

  /** The samples of a card within the window ending at `now`, oldest first. */
  samples(card: string, now: number): HistorySample[] {
    return (this.#rings.get(card)?.toArray() ?? []).filter((s) => s.time > now - this.#windowMs);
  }

  /** Forgets cards no longer configured. */
  retain(cards: readonly string[]): void {
    for (const card of [...this.#rings.keys()]) if (!cards.includes(card)) this.#rings.delete(card);
  }
}
