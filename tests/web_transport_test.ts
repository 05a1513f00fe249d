import assert from "node:assert/strict";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { memoryLogger } from "../src/log/logger.ts";
import { fakeClock } from "./helpers/clock.ts";
import { waitUntilAsync } from "./helpers/wait.ts";
import { generateSelfSigned, type PemPair } from "../src/web/certificate.ts";
import { certificateInfo } from "../src/web/pem.ts";
import { bindAddress } from "../src/web/binding.ts";
import { CertificateWatcher } from "../src/web/certwatch.ts";
import { isLongLivedResponse } from "../src/web/listener.ts";
import {
  canonicalAddress,
  hostFromHeader,
  redirectHost,
  redirectLocation,
  requestPath,
  servedNames,
  urlHost,
} from "../src/web/redirect.ts";
import { type RequestInfo, type TransportOptions, WebTransport } from "../src/web/transport.ts";

const PAIR_A = await localhostPair();
const PAIR_B = await localhostPair();
const OPENSSL = "/usr/bin/openssl";

function localhostPair(): Promise<PemPair> {
  return generateSelfSigned({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
}

/** Echoes what the transport told the handler; /stream never ends, /slow never answers. */
function testHandler(request: Request, info: RequestInfo): Response | Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/stream") {
    return new Response(
      new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("data: hello\n\n")) }),
      { headers: { "content-type": "text/event-stream" } },
    );
  }
  if (url.pathname === "/slow") return new Promise<Response>(() => {});
  return Response.json({
    path: url.pathname + url.search,
    secure: info.secure,
    remote: info.remoteAddr.hostname,
  });
}

function startTransport(overrides: Partial<TransportOptions> = {}) {
  const { logger, records } = memoryLogger();
  const transport = WebTransport.start({
    hostname: "127.0.0.1",
    httpPort: 0,
    httpsPort: 0,
    uiProtocol: "https",
    cert: PAIR_A,
    logger,
    ...overrides,
  }, testHandler);
  return { transport, records };
}

/** GET over HTTPS to https://localhost:port trusting `caPem`: status and parsed JSON body. */
async function httpsGet(
  port: number,
  path: string,
  caPem = PAIR_A.certPem,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const response = await fetch(`https://localhost:${port}${path}`, { client });
    return { status: response.status, json: await response.json() };
  } finally {
    client.close();
  }
}

/** Opens a TLS connection (no verification) and returns the socket once the handshake is done. */
async function tlsOpen(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  return socket;
}

async function tlsClose(socket: TLSSocket): Promise<void> {
  if (socket.destroyed) return;
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.destroy();
  await closed;
}

/** SHA-256 fingerprint of the certificate a new connection to `port` gets. */
async function servedFingerprint(port: number): Promise<string> {
  const socket = await tlsOpen(port);
  try {
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    await tlsClose(socket);
  }
}

/** Sends one HTTP/1.1 request on an open socket and resolves with the first chunk of the answer. */
function sendRequest(socket: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once("data", (chunk) => resolve(String(chunk)));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
  });
}

/** A port that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

// --- pure helpers -----------------------------------------------------------

const SERVED = {
  names: new Set(["ups.example", "*.corp.example"]),
  addresses: new Set(["10.0.0.5", "fd00::2"]),
};

Deno.test("transport: redirectLocation keeps path and query, swaps host port and protocol", () => {
  const url = "http://whatever:3052/a/b?x=1&y=%20z";
  assert.equal(
    redirectLocation(url, "ups.example:3052", 6547, "https", "10.0.0.5", SERVED),
    "https://ups.example:6547/a/b?x=1&y=%20z",
  );
  assert.equal(
    redirectLocation(url, "10.0.0.5", 6547, "https", "10.0.0.5", SERVED),
    "https://10.0.0.5:6547/a/b?x=1&y=%20z",
  );
  assert.equal(
    redirectLocation(url, "[fd00::2]:3052", 6547, "https", "10.0.0.5", SERVED),
    "https://[fd00::2]:6547/a/b?x=1&y=%20z",
  );
  assert.equal(
    redirectLocation("http://h/", "ups.example", 443, "https", "10.0.0.5", SERVED),
    "https://ups.example/",
  );
  assert.equal(
    redirectLocation("http://h/", "ups.example", 8080, "http", "10.0.0.5", SERVED),
    "http://ups.example:8080/",
  );
  // Missing or garbled Host headers go to the local address of the connection.
  assert.equal(redirectLocation("http://h/p", null, 6547, "https", "::1"), "https://[::1]:6547/p");
  for (
    const bad of [
      "",
      "evil.com/x",
      "a b",
      "evil.com\r\nSet-Cookie: x=1",
      "[zz]",
      "[1.2.3.4]",
      "h:99999999",
      "user@h",
    ]
  ) {
    assert.equal(
      redirectLocation("http://h/p", bad, 6547, "https", "10.1.1.1", SERVED),
      "https://10.1.1.1:6547/p",
      bad,
    );
  }
});

Deno.test("transport: redirectHost keeps only hosts the agent serves; anything else gets the local address", () => {
  const local = "10.0.0.5";
  const cases: [string | null, string, string][] = [
    ["ups.example", local, "ups.example"],
    ["UPS.Example.:3052", local, "ups.example"],
    ["nas.corp.example", local, "nas.corp.example"], // the certificate's wildcard
    ["a.b.corp.example", local, local], // a wildcard covers one label only
    ["evil.example", local, local],
    ["ups.example.evil.example", local, local],
    ["10.0.0.5:3052", local, "10.0.0.5"],
    ["[FD00:0::2]", local, "[fd00::2]"], // another address of this host, canonical
    ["10.0.0.6", local, local], // not an address of this host
    ["2130706433", local, local], // odd spellings of addresses are names: refused
    ["0x0a.0.0.5", local, local],
    ["localhost", local, local], // localhost only on a loopback connection
    ["localhost:3052", "127.0.0.1", "localhost"],
    ["localhost", "::1", "localhost"],
    ["127.0.0.1", "127.0.0.1", "127.0.0.1"], // the address the connection arrived on
    [null, "::ffff:10.0.0.5", "10.0.0.5"], // IPv4-mapped local address as IPv4
    ["evil.example", "fe80::1%eth0", "[fe80::1]"],
  ];
  for (const [host, localAddress, expected] of cases) {
    assert.equal(redirectHost(host, localAddress, SERVED), expected, `${host} via ${localAddress}`);
  }
  assert.equal(canonicalAddress("::FFFF:192.0.2.1"), "192.0.2.1");
  assert.equal(canonicalAddress("2001:DB8:0:0::1"), "2001:db8::1");
  assert.equal(canonicalAddress("010.0.0.1"), "10.0.0.1");
  assert.equal(canonicalAddress("256.0.0.1"), undefined);
  assert.equal(canonicalAddress("example.com"), undefined);
  assert.deepEqual([...servedNames(["UPS.example.", "10.0.0.5", "*.Corp.example", "bad name", ""])], [
    "ups.example",
    "*.corp.example",
  ]);
});

Deno.test("transport: requestPath cuts the raw Host header off Deno's request.url", () => {
  assert.equal(requestPath("http://evil.example/x?/p/%7e?q=1", "evil.example/x?"), "/p/%7e?q=1");
  assert.equal(requestPath("http://A B/p?q", "A B"), "/p?q");
  assert.equal(requestPath("http://h//double//slash", "h"), "//double//slash");
  assert.equal(requestPath("http://localhost:3052/a b?c d", null), "/a%20b?c%20d");
  assert.equal(requestPath("http://abs.example:99/abs?x", "other"), "/abs?x");
  assert.equal(requestPath("http://h*", "h"), "/");
  assert.equal(requestPath("not a url", null), "/");
  assert.equal(
    redirectLocation("http://A B/p?q", "A B", 6547, "https", "10.1.1.1"),
    "https://10.1.1.1:6547/p?q",
  );
});

Deno.test("transport: hostFromHeader and urlHost", () => {
  assert.equal(hostFromHeader("Example.COM:80"), "example.com");
  assert.equal(hostFromHeader("[FD00::2]"), "[fd00::2]");
  assert.equal(hostFromHeader(undefined), undefined);
  assert.equal(hostFromHeader("x".repeat(300)), undefined);
  assert.equal(urlHost("::"), "[::]");
  assert.equal(urlHost("[::1]"), "[::1]");
  assert.equal(urlHost("0.0.0.0"), "0.0.0.0");
  assert.equal(bindAddress("[fd00::2]"), "fd00::2");
  assert.equal(bindAddress("127.0.0.1"), "127.0.0.1");
  assert.ok(["::", "0.0.0.0"].includes(bindAddress("")));
});

// --- listeners ---------------------------------------------------------------

Deno.test("transport: HTTPS answers with the handler (secure = true)", async () => {
  const { transport, records } = startTransport();
  try {
    assert.equal(transport.secure, true);
    assert.notEqual(transport.httpsPort, 0);
    const response = await httpsGet(transport.httpsPort, "/status?x=1");
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, { path: "/status?x=1", secure: true, remote: "127.0.0.1" });
    assert.ok(records.some((r) => r.level === "info" && r.message.includes(`:${transport.httpsPort}`)));
    assert.ok(!records.some((r) => r.level === "warn"));
  } finally {
    await transport.close();
  }
});

Deno.test("transport: the HTTP port redirects every request to the actual HTTPS port, same path and query", async () => {
  const { transport } = startTransport({ serverNames: ["ups-agent.example"] });
  try {
    for (const method of ["GET", "POST", "HEAD"]) {
      const response = await fetch(`http://localhost:${transport.httpPort}/cfgwizard/step?a=1&b=two`, {
        method,
        redirect: "manual",
      });
      await response.body?.cancel();
      assert.equal(response.status, 308, method);
      assert.equal(
        response.headers.get("location"),
        `https://localhost:${transport.httpsPort}/cfgwizard/step?a=1&b=two`,
      );
    }
    // Raw requests: a served name is kept without its port; a foreign or garbled one gives the address the
    // connection arrived on.
    for (
      const [host, expected] of [
        ["Host: ups-agent.example:3052\r\n", "https://ups-agent.example"],
        ["Host: UPS-AGENT.EXAMPLE\r\n", "https://ups-agent.example"],
        ["Host: evil.example:3052\r\n", "https://127.0.0.1"],
        ["Host: [::1]:3052\r\n", "https://[::1]"], // an address of this host (the loopback interface)
        ["Host: [2001:db8::1]\r\n", "https://127.0.0.1"],
        ["Host: evil.example/x?\r\n", "https://127.0.0.1"],
        ["Host: A B\r\n", "https://127.0.0.1"],
        ["", "https://127.0.0.1"],
      ]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: transport.httpPort });
      try {
        await conn.write(new TextEncoder().encode(`GET /p?q=1 HTTP/1.1\r\n${host}Connection: close\r\n\r\n`));
        const buffer = new Uint8Array(2048);
        const answer = new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer)) ?? 0));
        assert.match(answer, /^HTTP\/1\.1 308/, host);
        assert.equal(
          answer.match(/^location: (.*)\r$/im)?.[1],
          `${expected}:${transport.httpsPort}/p?q=1`,
          host,
        );
      } finally {
        conn.close();
      }
    }
    // Following the redirect ends at the handler.
    const client = Deno.createHttpClient({ caCerts: [PAIR_A.certPem] });
    try {
      const followed = await fetch(`http://localhost:${transport.httpPort}/x?y=1`, { client });
      assert.deepEqual(await followed.json(), { path: "/x?y=1", secure: true, remote: "127.0.0.1" });
    } finally {
      client.close();
    }
  } finally {
    await transport.close();
  }
});

Deno.test("transport: TLS 1.0/1.1 refused, TLS 1.2 and 1.3 accepted (openssl s_client)", async (t) => {
  let haveOpenssl = true;
  try {
    await Deno.stat(OPENSSL);
  } catch {
    haveOpenssl = false;
  }
  if (!haveOpenssl) {
    if (Deno.env.get("CI") === "true") assert.fail(`${OPENSSL} is missing (needed in CI)`);
    console.warn(`skipped: ${OPENSSL} is not installed`);
    return;
  }
  const { transport } = startTransport();
  const sClient = async (version: string) => {
    const output = await new Deno.Command(OPENSSL, {
      args: [
        "s_client",
        "-connect",
        `127.0.0.1:${transport.httpsPort}`,
        "-servername",
        "localhost",
        `-${version}`,
        "-cipher",
        "DEFAULT:@SECLEVEL=0",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    // "New, TLSv1.3, Cipher is ..." (or "New, (NONE), Cipher is (NONE)" when the handshake failed).
    return { code: output.code, protocol: text.match(/^New, (\S+), Cipher is/m)?.[1] };
  };
  try {
    const [tls10, tls11, tls12, tls13] = await Promise.all(
      ["tls1", "tls1_1", "tls1_2", "tls1_3"].map(sClient),
    );
    await t.step("TLS 1.0 fails", () => assert.ok(tls10.code !== 0 && tls10.protocol !== "TLSv1"));
    await t.step("TLS 1.1 fails", () => assert.ok(tls11.code !== 0 && tls11.protocol !== "TLSv1.1"));
    await t.step("TLS 1.2 succeeds", () => assert.deepEqual(tls12, { code: 0, protocol: "TLSv1.2" }));
    await t.step("TLS 1.3 succeeds", () => assert.deepEqual(tls13, { code: 0, protocol: "TLSv1.3" }));
  } finally {
    await transport.close();
  }
});

Deno.test("transport: replaceCertificate serves the new certificate to new connections (reusePort overlap)", async () => {
  const { transport, records } = startTransport();
  try {
    const port = transport.httpsPort;
    assert.equal(await servedFingerprint(port), certificateInfo(PAIR_A.certPem).fingerprintSha256);
    const open = await tlsOpen(port); // a connection made before the swap
    await transport.replaceCertificate(PAIR_B);
    assert.equal(transport.httpsPort, port);
    assert.equal(await servedFingerprint(port), certificateInfo(PAIR_B.certPem).fingerprintSha256);
    assert.equal((await httpsGet(port, "/", PAIR_B.certPem)).status, 200);
    if (Deno.build.os === "linux") assert.deepEqual(transport.lastSwap, { method: "overlap", gapMs: 0 });
    assert.ok(records.some((r) => r.message.startsWith("web UI: certificate replaced")));
    await tlsClose(open);
    // A key that does not belong to the certificate is refused and the old one stays.
    await assert.rejects(transport.replaceCertificate({ certPem: PAIR_A.certPem, keyPem: PAIR_B.keyPem }));
    assert.equal(await servedFingerprint(port), certificateInfo(PAIR_B.certPem).fingerprintSha256);
  } finally {
    await transport.close();
  }
});

Deno.test("transport: replaceCertificate without reusePort restarts the listener (gap measured)", async () => {
  const { transport } = startTransport({ reusePort: false, closeGraceMs: 100 });
  const streaming = await tlsOpen(transport.httpsPort);
  try {
    const port = transport.httpsPort;
    // An open event stream holds the old server for closeGraceMs, but not its listening socket.
    assert.match(await sendRequest(streaming, "/stream"), /^HTTP\/1\.1 200/);
    await transport.replaceCertificate(PAIR_B);
    assert.equal(transport.httpsPort, port);
    const swap = transport.lastSwap!;
    assert.equal(swap.method, "restart");
    assert.ok(swap.gapMs >= 0 && swap.gapMs < 50, `gap ${swap.gapMs} ms`);
    console.log(`certificate swap by restart: gap ${swap.gapMs.toFixed(3)} ms`);
    assert.equal(await servedFingerprint(port), certificateInfo(PAIR_B.certPem).fingerprintSha256);
  } finally {
    await transport.close();
    await tlsClose(streaming);
  }
});

Deno.test("transport: reconfigure rebinds for a different certificate only", async () => {
  const { transport } = startTransport();
  try {
    const port = transport.httpsPort;
    assert.equal(await transport.reconfigure({ cert: { ...PAIR_A } }), undefined);
    assert.equal(transport.lastSwap, undefined, "an equal certificate changes nothing");
    assert.equal(await transport.reconfigure({ cert: PAIR_B }), undefined);
    assert.notEqual(transport.lastSwap, undefined);
    assert.equal(transport.httpsPort, port, "an ephemeral port keeps its number");
    assert.equal(await servedFingerprint(port), certificateInfo(PAIR_B.certPem).fingerprintSha256);
  } finally {
    await transport.close();
  }
});

Deno.test("transport: uiProtocol http serves plain HTTP, secure = false, warns once", async () => {
  const { transport, records } = startTransport({ uiProtocol: "http", cert: undefined });
  try {
    assert.equal(transport.secure, false);
    const response = await fetch(`http://127.0.0.1:${transport.httpsPort}/p?q=1`);
    assert.deepEqual(await response.json(), { path: "/p?q=1", secure: false, remote: "127.0.0.1" });
    const redirect = await fetch(`http://127.0.0.1:${transport.httpPort}/p?q=1`, { redirect: "manual" });
    await redirect.body?.cancel();
    assert.equal(redirect.headers.get("location"), `http://127.0.0.1:${transport.httpsPort}/p?q=1`);
    await fetch(`http://127.0.0.1:${transport.httpsPort}/`).then((r) => r.body?.cancel());
    const warnings = records.filter((r) => r.level === "warn");
    assert.deepEqual(warnings.map((r) => r.message), ["web UI served without TLS (uiProtocol = http)"]);
    // Switching to https needs a certificate; with one it works.
    assert.match((await transport.reconfigure({ uiProtocol: "https" }))!, /no certificate/);
    assert.equal(await transport.reconfigure({ uiProtocol: "https", cert: PAIR_A }), undefined);
    assert.equal(transport.secure, true);
    assert.equal((await httpsGet(transport.httpsPort, "/")).json.secure, true);
  } finally {
    await transport.close();
  }
});

Deno.test("transport: reconfigure to a taken port keeps the old listener and names the port", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (blocker.addr as Deno.NetAddr).port;
  const { transport, records } = startTransport();
  try {
    const before = { https: transport.httpsPort, http: transport.httpPort };
    const error = await transport.reconfigure({ httpsPort: taken });
    assert.match(error!, new RegExp(`UI port ${taken} \\(127\\.0\\.0\\.1\\): .*(in use|os error)`, "i"));
    assert.ok(records.some((r) => r.level === "error" && r.message === error));
    assert.equal(transport.httpsPort, before.https);
    assert.equal((await httpsGet(before.https, "/still")).status, 200);

    const redirectError = await transport.reconfigure({ httpPort: taken });
    assert.match(redirectError!, new RegExp(`HTTP redirect port ${taken}`));
    assert.equal(transport.httpPort, before.http);

    // A free port is taken over, and the redirect follows the UI to it.
    const next = freePort();
    assert.equal(await transport.reconfigure({ httpsPort: next }), undefined);
    assert.equal(transport.httpsPort, next);
    assert.equal((await httpsGet(next, "/moved")).status, 200);
    const redirect = await fetch(`http://localhost:${transport.httpPort}/m`, { redirect: "manual" });
    await redirect.body?.cancel();
    assert.equal(redirect.headers.get("location"), `https://localhost:${next}/m`);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: before.https }));
  } finally {
    await transport.close();
    blocker.close();
  }
});

Deno.test("transport: start fails with a clear error and leaves nothing listening when a port is taken", () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (blocker.addr as Deno.NetAddr).port;
  try {
    assert.throws(() => startTransport({ httpPort: taken }), new RegExp(`HTTP redirect port ${taken}`));
    assert.throws(() => startTransport({ httpsPort: taken }), new RegExp(`UI port ${taken}`));
    assert.throws(() => startTransport({ cert: undefined }), /no certificate/);
  } finally {
    blocker.close();
  }
});

Deno.test("transport: close() finishes quickly with keep-alive, streaming and pending requests open", async () => {
  const { transport } = startTransport();
  const port = transport.httpsPort;
  const idle = await tlsOpen(port);
  const streaming = await tlsOpen(port);
  const slow = await tlsOpen(port);
  try {
    const first = await sendRequest(idle, "/");
    assert.match(first, /^HTTP\/1\.1 200/);
    assert.match(first, /content-length: \d+/i, "ordinary responses keep their Content-Length");
    const stream = await sendRequest(streaming, "/stream");
    assert.match(stream, /^HTTP\/1\.1 200[\s\S]*text\/event-stream/);
    const streamEnded = new Promise((resolve) => streaming.once("close", resolve));
    const slowAnswer = new Promise<string>((resolve) => slow.once("data", (chunk) => resolve(String(chunk))));
    slow.write("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: transport.httpPort });
    await plain.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    await plain.read(new Uint8Array(1024));
    const started = performance.now();
    await transport.close();
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `close took ${ms} ms`);
    assert.match(await slowAnswer, /^HTTP\/1\.1 503/);
    await streamEnded;
    plain.close();
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(transport.httpsPort, 0);
  } finally {
    await Promise.all([idle, streaming, slow].map(tlsClose));
  }
});

Deno.test("transport: isLongLivedResponse picks streaming content types only", () => {
  const typed = (type: string) => new Response("", { headers: { "content-type": type } });
  assert.equal(isLongLivedResponse(typed("text/event-stream; charset=utf-8")), true);
  assert.equal(isLongLivedResponse(typed("application/x-ndjson")), true);
  assert.equal(isLongLivedResponse(typed("text/html")), false);
  assert.equal(isLongLivedResponse(new Response("x")), false);
});

Deno.test("transport: CertificateWatcher calls back when the files change", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-watch-test-" });
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  await Deno.writeTextFile(cert, PAIR_A.certPem);
  await Deno.writeTextFile(key, PAIR_A.keyPem);
  const seen: string[][] = [];
  let notify: () => void = () => {};
  const watcher = new CertificateWatcher([cert, key], (changed) => {
    seen.push(changed);
    notify();
  }, { intervalMs: 20 });
  try {
    assert.equal(await watcher.poll(), false);
    watcher.start();
    const fired = new Promise<void>((resolve) => notify = resolve);
    await Deno.writeTextFile(cert, PAIR_B.certPem + "\n");
    await fired;
    assert.deepEqual(seen, [[cert]]);
    const again = new Promise<void>((resolve) => notify = resolve);
    await Deno.remove(key);
    await again;
    assert.deepEqual(seen.at(-1), [key]);
  } finally {
    watcher.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transport: CertificateWatcher polls on the injected clock", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-watch-test-" });
  const cert = `${dir}/cert.pem`;
  await Deno.writeTextFile(cert, PAIR_A.certPem);
  const { fake, clock } = fakeClock();
  const seen: string[][] = [];
  const watcher = new CertificateWatcher([cert], (changed) => {
    seen.push(changed);
  }, { clock, intervalMs: 30_000 }).start();
  // The files are looked at asynchronously: let each look (real file system calls) finish.
  const looked = () => new Promise((resolve) => setTimeout(resolve, 100));
  try {
    await looked();
    fake.tick(30_000);
    await looked();
    assert.deepEqual(seen, []);
    await Deno.writeTextFile(cert, PAIR_B.certPem);
    fake.tick(29_999);
    await looked();
    assert.deepEqual(seen, []);
    fake.tick(1);
    await waitUntilAsync(() => Promise.resolve(seen.length > 0), "the poll at 30 s", 5000);
    assert.deepEqual(seen, [[cert]]);
    watcher.stop();
    await Deno.writeTextFile(cert, PAIR_A.certPem + "\n");
    fake.tick(60_000);
    await looked();
    assert.equal(seen.length, 1, "no polling after stop()");
  } finally {
    watcher.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
