/**
 * Codec for the NMC -> PowerChute UDP packets (MASTATUS and MACONFIG).
 *
 * The format is plain ASCII text, one `KEY=VALUE` item per line, signed with
 * `MD=` = lower-case hex MD5 over the raw bytes before the first `MD=`, then
 * the user name, then the authentication phrase (see shared/spec/wire.md §2-§3).
 * This module only parses, signs and builds; acceptance policy lives in
 * `gate.ts` and the meaning of data keys in `status.ts`.
 *
 * @module
 */
import { md5Hex } from "./md5.ts";

/** The packet type named by the first line. */
export type PacketKind = "MASTATUS" | "MACONFIG" | "OTHER";

/** One `KEY=VALUE` line, as the card sent it (value trimmed). */
export interface PacketLine {
  /** Text before the first `=`. */
  readonly key: string;
  /** Text after the first `=`, trailing blanks removed; may itself contain `=`. */
  readonly value: string;
}

/** A datagram split into lines; nothing here is trusted until `gate.ts` accepted it. */
export interface ParsedPacket {
  /** Packet type from the first non-empty line. */
  readonly kind: PacketKind;
  /** Every line that has an `=`, in packet order. */
  readonly lines: readonly PacketLine[];
  /** Number of non-empty lines (CRLF counts as one line ending). */
  readonly lineCount: number;
  /** Byte offset of the signature line's `MD=` (the end of the signed range), or -1 if absent. */
  readonly signatureOffset: number;
}

/** Where a datagram's signature is: the first line that starts (after blanks) with `MD=`. */
export interface SignatureLocation {
  /** Offset of the `M` of `MD=`: the signed range is every byte before it. */
  readonly offset: number;
  /** The signature line's value, trailing blanks trimmed. */
  readonly value: string;
  /** Offset just past the signature line and its line ending: the unsigned trailer starts here. */
  readonly end: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");
/** For bytes known to be ASCII only (see `latin1Text`). */
const asciiDecoder = new TextDecoder();

const isBlank = (b: number) => b === 0x20 || b === 0x09;
const isEol = (b: number) => b === 0x0a || b === 0x0d;

/**
 * Finds the signature line: the first line whose text (after leading blanks) starts with `MD=`. A card
 * writes `MD=` at the start of its own line, so an `MD=` inside a value (a UPS named `LAB-MD=2`) does not
 * move the boundary, unlike apcupsd's plain substring search. Undefined if there is none.
 */
export function locateSignature(raw: Uint8Array): SignatureLocation | undefined {
  let i = 0;
  while (i < raw.length) {
    let start = i;
    while (start < raw.length && isBlank(raw[start])) start++;
    let end = start;
    while (end < raw.length && !isEol(raw[end])) end++;
    if (end - start >= 3 && raw[start] === 0x4d && raw[start + 1] === 0x44 && raw[start + 2] === 0x3d) {
      return signatureLine(raw, start, end);
    }
    i = end;
    if (raw[i] === 0x0d) i++;
    if (raw[i] === 0x0a) i++;
  }
  return undefined;
}

/** What one pass over a datagram finds before anything is parsed (see {@linkcode scanDatagram}). */
export interface DatagramScan {
  /** Non-blank lines of the signed range (what `parsePacket` reports as lineCount). */
  readonly lineCount: number;
  /** Offset of the signed range's first NUL byte, or -1. */
  readonly nulAt: number;
  /** The signature line (see `locateSignature`); undefined if there is none. */
  readonly signature: SignatureLocation | undefined;
  /** True if every byte of the signed range is ASCII (below 0x80). */
  readonly ascii: boolean;
}

/**
 * `locateSignature`, the signed range's non-blank lines and first NUL, and whether that range is all ASCII,
 * in one pass over the bytes (every datagram is scanned so, forged ones too). Without a signature line the
 * counts cover the whole datagram.
 */
export function scanDatagram(raw: Uint8Array): DatagramScan {
  const length = raw.length;
  let lineCount = 0;
  let nulAt = -1;
  let any = 0;
  let i = 0;
  while (i < length) {
    let start = i;
    while (start < length && isBlank(raw[start])) start++;
    if (start + 2 < length && raw[start] === 0x4d && raw[start + 1] === 0x44 && raw[start + 2] === 0x3d) {
      let end = start + 3;
      while (end < length && !isEol(raw[end])) end++;
      return { signature: signatureLine(raw, start, end), lineCount, nulAt, ascii: any < 0x80 };
    }
    // The rest of a line that is not the signature: its bytes after the leading blanks.
    let end = start;
    while (end < length) {
      const b = raw[end];
      if (isEol(b)) break;
      any |= b;
      if (b === 0 && nulAt < 0) nulAt = end;
      end++;
    }
    if (end > start) lineCount++;
    i = end;
    if (raw[i] === 0x0d) i++;
    if (raw[i] === 0x0a) i++;
  }
  return { signature: undefined, lineCount, nulAt, ascii: any < 0x80 };
}

/** The signature line whose `MD=` is at `start` and whose text ends at `end` (before its line ending). */
function signatureLine(raw: Uint8Array, start: number, end: number): SignatureLocation {
  let last = end;
  while (last > start + 3 && isBlank(raw[last - 1])) last--;
  let next = end;
  if (raw[next] === 0x0d) next++;
  if (raw[next] === 0x0a) next++;
  // apply, not spread: the same characters without iterating the bytes.
  const value = String.fromCharCode.apply(null, raw.subarray(start + 3, last) as unknown as number[]);
  return { offset: start, value, end: next };
}

/** Byte offset of the signature line's `MD=` (see `locateSignature`), or -1. */
export function findSignatureOffset(raw: Uint8Array): number {
  return locateSignature(raw)?.offset ?? -1;
}

/**
 * True if the bytes after the signature line carry nothing but what a card sends there: blank lines and
 * the closing `</BODY>` / `</HTML>` markup (any case). Anything else is unsigned data a sender appended.
 */
export function isClosingTrailer(trailer: Uint8Array): boolean {
  if (isUsualTrailer(trailer)) return true;
  const text = decoder.decode(trailer);
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    const line = rawLine.trim();
    if (line !== "" && !/^<\/(body|html)>$/i.test(line)) return false;
  }
  return true;
}

/** What a card sends after its signature line: `</BODY>` and LF or CRLF (upper case), or nothing. */
const USUAL_TRAILER = [0x3c, 0x2f, 0x42, 0x4f, 0x44, 0x59, 0x3e];

/** True for the trailer of nearly every packet (see `USUAL_TRAILER`): the quick yes of `isClosingTrailer`. */
function isUsualTrailer(trailer: Uint8Array): boolean {
  if (trailer.length === 0) return true;
  const n = USUAL_TRAILER.length;
  const eol = trailer.length - n;
  if (eol === 1 ? trailer[n] !== 0x0a : eol !== 2 || trailer[n] !== 0x0d || trailer[n + 1] !== 0x0a) {
    return false;
  }
  for (let i = 0; i < n; i++) if (trailer[i] !== USUAL_TRAILER[i]) return false;
  return true;
}

/**
 * Splits the signed range of a datagram into lines. Lines end at CR, LF or CRLF; leading and trailing
 * blanks are trimmed; lines without `=` (the type line, `<BODY>`) are kept out of `lines`. Only the bytes
 * before the signature line are read: nothing after `MD=` is ever parsed. Never throws.
 */
export function parsePacket(raw: Uint8Array): ParsedPacket {
  const signatureOffset = findSignatureOffset(raw);
  return {
    ...parseSignedRange(signatureOffset < 0 ? raw : raw.subarray(0, signatureOffset)),
    signatureOffset,
  };
}

/**
 * {@link parsePacket} of bytes already known to hold no signature line (the signed range the gate cut at
 * `MD=`): the same lines, without scanning for `MD=` a second time. `signatureOffset` is -1. `ascii`: see
 * `latin1Text`.
 */
export function parseSignedRange(signed: Uint8Array, ascii?: boolean): ParsedPacket {
  const text = latin1Text(signed, ascii);
  const lines: PacketLine[] = [];
  let lineCount = 0;
  let kind: PacketKind | undefined;
  // Lines end at CRLF, CR or LF (as `split(/\r\n|\r|\n/)` cuts them): this runs per datagram, so the next
  // LF and CR are found by the engine's own search, not a loop over characters, and each line is trimmed by
  // index (what `trim()` removes), so only the key and the value are sliced out.
  const length = text.length;
  let nextLf = text.indexOf("\n");
  let nextCr = text.indexOf("\r");
  for (let start = 0; start <= length;) {
    if (nextLf >= 0 && nextLf < start) nextLf = text.indexOf("\n", start);
    if (nextCr >= 0 && nextCr < start) nextCr = text.indexOf("\r", start);
    const end = Math.min(nextLf < 0 ? length : nextLf, nextCr < 0 ? length : nextCr);
    const next = end === nextCr && nextLf === end + 1 ? end + 2 : end + 1;
    let first = start;
    let last = end;
    while (first < last && isWhiteSpace(text.charCodeAt(first))) first++;
    while (last > first && isWhiteSpace(text.charCodeAt(last - 1))) last--;
    start = next;
    if (first === last) continue;
    lineCount++;
    if (kind === undefined) {
      const line = text.slice(first, last);
      kind = line === "MASTATUS" || line === "MACONFIG" ? line : "OTHER";
    }
    const eq = text.indexOf("=", first);
    if (eq < 0 || eq >= last) continue;
    lines.push({ key: text.slice(first, eq), value: text.slice(eq + 1, last) });
  }
  return { kind: kind ?? "OTHER", lines, lineCount, signatureOffset: -1 };
}

/**
 * `bytes` read as `TextDecoder("latin1")` reads them (windows-1252, as WHATWG defines the label). Bytes that
 * are all ASCII (nearly every packet) read the same in UTF-8, whose decoder costs a third as much here.
 * `ascii` says whether they are, where a scan already found out (`scanDatagram`).
 */
export function latin1Text(bytes: Uint8Array, ascii?: boolean): string {
  if (ascii === undefined) {
    let any = 0;
    for (let i = 0; i < bytes.length; i++) any |= bytes[i];
    ascii = any < 0x80;
  }
  return ascii ? asciiDecoder.decode(bytes) : decoder.decode(bytes);
}

/** What `String.prototype.trim` removes and a regular expression's `\s` matches: WhiteSpace and LineTerminator. */
export function isWhiteSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * A card's text made safe to show: control characters (C0, DEL, C1) become U+FFFD, so a UPS name cannot
 * move a terminal's cursor, ring its bell or fake a log line. Latin-1 letters (`Büro`) stay as they are.
 */
export function printable(value: string): string {
  // Most values have no control character: find that out by a scan, without running the replace.
  let i = 0;
  while (i < value.length && !isControl(value.charCodeAt(i))) i++;
  // deno-lint-ignore no-control-regex
  return i === value.length ? value : value.replace(/[\x00-\x1f\x7f-\x9f]/g, "\ufffd");
}

/** C0, DEL or C1 (what `printable` replaces). */
const isControl = (c: number) => c <= 0x1f || (c >= 0x7f && c <= 0x9f);

/** Value of the first line with `key` (first wins, as for MD, PC, SR, SU, CS), or undefined. */
export function firstValue(packet: Pick<ParsedPacket, "lines">, key: string): string | undefined {
  return packet.lines.find((line) => line.key === key)?.value;
}

/** The bytes appended to the signed range: the user name, then the authentication phrase (latin1). */
export function credentialSuffix(username: string, phrase: string): Uint8Array {
  const text = username + phrase;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

/** Lower-case hex MD5 over `signed` followed by precomputed credential bytes (see `credentialSuffix`). */
export function computeSignatureWith(signed: Uint8Array, suffix: Uint8Array): string {
  return md5Hex(signed, suffix);
}

/** Lower-case hex MD5 over `signed` followed by the user name and the authentication phrase. */
export function computeSignature(signed: Uint8Array, username: string, phrase: string): string {
  return computeSignatureWith(signed, credentialSuffix(username, phrase));
}

/** Compares two signatures in constant time (for equal lengths); exact and case-sensitive. */
export function signaturesEqual(expected: string, actual: string): boolean {
  if (expected.length !== actual.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ actual.charCodeAt(i);
  return diff === 0;
}

/** What `buildPacket` writes: the type line, then the items in order, then the signature. */
export interface PacketSpec {
  /** Packet type line. */
  readonly kind: "MASTATUS" | "MACONFIG";
  /** Items in the order they are written (header fields, data keys, trailer). */
  readonly items: ReadonlyArray<readonly [key: string, value: string]>;
  /** Line ending to use; real AP9617 cards send LF. */
  readonly lineEnding?: "\n" | "\r\n" | "\r";
}

/** Builds a signed datagram laid out like a real card's: `TYPE`, `<BODY>`, items, `MD=`, `</BODY>`. */
export function buildPacket(spec: PacketSpec, username: string, phrase: string): Uint8Array {
  const eol = spec.lineEnding ?? "\n";
  let text = `${spec.kind}${eol}<BODY>${eol}`;
  for (const [key, value] of spec.items) {
    if (/[\r\n]/.test(key + value)) throw new Error(`packet item ${key} must not contain a line break`);
    text += `${key}=${value}${eol}`;
  }
  const signed = encoder.encode(text);
  const md = computeSignature(signed, username, phrase);
  return encoder.encode(`${text}MD=${md}${eol}</BODY>${eol}`);
}
