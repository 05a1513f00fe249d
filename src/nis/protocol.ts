/**
 * apcupsd's NIS framing (lib/apclibnis.c), as pure functions: every message is a 2-byte big-endian length
 * followed by that many bytes; a zero-length message ends an answer. A request longer than
 * {@link MAX_REQUEST_BYTES} (apcupsd's MAXSTRING) is an error, after which apcupsd closes the connection.
 *
 * @module
 */

/** Longest request apcupsd reads (MAXSTRING). */
export const MAX_REQUEST_BYTES = 256;

/** The bytes of one message. */
export function encodeMessage(body: string | Uint8Array): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  if (bytes.length > 0xffff) throw new Error(`NIS message of ${bytes.length} bytes: at most 65535`);
  const out = new Uint8Array(bytes.length + 2);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

/** The end of an answer: a zero-length message. */
export const END_OF_ANSWER: Uint8Array = new Uint8Array([0, 0]);

/** An answer: its messages, then the zero-length end. */
export function encodeAnswer(messages: readonly (string | Uint8Array)[]): Uint8Array {
  const parts = messages.map(encodeMessage);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + END_OF_ANSWER.length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  out.set(END_OF_ANSWER, at);
  return out;
}

/** apcupsd's answer to an unknown request (its text, with the C string's NUL, then the end). */
export const INVALID_COMMAND: Uint8Array = encodeAnswer([new TextEncoder().encode("Invalid command\n\0")]);

/** What the decoder found in the bytes so far. */
export type Decoded =
  | { readonly requests: readonly string[]; readonly error?: undefined }
  | { readonly requests: readonly string[]; readonly error: string };

/** Requests as apcupsd reads them: bytes, one character each. */
const latin1 = new TextDecoder("latin1");

/** Splits a client's byte stream into requests (bounded: it never holds more than one request). */
export class RequestDecoder {
  #buffer = new Uint8Array(0);

  /** Adds received bytes; returns the complete requests and, once, an error that ends the connection. */
  push(chunk: Uint8Array): Decoded {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const requests: string[] = [];
    let at = 0;
    while (joined.length - at >= 2) {
      const length = (joined[at] << 8) | joined[at + 1];
      if (length > MAX_REQUEST_BYTES) {
        this.#buffer = new Uint8Array(0);
        return { requests, error: `a request of ${length} bytes (at most ${MAX_REQUEST_BYTES})` };
      }
      if (joined.length - at - 2 < length) break;
      if (length > 0) {
        requests.push(latin1.decode(joined.subarray(at + 2, at + 2 + length)));
      }
      at += 2 + length;
    }
    this.#buffer = joined.slice(at);
    return { requests };
  }
}
