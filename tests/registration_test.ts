/**
 * Registration protocol (src/nmc/protocol.ts), the agent's client
 * (src/nmc/registration.ts) and the simulated card's side (src/sim/http.ts),
 * over real sockets on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { challengeAnswer } from "../src/nmc/killpower.ts";
import { judgePacket } from "../src/nmc/gate.ts";
import { parsePacket } from "../src/nmc/packet.ts";
import { parsePins, PinStore } from "../src/nmc/pins.ts";
import {
  buildNegotiationAnswer,
  buildRegistrationPageRequest,
  buildRegistrationPost,
  encodeRegistrationBody,
  maximumRequiredDelay,
  parseNegotiationQuery,
  parseRegistrationForm,
  registrationFieldList,
  signFields,
  verifyNegotiationAnswer,
} from "../src/nmc/protocol.ts";
import {
  type ClientDescription,
  probeCard,
  registerWithCard,
  type RegistrationTarget,
  unregisterFromCard,
} from "../src/nmc/registration.ts";
import { chunkedResponse } from "../src/sim/httpwire.ts";
import { parseReply } from "../src/nmc/cardreply.ts";
import { decodeClientNotification } from "../src/nmc/status.ts";
import { bytes, CARD, text } from "./helpers/packets.ts";
import {
  CERT,
  CERT_SHA256,
  closedPort,
  OTHER_CERT_SHA256,
  startCard,
} from "./fixtures/registration/helpers.ts";
import { buildSignedBlock, counterItems } from "../src/nmc/protocol.ts";
import { clockSkew, parseCardClock } from "../src/nmc/cardclock.ts";

const CLIENT: ClientDescription = {
  hostAddress: "127.0.0.1",
  udpPort: 3999,
  httpPort: 4001,
  httpsPort: 4002,
  requiredSeconds: 170,
};

function targetOf(port: number, change: Partial<RegistrationTarget> = {}): RegistrationTarget {
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

const NONCE = "00112233445566778899aabbccddeeff";

// ---------------------------------------------------------------------------
// Pure protocol

Deno.test("signing: MD5 over `name=value,` per field + CS + user + phrase; one kill-power field gives the kill-power answer", () => {
  const fields = registrationFieldList({
    action: "register",
    address: "10.0.0.9",
    udpPort: 3052,
    httpPort: 3052,
    httpsPort: 6547,
    seconds: 170,
    nonce: NONCE,
  });
  const expected = createHash("md5").update(
    "pcnsreg1_action=register,pcnsreg1_client_ip=10.0.0.9,pcnsreg1_client_udp_port=3052," +
      "pcnsreg1_client_http_port=3052,pcnsreg1_client_https_port=6547," +
      `pcnsreg1_client_shutdown_seconds=170,pcnsreg1_client_nonce=${NONCE},` +
      "CHALLENGE" + CARD.username + CARD.authenticationPhrase,
  ).digest("hex");
  assert.equal(signFields(fields, "CHALLENGE", CARD.username, CARD.authenticationPhrase), expected);
  assert.equal(
    signFields([["macontrol1_control_shutdown_1", "1"]], "abc", CARD.username, CARD.authenticationPhrase),
    challengeAnswer("abc", CARD.username, CARD.authenticationPhrase),
  );
  // The form round-trips through the card's parser; the phrase is nowhere in the request.
  const body = encodeRegistrationBody(fields, expected);
  const parsed = parseRegistrationForm(body);
  assert.ok(!("error" in parsed), JSON.stringify(parsed));
  assert.deepEqual(parsed.signed, fields);
  assert.equal(parsed.md, expected);
  const post = text(buildRegistrationPost("10.0.0.5", fields, expected));
  assert.match(post, /^POST \/Forms\/pcnsreg1 HTTP\/1\.1\r\nHost: 10\.0\.0\.5\r\n/);
  assert.ok(!post.includes(CARD.authenticationPhrase));
  assert.equal(
    text(buildRegistrationPageRequest("fe80::1")),
    "GET /pcnsreg.htm HTTP/1.1\r\nHost: [fe80::1]\r\n\r\n",
  );
});

Deno.test("bad registration values are refused naming each field; the card's parser names the missing or bad field", () => {
  assert.throws(
    () =>
      registrationFieldList({
        action: "register",
        address: "not-an-ip",
        udpPort: 0,
        httpPort: 70000,
        httpsPort: 0,
        seconds: -1,
        nonce: "xyz",
      }),
    (e: Error) =>
      /client address "not-an-ip"/.test(e.message) && /UDP port 0/.test(e.message) &&
      /HTTP port 70000/.test(e.message) && /shutdown seconds -1/.test(e.message) &&
      /nonce "xyz"/.test(e.message),
  );
  const missing = parseRegistrationForm("pcnsreg1_action=register");
  assert.ok("error" in missing && /pcnsreg1_client_ip is missing/.test(missing.error));
  const badMd = parseRegistrationForm(
    encodeRegistrationBody(
      registrationFieldList({
        action: "register",
        address: "10.0.0.1",
        udpPort: 1,
        httpPort: 0,
        httpsPort: 0,
        seconds: 0,
        nonce: NONCE,
      }),
      "ZZ",
    ),
  );
  assert.ok("error" in badMd && /pcnsreg1_md is not 32/.test(badMd.error));
});

Deno.test("negotiation answer: signed block verifies with the card's credentials; wrong phrase, nonce or card is refused", () => {
  const info = { card: "10.0.0.5", address: "10.0.0.9", udpPort: 3052, seconds: 170, nonce: NONCE };
  const block = buildNegotiationAnswer(info, CARD.username, CARD.authenticationPhrase);
  assert.match(
    block,
    /^<html>\nPCNSNEGOTIATE\nPC=10\.0\.0\.5\nHA=10\.0\.0\.9\nUP=3052\nDL=170\nCS=[0-9a-f]{32}\nMD=[0-9a-f]{32}\n<\/html>\n$/,
  );
  const expected = { card: "10.0.0.5", nonce: NONCE };
  const ok = verifyNegotiationAnswer(bytes(block), expected, CARD.username, CARD.authenticationPhrase);
  assert.deepEqual(ok, { seconds: 170, address: "10.0.0.9", udpPort: 3052 });
  const wrong = buildNegotiationAnswer(info, CARD.username, "another phrase, 15+");
  const bad = verifyNegotiationAnswer(bytes(wrong), expected, CARD.username, CARD.authenticationPhrase);
  assert.ok("error" in bad && /bad MD5/.test(bad.error));
  const otherNonce = verifyNegotiationAnswer(
    bytes(block),
    { ...expected, nonce: "ffffffffffffffff" },
    CARD.username,
    CARD.authenticationPhrase,
  );
  assert.ok("error" in otherNonce && /nonce/.test(otherNonce.error));
  // The agent's answer never passes as a card packet: it has no SR/SU.
  const asPacket = judgePacket(bytes(block), { ...CARD, cards: ["10.0.0.5"] }, () => undefined);
  assert.equal(asPacket.accepted, false);
  assert.equal(maximumRequiredDelay([170, 60]), 290);
  assert.equal(maximumRequiredDelay([]), 240);
  assert.ok("error" in parseNegotiationQuery(new URLSearchParams("PC=10.0.0.5&CS=short")));
  assert.ok("error" in parseNegotiationQuery(new URLSearchParams(`CS=${NONCE}`)));
});

Deno.test("card clock: DT/TM read as UTC; the skew takes the closer of UTC and local time", () => {
  const card = parseCardClock("11/21/2026", "12:00:30");
  assert.equal(card, Date.UTC(2026, 10, 21, 12, 0, 30));
  assert.equal(parseCardClock("13/01/2026", "00:00:00"), undefined);
  assert.equal(parseCardClock("02/30/2026", "00:00:00"), undefined);
  const now = Date.UTC(2026, 10, 21, 12, 0, 0);
  assert.deepEqual(clockSkew(card!, now, 0), { seconds: 30, readAs: "UTC" });
  // A card on local time (UTC+2 here) that is 5 s behind.
  assert.deepEqual(clockSkew(Date.UTC(2026, 10, 21, 13, 59, 55), now, 120), {
    seconds: -5,
    readAs: "local time",
  });
});

Deno.test("pin file: parsed strictly; a bad fingerprint or format is an error naming it", () => {
  assert.ok("error" in parsePins("{"));
  assert.ok("error" in parsePins('{"version": 2, "pins": {}}'));
  const bad = parsePins('{"version": 1, "pins": {"10.0.0.5": {"sha256": "zz"}}}');
  assert.ok("error" in bad && /10\.0\.0\.5/.test(bad.error));
  const ok = parsePins(`{"version": 1, "pins": {"10.0.0.5": {"sha256": "${CERT_SHA256}"}}}`);
  assert.ok(!("error" in ok) && ok.get("10.0.0.5")?.sha256 === CERT_SHA256);
});

// ---------------------------------------------------------------------------
// Over HTTP

Deno.test("HTTP: register, the card lists the client in MACONFIG CL= and sends it packets; unregister removes it", async () => {
  const card = startCard();
  try {
    const result = await registerWithCard(targetOf(card.web.port), CLIENT);
    assert.equal(result.ok, true, result.error);
    assert.equal(result.step, "done");
    assert.equal(result.hostAddress, "127.0.0.1");
    assert.equal(result.clients, 1);
    assert.deepEqual(card.sim.clients, ["127.0.0.1"]);
    assert.deepEqual(card.sim.registeredClients.map((c) => [c.udpPort, c.httpPort, c.httpsPort, c.seconds]), [
      [3999, 4001, 4002, 170],
    ]);
    assert.deepEqual(card.sim.allTargets, [{ hostname: "127.0.0.1", port: 3999 }]);
    const config = judgePacket(card.sim.buildConfig(), { ...CARD, cards: [CARD.address] }, () => undefined);
    assert.ok(config.accepted);
    assert.deepEqual(decodeClientNotification(config.packet.lines).clients, ["127.0.0.1"]);

    const again = await registerWithCard(targetOf(card.web.port), { ...CLIENT, requiredSeconds: 200 });
    assert.equal(again.ok, true, again.error);
    assert.deepEqual(card.sim.clients, ["127.0.0.1"], "re-registering updates, it does not add");
    assert.equal(card.sim.registeredClients[0].seconds, 200);

    const removed = await unregisterFromCard(targetOf(card.web.port), CLIENT);
    assert.equal(removed.ok, true, removed.error);
    assert.deepEqual(card.sim.clients, []);
    assert.deepEqual(card.web.registrations.map((r) => `${r.action}:${r.outcome}`), [
      "register:OK",
      "register:OK",
      "unregister:OK",
    ]);
  } finally {
    await card.close();
  }
});

Deno.test("without a configured address the interface that routes to the card is registered", async () => {
  const card = startCard();
  try {
    const result = await registerWithCard(targetOf(card.web.port), { ...CLIENT, hostAddress: undefined });
    assert.equal(result.ok, true, result.error);
    assert.equal(result.hostAddress, "127.0.0.1");
    assert.equal(result.localAddress, "127.0.0.1");
  } finally {
    await card.close();
  }
});

Deno.test("wrong phrase on the agent: bad credentials at verify, nothing is posted, the card lists nobody", async () => {
  const card = startCard();
  try {
    const result = await registerWithCard(
      targetOf(card.web.port, { authenticationPhrase: "a wrong phrase 123" }),
      CLIENT,
    );
    assert.equal(result.ok, false);
    assert.equal(result.step, "verify");
    assert.equal(result.cause, "credentials");
    assert.match(result.error ?? "", /bad credentials.*bad MD5/);
    assert.equal(result.pageVerified, false);
    assert.deepEqual(card.sim.clients, []);
    assert.equal(card.web.registrations.length, 0);
    assert.equal(card.web.outstandingRegistrationChallenges, 1, "a challenge was handed out, none answered");
  } finally {
    await card.close();
  }
});

/** A raw client for hand-made requests on one connection. */
async function rawClient(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(8192);
  let received = new Uint8Array(0);
  return {
    send: (data: string) => conn.write(bytes(data)),
    /** Reads one whole reply (chunked or Content-Length) and returns it as text. */
    async reply(): Promise<string> {
      while (parseReply(received, false) === undefined) {
        const n = await conn.read(buf);
        if (n === null) break;
        const grown = new Uint8Array(received.length + n);
        grown.set(received);
        grown.set(buf.subarray(0, n), received.length);
        received = grown;
      }
      const out = text(received);
      received = new Uint8Array(0);
      return out;
    },
    close: () => conn.close(),
  };
}

function challengeOf(page: string): string {
  return /CS=([0-9a-f]+)/.exec(page)![1];
}

function postFor(
  challenge: string,
  address: string,
  phrase: string = CARD.authenticationPhrase,
  nonce = NONCE,
): string {
  const fields = registrationFieldList({
    action: "register",
    address,
    udpPort: 3052,
    httpPort: 0,
    httpsPort: 0,
    seconds: 100,
    nonce,
  });
  return text(
    buildRegistrationPost(CARD.address, fields, signFields(fields, challenge, CARD.username, phrase)),
  );
}

Deno.test("the card refuses a wrong MD5, a replayed answer and a stale challenge with 403, and records why", async () => {
  let now = Date.now();
  const card = startCard({ clock: { now: () => now }, challengeTtlMs: 60_000 });
  const client = await rawClient(card.web.port);
  try {
    await client.send(text(buildRegistrationPageRequest(CARD.address)));
    const challenge = challengeOf(await client.reply());

    await client.send(postFor(challenge, "10.0.0.1", "a wrong phrase 123"));
    assert.match(await client.reply(), /^HTTP\/1\.1 403 [\s\S]*wrong-answer/);

    const good = postFor(challenge, "10.0.0.1");
    await client.send(good);
    const accepted = await client.reply();
    assert.match(accepted, /^HTTP\/1\.1 200 [\s\S]*RS=OK/);
    await client.send(good);
    assert.match(await client.reply(), /^HTTP\/1\.1 403 [\s\S]*consumed/, "a replayed answer is refused");

    await client.send(text(buildRegistrationPageRequest(CARD.address)));
    const stale = challengeOf(await client.reply());
    now += 61_000;
    await client.send(postFor(stale, "10.0.0.2"));
    assert.match(await client.reply(), /^HTTP\/1\.1 403 [\s\S]*expired/, "a stale challenge is refused");

    // A turn-off challenge does not answer a registration.
    await client.send("GET /macontrol.htm HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const control = challengeOf(await client.reply());
    await client.send(postFor(control, "10.0.0.3"));
    assert.match(await client.reply(), /^HTTP\/1\.1 403 /);

    assert.deepEqual(card.sim.clients, ["10.0.0.1"]);
    assert.deepEqual(
      card.web.refusals.filter((r) => r.flow === "registration").map((r) => r.reason),
      ["wrong-answer", "consumed", "expired", "no-challenge"],
    );
  } finally {
    client.close();
    await card.close();
  }
});

Deno.test("the card lists at most 50 clients: the 51st is refused (list-full), a listed one may re-register", async () => {
  const card = startCard();
  try {
    for (let i = 1; i <= 50; i++) {
      const r = await registerWithCard(targetOf(card.web.port), { ...CLIENT, hostAddress: `10.0.0.${i}` });
      assert.equal(r.ok, true, r.error);
    }
    assert.equal(card.sim.clients.length, 50);
    const full = await registerWithCard(targetOf(card.web.port), { ...CLIENT, hostAddress: "10.0.1.1" });
    assert.equal(full.ok, false);
    assert.equal(full.cause, "list-full");
    assert.equal(full.step, "reply");
    assert.match(full.error ?? "", /client list is full \(50 clients\)/);
    assert.equal(card.sim.clients.length, 50);
    assert.ok(!card.sim.clients.includes("10.0.1.1"));
    const again = await registerWithCard(targetOf(card.web.port), { ...CLIENT, hostAddress: "10.0.0.7" });
    assert.equal(again.ok, true, again.error);
    const config = judgePacket(card.sim.buildConfig(), { ...CARD, cards: [CARD.address] }, () => undefined);
    assert.ok(config.accepted);
    const cl = config.packet.lines.filter((l) => l.key === "CL");
    assert.equal(cl.length, 50);
    assert.equal(cl[0].value, "0A000001");
    assert.equal(cl[49].value, "0A000032");
  } finally {
    await card.close();
  }
});

Deno.test("the card's answer must verify: a page signed correctly but an answer with a bad MD5 is refused (card-md5)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(8192);
    try {
      await conn.read(buf); // the page request
      const page = buildSignedBlock(
        "x",
        [["PC", CARD.address], ...counterItems(1, 500), ["CS", "abcdef0123456789"]],
        CARD.username,
        CARD.authenticationPhrase,
      );
      await conn.write(chunkedResponse(200, "OK", page));
      let got = "";
      while (!/pcnsreg1_md=[0-9a-f]{32}$/.test(got)) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += text(buf.subarray(0, n));
      }
      const nonce = /pcnsreg1_client_nonce=([0-9a-f]+)/.exec(got)![1];
      const forged = buildSignedBlock(
        "x",
        [
          ["PC", CARD.address],
          ...counterItems(1, 501),
          ["CS", "abcdef0123456789"],
          ["RN", nonce],
          ["RA", "register"],
          ["CA", "127.0.0.1"],
          ["RS", "OK"],
        ],
        CARD.username,
        "not the card's phrase!",
      );
      await conn.write(chunkedResponse(200, "OK", forged));
      await conn.read(buf);
    } catch {
      /* client closed */
    } finally {
      conn.close();
    }
  })();
  try {
    const result = await registerWithCard(targetOf((listener.addr as Deno.NetAddr).port), CLIENT);
    assert.equal(result.ok, false);
    assert.equal(result.step, "reply");
    assert.equal(result.cause, "card-md5");
    assert.match(result.error ?? "", /bad MD5 from the card/);
  } finally {
    listener.close();
    await served;
  }
});

Deno.test("a card without the registration page (HTTP 404) fails with not-found, naming the protocol document", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      await conn.read(new Uint8Array(4096));
      await conn.write(bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"));
      await conn.read(new Uint8Array(16));
    } catch {
      /* closed */
    } finally {
      conn.close();
    }
  })();
  try {
    const result = await registerWithCard(targetOf((listener.addr as Deno.NetAddr).port), CLIENT);
    assert.equal(result.cause, "not-found");
    assert.match(result.error ?? "", /docs\/registration\.md/);
  } finally {
    listener.close();
    await served;
  }
});

Deno.test("unreachable card: refused at connect with a cause code, no throw", async () => {
  const port = closedPort();
  const result = await registerWithCard(targetOf(port), CLIENT, { timeoutMs: 2000 });
  assert.equal(result.ok, false);
  assert.equal(result.step, "connect");
  assert.equal(result.cause, "refused");
  assert.match(result.error ?? "", new RegExp(`127\\.0\\.0\\.1:${port}`));
});

Deno.test("a card that never answers: timeout at the page step", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      accepted.push(await listener.accept());
    } catch { /* closed */ }
  })();
  try {
    const result = await registerWithCard(targetOf((listener.addr as Deno.NetAddr).port), CLIENT, {
      timeoutMs: 300,
    });
    assert.equal(result.step, "page");
    assert.equal(result.cause, "timeout");
    assert.match(result.error ?? "", /timed out after 300 ms/);
  } finally {
    listener.close();
    await accepting;
    for (const c of accepted) c.close();
  }
});

// ---------------------------------------------------------------------------
// Over HTTPS

Deno.test("HTTPS: a self-signed card certificate is refused by default (nothing sent), accepted with acceptCerts", async () => {
  const card = startCard({ https: "cert" });
  try {
    const refused = await registerWithCard(targetOf(card.web.port, { protocol: "https" }), CLIENT);
    assert.equal(refused.ok, false);
    assert.equal(refused.step, "tls");
    assert.equal(refused.cause, "tls-certificate");
    assert.match(refused.error ?? "", /not trusted/);
    assert.equal(card.web.registrations.length, 0);

    const accepted = await registerWithCard(
      targetOf(card.web.port, { protocol: "https", acceptCerts: true }),
      CLIENT,
    );
    assert.equal(accepted.ok, true, accepted.error);
    assert.equal(accepted.certificate?.sha256, CERT_SHA256);
    assert.equal(accepted.certificate?.verified, false);
    assert.match(accepted.certificate?.tlsVersion ?? "", /^TLSv1\.[23]$/);

    const trusted = await registerWithCard(
      targetOf(card.web.port, { protocol: "https", caCerts: [CERT] }),
      CLIENT,
    );
    assert.equal(trusted.ok, true, trusted.error);
    assert.equal(trusted.certificate?.verified, true);
  } finally {
    await card.close();
  }
});

Deno.test("HTTPS: a pinned fingerprint that no longer matches is refused before anything is sent", async () => {
  const card = startCard({ https: "other" });
  try {
    const result = await registerWithCard(
      targetOf(card.web.port, { protocol: "https", acceptCerts: true }),
      CLIENT,
      { pin: CERT_SHA256 },
    );
    assert.equal(result.ok, false);
    assert.equal(result.step, "pin");
    assert.equal(result.cause, "pin-mismatch");
    assert.equal(result.certificate?.sha256, OTHER_CERT_SHA256);
    assert.match(result.error ?? "", /certificate of card 127\.0\.0\.1 changed/);
    assert.equal(card.web.outstandingRegistrationChallenges, 0, "not even the page was asked for");
    const probe = await probeCard(targetOf(card.web.port, { protocol: "https", acceptCerts: true }), {
      pin: OTHER_CERT_SHA256,
    });
    assert.equal(probe.ok, true, probe.error);
    assert.equal(probe.step, "challenge");
    assert.equal(probe.cardClock?.date?.length, 10);
  } finally {
    await card.close();
  }
});

Deno.test("pin store: written atomically as JSON, read back, deleted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-pins-" });
  try {
    const pins = new PinStore(dir);
    assert.equal(await pins.get("10.0.0.5"), undefined);
    await pins.set("10.0.0.5", { sha256: CERT_SHA256, subject: "CN=localhost", validTo: "x", pinnedAt: "t" });
    const text = await Deno.readTextFile(pins.path);
    assert.equal(JSON.parse(text).pins["10.0.0.5"].sha256, CERT_SHA256);
    assert.equal((await Deno.stat(pins.path)).mode! & 0o777, 0o600);
    assert.equal((await pins.get("10.0.0.5"))?.sha256, CERT_SHA256);
    assert.equal(await pins.delete("10.0.0.5"), true);
    assert.equal(await pins.get("10.0.0.5"), undefined);
    await Deno.writeTextFile(pins.path, "garbage");
    await assert.rejects(() => pins.get("10.0.0.5"), /nmc-pins\.json: not JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the card's page carries DT/TM, CN and CM and verifies like a packet", async () => {
  const card = startCard();
  const client = await rawClient(card.web.port);
  try {
    await client.send(text(buildRegistrationPageRequest(CARD.address)));
    const reply = await client.reply();
    const body = reply.slice(reply.indexOf("<html>"));
    const page = parsePacket(bytes(body));
    // The signed lines (nothing after MD= is read).
    assert.deepEqual(page.lines.map((l) => l.key), ["PC", "DT", "TM", "SR", "SU", "CS", "CN", "CM"]);
    assert.ok(
      judgePacket(
        bytes(body.replace(/\r\n0\r\n\r\n$/, "")),
        { ...CARD, cards: [CARD.address] },
        () => undefined,
      ).accepted,
    );
  } finally {
    client.close();
    await card.close();
  }
});

/** True when an `openssl` binary can be run (for a TLS 1.1-only server). */
function hasOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "HTTPS: a card offering only TLS 1.1 is refused at the TLS step (openssl s_server)",
  ignore: !hasOpenssl(),
  async fn() {
    const fixture = (name: string) => new URL(`./fixtures/tls/${name}`, import.meta.url).pathname;
    const child = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-tls1_1",
        "-cipher",
        "DEFAULT:@SECLEVEL=0",
        "-cert",
        fixture("cert.pem"),
        "-key",
        fixture("key.pem"),
        "-www",
      ],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    try {
      let out = "";
      while (!/ACCEPT [^\n]*:(\d+)\n/.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`openssl s_server did not start: ${out}`);
        out += new TextDecoder().decode(value);
      }
      const port = Number(/ACCEPT [^\n]*:(\d+)\n/.exec(out)![1]);
      const result = await registerWithCard(
        targetOf(port, { protocol: "https", acceptCerts: true }),
        CLIENT,
        { timeoutMs: 3000 },
      );
      assert.equal(result.ok, false);
      assert.equal(result.step, "tls");
      assert.equal(result.cause, "tls");
      assert.match(result.error ?? "", /TLS/);
    } finally {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
    }
  },
});
