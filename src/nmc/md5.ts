/**
 * MD5 (RFC 1321) in plain TypeScript, for the packet signatures: every datagram is checked, and node:crypto's
 * `createHash` costs an op and a native object per call, whose memory the process keeps under a packet flood
 * (+40 MiB RSS after 200k calls, measured; this function allocates nothing per call but its result string).
 * The well-kept pure-JS alternative (@noble/hashes 2.4.0, legacy md5) measured 10.7 against 2.4 us per call
 * here. MD5 is what the card's protocol signs with; nothing here is used for anything else. Checked against the
 * RFC 1321 test suite and node:crypto at every padding boundary (tests/md5_test.ts).
 *
 * @module
 */

/** Per-round shift amounts. */
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
/** K[i] = floor(abs(sin(i + 1)) * 2^32). */
const K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
/** The 16 message words of the block being processed. */
const M = new Int32Array(16);

/** The message buffer, reused (grown when a longer message comes): padded input, read as 32-bit words. */
let buffer = new Uint8Array(8192);
let words = new DataView(buffer.buffer);

/** Lower-case hex MD5 of the concatenation of `parts`. */
export function md5Hex(...parts: readonly Uint8Array[]): string {
  let length = 0;
  for (const part of parts) length += part.length;
  const padded = (((length + 8) >>> 6) + 1) << 6;
  if (buffer.length < padded) {
    buffer = new Uint8Array(padded * 2);
    words = new DataView(buffer.buffer);
  }
  let at = 0;
  for (const part of parts) {
    buffer.set(part, at);
    at += part.length;
  }
  buffer[at++] = 0x80;
  buffer.fill(0, at, padded - 8);
  const bits = length * 8;
  words.setUint32(padded - 8, bits >>> 0, true);
  words.setUint32(padded - 4, Math.floor(bits / 2 ** 32), true);

  let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
  for (let block = 0; block < padded; block += 64) {
    for (let w = 0; w < 16; w++) M[w] = words.getInt32(block + w * 4, true);
    let a = a0, b = b0, c = c0, d = d0;
    // The four rounds as four loops: no per-step branch on the round.
    for (let i = 0; i < 16; i++) {
      const sum = (a + ((b & c) | (~b & d)) + K[i] + M[i]) | 0;
      const shift = S[i & 3];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    for (let i = 16; i < 32; i++) {
      const sum = (a + ((d & b) | (~d & c)) + K[i] + M[(5 * i + 1) & 15]) | 0;
      const shift = S[4 + (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    for (let i = 32; i < 48; i++) {
      const sum = (a + (b ^ c ^ d) + K[i] + M[(3 * i + 5) & 15]) | 0;
      const shift = S[8 + (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    for (let i = 48; i < 64; i++) {
      const sum = (a + (c ^ (b | ~d)) + K[i] + M[(7 * i) & 15]) | 0;
      const shift = S[12 + (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  DIGEST[0] = a0;
  DIGEST[1] = b0;
  DIGEST[2] = c0;
  DIGEST[3] = d0;
  for (let i = 0; i < 16; i++) {
    const byte = (DIGEST[i >> 2] >>> ((i & 3) * 8)) & 0xff;
    HEX_CODES[2 * i] = HEX_DIGITS[byte >> 4];
    HEX_CODES[2 * i + 1] = HEX_DIGITS[byte & 15];
  }
  // One flat string (concatenation would make a rope that the signature comparison must flatten first).
  return String.fromCharCode.apply(null, HEX_CODES as unknown as number[]);
}

/** The digest's four words, and its 32 hex digits as character codes (reused by every call). */
const DIGEST = new Int32Array(4);
const HEX_CODES = new Uint8Array(32);
const HEX_DIGITS = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
