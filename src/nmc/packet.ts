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
import { createHash } from "node:crypto";

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
  /** Byte offset of the first `MD=` (the end of the signed range), or -1 if absent. */
  readonly signatureOffset: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

/** Byte offset of the first `MD=` in the datagram (a plain substring search, as the card's peers do), or -1. */
export function findSignatureOffset(raw: Uint8Array): number {
  for (let i = 0; i + 2 < raw.length; i++) {
    if (raw[i] === 0x4d && raw[i + 1] === 0x44 && raw[i + 2] === 0x3d) return i;
  }
  return -1;
}

/**
 * Splits a datagram into lines. Lines end at CR, LF or CRLF; leading and
 * trailing blanks are trimmed; lines without `=` (the type line, `<BODY>`)
 * are kept out of `lines`. Never throws.
 */
export function parsePacket(raw: Uint8Array): ParsedPacket {
  const text = decoder.decode(raw);
  const lines: PacketLine[] = [];
  let lineCount = 0;
  let kind: PacketKind | undefined;
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    const line = rawLine.trim();
    if (line === "") continue;
    lineCount++;
    if (kind === undefined) kind = line === "MASTATUS" || line === "MACONFIG" ? line : "OTHER";
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    lines.push({ key: line.slice(0, eq), value: line.slice(eq + 1).trimEnd() });
  }
  return { kind: kind ?? "OTHER", lines, lineCount, signatureOffset: findSignatureOffset(raw) };
}

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
  return createHash("md5").update(signed).update(suffix).digest("hex");
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

const isBlank = (b: number) => b === 0x20 || b === 0x09;
const isEol = (b: number) => b === 0x0a || b === 0x0d;

/** Number of non-blank lines (what `parsePacket` reports as lineCount), by a byte scan. */
export function countLines(raw: Uint8Array): number {
  let count = 0;
  let content = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (isEol(b)) {
      if (content) count++;
      content = false;
    } else if (!isBlank(b)) {
      content = true;
    }
  }
  return content ? count + 1 : count;
}

/** Value of the first line whose key is `MD` (trailing blanks trimmed), by a byte scan; undefined if none. */
export function signatureLineValue(raw: Uint8Array): string | undefined {
  let i = 0;
  while (i < raw.length) {
    while (i < raw.length && (isBlank(raw[i]) || isEol(raw[i]))) i++;
    let end = i;
    while (end < raw.length && !isEol(raw[end])) end++;
    if (end - i >= 3 && raw[i] === 0x4d && raw[i + 1] === 0x44 && raw[i + 2] === 0x3d) {
      let last = end;
      while (last > i + 3 && isBlank(raw[last - 1])) last--;
      return String.fromCharCode(...raw.subarray(i + 3, last));
    }
    i = end;
  }
  return undefined;
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
