import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { judgePacket, type ReplayCounters } from "../src/nmc/gate.ts";
import {
  buildAnswerRequest,
  buildPageRequest,
  challengeAnswer,
  type KillPowerTarget,
  parseReply,
  turnOffUps,
} from "../src/nmc/killpower.ts";
import { computeSignature, firstValue, parsePacket } from "../src/nmc/packet.ts";
import { buildControlPage, NmcWebServer, type NmcWebServerOptions } from "../src/sim/http.ts";
import { chunkedResponse } from "../src/sim/httpwire.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { bytes, CARD, text } from "./helpers/packets.ts";

const CERT = Deno.readTextFileSync(new URL("./fixtures/tls/cert.pem", import.meta.url));
const KEY = Deno.readTextFileSync(new URL("./fixtures/tls/key.pem", import.meta.url));
const settings = {
  username: CARD.username,
  authenticationPhrase: CARD.authenticationPhrase,
  cards: [CARD.address],
};

/** A simulated card (no UDP targets) with its web server. */
function startCard(options: NmcWebServerOptions = {}) {
  const sim = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [],
  });
  const web = new NmcWebServer(
    sim,
    options.protocol === "https" ? { cert: CERT, key: KEY, ...options } : options,
  );
  return { sim, web };
}

/** The agent's view of the card behind `web`. */
function targetOf(port: number, change: Partial<KillPowerTarget> = {}): KillPowerTarget {
  return {
    card: CARD.address,
    protocol: "http",
    port,
    acceptCerts: false,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    ...change,
  };
}

/** MD5 of the decoded form field + challenge + credentials, computed here independently of the code under test. */
function expectedAnswer(challenge: string, phrase: string = CARD.authenticationPhrase): string {
  return createHash("md5")
    .update(`macontrol1_control_shutdown_1=1,${challenge}${CARD.username}${phrase}`)
    .digest("hex");
}

/** A raw HTTP client connection for hand-made requests. */
async function rawClient(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let received = "";
  const buf = new Uint8Array(4096);
  return {
    send: (data: string) => conn.write(bytes(data)),
    /** Reads until `done(text)` holds; returns and forgets what was read. */
    async readUntil(done: (t: string) => boolean): Promise<string> {
      while (!done(received)) {
        const n = await conn.read(buf);
        if (n === null) break;
        received += text(buf.subarray(0, n));
      }
      const out = received;
      received = "";
      return out;
    },
    close: () => conn.close(),
  };
}

const pageDone = (t: string) => t.includes("\r\n0\r\n");
const headDone = (t: string) => /\r\n\r\n[\s\S]*<\/html>/.test(t);

function postBody(answer: string): string {
  const body = `macontrol1%5fcontrol%5fshutdown%5f1=1%2C${answer}`;
  return `POST /Forms/macontrol1 HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** A one-connection card that follows `script` (for replies the simulator never gives). */
function scriptedCard(script: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    let conn: Deno.Conn | undefined;
    try {
      conn = await listener.accept();
      await script(conn);
      const buf = new Uint8Array(1024);
      while (await conn.read(buf) !== null) { /* wait for the client to hang up */ }
    } catch {
      // the client went away or the listener closed
    } finally {
      try {
        conn?.close();
      } catch { /* closed */ }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await served;
    },
  };
}

async function readRequest(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let got = "";
  while (!/\r\n\r\n/.test(got) || (/^POST/.test(got) && !/%2C[0-9a-f]{32}$/.test(got))) {
    const n = await conn.read(buf);
    if (n === null) break;
    got += text(buf.subarray(0, n));
  }
  return got;
}

/** A signed control page (the card's credentials) inside a chunked 200 reply. */
function signedPageReply(su: number, challenge = "0011223344556677"): Uint8Array {
  const page = buildControlPage(
    { card: CARD.address, sr: 1, su, challenge },
    CARD.username,
    CARD.authenticationPhrase,
  );
  return chunkedResponse(200, "OK", page);
}

Deno.test("HTTP: the UPS is turned off, the card records one turn-off and its next status packet carries SD=1", async () => {
  const { sim, web } = startCard();
  try {
    const seen = new Map<string, ReplayCounters>();
    const before = judgePacket(sim.buildStatus(), settings, () => undefined);
    assert.ok(before.accepted);
    assert.equal(firstValue(before.packet, "SD"), "0");
    seen.set(CARD.address, before.packet.counters);

    const accepted: [string, ReplayCounters][] = [];
    const result = await turnOffUps(targetOf(web.port), {
      lastCounters: (card) => seen.get(card),
      onAccepted: (card, counters) => {
        accepted.push([card, counters]);
        seen.set(card, counters);
      },
    });
    assert.equal(result.ok, true, result.error);
    assert.equal(result.confirmed, true);
    assert.equal(result.step, "done");
    assert.equal(result.httpStatus, 200);
    assert.equal(result.card, CARD.address);
    assert.equal(result.error, undefined);

    assert.equal(web.turnOffs.length, 1);
    assert.equal(web.turnOffs[0].remoteAddress, "127.0.0.1");
    assert.deepEqual(web.refusals, []);
    assert.equal(sim.ups.shuttingDown, true);

    // onAccepted got the page's counters: same boot, later than the packet before it.
    assert.equal(accepted.length, 1);
    const [card, counters] = accepted[0];
    assert.equal(card, CARD.address);
    assert.equal(counters.sr, before.packet.counters.sr);
    assert.ok(counters.su > before.packet.counters.su, "page counters are newer than the last packet");

    // The next status packet is newer than the page (gate accepts it) and says the UPS is shutting down.
    const after = judgePacket(sim.buildStatus(), settings, (c) => seen.get(c));
    assert.ok(after.accepted, JSON.stringify(after));
    assert.equal(firstValue(after.packet, "SD"), "1");
  } finally {
    await web.close();
  }
});

Deno.test("HTTPS: acceptCerts accepts the card's self-signed certificate", async () => {
  const { sim, web } = startCard({ protocol: "https" });
  try {
    const result = await turnOffUps(targetOf(web.port, { protocol: "https", acceptCerts: true }));
    assert.equal(result.ok, true, result.error);
    assert.equal(result.confirmed, true);
    assert.equal(web.turnOffs.length, 1);
    assert.equal(sim.ups.shuttingDown, true);
  } finally {
    await web.close();
  }
});

Deno.test("HTTPS: without acceptCerts the card's certificate given as trusted CA is verified and works", async () => {
  const { sim, web } = startCard({ protocol: "https" });
  try {
    const result = await turnOffUps(targetOf(web.port, { protocol: "https", caCerts: [CERT] }));
    assert.equal(result.ok, true, result.error);
    assert.equal(result.step, "done");
    assert.equal(web.turnOffs.length, 1);
    assert.equal(sim.ups.shuttingDown, true);
  } finally {
    await web.close();
  }
});

Deno.test("HTTPS: without acceptCerts and without a CA the TLS step fails with a certificate error, nothing sent", async () => {
  const { sim, web } = startCard({ protocol: "https" });
  try {
    const result = await turnOffUps(targetOf(web.port, { protocol: "https" }));
    assert.equal(result.ok, false);
    assert.equal(result.step, "tls");
    assert.match(result.error ?? "", /certificate/i);
    assert.match(result.error ?? "", /not trusted/);
    assert.equal(web.outstandingChallenges, 0, "the page was never requested");
    assert.equal(web.turnOffs.length, 0);
    assert.equal(sim.ups.shuttingDown, false);
  } finally {
    await web.close();
  }
});

Deno.test("a wrong authentication phrase on the agent fails at verify (bad MD5) and posts nothing", async () => {
  const { sim, web } = startCard();
  try {
    let accepted = false;
    const result = await turnOffUps(
      targetOf(web.port, { authenticationPhrase: "not the card phrase" }),
      { onAccepted: () => accepted = true },
    );
    assert.equal(result.ok, false);
    assert.equal(result.step, "verify");
    assert.match(result.error ?? "", /bad MD5/);
    assert.match(result.error ?? "", /authentication phrase/);
    assert.equal(accepted, false, "counters must not move on a rejected page");
    assert.equal(web.outstandingChallenges, 1, "the page was fetched");
    assert.deepEqual(web.refusals, [], "no answer was posted");
    assert.equal(web.turnOffs.length, 0);
    assert.equal(sim.ups.shuttingDown, false);
  } finally {
    await web.close();
  }
});

Deno.test("a page not newer than the last accepted packet is refused at verify as replayed", async () => {
  const { sim, web } = startCard();
  try {
    const newer = { sr: sim.rebootCounter, su: sim.nextCounters().su + 100_000 };
    const result = await turnOffUps(targetOf(web.port), { lastCounters: () => newer });
    assert.equal(result.ok, false);
    assert.equal(result.step, "verify");
    assert.match(result.error ?? "", /replayed or stale/);
    assert.equal(web.turnOffs.length, 0);
    assert.equal(sim.ups.shuttingDown, false);
  } finally {
    await web.close();
  }
});

Deno.test("a page from another card address (wrong PC) is refused at verify", async () => {
  const { web } = startCard();
  try {
    const result = await turnOffUps(targetOf(web.port, { card: "192.0.2.10" }), { connectHost: "127.0.0.1" });
    assert.equal(result.ok, false);
    assert.equal(result.step, "verify");
    assert.match(result.error ?? "", /wrong PC/);
    assert.match(result.error ?? "", /PC=127\.0\.0\.1/);
    assert.equal(web.turnOffs.length, 0);
  } finally {
    await web.close();
  }
});

Deno.test("requests are apcupsd's bytes; the answer is MD5(field=1, + CS + user + phrase) in 72 body bytes", () => {
  assert.equal(text(buildPageRequest("10.0.0.5")), "GET /macontrol.htm HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n");
  const cs = "a1b2c3d4e5f60718";
  const answer = challengeAnswer(cs, CARD.username, CARD.authenticationPhrase);
  assert.equal(answer, expectedAnswer(cs));
  assert.equal(
    text(buildAnswerRequest("10.0.0.5", answer)),
    "POST /Forms/macontrol1 HTTP/1.1\r\nHost: 10.0.0.5\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
      `Content-Length: 72\r\n\r\nmacontrol1%5fcontrol%5fshutdown%5f1=1%2C${expectedAnswer(cs)}`,
  );
  assert.notEqual(challengeAnswer(cs, CARD.username, "other phrase"), answer);
  assert.notEqual(challengeAnswer("a1b2c3d4e5f60719", CARD.username, CARD.authenticationPhrase), answer);
});

Deno.test("a page split over several chunks or sent with Content-Length decodes the same; partial replies wait", () => {
  const page = "<html>\nPC=127.0.0.1\nSR=01\nSU=10\nCS=ab\nMD=x\n</html>\n";
  const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const chunked = `${head}7\r\n${page.slice(0, 7)}\r\n${(page.length - 7).toString(16)}\r\n${
    page.slice(7)
  }\r\n0\r\n\r\n`;
  const lengthed = `HTTP/1.1 200 OK\r\nContent-Length: ${page.length}\r\n\r\n${page}`;
  for (const reply of [chunked, lengthed]) {
    const parsed = parseReply(bytes(reply), false);
    assert.ok(parsed && !("error" in parsed), JSON.stringify(parsed));
    assert.equal(parsed.status, 200);
    assert.equal(text(parsed.body), page);
    assert.equal(parseReply(bytes(reply.slice(0, reply.length - 12)), false), undefined, "incomplete: wait");
    assert.ok("error" in (parseReply(bytes(reply.slice(0, reply.length - 12)), true) ?? {}), "cut short");
  }
  assert.ok("error" in (parseReply(bytes("SSH-2.0-OpenSSH\r\n"), false) ?? {}), "not HTTP");
  assert.ok("error" in (parseReply(bytes(`${head}zz\r\n`), false) ?? {}), "garbled chunk size");
});

Deno.test("the card refuses a wrong challenge answer with 403 and records the refusal", async () => {
  const { sim, web } = startCard();
  const client = await rawClient(web.port);
  try {
    await client.send("GET /macontrol.htm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const page = await client.readUntil(pageDone);
    const challenge = /\nCS=([0-9a-f]+)\n/.exec(page)?.[1];
    assert.ok(challenge, page);
    await client.send(postBody(expectedAnswer(challenge, "a wrong phrase")));
    const reply = await client.readUntil(headDone);
    assert.match(reply, /^HTTP\/1\.1 403 /);
    assert.equal(web.refusals.length, 1);
    assert.equal(web.refusals[0].reason, "wrong-answer");
    assert.equal(web.refusals[0].remoteAddress, "127.0.0.1");
    assert.equal(web.turnOffs.length, 0);
    assert.equal(sim.ups.shuttingDown, false);
  } finally {
    client.close();
    await web.close();
  }
});

Deno.test("the card accepts a valid answer once; replaying it on the same or a new connection is refused", async () => {
  const { web } = startCard();
  const first = await rawClient(web.port);
  const second = await rawClient(web.port);
  try {
    await first.send("GET /macontrol.htm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const challenge = /\nCS=([0-9a-f]{16})\n/.exec(await first.readUntil(pageDone))?.[1];
    assert.ok(challenge);
    const post = postBody(expectedAnswer(challenge));
    await first.send(post);
    assert.match(await first.readUntil(headDone), /^HTTP\/1\.1 200 /);
    assert.equal(web.turnOffs.length, 1);
    assert.equal(web.turnOffs[0].challenge, challenge);

    await first.send(post);
    assert.match(await first.readUntil(headDone), /^HTTP\/1\.1 403 /);
    await second.send(post);
    assert.match(await second.readUntil(headDone), /^HTTP\/1\.1 403 /);
    assert.deepEqual(web.refusals.map((r) => r.reason), ["consumed", "consumed"]);
    assert.equal(web.turnOffs.length, 1, "still exactly one turn-off");
  } finally {
    first.close();
    second.close();
    await web.close();
  }
});

Deno.test("the card refuses an answer to an expired challenge, and any answer when none is outstanding", async () => {
  let now = Date.UTC(2026, 0, 1);
  const { web } = startCard({ challengeTtlMs: 60_000, clock: { now: () => now } });
  const client = await rawClient(web.port);
  try {
    await client.send(postBody(expectedAnswer("0000000000000000")));
    assert.match(await client.readUntil(headDone), /^HTTP\/1\.1 403 /);
    await client.send("GET /macontrol.htm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const challenge = /\nCS=([0-9a-f]{16})\n/.exec(await client.readUntil(pageDone))?.[1];
    assert.ok(challenge);
    now += 60_001;
    await client.send(postBody(expectedAnswer(challenge)));
    assert.match(await client.readUntil(headDone), /^HTTP\/1\.1 403 /);
    assert.deepEqual(web.refusals.map((r) => r.reason), ["no-challenge", "expired"]);
    assert.equal(web.turnOffs.length, 0);
  } finally {
    client.close();
    await web.close();
  }
});

Deno.test("a card that answers the POST with 403 gives ok:false at post with the HTTP status", async () => {
  const card = scriptedCard(async (conn) => {
    await readRequest(conn);
    await conn.write(signedPageReply(0x500));
    const post = await readRequest(conn);
    assert.match(post, /%2C[0-9a-f]{32}$/);
    await conn.write(bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
  });
  try {
    const result = await turnOffUps(targetOf(card.port));
    assert.equal(result.ok, false);
    assert.equal(result.step, "post");
    assert.equal(result.httpStatus, 403);
    assert.match(result.error ?? "", /refused the answer.*HTTP 403/);
  } finally {
    await card.close();
  }
});

Deno.test("a card that hangs up after the POST: the turn-off counts as sent but not confirmed", async () => {
  let posted = "";
  const card = scriptedCard(async (conn) => {
    await readRequest(conn);
    await conn.write(signedPageReply(0x600, "feedfacecafebeef"));
    posted = await readRequest(conn);
    conn.close();
  });
  try {
    const result = await turnOffUps(targetOf(card.port));
    assert.equal(result.ok, true, result.error);
    assert.equal(result.confirmed, false);
    assert.equal(result.step, "done");
    assert.equal(result.httpStatus, undefined);
    assert.ok(posted.endsWith(`%2C${expectedAnswer("feedfacecafebeef")}`), posted);
  } finally {
    await card.close();
  }
});

Deno.test("a signed page without a CS= challenge fails at challenge", async () => {
  const signed = "<html>\nPC=127.0.0.1\nSR=01\nSU=700\n";
  const page = `${signed}MD=${
    computeSignature(bytes(signed), CARD.username, CARD.authenticationPhrase)
  }\n</html>\n`;
  const card = scriptedCard(async (conn) => {
    await readRequest(conn);
    await conn.write(chunkedResponse(200, "OK", page));
  });
  try {
    const result = await turnOffUps(targetOf(card.port));
    assert.equal(result.ok, false);
    assert.equal(result.step, "challenge");
    assert.match(result.error ?? "", /no CS= challenge/);
  } finally {
    await card.close();
  }
});

Deno.test("connection refused: ok:false at connect with a clear error, no throw", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const result = await turnOffUps(targetOf(port), { timeoutMs: 2000 });
  assert.equal(result.ok, false);
  assert.equal(result.confirmed, false);
  assert.equal(result.step, "connect");
  assert.match(result.error ?? "", /refused/);
  assert.match(result.error ?? "", new RegExp(`127\\.0\\.0\\.1:${port}`));
});

Deno.test("a card that accepts but never answers: the timeout is honoured at the page step", async () => {
  const card = scriptedCard(async (conn) => {
    await readRequest(conn); // and then say nothing
  });
  try {
    const result = await turnOffUps(targetOf(card.port), { timeoutMs: 500 });
    assert.equal(result.ok, false);
    assert.equal(result.step, "page");
    assert.match(result.error ?? "", /timed out after 500 ms/);
    assert.ok(result.durationMs >= 450 && result.durationMs < 2000, `took ${result.durationMs} ms`);
  } finally {
    await card.close();
  }
});

Deno.test("the simulated card's page verifies like a packet and its counters advance past earlier packets", async () => {
  const { sim, web } = startCard();
  const client = await rawClient(web.port);
  try {
    const packet = judgePacket(sim.buildStatus(), settings, () => undefined);
    assert.ok(packet.accepted);
    await client.send("GET /macontrol.htm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const reply = await client.readUntil(pageDone);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /\r\nTransfer-Encoding: chunked\r\n/);
    const page = reply.slice(reply.indexOf("<html>"), reply.indexOf("</html>") + 7);
    const verdict = judgePacket(bytes(page), settings, () => packet.packet.counters);
    assert.ok(verdict.accepted, JSON.stringify(verdict));
    assert.match(firstValue(parsePacket(bytes(page)), "CS") ?? "", /^[0-9a-f]{16}$/);
  } finally {
    client.close();
    await web.close();
  }
});

Deno.test("checkNmc verifies the card's page and challenge but posts nothing", async () => {
  const { checkNmc } = await import("../src/nmc/killpower.ts");
  const { NmcWebServer } = await import("../src/sim/http.ts");
  const { NmcSimulator } = await import("../src/sim/simulator.ts");
  const sim = new NmcSimulator({
    address: "127.0.0.1",
    username: "apc",
    authenticationPhrase: "admin user phrase",
    targets: [],
  });
  const web = new NmcWebServer(sim, { protocol: "http" });
  try {
    const target = {
      card: "127.0.0.1",
      protocol: "http" as const,
      port: web.port,
      acceptCerts: false,
      username: "apc",
      authenticationPhrase: "admin user phrase",
    };
    const ok = await checkNmc(target);
    assert.equal(ok.ok, true, ok.error);
    assert.equal(ok.step, "challenge");
    assert.equal(web.turnOffs.length, 0);
    assert.equal(sim.ups.shuttingDown, false);
    const wrong = await checkNmc({ ...target, authenticationPhrase: "not the right phrase" });
    assert.equal(wrong.ok, false);
    assert.equal(wrong.step, "verify");
  } finally {
    sim.close();
    await web.close();
  }
});
