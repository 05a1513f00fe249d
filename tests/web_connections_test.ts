/**
 * Connection caps and timeouts of the web UI listeners over real loopback sockets: handshake, header,
 * keep-alive and request timeouts; caps per address and in all, where idle connections make room and
 * busy ones are never cut.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { memoryLogger } from "../src/log/logger.ts";
import { generateSelfSigned } from "../src/web/certificate.ts";
import {
  connectionLimitsFor,
  ConnectionTable,
  DEFAULT_CONNECTION_LIMITS,
  fitToDescriptorLimit,
  parseOpenFilesLimit,
} from "../src/web/connections.ts";
import { acceptBackoffMs } from "../src/web/listener.ts";
import { type TransportOptions, WebTransport } from "../src/web/transport.ts";

const PAIR = await generateSelfSigned({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: [] });

/** /slow never answers; /stream sends a chunk now and one every 200 ms; anything else says ok. */
function handler(request: Request): Response | Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === "/slow") return new Promise<Response>(() => {});
  if (path === "/upload") return request.text().then((t) => new Response(`got ${t.length}\n`));
  if (path === "/stream") {
    let timer: ReturnType<typeof setInterval> | undefined;
    let n = 0;
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(`data: ${n++}\n\n`));
          timer = setInterval(() => c.enqueue(new TextEncoder().encode(`data: ${n++}\n\n`)), 200);
        },
        cancel() {
          clearInterval(timer);
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  }
  return new Response("ok\n");
}

function start(limits: Record<string, number>, overrides: Partial<TransportOptions> = {}) {
  const { logger, records } = memoryLogger();
  const transport = WebTransport.start({
    hostname: "127.0.0.1",
    httpPort: 0,
    httpsPort: 0,
    uiProtocol: "http",
    logger,
    closeGraceMs: 50,
    limits,
    ...overrides,
  } as TransportOptions, handler);
  return { transport, records };
}

/** A raw client socket: what it received, and whether the server closed it. */
interface Client {
  readonly socket: net.Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves when the socket is closed (by either side). */
  readonly closed: Promise<void>;
  /** True once closed. */
  isClosed(): boolean;
}

function wrap(socket: net.Socket | tls.TLSSocket): Client {
  let text = "";
  let closed = false;
  socket.on("data", (chunk) => (text += new TextDecoder().decode(chunk)));
  socket.on("error", () => {});
  const closedPromise = new Promise<void>((resolve) =>
    socket.once("close", () => {
      closed = true;
      resolve();
    })
  );
  return { socket, text: () => text, closed: closedPromise, isClosed: () => closed };
}

/** A TCP connection from `localAddress` (default 127.0.0.1), once connected. */
async function connect(port: number, localAddress = "127.0.0.1"): Promise<Client> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  const client = wrap(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return client;
}

/** Resolves true when `client` is closed within `ms`. */
async function closedWithin(client: Client, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([client.closed.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `client` has received text matching `pattern` (or rejects after `ms`). */
async function received(client: Client, pattern: RegExp, ms = 3000): Promise<string> {
  const deadline = Date.now() + ms;
  while (!pattern.test(client.text())) {
    if (Date.now() > deadline) throw new Error(`not received ${pattern}: ${JSON.stringify(client.text())}`);
    if (client.isClosed()) throw new Error(`closed before ${pattern}: ${JSON.stringify(client.text())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return client.text();
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function destroyAll(clients: Client[]): void {
  for (const c of clients) c.socket.destroy();
}

Deno.test("connections: a connection that sends nothing, or trickles its headers, is closed after headerTimeout", async () => {
  const { transport } = start({ headerTimeoutMs: 300 });
  const clients: Client[] = [];
  try {
    for (const port of [transport.httpsPort, transport.httpPort]) {
      const silent = await connect(port);
      const trickle = await connect(port);
      clients.push(silent, trickle);
      trickle.socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      const drip = setInterval(() => trickle.socket.write("X-Slow: 1\r\n"), 100);
      try {
        assert.ok(await closedWithin(silent, 3000), `a silent connection on port ${port} stayed open`);
        assert.ok(await closedWithin(trickle, 3000), `a slowloris connection on port ${port} stayed open`);
      } finally {
        clearInterval(drip);
      }
      assert.doesNotMatch(trickle.text(), /^HTTP/, "no answer to headers that never ended");
    }
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections: a TLS handshake that never comes is cut after handshakeTimeout", async () => {
  const { transport } = start({ handshakeTimeoutMs: 300, headerTimeoutMs: 60_000 }, {
    uiProtocol: "https",
    cert: PAIR,
  });
  const clients: Client[] = [];
  try {
    const mute = await connect(transport.httpsPort);
    clients.push(mute);
    assert.ok(await closedWithin(mute, 3000), "the connection without a handshake stayed open");
    // A normal TLS client is unaffected.
    const socket = tls.connect({ host: "127.0.0.1", port: transport.httpsPort, rejectUnauthorized: false });
    const client = wrap(socket);
    clients.push(client);
    await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
    socket.write(get("/"));
    assert.match(await received(client, /ok\n$/), /^HTTP\/1\.1 200/);
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections: an idle keep-alive connection is closed after idleTimeout; an event stream is not", async () => {
  const { transport } = start({ idleTimeoutMs: 300 });
  const clients: Client[] = [];
  try {
    const keepAlive = await connect(transport.httpsPort);
    const stream = await connect(transport.httpsPort);
    clients.push(keepAlive, stream);
    keepAlive.socket.write(get("/"));
    await received(keepAlive, /ok\n$/);
    stream.socket.write(get("/stream"));
    await received(stream, /data: 0/);
    assert.ok(await closedWithin(keepAlive, 3000), "the idle keep-alive connection stayed open");
    await sleep(400); // past idleTimeout: the stream goes on
    assert.equal(stream.isClosed(), false);
    await received(stream, /data: [3-9]/);
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections: a request whose body never arrives gets 503 after requestTimeout and is closed", async () => {
  const { transport } = start({ requestTimeoutMs: 300 });
  const clients: Client[] = [];
  try {
    const client = await connect(transport.httpsPort);
    clients.push(client);
    client.socket.write("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc");
    const answer = await received(client, /request timed out/, 3000);
    assert.match(answer, /^HTTP\/1\.1 503/);
    assert.ok(await closedWithin(client, 3000), "closed after the timeout answer");
    // A body that does arrive in time is read as usual.
    const fine = await connect(transport.httpsPort);
    clients.push(fine);
    fine.socket.write("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc");
    assert.match(await received(fine, /got 3/), /^HTTP\/1\.1 200/);
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections: at the per-address cap the address's oldest idle connection makes room; busy ones never do", async () => {
  const { transport, records } = start({ maxConnectionsPerAddress: 4, maxConnections: 100 });
  const port = transport.httpsPort;
  const clients: Client[] = [];
  try {
    const idle: Client[] = [];
    for (let i = 0; i < 4; i++) idle.push(await connect(port, "127.0.0.2"));
    clients.push(...idle);
    await sleep(50);
    const fifth = await connect(port, "127.0.0.2");
    clients.push(fifth);
    assert.ok(await closedWithin(idle[0], 2000), "the oldest idle connection of the address was closed");
    fifth.socket.write(get("/"));
    assert.match(await received(fifth, /ok\n$/), /^HTTP\/1\.1 200/);
    assert.ok(records.some((r) => /connection limit reached \(4 from one address\)/.test(r.message)));

    // Four connections of 127.0.0.3 all waiting on their answers: a fifth one is refused, none is cut.
    const busy: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await connect(port, "127.0.0.3");
      c.socket.write(get("/slow"));
      busy.push(c);
    }
    clients.push(...busy);
    await sleep(100);
    const refused = await connect(port, "127.0.0.3");
    clients.push(refused);
    assert.ok(await closedWithin(refused, 2000), "the fifth connection was refused");
    assert.ok(busy.every((c) => !c.isClosed()), "no busy connection was cut");
    // Another address is served meanwhile.
    const other = await connect(port, "127.0.0.4");
    clients.push(other);
    other.socket.write(get("/"));
    await received(other, /ok\n$/);
    assert.ok(transport.connections.refused >= 1);
    assert.ok(transport.connections.evicted >= 1);
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections: at the overall cap a newcomer is served; the address holding the most gives way", async () => {
  const { transport } = start({ maxConnectionsPerAddress: 100, maxConnections: 6 });
  const clients: Client[] = [];
  try {
    // 127.0.0.5 holds five connections (on both ports: one budget), 127.0.0.6 one.
    const flood: Client[] = [];
    for (let i = 0; i < 5; i++) {
      flood.push(await connect(i % 2 ? transport.httpPort : transport.httpsPort, "127.0.0.5"));
    }
    const user = await connect(transport.httpsPort, "127.0.0.6");
    clients.push(...flood, user);
    await sleep(50);
    assert.equal(transport.connections.open, 6);
    const newcomer = await connect(transport.httpsPort, "127.0.0.7");
    clients.push(newcomer);
    newcomer.socket.write(get("/"));
    assert.match(await received(newcomer, /ok\n$/), /^HTTP\/1\.1 200/);
    assert.ok(await closedWithin(flood[0], 2000), "the flooding address's oldest connection gave way");
    assert.equal(user.isClosed(), false, "the other user's connection stayed");
    user.socket.write(get("/"));
    await received(user, /ok\n$/);
    assert.ok(transport.connections.open <= 6, `open ${transport.connections.open}`);
    // When the pressure ends the count goes back down.
    destroyAll(clients);
    const deadline = Date.now() + 3000;
    while (transport.connections.open > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(transport.connections.open, 0);
  } finally {
    destroyAll(clients);
    await transport.close();
  }
});

Deno.test("connections (pure): limits from [WebUI], capped at a quarter of the descriptor limit; backoff", () => {
  assert.deepEqual(connectionLimitsFor({}, undefined), DEFAULT_CONNECTION_LIMITS);
  const set = connectionLimitsFor(
    {
      maxConnections: 100,
      maxConnectionsPerAddress: 10,
      handshakeTimeout: 2,
      headerTimeout: 3,
      keepAliveTimeout: 4,
    },
    100_000,
  );
  assert.deepEqual(set, {
    maxConnections: 100,
    maxConnectionsPerAddress: 10,
    handshakeTimeoutMs: 2000,
    headerTimeoutMs: 3000,
    idleTimeoutMs: 4000,
    requestTimeoutMs: 60_000,
  });
  assert.equal(fitToDescriptorLimit(DEFAULT_CONNECTION_LIMITS, 256).maxConnections, 64);
  assert.equal(fitToDescriptorLimit(DEFAULT_CONNECTION_LIMITS, 100).maxConnectionsPerAddress, 25);
  assert.equal(fitToDescriptorLimit(DEFAULT_CONNECTION_LIMITS, 10).maxConnections, 8, "never below 8");
  assert.equal(fitToDescriptorLimit(DEFAULT_CONNECTION_LIMITS, 1 << 20).maxConnections, 256);
  const limits =
    "Limit Soft Limit Hard Limit Units\nMax open files            1024                 4096                 files\n";
  assert.equal(parseOpenFilesLimit(limits), 1024);
  assert.equal(parseOpenFilesLimit("Max open files  unlimited  unlimited  files\n"), undefined);
  assert.deepEqual([1, 2, 3, 6, 7, 20].map(acceptBackoffMs), [10, 20, 40, 320, 500, 500]);
});

Deno.test("connections (pure): the table evicts idle connections of the heaviest address, never serving ones", () => {
  const table = new ConnectionTable({
    ...DEFAULT_CONNECTION_LIMITS,
    maxConnections: 4,
    maxConnectionsPerAddress: 3,
  });
  const closed: string[] = [];
  const admit = (address: string, name: string) => table.admit(address, () => closed.push(name));
  const a1 = admit("10.0.0.1", "a1");
  admit("10.0.0.1", "a2");
  admit("10.0.0.1", "a3");
  assert.ok(a1.admitted);
  // The address's cap: its oldest idle connection goes.
  const a4 = admit("::ffff:10.0.0.1", "a4");
  assert.ok(a4.admitted && a4.evicted?.reason === "address");
  assert.deepEqual(closed, ["a1"]);
  assert.equal(table.openFrom("10.0.0.1"), 3);
  const b1 = admit("10.0.0.2", "b1");
  assert.ok(b1.admitted && b1.connection);
  // The overall cap: the heaviest address (10.0.0.1) gives way, not 10.0.0.2.
  const c1 = admit("10.0.0.3", "c1");
  assert.ok(c1.admitted && c1.evicted?.reason === "total");
  assert.deepEqual(closed, ["a1", "a2"]);
  // Serving connections are never evicted: with all busy, a newcomer is refused.
  const busy = new ConnectionTable({
    ...DEFAULT_CONNECTION_LIMITS,
    maxConnections: 2,
    maxConnectionsPerAddress: 2,
  });
  for (const name of ["x", "y"]) {
    const r = busy.admit("10.0.0.9", () => closed.push(name));
    if (r.admitted) r.connection.state = "serving";
  }
  assert.deepEqual(busy.admit("10.0.0.8", () => {}), { admitted: false, reason: "total" });
  assert.deepEqual(busy.stats, { open: 2, refused: 1, evicted: 0 });
  if (a4.admitted) {
    table.release(a4.connection);
    table.release(a4.connection); // twice: ignored
  }
  assert.equal(table.stats.open, 3);
});
