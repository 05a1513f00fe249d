/**
 * Packet acceptance: decides whether a datagram is a genuine, fresh packet from
 * one of the configured cards. Checks run in this order and stop at the first
 * failure: size, line count, well-formedness, MD5 signature, card address
 * (`PC=`), replay counters (`SR`, `SU`). Nothing is trusted before the
 * signature matched, and the replay counters only move on acceptance.
 *
 * @module
 */
import {
  computeSignatureWith,
  countLines,
  credentialSuffix,
  findSignatureOffset,
  firstValue,
  type PacketKind,
  type PacketLine,
  parsePacket,
  signatureLineValue,
  signaturesEqual,
} from "./packet.ts";

/** Largest datagram accepted, in bytes. */
export const MAX_PACKET_BYTES = 4096;
/** Most lines a packet may have. */
export const MAX_PACKET_LINES = 256;

/** Why a datagram was rejected. */
export type RejectReason =
  | "oversize"
  | "too-many-lines"
  | "malformed"
  | "bad-md5"
  | "unknown-card"
  | "no-counters"
  | "replay";

/** Every rejection reason, in check order. */
export const REJECT_REASONS: readonly RejectReason[] = [
  "oversize",
  "too-many-lines",
  "malformed",
  "bad-md5",
  "unknown-card",
  "no-counters",
  "replay",
];

/** The card's reboot counter (SR) and uptime counter (SU). */
export interface ReplayCounters {
  /** Reboot counter. */
  readonly sr: number;
  /** Uptime counter, hundredths of a second since the card booted. */
  readonly su: number;
}

/** What the gate needs to know: shared credentials and the cards we listen to. */
export interface GateSettings {
  /** PowerChute user name configured on the cards. */
  readonly username: string;
  /** Authentication phrase configured on the cards. */
  readonly authenticationPhrase: string;
  /** Card addresses, compared with `PC=` as exact strings. */
  readonly cards: readonly string[];
}

/** An accepted packet: authenticated, from a configured card, fresh. */
export interface AcceptedPacket {
  /** Packet type. */
  readonly kind: PacketKind;
  /** The configured card it came from (= its `PC=`). */
  readonly card: string;
  /** Its replay counters (now the card's latest). */
  readonly counters: ReplayCounters;
  /** All `KEY=VALUE` lines in order. */
  readonly lines: readonly PacketLine[];
}

/** Result of judging one datagram. */
export type Verdict =
  | { readonly accepted: true; readonly packet: AcceptedPacket }
  | { readonly accepted: false; readonly reason: RejectReason; readonly detail: string };

function reject(reason: RejectReason, detail: string): Verdict {
  return { accepted: false, reason, detail };
}

/** Parses SR/SU: hexadecimal digits with an optional 0x; undefined otherwise. */
export function parseCounter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(?:0[xX])?([0-9A-Fa-f]{1,13})$/.exec(value);
  return match ? parseInt(match[1], 16) : undefined;
}

/** True if `next` is strictly newer than `last`: a higher SR, or the same SR and a higher SU. */
export function isNewer(next: ReplayCounters, last: ReplayCounters | undefined): boolean {
  if (last === undefined) return next.sr > 0 || next.su > 0;
  return next.sr > last.sr || (next.sr === last.sr && next.su > last.su);
}

const suffixes = new WeakMap<GateSettings, Uint8Array>();

/** The settings' credential bytes, computed once per settings object. */
function suffixOf(settings: GateSettings): Uint8Array {
  let suffix = suffixes.get(settings);
  if (!suffix) {
    suffix = credentialSuffix(settings.username, settings.authenticationPhrase);
    suffixes.set(settings, suffix);
  }
  return suffix;
}

function firstBadByte(raw: Uint8Array): number {
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === 0x09 || b === 0x0a || b === 0x0d) continue;
    if (b < 0x20 || b > 0x7e) return i;
  }
  return -1;
}

/**
 * Judges one datagram against the settings and the last accepted counters of
 * each card. Pure: it changes nothing; the caller records the counters of an
 * accepted packet.
 */
export function judgePacket(
  raw: Uint8Array,
  settings: GateSettings,
  lastCounters: (card: string) => ReplayCounters | undefined,
): Verdict {
  if (raw.length > MAX_PACKET_BYTES) {
    return reject("oversize", `${raw.length} bytes, limit ${MAX_PACKET_BYTES}`);
  }
  if (raw.length === 0) return reject("malformed", "empty datagram");
  // Cheap byte scans first: a forged packet is refused before it is parsed.
  const lineCount = countLines(raw);
  if (lineCount > MAX_PACKET_LINES) {
    return reject("too-many-lines", `${lineCount} lines, limit ${MAX_PACKET_LINES}`);
  }
  const bad = firstBadByte(raw);
  if (bad >= 0) {
    const what = raw[bad] === 0 ? "NUL byte" : raw[bad] > 0x7e ? "non-ASCII byte" : "control byte";
    return reject("malformed", `${what} 0x${raw[bad].toString(16).padStart(2, "0")} at offset ${bad}`);
  }
  const signatureOffset = findSignatureOffset(raw);
  if (signatureOffset < 0) return reject("malformed", "no MD= signature");
  if (signatureOffset === 0) return reject("malformed", "MD= at offset 0: nothing is signed");

  const md = signatureLineValue(raw) ?? "";
  const expected = computeSignatureWith(raw.subarray(0, signatureOffset), suffixOf(settings));
  if (!signaturesEqual(expected, md)) {
    return reject("bad-md5", "MD5 does not match the user name and authentication phrase");
  }
  const packet = parsePacket(raw);

  const card = firstValue(packet, "PC");
  if (card === undefined || !settings.cards.includes(card)) {
    return reject(
      "unknown-card",
      card === undefined ? "no PC= address" : `PC=${card} is not a configured NMC`,
    );
  }

  const sr = parseCounter(firstValue(packet, "SR"));
  const su = parseCounter(firstValue(packet, "SU"));
  if (sr === undefined || su === undefined) {
    return reject("no-counters", `card ${card}: SR= or SU= missing or not hexadecimal`);
  }
  const counters = { sr, su };
  const last = lastCounters(card);
  if (!isNewer(counters, last)) {
    const seen = last ? `SR=${last.sr.toString(16)} SU=${last.su.toString(16)}` : "nothing";
    return reject(
      "replay",
      `card ${card}: SR=${sr.toString(16)} SU=${su.toString(16)} is not newer than ${seen}`,
    );
  }
  return { accepted: true, packet: { kind: packet.kind, card, counters, lines: packet.lines } };
}

/**
 * Stateful wrapper around `judgePacket`: remembers each card's last accepted
 * counters and counts rejections by reason.
 */
export class PacketGate {
  #settings: GateSettings;
  readonly #counters = new Map<string, ReplayCounters>();
  readonly #rejected = new Map<RejectReason, number>();
  #accepted = 0;

  /** Creates a gate for the given settings. */
  constructor(settings: GateSettings) {
    this.#settings = settings;
  }

  /** Applies new settings; counters of cards still configured are kept, the others forgotten. */
  configure(settings: GateSettings): void {
    this.#settings = settings;
    for (const card of [...this.#counters.keys()]) {
      if (!settings.cards.includes(card)) this.#counters.delete(card);
    }
  }

  /** Judges a datagram; on acceptance the card's counters move forward. */
  check(raw: Uint8Array): Verdict {
    const verdict = judgePacket(raw, this.#settings, (card) => this.#counters.get(card));
    if (verdict.accepted) {
      this.#counters.set(verdict.packet.card, verdict.packet.counters);
      this.#accepted++;
    } else {
      this.#rejected.set(verdict.reason, (this.#rejected.get(verdict.reason) ?? 0) + 1);
    }
    return verdict;
  }

  /** Number of packets accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Rejections so far, by reason (every reason listed, zero if none). */
  rejections(): Record<RejectReason, number> {
    const out = {} as Record<RejectReason, number>;
    for (const reason of REJECT_REASONS) out[reason] = this.#rejected.get(reason) ?? 0;
    return out;
  }

  /** The last accepted counters of a card, if any. */
  lastCounters(card: string): ReplayCounters | undefined {
    return this.#counters.get(card);
  }

  /** Moves a card's counters forward (for the kill-power page, authenticated like a packet); never back. */
  advance(card: string, counters: ReplayCounters): void {
    if (isNewer(counters, this.#counters.get(card))) this.#counters.set(card, counters);
  }
}
