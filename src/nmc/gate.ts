/**
 * Packet acceptance: decides whether a datagram is a genuine, fresh packet from
 * one of the configured cards. Checks run in this order and stop at the first
 * failure: size, line count, well-formedness, MD5 signature, card address
 * (`PC=`), replay counters (`SR`, `SU`). Nothing is trusted before the
 * signature matched, and the replay counters only move on acceptance.
 *
 * @module
 */
import { isIPv4, isIPv6 } from "../config/hosts.ts";
import {
  extendRun,
  formatCounters,
  isNewer,
  looksLikeReboot,
  parseCounter,
  type RefusedRun,
  type ReplayCounters,
  STUCK_AFTER_MS,
  STUCK_AFTER_PACKETS,
} from "./counters.ts";
import {
  computeSignatureWith,
  credentialSuffix,
  firstValue,
  isClosingTrailer,
  locateSignature,
  type PacketKind,
  type PacketLine,
  parseSignedRange,
  printable,
  scanDatagram,
  signaturesEqual,
} from "./packet.ts";

export { isNewer, parseCounter, type ReplayCounters };

/** Largest datagram accepted, in bytes (and largest signed range of a card page). */
export const MAX_PACKET_BYTES = 4096;
/** Most lines the signed range may have. */
export const MAX_PACKET_LINES = 256;

/** Why a datagram was rejected. */
export type RejectReason =
  | "unknown-source"
  | "oversize"
  | "too-many-lines"
  | "malformed"
  | "bad-md5"
  | "unknown-card"
  | "no-counters"
  | "replay";

/** Every rejection reason, in check order. */
export const REJECT_REASONS: readonly RejectReason[] = [
  "unknown-source",
  "oversize",
  "too-many-lines",
  "malformed",
  "bad-md5",
  "unknown-card",
  "no-counters",
  "replay",
];

/** What the gate needs to know: shared credentials and the cards we listen to. */
export interface GateSettings {
  /** PowerChute user name configured on the cards. */
  readonly username: string;
  /** Authentication phrase configured on the cards. */
  readonly authenticationPhrase: string;
  /** Card addresses, compared with `PC=` as exact strings (and cards given by host name). */
  readonly cards: readonly string[];
  /**
   * The addresses the cards given by host name resolve to (normalized address -> card, see
   * `cardnames.ts`): a packet whose `PC=` is one of them is that card's.
   */
  readonly cardAddresses?: ReadonlyMap<string, string>;
  /** Refuse datagrams whose source address is not one of `cards`, before reading them (default false). */
  readonly requireCardSource?: boolean;
}

/** A datagram's source address as the card list writes it (IPv4-mapped IPv6 unwrapped, lower case). */
export function normalizeSource(hostname: string): string {
  const bare = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return bare.startsWith("::ffff:") && bare.includes(".") ? bare.slice(7) : bare;
}

/** An accepted packet: authenticated, from a configured card, fresh. */
export interface AcceptedPacket {
  /** Packet type. */
  readonly kind: PacketKind;
  /** The configured card it came from (= its `PC=`). */
  readonly card: string;
  /** Its replay counters (now the card's latest). */
  readonly counters: ReplayCounters;
  /** The `KEY=VALUE` lines of the signed range, in order (nothing after `MD=`). */
  readonly lines: readonly PacketLine[];
  /** True if unsigned data followed the signature line (ignored, never read). */
  readonly unsignedTrailer: boolean;
}

/** The set of source addresses a gate accepts, per settings object (empty when not required). */
const sourceSets = new WeakMap<GateSettings, ReadonlySet<string> | null>();

function allowedSources(settings: GateSettings): ReadonlySet<string> | null {
  let set = sourceSets.get(settings);
  if (set === undefined) {
    set = settings.requireCardSource
      ? new Set([...settings.cards.map(normalizeSource), ...(settings.cardAddresses?.keys() ?? [])])
      : null;
    sourceSets.set(settings, set);
  }
  return set;
}

/** True when a card is given by host name, not by address. */
export function isCardName(card: string): boolean {
  return card !== "" && !isIPv4(card) && !isIPv6(card);
}

/** The configured card a packet's `PC=` names: the card itself, or the card given by a name resolving to it. */
export function cardNamed(
  settings: Pick<GateSettings, "cards" | "cardAddresses">,
  pc: string,
): string | undefined {
  if (settings.cards.includes(pc)) return pc;
  return settings.cardAddresses?.get(normalizeSource(pc));
}

/** Why a `PC=` names no card, with the names that have not resolved (they may be that card). */
function unknownCardDetail(settings: GateSettings, pc: string): string {
  const resolved = new Set(settings.cardAddresses?.values() ?? []);
  const unresolved = settings.cards.filter((card) => isCardName(card) && !resolved.has(card));
  const hint = unresolved.length === 0 ? "" : ` (${unresolved.join(", ")} did not resolve to an address yet)`;
  return `PC=${printable(pc)} is not a configured NMC${hint}`;
}

/** Result of judging one datagram. */
export type Verdict =
  | { readonly accepted: true; readonly packet: AcceptedPacket }
  | {
    readonly accepted: false;
    readonly reason: RejectReason;
    readonly detail: string;
    /** For an authenticated packet of a configured card refused as replayed: its card and counters. */
    readonly replayOf?: { readonly card: string; readonly counters: ReplayCounters };
  };

function reject(reason: RejectReason, detail: string): Verdict {
  return { accepted: false, reason, detail };
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

function counterProblem(name: string, value: string | undefined): string {
  if (value === undefined) return `${name}= missing`;
  return /^(?:0[xX])?[0-9A-Fa-f]+$/.test(value)
    ? `${name}= has ${value.replace(/^0[xX]/, "").length} hex digits, at most 8`
    : `${name}= is not hexadecimal`;
}

/**
 * Judges one datagram against the settings and the last accepted counters of
 * each card. Pure: it changes nothing; the caller records the counters of an
 * accepted packet. Only the signed range (every byte before the signature
 * line) is read; what follows it is never parsed and only flagged
 * (`unsignedTrailer`) when it is more than blank lines and closing markup.
 * Any byte but NUL may appear in the signed text (it is read as latin-1).
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
  const { signature, lineCount, nulAt, ascii } = scanDatagram(raw);
  if (signature === undefined) return reject("malformed", "no MD= signature line");
  if (signature.offset === 0) return reject("malformed", "MD= at offset 0: nothing is signed");
  const signed = raw.subarray(0, signature.offset);
  if (lineCount > MAX_PACKET_LINES) {
    return reject("too-many-lines", `${lineCount} lines, limit ${MAX_PACKET_LINES}`);
  }
  if (nulAt >= 0) return reject("malformed", `NUL byte at offset ${nulAt}`);

  const expected = computeSignatureWith(signed, suffixOf(settings));
  if (!signaturesEqual(expected, signature.value)) {
    return reject("bad-md5", "MD5 does not match the user name and authentication phrase");
  }
  const packet = parseSignedRange(signed, ascii);

  const pc = firstValue(packet, "PC");
  const card = pc === undefined ? undefined : cardNamed(settings, pc);
  if (card === undefined) {
    return reject("unknown-card", pc === undefined ? "no PC= address" : unknownCardDetail(settings, pc));
  }

  const srText = firstValue(packet, "SR");
  const suText = firstValue(packet, "SU");
  const sr = parseCounter(srText);
  const su = parseCounter(suText);
  if (sr === undefined || su === undefined) {
    const problem = sr === undefined ? counterProblem("SR", srText) : counterProblem("SU", suText);
    return reject("no-counters", `card ${card}: ${printable(problem)}`);
  }
  const counters = { sr, su };
  const last = lastCounters(card);
  if (!isNewer(counters, last)) {
    const seen = last ? formatCounters(last) : "nothing";
    return {
      accepted: false,
      reason: "replay",
      detail: `card ${card}: ${formatCounters(counters)} is not newer than ${seen}`,
      replayOf: { card, counters },
    };
  }
  const unsignedTrailer = !isClosingTrailer(raw.subarray(signature.end));
  return {
    accepted: true,
    packet: { kind: packet.kind, card, counters, lines: packet.lines, unsignedTrailer },
  };
}

/**
 * Judges a card's web page (kill-power, registration) from `<html>` on: like
 * a datagram, but only the signed range and its signature line count, so the
 * rest of the page (markup, non-ASCII text, any length) is neither read nor
 * limited.
 */
export function judgeSignedPage(
  page: Uint8Array,
  settings: GateSettings,
  lastCounters: (card: string) => ReplayCounters | undefined,
): Verdict {
  const signature = locateSignature(page);
  const verdict = judgePacket(signature ? page.subarray(0, signature.end) : page, settings, lastCounters);
  return verdict.accepted
    ? { accepted: true, packet: { ...verdict.packet, unsignedTrailer: false } }
    : verdict;
}

/** Why a card's packets are refused although they are authenticated (reported once per episode). */
export interface StuckCounters {
  /** Authenticated packets refused as replayed since the last accepted one. */
  readonly refused: number;
  /** When the first of them arrived. */
  readonly since: number;
  /** The counters of the latest of them. */
  readonly latest: ReplayCounters;
  /** The last accepted counters they are not newer than. */
  readonly last: ReplayCounters;
}

/** What the gate knows about one card's counters. */
export interface CardCounterStatus {
  /** The last accepted counters (undefined before the first packet, or after a reset). */
  readonly counters?: ReplayCounters;
  /** Present while authenticated packets of the card are being refused as replayed. */
  readonly stuck?: StuckCounters;
}

/** Something about a card's counters the operator must hear of. */
export type CounterNotice =
  | { readonly kind: "stuck"; readonly card: string; readonly stuck: StuckCounters }
  | {
    readonly kind: "recovered";
    readonly card: string;
    readonly from: ReplayCounters;
    readonly to: ReplayCounters;
    readonly run: RefusedRun;
  };

/** A verdict plus a notice about the card's counters, if the packet caused one. */
export type GateResult = Verdict & { readonly notice?: CounterNotice };

interface CardRecord {
  counters?: ReplayCounters;
  lastAcceptedAt?: number;
  refused: number;
  firstRefusedAt?: number;
  latestRefused?: ReplayCounters;
  run?: RefusedRun;
  stuckReported: boolean;
}

/**
 * Stateful wrapper around `judgePacket`: remembers each card's last accepted
 * counters (also of cards later removed from the config, so re-adding one
 * opens no replay window), counts rejections by reason, and recognises
 * cards whose counters went back (see `counters.ts`).
 */
export class PacketGate {
  #settings: GateSettings;
  readonly #cards = new Map<string, CardRecord>();
  readonly #rejected = new Map<RejectReason, number>();
  #accepted = 0;

  /** Creates a gate for the given settings. */
  constructor(settings: GateSettings) {
    this.#settings = settings;
  }

  /** Applies new settings; every card's counters are kept. */
  configure(settings: GateSettings): void {
    this.#settings = settings;
  }

  /**
   * Judges a datagram that arrived at `now` from `source` (its address, if known); on acceptance the card's
   * counters move forward. With `requireCardSource` a datagram from another address is refused first,
   * before a byte of it is read.
   */
  check(raw: Uint8Array, now: number, source?: string): GateResult {
    const sources = source === undefined ? null : allowedSources(this.#settings);
    if (sources && !sources.has(normalizeSource(source!))) {
      this.#count("unknown-source");
      return {
        accepted: false,
        reason: "unknown-source",
        detail:
          `${source} is not a configured NMC address (behind NAT? set [Networking] requireCardSource = false)`,
      };
    }
    const verdict = judgePacket(raw, this.#settings, (card) => this.#cards.get(card)?.counters);
    if (verdict.accepted) {
      this.#accept(verdict.packet.card, verdict.packet.counters, now);
      return verdict;
    }
    if (verdict.replayOf) {
      const outcome = this.#refused(verdict.replayOf.card, verdict.replayOf.counters, now);
      if (outcome?.kind === "recovered") {
        const packet = judgePacket(raw, this.#settings, () => undefined);
        if (packet.accepted) {
          this.#accept(packet.packet.card, packet.packet.counters, now);
          return { ...packet, notice: outcome };
        }
      }
      this.#count(verdict.reason);
      return outcome ? { ...verdict, notice: outcome } : verdict;
    }
    this.#count(verdict.reason);
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
    return this.#cards.get(card)?.counters;
  }

  /** A card's counters and whether its packets are stuck as replayed (at time `now`). */
  status(card: string, now: number): CardCounterStatus {
    const record = this.#cards.get(card);
    if (!record) return {};
    const stuck = this.#stuck(record, now);
    return { ...(record.counters ? { counters: record.counters } : {}), ...(stuck ? { stuck } : {}) };
  }

  /** Every card's last accepted counters (for saving them). */
  snapshot(): Map<string, ReplayCounters> {
    const out = new Map<string, ReplayCounters>();
    for (const [card, record] of this.#cards) if (record.counters) out.set(card, record.counters);
    return out;
  }

  /** Restores saved counters (at start); a card's counters never move back. */
  restore(saved: ReadonlyMap<string, ReplayCounters>): void {
    for (const [card, counters] of saved) this.advance(card, counters);
  }

  /** Moves a card's counters forward (for the kill-power page, authenticated like a packet); never back. */
  advance(card: string, counters: ReplayCounters): void {
    const record = this.#record(card);
    if (isNewer(counters, record.counters)) record.counters = counters;
  }

  /** Forgets the counters of one card (or of every card): the next authenticated packet is accepted. */
  reset(card?: string): string[] {
    const cards = card === undefined ? [...this.#cards.keys()] : this.#cards.has(card) ? [card] : [];
    for (const c of cards) this.#cards.set(c, { refused: 0, stuckReported: false });
    return cards;
  }

  #record(card: string): CardRecord {
    let record = this.#cards.get(card);
    if (!record) {
      record = { refused: 0, stuckReported: false };
      this.#cards.set(card, record);
    }
    return record;
  }

  #count(reason: RejectReason): void {
    this.#rejected.set(reason, (this.#rejected.get(reason) ?? 0) + 1);
  }

  #accept(card: string, counters: ReplayCounters, now: number): void {
    this.#cards.set(card, { counters, lastAcceptedAt: now, refused: 0, stuckReported: false });
    this.#accepted++;
  }

  #stuck(record: CardRecord, now: number): StuckCounters | undefined {
    if (record.refused < STUCK_AFTER_PACKETS || !record.counters || !record.latestRefused) return undefined;
    const quietSince = record.lastAcceptedAt ?? record.firstRefusedAt ?? now;
    if (now - quietSince < STUCK_AFTER_MS) return undefined;
    return {
      refused: record.refused,
      since: record.firstRefusedAt ?? now,
      latest: record.latestRefused,
      last: record.counters,
    };
  }

  /** Records an authenticated packet refused as replayed; says if the card is now stuck or recovered. */
  #refused(card: string, counters: ReplayCounters, now: number): CounterNotice | undefined {
    const record = this.#record(card);
    record.refused++;
    record.firstRefusedAt ??= now;
    record.latestRefused = counters;
    record.run = extendRun(record.run, { counters, at: now });
    if (looksLikeReboot(record.run) && record.counters) {
      return { kind: "recovered", card, from: record.counters, to: counters, run: record.run };
    }
    const stuck = this.#stuck(record, now);
    if (stuck && !record.stuckReported) {
      record.stuckReported = true;
      return { kind: "stuck", card, stuck };
    }
    return undefined;
  }
}
