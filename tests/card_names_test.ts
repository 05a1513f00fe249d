/**
 * Cards given by host name (`ip_2 = nmc-b.example.net`): a card names itself by its IP address in every
 * packet (`PC=`) and sends from it, so the agent resolves the name and matches the packets by the
 * addresses it resolves to; the card keeps its configured name everywhere else. A name that does not
 * resolve is reported, and the last answer is kept while the name server does not answer.
 */
import assert from "node:assert/strict";
import { PacketGate } from "../src/nmc/gate.ts";
import { CARD_NAMES_REFRESH_MS, CardNames, LOOKUP_TIMEOUT_MS } from "../src/nmc/cardnames.ts";
import { answerNegotiation } from "../src/agent/negotiation.ts";
import { nextEvent, startTestAgent, testConfig, waitUntil } from "./helpers/agent.ts";
import { fakeClock } from "./helpers/clock.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";

const NAME = "nmc-b.example.net";

Deno.test("gate: a card given by host name takes the packets naming one of its addresses, as that card", () => {
  const gate = new PacketGate({
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    cards: ["10.0.0.1", NAME],
    cardAddresses: new Map([["10.0.0.7", NAME], ["fd00::7", NAME]]),
    requireCardSource: true,
  });
  const accepted = gate.check(statusPacket({ card: "10.0.0.7", su: 1 }), 0, "10.0.0.7");
  assert.equal(accepted.accepted, true);
  assert.equal(accepted.accepted && accepted.packet.card, NAME, "the card keeps its configured name");
  const mapped = gate.check(statusPacket({ card: "10.0.0.7", su: 2 }), 0, "::ffff:10.0.0.7");
  assert.equal(mapped.accepted, true, "from the IPv4-mapped source of a dual-stack socket");
  assert.deepEqual(gate.lastCounters(NAME), { sr: 1, su: 2 }, "counters are kept under the name");
  const replay = gate.check(statusPacket({ card: "10.0.0.7", su: 2 }), 0, "10.0.0.7");
  assert.equal(!replay.accepted && replay.reason, "replay");
  const stranger = gate.check(statusPacket({ card: "10.0.0.7", su: 3 }), 0, "10.0.0.8");
  assert.equal(!stranger.accepted && stranger.reason, "unknown-source");
  const other = gate.check(statusPacket({ card: "10.0.0.8", su: 3 }), 0, "10.0.0.7");
  assert.equal(!other.accepted && other.reason, "unknown-card", "PC= must be one of the name's addresses");
  const unresolved = new PacketGate({
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    cards: [NAME],
  });
  const refused = unresolved.check(statusPacket({ card: "10.0.0.7", su: 1 }), 0, "10.0.0.7");
  assert.equal(!refused.accepted && refused.reason, "unknown-card");
  assert.match(!refused.accepted ? refused.detail : "", /not a configured NMC.*nmc-b\.example\.net.*resolve/);
});

Deno.test("card names: resolved at once and every 5 min; the last answer kept while the name server fails", async () => {
  const { fake, clock } = fakeClock();
  let answer: string[] | Error | "hang" = ["10.0.0.7", "fd00::7"];
  const asked: string[] = [];
  const reports: string[] = [];
  const changes: string[][] = [];
  const names = new CardNames({
    clock,
    lookup: (name) => {
      asked.push(name);
      if (answer === "hang") return new Promise(() => {});
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    onChange: (addresses) => changes.push([...addresses].map(([a, c]) => `${a}=${c}`)),
    report: (level, text) => reports.push(`${level}: ${text}`),
  });
  names.configure(["10.0.0.1", NAME, "::1"]);
  await fake.tickAsync(0);
  assert.deepEqual(asked, [NAME], "addresses are not looked up");
  assert.deepEqual(changes, [["10.0.0.7=nmc-b.example.net", "fd00::7=nmc-b.example.net"]]);
  assert.deepEqual([...names.addresses.keys()], ["10.0.0.7", "fd00::7"]);
  assert.match(reports.join("\n"), /^info: NMC nmc-b\.example\.net is 10\.0\.0\.7, fd00::7/);

  answer = new Error("getaddrinfo ENOTFOUND nmc-b.example.net");
  await fake.tickAsync(CARD_NAMES_REFRESH_MS);
  assert.equal(asked.length, 2);
  assert.deepEqual([...names.addresses.keys()], ["10.0.0.7", "fd00::7"], "the last answer is kept");
  assert.equal(changes.length, 1);
  assert.match(reports.at(-1)!, /^warning: NMC nmc-b\.example\.net: .*ENOTFOUND.*10\.0\.0\.7, fd00::7/);

  answer = "hang";
  await fake.tickAsync(CARD_NAMES_REFRESH_MS + LOOKUP_TIMEOUT_MS);
  assert.deepEqual([...names.addresses.keys()], ["10.0.0.7", "fd00::7"]);
  assert.equal(reports.filter((r) => r.startsWith("warning")).length, 1, "a failure goes on: reported once");

  answer = ["10.0.0.9"];
  await fake.tickAsync(CARD_NAMES_REFRESH_MS);
  assert.deepEqual(changes.at(-1), ["10.0.0.9=nmc-b.example.net"], "a new address replaces the old");
  assert.match(reports.at(-1)!, /^info: NMC nmc-b\.example\.net is 10\.0\.0\.9/);

  // A card removed from the config: its addresses go; a name that never resolved is reported.
  answer = new Error("getaddrinfo ENOTFOUND nmc-c");
  names.configure(["10.0.0.1", "nmc-c"]);
  await fake.tickAsync(0);
  assert.deepEqual(changes.at(-1), []);
  assert.match(
    reports.at(-1)!,
    /^warning: NMC nmc-c: .*ENOTFOUND.*its packets are refused until it resolves/,
  );
  answer = "hang";
  await fake.tickAsync(CARD_NAMES_REFRESH_MS);
  names.stop();
  assert.equal(fake.countTimers(), 0, "a hung lookup holds no timer after stop");
  const before = asked.length;
  await fake.tickAsync(3 * CARD_NAMES_REFRESH_MS);
  assert.equal(asked.length, before, "nothing is looked up after stop");
});

Deno.test("negotiation: a card given by host name is answered from one of its addresses", () => {
  const settings = {
    cards: [NAME],
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    udpPort: 3052,
    requiredSeconds: 170,
  };
  const cardAddresses = new Map([["10.0.0.7", NAME]]);
  const nonce = "0123456789abcdef0123456789abcdef";
  const reply = answerNegotiation(
    new URLSearchParams(`PC=10.0.0.7&CS=${nonce}`),
    settings,
    () => "10.0.0.9",
    "10.0.0.7",
    cardAddresses,
  );
  assert.equal(reply.status, 200);
  assert.equal(reply.card, NAME);
  const elsewhere = answerNegotiation(
    new URLSearchParams(`PC=10.0.0.8&CS=${nonce}`),
    settings,
    () => "10.0.0.9",
    "10.0.0.7",
    cardAddresses,
  );
  assert.equal(elsewhere.status, 403, "asking as another address");
});

Deno.test("agent: a card configured as localhost gets its packets (PC=127.0.0.1) accepted, under its name", async () => {
  const t = await startTestAgent(testConfig({ cards: ["localhost"] }));
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    await waitUntil(
      () => t.logs.some((r) => /NMC localhost is .*127\.0\.0\.1/.test(r.message)),
      "localhost resolved",
    );
    const powerFailed = nextEvent(t.agent.bus, "PowerFailed");
    await sender.send(statusPacket({ card: "127.0.0.1", su: 100, status: 0x10 }), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: t.agent.udpPort,
    });
    assert.equal((await powerFailed).nmc, "localhost");
  } finally {
    sender.close();
    await t.close();
  }
});
