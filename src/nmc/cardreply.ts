/**
 * A management card's HTTP replies, parsed (pure): the `Host:` header of a request, the status line and
 * headers, chunked and Content-Length bodies, and the signed part of a page. Used by the card client
 * (cardhttp.ts), kill-power and registration; no sockets here.
 *
 * @module
 */
import type { Verdict } from "./gate.ts";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** Most bytes read from the card for one reply. */
export const MAX_REPLY_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** The `Host:` header value for a card: the address itself, IPv6 in brackets. */
export function hostHeader(card: string): string {
  return card.includes(":") && !card.startsWith("[") ? `[${card}]` : card;
}

/** Index of `needle` in `haystack` at or after `from`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Status line and headers of an HTTP reply. */
export interface ReplyHead {
  /** Status code. */
  readonly status: number;
  /** Reason phrase. */
  readonly reason: string;
  /** Header fields, names in lower case (the last of repeated fields wins). */
  readonly headers: ReadonlyMap<string, string>;
  /** Offset of the first body byte. */
  readonly bodyOffset: number;
}

const HEAD_END = encoder.encode("\r\n\r\n");

/** True if `text` (no line end yet) can still grow into a status line `HTTP/1.x NNN`. */
function couldBeStatusLine(text: string): boolean {
  const template = "HTTP/1.x 000";
  for (let i = 0; i < Math.min(text.length, template.length); i++) {
    const ch = text[i];
    const ok = i === 7 ? ch === "0" || ch === "1" : i >= 9 ? ch >= "0" && ch <= "9" : ch === template[i];
    if (!ok) return false;
  }
  return text.length < 256;
}

/**
 * Parses the status line (`HTTP/1.x NNN reason`) at the start of `data`;
 * undefined while the line is incomplete, null if it is not HTTP.
 */
export function parseStatusLine(data: Uint8Array): { status: number; reason: string } | undefined | null {
  const eol = indexOfBytes(data, encoder.encode("\r\n"));
  if (eol < 0) return couldBeStatusLine(latin1.decode(data.subarray(0, 256))) ? undefined : null;
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(latin1.decode(data.subarray(0, eol)));
  return match ? { status: Number(match[1]), reason: match[2] ?? "" } : null;
}

/** Parses the reply head; undefined while incomplete, null if the reply is not HTTP. */
export function parseReplyHead(data: Uint8Array): ReplyHead | undefined | null {
  const status = parseStatusLine(data);
  if (status === null) return null;
  const end = indexOfBytes(data, HEAD_END);
  if (status === undefined || end < 0) return undefined;
  const headers = new Map<string, string>();
  for (const line of latin1.decode(data.subarray(0, end)).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { ...status, headers, bodyOffset: end + HEAD_END.length };
}

/** A chunked body decoded so far: `done` once the last (zero-size) chunk was seen. */
export interface ChunkedBody {
  /** The data of the complete chunks. */
  readonly data: Uint8Array;
  /** True once the zero-size chunk was read. */
  readonly done: boolean;
}

/** Decodes a chunked body as far as it goes; null if the framing is broken. */
export function decodeChunked(body: Uint8Array): ChunkedBody | null {
  const parts: Uint8Array[] = [];
  let at = 0;
  const finish = (done: boolean): ChunkedBody => {
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) (data.set(part, offset), offset += part.length);
    return { data, done };
  };
  while (true) {
    const eol = indexOfBytes(body, encoder.encode("\r\n"), at);
    if (eol < 0) return body.length - at > 32 ? null : finish(false);
    const sizeText = latin1.decode(body.subarray(at, eol)).split(";")[0].trim();
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return null;
    const size = parseInt(sizeText, 16);
    if (size === 0) return finish(true);
    const start = eol + 2;
    if (body.length < start + size + 2) return finish(false);
    if (body[start + size] !== 0x0d || body[start + size + 1] !== 0x0a) return null;
    parts.push(body.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** A complete reply: status and decoded body. */
export interface HttpReply {
  /** Status code. */
  readonly status: number;
  /** Reason phrase. */
  readonly reason: string;
  /** The body, de-chunked. */
  readonly body: Uint8Array;
}

/**
 * Decides whether a reply is complete and decodes it. `ended` tells whether
 * the peer closed the connection (then whatever arrived is all there is).
 * Returns undefined while more is expected, or an error sentence.
 */
export function parseReply(data: Uint8Array, ended: boolean): HttpReply | { error: string } | undefined {
  const head = parseReplyHead(data);
  if (head === null) return { error: "the card's answer is not HTTP" };
  if (head === undefined) {
    return ended ? { error: "the card closed the connection in the middle of its answer" } : undefined;
  }
  const body = data.subarray(head.bodyOffset);
  const base = { status: head.status, reason: head.reason };
  if (/\bchunked\b/i.test(head.headers.get("transfer-encoding") ?? "")) {
    const chunked = decodeChunked(body);
    if (chunked === null) return { error: "the card's chunked answer is garbled" };
    if (chunked.done) return { ...base, body: chunked.data };
    return ended
      ? { error: "the card closed the connection before the end of its chunked answer" }
      : undefined;
  }
  const lengthText = head.headers.get("content-length");
  if (lengthText !== undefined) {
    const length = /^\d+$/.test(lengthText) ? Number(lengthText) : NaN;
    if (Number.isNaN(length)) return { error: `the card sent a bad Content-Length "${lengthText}"` };
    if (body.length >= length) return { ...base, body: body.subarray(0, length) };
    return ended ? { error: "the card closed the connection before the end of its answer" } : undefined;
  }
  return ended ? { ...base, body } : undefined;
}

/** The page text from `<html>` on (what is signed like a packet), or undefined if there is no `<html>`. */
export function extractSignedPage(body: Uint8Array): Uint8Array | undefined {
  const at = indexOfBytes(body, encoder.encode("<html>"));
  return at < 0 ? undefined : body.subarray(at);
}

/**
 * One sentence explaining why the gate refused a signed page; `what` names it
 * (e.g. "the control page"), `card` the card asked.
 */
export function describeSignedPageRejection(
  verdict: Extract<Verdict, { accepted: false }>,
  card: string,
  what: string,
): string {
  switch (verdict.reason) {
    case "bad-md5":
      return `${what} of card ${card} is not authenticated: bad MD5, so the user name or ` +
        `authentication phrase differs from the card's PowerChute settings`;
    case "unknown-card":
      return `${what} does not come from card ${card} (wrong PC: ${verdict.detail})`;
    case "replay":
    case "no-counters":
      return `${what} of card ${card} looks replayed or stale (${verdict.detail})`;
    default:
      return `${what} of card ${card} is not a valid signed page (${verdict.reason}: ${verdict.detail})`;
  }
}
