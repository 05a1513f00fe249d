/**
 * The agent's registrar (src/agent/registrar.ts) against the simulated card
 * over real sockets on 127.0.0.1: registration at start, MACONFIG
 * confirmation, negotiation on the HTTP and HTTPS ports, backoff on fake time,
 * certificate pinning, config changes, and no phrase on the wire.
 */
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Agent } from "../src/agent/agent.ts";
import { answerNegotiation, NEGOTIATION_REFUSED_BODY } from "../src/agent/negotiation.ts";
import { retryDelayMs } from "../src/agent/registrar.ts";
import { listedState, registrationSummary } from "../src/agent/registration_status.ts";
import { startService } from "../src/agent/service.ts";
import { totalShutdownSeconds } from "../src/agent/wiring.ts";
import type { AgentConfig } from "../src/config/types.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { NEGOTIATION_PATH, verifyNegotiationAnswer } from "../src/nmc/protocol.ts";
import { NmcWebServer } from "../src/sim/http.ts";
import { forceNegotiation, negotiateWith } from "../src/sim/negotiation.ts";
import { certificateText, DashboardPage } from "../src/web/pages/dashboard.tsx";
import { fakeClock } from "./helpers/clock.ts";
import { nextEvent, testConfig, waitUntil } from "./helpers/agent.ts";
import { bytes, CARD } from "./helpers/packets.ts";
import {
  CERT_SHA256,
  closedPort,
  containsBytes,
  freePort,
  joined,
  OTHER_CERT_SHA256,
  startCard,
  startCardInConfigRange,
  tcpProxy,
  tcpProxyInConfigRange,
} from "./fixtures/registration/helpers.ts";

const PASSWORD = "Sturdy-Battery-42!";

/** GET `path` on 127.0.0.1:`port` from the local address `from` (plain or TLS): the raw answer. */
function rawGet(port: number, path: string, from: string, tls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, localAddress: from };
    const socket = tls ? tlsConnect({ ...options, rejectUnauthorized: false }) : netConnect(options);
    let text = "";
    socket.on(tls ? "secureConnect" : "connect", () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    socket.on("data", (chunk) => (text += String(chunk)));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}
const PHRASE = bytes(CARD.authenticationPhrase);

/** A config for an agent talking to a card on `port` (loopback, ephemeral UDP). */
function configFor(port: number, change: Partial<AgentConfig["nmc"]> = {}): AgentConfig {
  const base = testConfig();
  return { ...base, nmc: { ...base.nmc, protocol: "http", port, ...change } };
}

/** An agent in a temp dir with registration started; events collected. */
async function startAgent(config: AgentConfig, clock?: ReturnType<typeof fakeClock>["clock"]) {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-reg-agent-" });
  const agent = Agent.start({ config, dataDir, logger: memoryLogger().logger, clock, dryRun: true });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  return {
    agent,
    dataDir,
    events,
    async close() {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

const ini = (o: { cardPort: number; udp: number; http: number; https: number; extra?: string[] }) =>
  [
    "[NetworkManagementCard]",
    `username = ${CARD.username}`,
    `password = ${PASSWORD}`,
    `authenticationPhrase = ${CARD.authenticationPhrase}`,
    `ip_1 = ${CARD.address}`,
    "protocol = http",
    `port = ${o.cardPort}`,
    "[Networking]",
    `udpPort = ${o.udp}`,
    "udpListenAddresses = 127.0.0.1",
    `httpPort = ${o.http}`,
    `httpsPort = ${o.https}`,
    "uiListenAddress = 127.0.0.1",
    "[Shutdown]",
    "settleDelay = 30",
    "osShutdownDuration = 20",
    ...(o.extra ?? []),
    "",
  ].join("\n");

// ---------------------------------------------------------------------------
// Pure parts

Deno.test("backoff: 5 s, 10 s, 20 s ... capped at 5 min", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => retryDelayMs(n) / 1000),
    [5, 10, 20, 40, 80, 160, 300, 300, 300],
  );
  assert.equal(retryDelayMs(0), 0);
});

Deno.test("listed state and summary: registered means seen in the card's CL list; IPv6 is not confirmable", () => {
  assert.equal(listedState("10.0.0.9", ["10.0.0.9"]), "yes");
  assert.equal(listedState("10.0.0.9", ["10.0.0.8"]), "no");
  assert.equal(listedState("10.0.0.9", undefined), "unknown");
  assert.equal(listedState("fd00::9", ["10.0.0.9"]), "not-confirmable");
  const s = (phase: "registered" | "failed", listed: "yes" | "no" | "unknown" | "not-confirmable") =>
    registrationSummary({ phase, listed, cause: "refused", lastError: "x", nextAttemptAt: 10_000 }, 0);
  assert.equal(s("registered", "yes"), "registered");
  assert.equal(
    s("registered", "not-confirmable"),
    "registered (not confirmable: the card's list holds IPv4 only)",
  );
  assert.match(s("registered", "unknown"), /waiting for its client list/);
  assert.match(s("registered", "no"), /not in its client list/);
  assert.equal(s("failed", "no"), "registration failed (refused): x; next attempt in 10 s");
});

Deno.test("negotiation answer (pure): only a configured card asking from its own address is answered", () => {
  const settings = {
    cards: ["10.0.0.5", "fd00::7"],
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    udpPort: 3052,
    requiredSeconds: 170,
  };
  const nonce = "0123456789abcdef0123456789abcdef";
  const ask = (query: string, from: string) =>
    answerNegotiation(new URLSearchParams(query), settings, () => "10.0.0.9", from);
  // The card itself: a malformed query is told why; a good one gets the signed block.
  assert.equal(ask("PC=10.0.0.5", "10.0.0.5").status, 400);
  const ok = ask(`PC=10.0.0.5&CS=${nonce}`, "10.0.0.5");
  assert.equal(ok.status, 200);
  const verified = verifyNegotiationAnswer(
    bytes(ok.body),
    { card: "10.0.0.5", nonce },
    CARD.username,
    CARD.authenticationPhrase,
  );
  assert.deepEqual(verified, { seconds: 170, address: "10.0.0.9", udpPort: 3052 });
  assert.equal(ask(`PC=10.0.0.5&CS=${nonce}`, "::ffff:10.0.0.5").status, 200, "IPv4-mapped source");
  assert.equal(ask(`PC=fd00::7&CS=${nonce}`, "FD00::7").status, 200);
  // Everyone else gets one and the same answer: wrong source, unknown card, another card's name,
  // a malformed query from a stranger. Nothing signed, nothing about which addresses are cards.
  const refusals = [
    ask(`PC=10.0.0.5&CS=${nonce}`, "10.0.0.66"), // a stranger naming a real card
    ask(`PC=10.0.0.6&CS=${nonce}`, "10.0.0.6"), // not a configured card, from its own address
    ask(`PC=10.0.0.6&CS=${nonce}`, "10.0.0.66"),
    ask(`PC=fd00::7&CS=${nonce}`, "10.0.0.5"), // a card asking in another card's name
    ask("PC=10.0.0.5", "10.0.0.66"),
    ask("", "10.0.0.66"),
  ];
  for (const r of refusals) {
    assert.deepEqual([r.status, r.body], [403, NEGOTIATION_REFUSED_BODY], r.error);
    assert.ok(r.error, "the reason is kept for the event");
  }
  assert.doesNotMatch(refusals.map((r) => r.body).join(""), /10\.0\.0|MD=|configured/);
});

// ---------------------------------------------------------------------------
// Over sockets

Deno.test("service: registers over HTTP at start, the card's MACONFIG confirms it, negotiation round trip on both ports, no phrase on the wire", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-reg-service-" });
  const card = startCardInConfigRange();
  const cardProxy = tcpProxyInConfigRange(card.web.port);
  const [udp, http, https] = [freePort(true), freePort(), freePort()];
  const configPath = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(configPath, ini({ cardPort: cardProxy.port, udp, http, https }), { mode: 0o600 });
  const service = await startService({
    configPath,
    logger: memoryLogger().logger,
    dryRun: true,
    webUi: true,
    registrationDelayMs: 0,
  });
  let agentProxy: ReturnType<typeof tcpProxy> | undefined;
  try {
    const agent = service.agent;
    const events: AgentEvent[] = [];
    agent.bus.subscribe((e) => events.push(e));
    const required = totalShutdownSeconds(agent.config);
    assert.equal(required, 50, "command file 0 + settle 30 + OS 20");
    await waitUntil(() => agent.status().registration?.[0]?.phase === "registered", "registration");
    const client = card.sim.registeredClients[0];
    assert.deepEqual(
      [client.address, client.udpPort, client.httpPort, client.httpsPort, client.seconds],
      ["127.0.0.1", udp, http, https, 50],
    );
    assert.ok(agent.status().registration![0].summary.startsWith("accepted by the card"));

    // The card now sends its client list to the registered agent: the agent sees itself in it.
    await card.sim.sendConfig();
    await waitUntil(() => agent.status().registration?.[0]?.listed === "yes", "MACONFIG confirmation");
    assert.equal(agent.status().registration![0].summary, "registered");
    assert.deepEqual(agent.status().ups[0].clients, ["127.0.0.1"]);

    // Force Negotiation: the card polls the agent's HTTP port, then its HTTPS port.
    const answered = nextEvent(agent.bus, "NegotiationAnswered");
    const overHttp = await forceNegotiation(card.sim);
    assert.deepEqual(overHttp.clients, [{ address: "127.0.0.1", ok: true, seconds: 50 }]);
    assert.equal(overHttp.maximumRequiredDelaySeconds, 170, "longest need + 2 min");
    assert.match((await answered).message, /answered 50 s to card 127\.0\.0\.1/);
    const overHttps = await forceNegotiation(card.sim, { protocol: "https" });
    assert.deepEqual(overHttps.clients, [{ address: "127.0.0.1", ok: true, seconds: 50 }]);

    // Only the negotiation path is answered on the plain port; everything else still redirects.
    const other = await fetch(`http://127.0.0.1:${http}/events`, { redirect: "manual" });
    assert.equal(other.status, 308);
    await other.body?.cancel();
    const stranger = await fetch(
      `http://127.0.0.1:${http}${NEGOTIATION_PATH}?PC=10.9.9.9&CS=0123456789abcdef`,
    );
    assert.equal(stranger.status, 403);
    assert.equal(await stranger.text(), NEGOTIATION_REFUSED_BODY);
    // Only the card's own address is answered, on both ports; anyone else gets the same refusal.
    const nonce = "0123456789abcdef0123456789abcdef";
    const own = `${NEGOTIATION_PATH}?PC=127.0.0.1&CS=${nonce}`;
    for (const tls of [false, true]) {
      const port = tls ? https : http;
      const fromCard = await rawGet(port, own, "127.0.0.1", tls);
      assert.match(fromCard, /^HTTP\/1\.1 200/, `the card itself (${tls ? "https" : "http"})`);
      assert.match(fromCard, /MD=/);
      const impostor = await rawGet(port, own, "127.0.0.2", tls);
      const unknown = await rawGet(port, `${NEGOTIATION_PATH}?PC=127.0.0.3&CS=${nonce}`, "127.0.0.3", tls);
      for (const answer of [impostor, unknown]) {
        assert.match(answer, /^HTTP\/1\.1 403/);
        assert.equal(answer.split("\r\n\r\n")[1], NEGOTIATION_REFUSED_BODY);
      }
    }
    const refused = events.filter((e) => e.id === "NegotiationRefused");
    assert.ok(refused.some((e) => /from 127\.0\.0\.2: not from a configured NMC/.test(e.message)), "logged");
    assert.ok(refused.length <= 2, `throttled: ${refused.length} events`);
    const post = await fetch(`http://127.0.0.1:${http}${NEGOTIATION_PATH}`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();

    // Eavesdrop on a negotiation too.
    agentProxy = tcpProxy(http);
    const viaProxy = await negotiateWith(card.sim, { ...client, httpPort: agentProxy.port });
    assert.equal(viaProxy.ok, true, viaProxy.error);

    // A removed card is unregistered.
    const unregistered = nextEvent(agent.bus, "Unregistered");
    await service.store.set({ "NetworkManagementCard.ip_1": "" });
    await unregistered;
    assert.deepEqual(card.sim.clients, []);

    // Nothing that crossed either wire carries the phrase; the wire did carry the exchanges.
    const cardWire = joined([...cardProxy.capture.up, ...cardProxy.capture.down]);
    const agentWire = joined([...agentProxy.capture.up, ...agentProxy.capture.down]);
    assert.ok(containsBytes(cardWire, bytes("POST /Forms/pcnsreg1")), "the registration crossed the proxy");
    assert.ok(containsBytes(cardWire, bytes("pcnsreg1_action=unregister")), "so did the removal");
    assert.ok(containsBytes(agentWire, bytes("PCNSNEGOTIATE")), "the negotiation crossed the proxy");
    assert.equal(containsBytes(cardWire, PHRASE), false, "phrase seen between agent and card");
    assert.equal(containsBytes(agentWire, PHRASE), false, "phrase seen in the negotiation");
  } finally {
    await service.stop();
    await agentProxy?.close();
    await cardProxy.close();
    await card.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("card unreachable, then back: failures name the cause, retries back off on fake time (5 s, 10 s), then it registers", async () => {
  const port = closedPort();
  const { fake, clock } = fakeClock();
  const a = await startAgent(configFor(port), clock);
  let card: { close(): Promise<void>; web: NmcWebServer } | undefined;
  try {
    const first = nextEvent(a.agent.bus, "RegistrationFailed");
    a.agent.startRegistration({ timeoutMs: 2000 });
    const failed = await first;
    assert.equal(failed.details?.cause, "refused");
    assert.match(failed.message, /refused: connection to card 127\.0\.0\.1:\d+ refused.*next in 5 s/);
    let reg = a.agent.status().registration![0];
    assert.equal(reg.phase, "failed");
    assert.equal(reg.failures, 1);
    assert.equal(reg.nextAttemptAt! - fake.now, 5000);
    assert.match(reg.summary, /^registration failed \(refused\).*next attempt in 5 s/);

    const second = nextEvent(a.agent.bus, "RegistrationFailed");
    fake.tick(4999);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.events.filter((e) => e.id === "RegistrationFailed").length, 1, "not before 5 s");
    fake.tick(1);
    await second;
    reg = a.agent.status().registration![0];
    assert.equal(reg.failures, 2);
    assert.equal(reg.nextAttemptAt! - fake.now, 10_000);

    // The card comes back on the same port.
    const started = startCard({ port });
    card = started;
    const succeeded = nextEvent(a.agent.bus, "RegistrationSucceeded");
    fake.tick(10_000);
    await succeeded;
    reg = a.agent.status().registration![0];
    assert.equal(reg.phase, "registered");
    assert.equal(reg.failures, 0);
    assert.deepEqual(started.sim.clients, ["127.0.0.1"]);
    assert.equal(started.sim.registeredClients[0].udpPort, a.agent.udpPort);
  } finally {
    await a.close();
    await card?.close();
  }
});

Deno.test("wrong phrase: RegistrationFailed names bad credentials; a config change re-registers at once", async () => {
  const card = startCard();
  const a = await startAgent(configFor(card.web.port, { authenticationPhrase: "a wrong phrase 123" }));
  try {
    const failed = nextEvent(a.agent.bus, "RegistrationFailed");
    a.agent.startRegistration();
    const event = await failed;
    assert.equal(event.details?.cause, "credentials");
    assert.match(event.message, /bad credentials/);
    assert.deepEqual(card.sim.clients, []);

    const ok = nextEvent(a.agent.bus, "RegistrationSucceeded");
    await a.agent.applyConfig(configFor(card.web.port));
    await ok;
    assert.deepEqual(card.sim.clients, ["127.0.0.1"]);

    // A longer shutdown changes what the card must know: registered again with the new time.
    const again = nextEvent(a.agent.bus, "RegistrationSucceeded");
    const longer = configFor(card.web.port);
    await a.agent.applyConfig({ ...longer, shutdown: { ...longer.shutdown, osShutdownDuration: 200 } });
    await again;
    assert.equal(card.sim.registeredClients[0].seconds, 70 + 200);
  } finally {
    await a.close();
    await card.close();
  }
});

Deno.test("HTTPS: untrusted certificate refused by default; acceptCerts pins it (nmc-pins.json); a changed certificate is refused with CardCertificateChanged", async () => {
  let card = startCard({ https: "cert" });
  const port = card.web.port;
  const a = await startAgent(configFor(port, { protocol: "https" }));
  try {
    const refused = nextEvent(a.agent.bus, "RegistrationFailed");
    a.agent.startRegistration();
    const tlsEvent = await refused;
    assert.equal(tlsEvent.details?.cause, "tls-certificate");
    assert.match(tlsEvent.message, /TLS certificate problem/);

    const pinned = nextEvent(a.agent.bus, "CardCertificatePinned");
    const ok = nextEvent(a.agent.bus, "RegistrationSucceeded");
    await a.agent.applyConfig(configFor(port, { protocol: "https", acceptCerts: true }));
    assert.match((await pinned).message, new RegExp(CERT_SHA256));
    await ok;
    const file = JSON.parse(await Deno.readTextFile(join(a.dataDir, "nmc-pins.json")));
    assert.equal(file.pins["127.0.0.1"].sha256, CERT_SHA256);
    assert.equal(a.agent.status().registration![0].certificate?.pinned, CERT_SHA256);

    // The card's certificate is replaced: the agent refuses it before sending anything.
    await card.close();
    card = startCard({ https: "other", port });
    const changed = nextEvent(a.agent.bus, "CardCertificateChanged");
    const failed = nextEvent(a.agent.bus, "RegistrationFailed");
    const cfg = configFor(port, { protocol: "https", acceptCerts: true });
    await a.agent.applyConfig({ ...cfg, shutdown: { ...cfg.shutdown, settleDelay: 60 } });
    const changedEvent = await changed;
    assert.equal(changedEvent.severity, "critical");
    assert.match(
      changedEvent.message,
      new RegExp(`presented SHA-256 ${OTHER_CERT_SHA256}, pinned ${CERT_SHA256}`),
    );
    assert.equal((await failed).details?.cause, "pin-mismatch");
    assert.equal(card.web.registrations.length, 0);
    assert.equal(card.web.outstandingRegistrationChallenges, 0, "not even the page was fetched");
    const reg = a.agent.status().registration![0];
    assert.match(certificateText(reg) ?? "", /^CHANGED: presented SHA-256 34:A2/);
  } finally {
    await a.close();
    await card.close();
  }
});

Deno.test("IPv6 host address: registered, but not confirmable from the card's IPv4-only list", async () => {
  const card = startCard();
  const a = await startAgent(configFor(card.web.port, { localHostAddress: "::1" }));
  try {
    const ok = nextEvent(a.agent.bus, "RegistrationSucceeded");
    a.agent.startRegistration();
    await ok;
    assert.deepEqual(card.sim.registeredClients.map((c) => c.address), ["::1"]);
    const reg = a.agent.status().registration![0];
    assert.equal(reg.listed, "not-confirmable");
    assert.equal(reg.summary, "registered (not confirmable: the card's list holds IPv4 only)");
  } finally {
    await a.close();
    await card.close();
  }
});

Deno.test("registerWithNmc = false: nothing is sent; the dashboard says registration is off", async () => {
  const card = startCard();
  const a = await startAgent(configFor(card.web.port, { registerWithNmc: false }));
  try {
    a.agent.startRegistration();
    await a.agent.registrar!.idle();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(card.web.outstandingRegistrationChallenges, 0);
    const status = a.agent.status();
    assert.equal(status.registration![0].phase, "disabled");
    const html = String(
      await DashboardPage({
        title: "Dashboard",
        secure: true,
        path: "/",
        status,
        now: Date.now(),
        plan: [],
      }),
    );
    assert.match(html, /data-field="registration"[^>]*>registration off \(registerWithNmc = false\)/);
  } finally {
    await a.close();
    await card.close();
  }
});

Deno.test("a card without the registration protocol (HTTP 404) is not retried: one event, no backoff loop", async () => {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    requests++;
    return new Response("not found", { status: 404 });
  });
  const { fake, clock } = fakeClock();
  const a = await startAgent(configFor(server.addr.port), clock);
  try {
    const failed = nextEvent(a.agent.bus, "RegistrationFailed");
    a.agent.startRegistration();
    const event = await failed;
    assert.equal(event.details?.cause, "not-found");
    assert.match(event.message, /not retried until the configuration changes/);
    const reg = a.agent.status().registration![0];
    assert.equal(reg.nextAttemptAt, undefined);
    assert.match(reg.summary, /^registration failed \(not-found\): .*not retried/);
    fake.tick(60 * 60_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests, 1);
    assert.equal(a.events.filter((e) => e.id === "RegistrationFailed").length, 1);
  } finally {
    await a.close();
    await server.shutdown();
  }
});

Deno.test("the service's first registration waits its start delay (fake time); the status says when it starts", async () => {
  const card = startCard();
  const { fake, clock } = fakeClock();
  const a = await startAgent(configFor(card.web.port), clock);
  try {
    a.agent.startRegistration({ initialDelayMs: 10_000 });
    let reg = a.agent.status().registration![0];
    assert.equal(reg.phase, "pending");
    assert.equal(reg.summary, "registration starts in 10 s");
    fake.tick(9_999);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(card.web.outstandingRegistrationChallenges, 0, "nothing before the delay");
    const ok = nextEvent(a.agent.bus, "RegistrationSucceeded");
    fake.tick(1);
    await ok;
    reg = a.agent.status().registration![0];
    assert.equal(reg.phase, "registered");
  } finally {
    await a.close();
    await card.close();
  }
});
