/**
 * The agent's NUT server against Debian's real clients (upsc, upsmon) and against bad input: STARTTLS with
 * the web UI's certificate, DATA-STALE, unknown commands, a 10 MB line, wrong passwords, 1000 connections
 * (the UDP path and the shutdown go on), idle timeout, and switching the server on, over and off at run
 * time. Loopback and ephemeral ports only; every client process is stopped by its PID.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../src/agent/agent.ts";
import { hashPassword } from "../src/config/credentials.ts";
import type { AgentConfig } from "../src/config/types.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { RecordingExecutor } from "../src/shutdown/executor.ts";
import { generateSelfSigned } from "../src/web/certificate.ts";
import { testConfig } from "./helpers/agent.ts";
import { floodBesidePoller } from "./helpers/flood.ts";
import {
  LineClient,
  requireNutClients,
  SKIP_WITHOUT_NUT,
  startUpsmon,
  upsc,
  withNut,
} from "./helpers/nut.ts";
import { statusPacket } from "./helpers/packets.ts";

const PASSWORD = "Secondary-pass-1";
const USERS = [{ name: "monuser", passwordHash: hashPassword(PASSWORD) }];

async function start(config: AgentConfig, options: { cert?: boolean } = {}) {
  const dataDir = await Deno.makeTempDir({ prefix: "pcns-agent-nut-" });
  if (options.cert) {
    const pem = await generateSelfSigned({
      commonName: "localhost",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
    await Deno.writeTextFile(join(dataDir, "ui-cert.pem"), pem.certPem);
    await Deno.writeTextFile(join(dataDir, "ui-key.pem"), pem.keyPem);
  }
  const { logger, records } = memoryLogger();
  const executor = new RecordingExecutor();
  const agent = Agent.start({ config, dataDir, logger, dryRun: true, executor, persistCountdowns: false });
  const events: AgentEvent[] = [];
  agent.bus.subscribe((e) => events.push(e));
  await agent.servers!.settled();
  return {
    agent,
    dataDir,
    events,
    logs: records,
    executor,
    get port() {
      return agent.servers!.nutAddresses[0]?.port ?? 0;
    },
    async close() {
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

const config = (nut: Parameters<typeof withNut>[1] = {}) => withNut(testConfig(), { users: USERS, ...nut });

Deno.test({
  name: "upsc lists the UPS and its variables over STARTTLS with the web UI's certificate",
  ignore: SKIP_WITHOUT_NUT,
  async fn() {
    requireNutClients();
    const t = await start(config(), { cert: true });
    try {
      t.agent.receive(
        statusPacket({ su: 10, status: 0x08, data: [["01", "Smart-UPS 1500 RM"], ["43", "028.0"]] }),
      );
      const list = await upsc("-l", `127.0.0.1:${t.port}`);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.stdout.trim(), "nmc1");
      assert.match(list.stderr, /SSL handshake done successfully/, "Debian's upsc (NSS) used STARTTLS");
      const all = await upsc(`nmc1@127.0.0.1:${t.port}`);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /^ups\.status: OL$/m);
      assert.match(all.stdout, /^battery\.charge: 100\.0$/m);
      assert.match(all.stdout, /^battery\.runtime: 2700$/m);
      assert.match(all.stdout, /^ups\.model: Smart-UPS 1500 RM$/m);
      assert.match(all.stdout, /^ups\.temperature: 28\.0$/m);
      const one = await upsc(`nmc1@127.0.0.1:${t.port}`, "battery.charge");
      assert.equal(one.stdout.trim(), "100.0");
      const unknown = await upsc(`nmc1@127.0.0.1:${t.port}`, "no.such.var");
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /Variable not supported by UPS/);
      const noUps = await upsc(`nmc7@127.0.0.1:${t.port}`);
      assert.match(noUps.stderr, /Unknown UPS/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "upsc gets 'Data stale' until the card is heard, and after communication is lost",
  ignore: SKIP_WITHOUT_NUT,
  async fn() {
    requireNutClients();
    const t = await start(config());
    try {
      const before = await upsc(`nmc1@127.0.0.1:${t.port}`, "ups.status");
      assert.notEqual(before.code, 0);
      assert.match(before.stderr, /Data stale/);
      t.agent.receive(statusPacket({ su: 10, status: 0x10 }));
      assert.equal((await upsc(`nmc1@127.0.0.1:${t.port}`, "ups.status")).stdout.trim(), "OB");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "upsmon secondary logs in over TLS (FORCESSL) and shows on status; LIST CLIENT and NUMLOGINS count it",
  ignore: SKIP_WITHOUT_NUT,
  async fn() {
    requireNutClients();
    const t = await start(config(), { cert: true });
    const upsmon = await startUpsmon({
      port: t.port,
      ups: "nmc1",
      user: "monuser",
      password: PASSWORD,
      extra: ["FORCESSL 1"],
    });
    const client = await LineClient.connect(t.port);
    try {
      t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
      const deadline = Date.now() + 15_000;
      while ((t.agent.status().nut?.clients.length ?? 0) === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const clients = t.agent.status().nut?.clients ?? [];
      assert.equal(clients.length, 1, upsmon.output());
      assert.equal(clients[0].tls, true);
      assert.equal(clients[0].ups, "nmc1");
      assert.equal(await client.ask("GET NUMLOGINS nmc1"), "NUMLOGINS nmc1 1");
      assert.deepEqual(await client.list("LIST CLIENT nmc1"), [
        "BEGIN LIST CLIENT nmc1",
        "CLIENT nmc1 127.0.0.1",
        "END LIST CLIENT nmc1",
      ]);
      assert.equal(await client.ask("FSD nmc1"), "ERR USERNAME-REQUIRED");
      assert.deepEqual(await upsmon.shutdownCalls(), [], "no FSD, no shutdown");
    } finally {
      client.close();
      await upsmon.stop();
      await t.close();
    }
  },
});

Deno.test("bad input: unknown commands, a 100 MB line, wrong passwords change nothing", async () => {
  const t = await start(config());
  try {
    t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
    const a = await LineClient.connect(t.port);
    assert.equal(await a.ask("HELLO"), "ERR UNKNOWN-COMMAND");
    assert.equal(
      await a.ask("GET VAR nmc1 ups.status"),
      'VAR nmc1 ups.status "OL"',
      "the connection goes on",
    );
    a.close();

    // A line of up to 100 MB: the server answers, stops reading and closes. What it took in is bounded by
    // the kernel's socket buffers (a few MB on loopback), not by the line, and it cannot hold more of the line
    // than it took in. (Not the RSS: parallel test files share this process, CI saw +31 MB from elsewhere.)
    const b = await LineClient.connect(t.port);
    const chunk = new Uint8Array(1024 * 1024).fill(0x41);
    let accepted = 0;
    const writing = (async () => {
      for (let i = 0; i < 100; i++) accepted += await b.conn.write(chunk);
    })().catch(() => "closed");
    assert.equal(await b.line(), "ERR INVALID-ARGUMENT");
    assert.ok(await b.waitClosed(5000), "the server closed the connection");
    assert.equal(await writing, "closed", `the server read all ${accepted} bytes`);
    assert.ok(accepted < 40 * 1024 * 1024, `the server took in ${accepted} bytes of a 100 MB line`);
    b.close();

    const c = await LineClient.connect(t.port);
    await c.ask("USERNAME monuser");
    await c.ask("PASSWORD wrong-one");
    assert.equal(await c.ask("LOGIN nmc1"), "ERR ACCESS-DENIED");
    c.close();
    for (let i = 0; i < 5; i++) {
      const d = await LineClient.connect(t.port);
      await d.ask("USERNAME monuser");
      await d.ask(`PASSWORD guess-${i}`);
      assert.equal(await d.ask("LOGIN nmc1"), "ERR ACCESS-DENIED");
      d.close();
    }
    const e = await LineClient.connect(t.port);
    await e.ask("USERNAME monuser");
    await e.ask(`PASSWORD ${PASSWORD}`);
    assert.equal(await e.ask("LOGIN nmc1"), "ERR ACCESS-DENIED", "locked out after repeated failures");
    assert.equal(await e.ask("GET NUMLOGINS nmc1"), "NUMLOGINS nmc1 0");
    e.close();
    assert.ok(t.events.filter((ev) => ev.id === "NutLoginFailed").length >= 5);
    assert.equal(t.agent.status().shutdown.phase, "idle");
  } finally {
    await t.close();
  }
});

Deno.test("requests however the bytes arrive: many in one write, across the server's read buffer, byte by byte", async () => {
  const t = await start(config());
  try {
    t.agent.receive(statusPacket({ su: 10, status: 0x08, data: [["43", "028.0"]] }));
    const asked = ["GET VAR nmc1 ups.status", "GET VAR nmc1 ups.temperature", "GET VAR nmc1 battery.charge"];
    const answers = [
      'VAR nmc1 ups.status "OL"',
      'VAR nmc1 ups.temperature "28.0"',
      'VAR nmc1 battery.charge "100.0"',
    ];
    const client = await LineClient.connect(t.port);
    // 301 requests in one write (~8.8 KB): the server reads them in pieces of its 2 KiB buffer, so lines are
    // cut at the piece's end and the next read reuses that buffer.
    const many = Array.from({ length: 301 }, (_, i) => asked[i % 3]);
    await client.conn.write(new TextEncoder().encode(`${many.join("\n")}\n`));
    for (let i = 0; i < many.length; i++) assert.equal(await client.line(), answers[i % 3], `answer ${i}`);
    // One request byte by byte, then two and a half requests, the rest of the third later.
    for (const byte of new TextEncoder().encode(`${asked[1]}\n`)) {
      await client.conn.write(Uint8Array.of(byte));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(await client.line(), answers[1]);
    await client.conn.write(new TextEncoder().encode(`${asked[0]}\n${asked[2]}\nGET VAR nm`));
    assert.equal(await client.line(), answers[0]);
    assert.equal(await client.line(), answers[2]);
    await new Promise((r) => setTimeout(r, 20));
    await client.conn.write(new TextEncoder().encode("c1 ups.temperature\r\n"));
    assert.equal(await client.line(), answers[1], "the partial line was kept across the next read");
    client.close();
  } finally {
    await t.close();
  }
});

Deno.test("1000 connections: capped per address, the logged-in secondary stays, packets and the shutdown go on", async () => {
  const base = testConfig();
  const t = await start(withNut({ ...base, shutdown: { ...base.shutdown, settleDelay: 0 } }, {
    users: USERS,
    maxConnectionsPerAddress: 16,
    hostSyncTimeout: 2,
  }));
  const secondary = await LineClient.connect(t.port);
  const flood: Deno.TcpConn[] = [];
  try {
    t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
    await secondary.ask("USERNAME monuser");
    await secondary.ask(`PASSWORD ${PASSWORD}`);
    assert.equal(await secondary.ask("LOGIN nmc1"), "OK");
    for (let i = 0; i < 1000; i++) {
      try {
        flood.push(await Deno.connect({ hostname: "127.0.0.1", port: t.port }));
      } catch {
        break; // the client side ran out first
      }
    }
    assert.ok(flood.length >= 900, `opened ${flood.length}`);
    await new Promise((r) => setTimeout(r, 200));
    const stats = t.agent.servers!.nut!.connectionStats;
    assert.ok(stats.open <= 16, `open ${stats.open}`);
    assert.equal(
      await secondary.ask("GET VAR nmc1 ups.status"),
      'VAR nmc1 ups.status "OL"',
      "never pushed out",
    );
    const accepted = t.agent.status().packets.accepted;
    t.agent.receive(statusPacket({ su: 20, status: 0x50 }));
    assert.equal(t.agent.status().packets.accepted, accepted + 1);
    const deadline = Date.now() + 10_000;
    while (t.executor.calls.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(t.executor.calls.length, 1, "the shutdown went on (after hostSyncTimeout)");
    assert.ok(t.events.some((e) => e.id === "HostSyncTimedOut"));
  } finally {
    for (const c of flood) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
    secondary.close();
    await t.close();
  }
});

Deno.test("idle connections are closed after idleTimeout", async () => {
  const t = await start(config({ idleTimeout: 1 }));
  try {
    const c = await LineClient.connect(t.port);
    const started = Date.now();
    assert.ok(await c.waitClosed(5000));
    assert.ok(Date.now() - started >= 900);
    c.close();
  } finally {
    await t.close();
  }
});

Deno.test("idle timeout: a polling secondary stays; a client that never reads its answers stalls only itself and is closed", async () => {
  const t = await start(config({ idleTimeout: 1 }));
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
    const poller = await LineClient.connect(t.port);
    // Polling every 300 ms for 3 s: three idle timeouts pass, the connection stays.
    for (let i = 0; i < 10; i++) {
      assert.equal(await poller.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "OL"', `poll ${i}`);
      await pause(300);
    }
    // Requests without end, and no answer ever read; the poller goes on polling meanwhile: promptly
    // answered, and never idle long enough to be closed.
    const requests = new TextEncoder().encode("GET VAR nmc1 ups.status\n".repeat(4096));
    const flood = await floodBesidePoller(t.port, requests, async () => {
      assert.equal(await poller.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "OL"');
    });
    assert.ok(flood.livedMs < 30_000, "the server closed the client that does not read");
    assert.ok(flood.slowestMs < 500, `an answer took ${flood.slowestMs} ms during the flood`);
    assert.ok(flood.sent < 64 * 1024 * 1024, `the server took in ${flood.sent} bytes of requests`);
    assert.equal(await poller.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "OL"', "the poller stays");
    poller.close();
  } finally {
    await t.close();
  }
});

Deno.test("STARTTLS clients that vanish (mid-handshake, or mid-answer with unread data) leave the server serving", async () => {
  const t = await start(config(), { cert: true });
  const certPem = await Deno.readTextFile(join(t.dataDir, "ui-cert.pem"));
  const encoder = new TextEncoder();
  const startTls = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    await conn.write(encoder.encode("STARTTLS\n"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "OK STARTTLS\n");
    return conn;
  };
  try {
    t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
    for (let i = 0; i < 5; i++) (await startTls()).close(); // gone before the handshake
    for (let i = 0; i < 5; i++) {
      const tls = await Deno.startTls(await startTls(), { hostname: "localhost", caCerts: [certPem] });
      await tls.handshake();
      // Requests whose answers are never read, then a close with them unread (the kernel resets).
      await tls.write(encoder.encode("LIST VAR nmc1\n".repeat(2000)));
      tls.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const c = await LineClient.connect(t.port);
    assert.equal(await c.ask("GET VAR nmc1 ups.status"), 'VAR nmc1 ups.status "OL"');
    c.close();
    assert.equal(t.agent.servers!.nutAddresses.length > 0, true);
    assert.equal(t.agent.status().shutdown.phase, "idle");
  } finally {
    await t.close();
  }
});

Deno.test("the NUT server follows the configuration: off, on, a new port, off again", async () => {
  const t = await start(testConfig());
  try {
    assert.deepEqual(t.agent.servers!.nutAddresses, [], "off by default");
    assert.equal(t.agent.status().nut, undefined);
    await t.agent.applyConfig(config());
    const first = t.port;
    assert.ok(first > 0);
    const c = await LineClient.connect(first);
    assert.equal(await c.ask("NETVER"), "1.3");
    c.close();
    const other = (() => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const p = (l.addr as Deno.NetAddr).port;
      l.close();
      return p;
    })();
    await t.agent.applyConfig(config({ port: other }));
    assert.equal(t.port, other);
    const d = await LineClient.connect(other);
    assert.equal(await d.ask("LIST UPS"), "BEGIN LIST UPS");
    d.close();
    const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const taken = (holder.addr as Deno.NetAddr).port;
    await t.agent.applyConfig(config({ port: taken }));
    holder.close();
    assert.equal(t.port, other, "a port in use keeps the old one");
    assert.ok(t.events.some((e) => e.id === "ListenerFailed" && /NUT server/.test(e.message)));
    await t.agent.applyConfig(testConfig());
    assert.deepEqual(t.agent.servers!.nutAddresses, []);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: other }));
  } finally {
    await t.close();
  }
});

const CERTUTIL = ["/usr/bin/certutil", "/bin/certutil"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name: "upsmon with CERTVERIFY 1 trusts the web UI's certificate from its NSS database, and refuses another",
  ignore: (SKIP_WITHOUT_NUT || !CERTUTIL) && !Deno.env.get("CI"),
  async fn() {
    requireNutClients();
    if (!CERTUTIL) throw new Error("certutil is missing: apt-get install libnss3-tools (.ci/run does)");
    const t = await start(config(), { cert: true });
    const nss = await Deno.makeTempDir({ prefix: "pcns-nssdb-" });
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(CERTUTIL, { args, stdout: "piped", stderr: "piped" }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    const tls = ["FORCESSL 1", "CERTVERIFY 1", `CERTPATH ${nss}`, "CERTHOST 127.0.0.1 localhost 1 1"];
    try {
      await run("-N", "-d", `sql:${nss}`, "--empty-password");
      const other = await generateSelfSigned({
        commonName: "localhost",
        dnsNames: ["localhost"],
        ipAddresses: [],
      });
      await Deno.writeTextFile(join(nss, "other.pem"), other.certPem);
      await run("-A", "-d", `sql:${nss}`, "-n", "other", "-t", "P,,", "-i", join(nss, "other.pem"));
      t.agent.receive(statusPacket({ su: 10, status: 0x08 }));
      const refused = await startUpsmon({
        port: t.port,
        ups: "nmc1",
        user: "monuser",
        password: PASSWORD,
        extra: tls,
      });
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(t.agent.status().nut?.clients.length, 0, "an untrusted certificate: no login");
      assert.match(refused.output(), /Certificate validation failed|SSL is not available/);
      await refused.stop();

      await run(
        "-A",
        "-d",
        `sql:${nss}`,
        "-n",
        "pcns-agent",
        "-t",
        "P,,",
        "-i",
        join(t.dataDir, "ui-cert.pem"),
      );
      const trusted = await startUpsmon({
        port: t.port,
        ups: "nmc1",
        user: "monuser",
        password: PASSWORD,
        extra: tls,
      });
      try {
        const deadline = Date.now() + 15_000;
        while ((t.agent.status().nut?.clients.length ?? 0) === 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(t.agent.status().nut?.clients[0]?.tls, true, trusted.output());
        assert.match(trusted.output(), /authenticate server 127\.0\.0\.1 : SUCCESS/);
      } finally {
        await trusted.stop();
      }
    } finally {
      await Deno.remove(nss, { recursive: true });
      await t.close();
    }
  },
});

const PRLIMIT = ["/usr/bin/prlimit", "/bin/prlimit"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name:
    "descriptors exhausted (prlimit 160, 400 connections): the NUT server accepts again and the packet path goes on",
  ignore: !PRLIMIT,
  async fn() {
    const child = new Deno.Command(PRLIMIT!, {
      args: [
        "--nofile=160",
        Deno.execPath(),
        "run",
        "--allow-all",
        new URL("./fixtures/nut/low_fd_agent.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const flood: Deno.TcpConn[] = [];
    try {
      let text = "";
      while (!text.includes("\n")) text += (await reader.read()).value ?? "";
      const [, udpPort, nutPort] = text.trim().split(" ").map(Number);
      for (let i = 0; i < 400; i++) {
        try {
          flood.push(await Deno.connect({ hostname: "127.0.0.1", port: nutPort }));
        } catch {
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const c of flood.splice(0)) {
        try {
          c.close();
        } catch { /* closed by the server */ }
      }
      await new Promise((r) => setTimeout(r, 1000));
      const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
      await udp.send(statusPacket({ su: 10, status: 0x10 }), {
        hostname: "127.0.0.1",
        port: udpPort,
        transport: "udp",
      });
      udp.close();
      let answer: string | undefined;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        try {
          const c = await LineClient.connect(nutPort);
          answer = await c.ask("GET VAR nmc1 ups.status");
          c.close();
          if (answer === 'VAR nmc1 ups.status "OB"') break;
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(
        answer,
        'VAR nmc1 ups.status "OB"',
        "the server answers again and the card's packet got through",
      );
    } finally {
      for (const c of flood) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await child.stdin.close();
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(killer);
      await reader.cancel().catch(() => {});
    }
  },
});
