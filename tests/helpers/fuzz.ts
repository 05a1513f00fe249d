/**
 * A seeded mutation fuzzer for the packet path (used by tests/packet_fuzz_test.ts and bench/fuzz.ts).
 *
 * It mutates genuine packets (the recorded AP9617 vectors and simulated ones) in the ways an attacker or a
 * broken network would: bit flips, byte edits, inserted/removed/duplicated/swapped lines, appended data
 * after MD=, other line endings, truncation, prefixes. Each mutant goes through the real engine -> monitor
 * path with a random "last accepted" counter state, and the oracle is the promise of the packet path:
 * a mutant changes the UPS state only if its signed bytes and signature are the genuine packet's and its
 * counters are fresh, and then exactly as the genuine packet does.
 */
import { isNewer, type ReplayCounters } from "../../src/nmc/counters.ts";
import { PacketEngine } from "../../src/nmc/engine.ts";
import { MAX_PACKET_BYTES } from "../../src/nmc/gate.ts";
import { locateSignature } from "../../src/nmc/packet.ts";
import type { Clock } from "../../src/time/clock.ts";
import { UpsMonitor } from "../../src/ups/monitor.ts";
import type { UpsState } from "../../src/ups/state.ts";
import { memoryLogger } from "../../src/log/logger.ts";
import { CARD, configPacket, statusPacket } from "./packets.ts";
import { readVector, VECTOR_CARD } from "./vectors.ts";

/** A genuine packet to mutate, with the credentials and card it verifies with. */
export interface FuzzSeed {
  /** Name, for reports. */
  readonly name: string;
  /** The packet's bytes. */
  readonly bytes: Uint8Array;
  /** Its counters. */
  readonly counters: ReplayCounters;
  /** Credentials and card. */
  readonly username: string;
  /** Authentication phrase. */
  readonly phrase: string;
  /** Card address (PC=). */
  readonly card: string;
}

/** What a fuzz run counted. */
export interface FuzzReport {
  /** Mutants tried. */
  cases: number;
  /** Mutants whose signed range and signature were the genuine packet's. */
  sameSigned: number;
  /** Mutants accepted. */
  accepted: number;
  /** Mutants rejected, by reason. */
  rejected: Record<string, number>;
  /** Accepted mutants that carried unsigned data after MD= (ignored). */
  unsignedIgnored: number;
  /** Broken promises (empty when all is well); each names the seed, mutation and what went wrong. */
  violations: string[];
}

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const encoder = new TextEncoder();
const SNIPPETS = [
  "51=50",
  "51=10",
  "SD=1",
  "SD=01",
  "66=001.0",
  "6A=0000:",
  "PC=127.0.0.1",
  "SR=FF",
  "SU=FFFFFFFF",
  "MD=",
  "</BODY>",
  "</HTML>",
  "<BODY>",
  "27=20",
  "47=S",
  "\u00fc",
  "\0",
  "\r",
  "\n",
  "\r\n",
  " ",
  "=",
  "MASTATUS",
];

type Mutation = (data: Uint8Array, rnd: () => number) => Uint8Array;

const pick = <T>(items: readonly T[], rnd: () => number): T => items[Math.floor(rnd() * items.length)];
const at = (data: Uint8Array, rnd: () => number) => Math.floor(rnd() * (data.length + 1));
const join = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};
const splitLines = (data: Uint8Array) => new TextDecoder("latin1").decode(data).split("\n");
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** The mutations, by name. */
export const MUTATIONS: ReadonlyArray<readonly [string, Mutation]> = [
  ["flip-bit", (d, r) => {
    const out = d.slice();
    if (out.length) out[Math.floor(r() * out.length)] ^= 1 << Math.floor(r() * 8);
    return out;
  }],
  ["set-byte", (d, r) => {
    const out = d.slice();
    if (out.length) out[Math.floor(r() * out.length)] = Math.floor(r() * 256);
    return out;
  }],
  ["insert-snippet", (d, r) => {
    const i = at(d, r);
    return join(d.subarray(0, i), latin1(pick(SNIPPETS, r)), d.subarray(i));
  }],
  ["delete-bytes", (d, r) => {
    const i = Math.floor(r() * d.length);
    return join(d.subarray(0, i), d.subarray(Math.min(d.length, i + 1 + Math.floor(r() * 8))));
  }],
  ["append-after-md", (d, r) => {
    const lines = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(SNIPPETS.slice(0, 15), r));
    return join(d, encoder.encode(lines.join("\n") + "\n"));
  }],
  ["insert-before-close", (d, r) => {
    const text = new TextDecoder("latin1").decode(d);
    return latin1(text.replace("</BODY>", `${pick(SNIPPETS.slice(0, 15), r)}\n</BODY>`));
  }],
  ["duplicate-line", (d, r) => {
    const lines = splitLines(d);
    const i = Math.floor(r() * lines.length);
    lines.splice(Math.floor(r() * lines.length), 0, lines[i]);
    return latin1(lines.join("\n"));
  }],
  ["swap-lines", (d, r) => {
    const lines = splitLines(d);
    const i = Math.floor(r() * lines.length);
    const j = Math.floor(r() * lines.length);
    [lines[i], lines[j]] = [lines[j], lines[i]];
    return latin1(lines.join("\n"));
  }],
  ["remove-line", (d, r) => {
    const lines = splitLines(d);
    lines.splice(Math.floor(r() * lines.length), 1);
    return latin1(lines.join("\n"));
  }],
  ["crlf", (d) => latin1(new TextDecoder("latin1").decode(d).replaceAll("\n", "\r\n"))],
  ["truncate", (d, r) => d.subarray(0, Math.floor(r() * d.length))],
  ["prefix", (d, r) => join(latin1(pick(SNIPPETS, r) + "\n"), d)],
  ["pad-to-limit", (d, r) => {
    const pad = Math.max(0, MAX_PACKET_BYTES - d.length + Math.floor(r() * 3) - 1);
    return join(d, new Uint8Array(pad).fill(0x20));
  }],
  ["replace-value", (d, r) => {
    const lines = splitLines(d);
    const i = Math.floor(r() * lines.length);
    const eq = lines[i].indexOf("=");
    if (eq >= 0) lines[i] = lines[i].slice(0, eq + 1) + pick(["50", "1", "FF", "", "0031:", "\u00fc"], r);
    return latin1(lines.join("\n"));
  }],
  ["unchanged", (d) => d],
];

const FIXED_TIME = Date.UTC(2026, 11, 2, 12, 0, 0);
const stillClock: Clock = { now: () => FIXED_TIME, setTimeout: () => 0, clearTimeout: () => {} };

function runThrough(seed: FuzzSeed, data: Uint8Array, last: ReplayCounters | undefined) {
  const monitor = new UpsMonitor({ cards: [seed.card], commLostTimeoutMs: 55_000 }, () => {}, stillClock);
  const settings = { username: seed.username, authenticationPhrase: seed.phrase, cards: [seed.card] };
  const engine = new PacketEngine(settings, (p) => monitor.handle(p), memoryLogger().logger, stillClock);
  if (last) engine.advance(seed.card, last);
  engine.receive(data);
  return { state: monitor.get(seed.card)!, stats: engine.stats() };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function lastCountersFor(seed: FuzzSeed, rnd: () => number): ReplayCounters | undefined {
  const { sr, su } = seed.counters;
  return pick<ReplayCounters | undefined>([
    undefined,
    { sr, su: su - 1 },
    { sr: sr - 1, su: su + 1000 },
    { sr, su },
    { sr, su: su + 1 },
    { sr: sr + 1, su: 1 },
  ], rnd);
}

/** Runs `cases` mutants of the seeds from `seed`; never throws on a broken promise (see `violations`). */
export function fuzzPacketPath(seeds: readonly FuzzSeed[], cases: number, seed: number): FuzzReport {
  const rnd = seededRandom(seed);
  const report: FuzzReport = {
    cases: 0,
    sameSigned: 0,
    accepted: 0,
    rejected: {},
    unsignedIgnored: 0,
    violations: [],
  };
  const reference = new Map<FuzzSeed, UpsState>();
  const initial = new Map<FuzzSeed, UpsState>();
  for (const s of seeds) {
    reference.set(s, runThrough(s, s.bytes, undefined).state);
    initial.set(s, runThrough(s, new Uint8Array(), undefined).state);
  }
  for (let n = 0; n < cases; n++) {
    const s = pick(seeds, rnd);
    let mutant = s.bytes;
    const names: string[] = [];
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const [name, mutate] = pick(MUTATIONS, rnd);
      names.push(name);
      mutant = mutate(mutant, rnd);
    }
    const last = lastCountersFor(s, rnd);
    const fresh = isNewer(s.counters, last);
    const original = locateSignature(s.bytes)!;
    const loc = locateSignature(mutant);
    const sameSigned = loc !== undefined && loc.value === original.value &&
      sameBytes(mutant.subarray(0, loc.offset), s.bytes.subarray(0, original.offset));
    const { state, stats } = runThrough(s, mutant, last);
    report.cases++;
    if (sameSigned) report.sameSigned++;
    report.accepted += stats.accepted;
    report.unsignedIgnored += stats.unsignedIgnored;
    for (const [reason, count] of Object.entries(stats.rejected)) {
      if (count) report.rejected[reason] = (report.rejected[reason] ?? 0) + count;
    }
    const what = `${s.name} + ${names.join(" + ")} (last ${JSON.stringify(last)})`;
    const expectAccepted = sameSigned && fresh && mutant.length <= MAX_PACKET_BYTES;
    if (stats.accepted === 1 && !(sameSigned && fresh)) {
      report.violations.push(
        `${what}: accepted although its signed bytes or counters are not genuine and fresh`,
      );
    } else if (stats.accepted === 1 && JSON.stringify(state) !== JSON.stringify(reference.get(s))) {
      report.violations.push(`${what}: accepted, but the state differs from the genuine packet's`);
    } else if (stats.accepted === 0 && JSON.stringify(state) !== JSON.stringify(initial.get(s))) {
      report.violations.push(`${what}: rejected, but the state changed`);
    } else if (expectAccepted && stats.accepted === 0) {
      report.violations.push(`${what}: genuine signed bytes and fresh counters, but rejected`);
    }
    if (report.violations.length >= 20) break;
  }
  return report;
}

/** The genuine packets the fuzzer starts from. */
export function fuzzSeeds(): FuzzSeed[] {
  const vector = {
    username: VECTOR_CARD.username,
    phrase: VECTOR_CARD.authenticationPhrase,
    card: VECTOR_CARD.address,
  };
  const sim = { username: CARD.username, phrase: CARD.authenticationPhrase, card: CARD.address };
  return [
    {
      name: "ap9617-mastatus",
      bytes: readVector("ap9617-mastatus.dat"),
      counters: { sr: 9, su: 0x1bed3f },
      ...vector,
    },
    {
      name: "ap9617-maconfig",
      bytes: readVector("ap9617-maconfig.dat"),
      counters: { sr: 9, su: 0x1be33e },
      ...vector,
    },
    {
      name: "sim-on-battery",
      bytes: statusPacket({ sr: 4, su: 5000, status: 0x10 }),
      counters: { sr: 4, su: 5000 },
      ...sim,
    },
    {
      name: "sim-low-battery-crlf",
      bytes: statusPacket({ sr: 4, su: 6000, status: 0x50, lineEnding: "\r\n" }),
      counters: { sr: 4, su: 6000 },
      ...sim,
    },
    { name: "sim-maconfig", bytes: configPacket({ sr: 4, su: 7000 }), counters: { sr: 4, su: 7000 }, ...sim },
  ];
}
