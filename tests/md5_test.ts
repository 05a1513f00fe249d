import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { md5Hex } from "../src/nmc/md5.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("md5Hex gives the RFC 1321 test-suite digests", () => {
  assert.equal(md5Hex(text("")), "d41d8cd98f00b204e9800998ecf8427e");
  assert.equal(md5Hex(text("a")), "0cc175b9c0f1b6a831c399e269772661");
  assert.equal(md5Hex(text("abc")), "900150983cd24fb0d6963f7d28e17f72");
  assert.equal(md5Hex(text("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
  assert.equal(
    md5Hex(text("12345678901234567890123456789012345678901234567890123456789012345678901234567890")),
    "57edf4a22be3c955ac49da2e2107b67a",
  );
});

Deno.test("md5Hex of parts equals node:crypto's MD5 of their concatenation, at every padding boundary", () => {
  for (let n = 0; n < 300; n++) {
    const body = crypto.getRandomValues(new Uint8Array(n));
    const suffix = crypto.getRandomValues(new Uint8Array(n % 23));
    const expected = createHash("md5").update(body).update(suffix).digest("hex");
    assert.equal(md5Hex(body, suffix), expected, `${n} + ${suffix.length} bytes`);
  }
  // Longer than the reused buffer: it grows, and a short message after that is still right.
  const big = crypto.getRandomValues(new Uint8Array(20_000));
  assert.equal(md5Hex(big), createHash("md5").update(big).digest("hex"));
  assert.equal(md5Hex(text("abc")), "900150983cd24fb0d6963f7d28e17f72");
});
