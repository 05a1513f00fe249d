/**
 * The NIS server's connections under the ways clients misbehave on a LAN: requests pipelined or split
 * byte by byte, a client that never reads its answers, one that falls silent, one that resets mid-answer,
 * more connections than the caps allow. The server runs on loopback with a small answer function.
 */
import assert from "node:assert/strict";
import { encodeAnswer, encodeMessage } from "../src/nis/protocol.ts";
import { NIS_CAPS, NisServer } from "../src/nis/server.ts";
import { floodBesidePoller } from "./helpers/flood.ts";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server that answers `echo <request>`; `status` answers 60 KB (as a long status list can). */
async function start(idleTimeoutMs?: number) {
  const reports: string[] = [];
  const server = await NisServer.open({
    addresses: ["127.0.0.1"],
    port: 0,
    idleTimeoutMs,
    answer: (request) =>
      request === "status"
        ? encodeAnswer(Array.from({ length: 1000 }, (_, i) => `LINE${i}`.padEnd(60, ".") + "\n"))
        : encodeAnswer([`echo ${request}`]),
    report: (text) => reports.push(text),
  });
  return { server, port: server.addresses[0].port, reports };
}

/** A raw client that reads whole answers (messages up to the zero-length end). */
class NisClient {
  #buffer = new Uint8Array(0);
  private constructor(readonly conn: Deno.TcpConn) {}

  static async connect(port: number): Promise<NisClient> {
    return new NisClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** The next whole answer's messages as text, or null when the server hung up first. */
  async answer(): Promise<string[] | null> {
    const messages: string[] = [];
    const chunk = new Uint8Array(65536);
    for (;;) {
      while (this.#buffer.length >= 2) {
        const length = (this.#buffer[0] << 8) | this.#buffer[1];
        if (this.#buffer.length < 2 + length) break;
        const body = this.#buffer.slice(2, 2 + length);
        this.#buffer = this.#buffer.slice(2 + length);
        if (length === 0) return messages;
        messages.push(new TextDecoder().decode(body));
      }
      const n = await this.conn.read(chunk).catch(() => null);
      if (n === null) return null;
      const joined = new Uint8Array(this.#buffer.length + n);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = joined;
    }
  }

  async ask(request: string): Promise<string[] | null> {
    await this.conn.write(encodeMessage(request));
    return await this.answer();
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("NIS connections: pipelined requests and a request split byte by byte are answered in order", async () => {
  const t = await start();
  try {
    const client = await NisClient.connect(t.port);
    const three = [encodeMessage("one"), encodeMessage("two"), encodeMessage("three")];
    await client.conn.write(Uint8Array.from(three.flatMap((m) => [...m])));
    assert.deepEqual(await client.answer(), ["echo one"]);
    assert.deepEqual(await client.answer(), ["echo two"]);
    assert.deepEqual(await client.answer(), ["echo three"]);
    for (const byte of encodeMessage("slowly")) {
      await client.conn.write(Uint8Array.of(byte));
      await pause(5);
    }
    assert.deepEqual(await client.answer(), ["echo slowly"]);
    assert.equal((await client.ask("status"))?.length, 1000, "a 60 KB answer arrives whole");
    client.close();
  } finally {
    await t.server.close();
  }
});

Deno.test("NIS connections: a client that never reads stalls only itself and is closed by the idle timeout", async () => {
  const t = await start(1000);
  try {
    const poller = await NisClient.connect(t.port);
    // Asking every 300 ms for 3 s: three idle timeouts pass, the connection stays.
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await poller.ask("poll"), ["echo poll"], `poll ${i}`);
      await pause(300);
    }
    // Requests for 60 KB answers without end, and no answer ever read, while the poller goes on.
    const requests = Uint8Array.from(Array.from({ length: 4096 }, () => [...encodeMessage("status")]).flat());
    const flood = await floodBesidePoller(t.port, requests, async () => {
      assert.deepEqual(await poller.ask("poll"), ["echo poll"]);
    });
    assert.ok(flood.livedMs < 30_000, "the server closed the client that does not read");
    assert.ok(flood.slowestMs < 500, `an answer took ${flood.slowestMs} ms during the flood`);
    assert.ok(flood.sent < 16 * 1024 * 1024, `the server took in ${flood.sent} bytes of requests`);
    assert.deepEqual(await poller.ask("poll"), ["echo poll"], "the poller stays");
    poller.close();
    await pause(100);
    assert.equal(t.server.connectionStats.open, 0, "every connection is released");
  } finally {
    await t.server.close();
  }
});

Deno.test("NIS connections: a silent one is closed after the idle timeout", async () => {
  const t = await start(500);
  try {
    const silent = await NisClient.connect(t.port);
    const started = Date.now();
    assert.equal(await silent.answer(), null, "the server hung up");
    const waited = Date.now() - started;
    assert.ok(waited >= 450 && waited < 3000, `closed after ${waited} ms`);
    silent.close();
  } finally {
    await t.server.close();
  }
});

Deno.test("NIS connections: clients that reset mid-answer, and more clients than the caps, leave it serving", async () => {
  const t = await start();
  try {
    // Ask for 60 KB answers and reset at once (unread data: the kernel sends RST).
    for (let i = 0; i < 50; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      await conn.write(Uint8Array.from([...encodeMessage("status"), ...encodeMessage("status")]));
      conn.close();
    }
    // More connections than the server takes: it never holds more than its cap.
    const many = await Promise.all(
      Array.from(
        { length: NIS_CAPS.maxConnections + 20 },
        () => Deno.connect({ hostname: "127.0.0.1", port: t.port }),
      ),
    );
    await pause(200);
    assert.ok(
      t.server.connectionStats.open <= NIS_CAPS.maxConnections,
      `${t.server.connectionStats.open} open connections`,
    );
    for (const conn of many) conn.close();
    await pause(200);
    const client = await NisClient.connect(t.port);
    assert.deepEqual(await client.ask("after"), ["echo after"]);
    client.close();
    assert.deepEqual(t.reports, []);
  } finally {
    await t.server.close();
  }
});
