import assert from "node:assert/strict";
import { getIniEntry, indexIni, parseIni, setIniValue, stringifyIni } from "../src/config/ini.ts";

const SAMPLE = [
  "; PowerChute configuration",
  "# a hash comment",
  "",
  "[NetworkManagementCard]",
  "username = apc",
  "authenticationPhrase=YWJj==",
  "weird = ab=c;d#e",
  "   ; indented comment   ",
  "",
  "[Networking]",
  "udpPort   =   3052   ",
  "",
].join("\r\n");

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

Deno.test("ini: a commented CRLF file with a BOM round-trips byte for byte", () => {
  const text = "\uFEFF" + SAMPLE;
  const doc = parseIni(text);
  assert.equal(doc.bom, true);
  assert.equal(doc.eol, "\r\n");
  assert.deepEqual(bytes(stringifyIni(doc)), bytes(text));
});

Deno.test("ini: mixed line endings, a bare CR and no final newline survive a round trip", () => {
  const text = "[A]\nx = 1\r\ny = 2\rz = 3";
  assert.equal(stringifyIni(parseIni(text)), text);
});

Deno.test("ini: values are everything after the first '=', trimmed, with no inline comment stripping", () => {
  const doc = parseIni(SAMPLE);
  assert.equal(getIniEntry(doc, "NetworkManagementCard", "authenticationPhrase")?.value, "YWJj==");
  assert.equal(getIniEntry(doc, "NetworkManagementCard", "weird")?.value, "ab=c;d#e");
  assert.equal(getIniEntry(doc, "Networking", "udpPort")?.value, "3052");
  assert.equal(getIniEntry(doc, "Networking", "udpPort")?.line, 11);
});

Deno.test("ini: set() changes only the value part and keeps every other byte (CRLF, BOM, comments)", () => {
  const text = "\uFEFF" + SAMPLE;
  const out = stringifyIni(setIniValue(parseIni(text), "Networking", "udpPort", "4000"));
  assert.equal(out, text.replace("udpPort   =   3052   ", "udpPort   =   4000   "));
  const out2 = stringifyIni(setIniValue(parseIni(text), "NetworkManagementCard", "weird", "x=y"));
  assert.equal(out2, text.replace("weird = ab=c;d#e", "weird = x=y"));
});

Deno.test("ini: set() on an empty value keeps the file's `key = ` style", () => {
  assert.equal(
    stringifyIni(setIniValue(parseIni("[A]\npassword =\n"), "A", "password", "h")),
    "[A]\npassword = h\n",
  );
  assert.equal(
    stringifyIni(setIniValue(parseIni("[A]\npassword=\n"), "A", "password", "h")),
    "[A]\npassword=h\n",
  );
  assert.equal(
    stringifyIni(setIniValue(parseIni("[A]\npassword = x\n"), "A", "password", "")),
    "[A]\npassword =\n",
  );
});

Deno.test("ini: a new key goes after the section's last non-blank line, with the file's line ending", () => {
  const out = stringifyIni(setIniValue(parseIni(SAMPLE), "NetworkManagementCard", "port", "443"));
  assert.equal(
    out,
    SAMPLE.replace("   ; indented comment   \r\n", "   ; indented comment   \r\nport = 443\r\n"),
  );
});

Deno.test("ini: a comment block introducing the next section stays with it", () => {
  const text = "[A]\nx = 1\n\n; about B\n[B]\ny = 2\n";
  assert.equal(
    stringifyIni(setIniValue(parseIni(text), "A", "z", "3")),
    "[A]\nx = 1\nz = 3\n\n; about B\n[B]\ny = 2\n",
  );
});

Deno.test("ini: a new section goes at the end; a missing final newline stays missing", () => {
  assert.equal(
    stringifyIni(setIniValue(parseIni("[A]\r\nx = 1\r\n"), "B", "y", "2")),
    "[A]\r\nx = 1\r\n\r\n[B]\r\ny = 2\r\n",
  );
  assert.equal(stringifyIni(setIniValue(parseIni("[A]\nx = 1"), "A", "y", "2")), "[A]\nx = 1\ny = 2");
  assert.equal(stringifyIni(setIniValue(parseIni(""), "A", "y", "2")), "[A]\ny = 2\n");
});

Deno.test("ini: set() changes the first of duplicate keys (the effective one)", () => {
  const out = stringifyIni(setIniValue(parseIni("[A]\nx = 1\nx = 2\n"), "A", "x", "9"));
  assert.equal(out, "[A]\nx = 9\nx = 2\n");
});

Deno.test("ini: set() refuses values with line breaks", () => {
  assert.throws(() => setIniValue(parseIni("[A]\n"), "A", "x", "1\n[B]"), /line break/);
});

Deno.test("ini: duplicates, lines outside a section and junk lines are reported with line numbers", () => {
  const text = "orphan = 1\n[A]\nx = 1\nx = 2\nnot a key\n[B]\n[A]\nx = 3\ny = 4\n";
  const index = indexIni(parseIni(text));
  assert.equal(index.sections.get("A")?.get("x")?.value, "1");
  assert.equal(index.sections.get("A")?.get("y")?.value, "4");
  assert.deepEqual(
    index.issues.map((i) => [i.line, i.kind]),
    [[1, "outside-section"], [4, "duplicate-key"], [5, "invalid-line"], [7, "duplicate-section"], [
      8,
      "duplicate-key",
    ]],
  );
  assert.match(index.issues[1].message, /first defined on line 3/);
});
