import assert from "node:assert/strict";
import { type AgentEvent, makeEvent } from "../src/events/types.ts";
import {
  describeNotifyFailure,
  type Notifier,
  NotifierSet,
  type NotifyFailure,
  type NotifyResult,
} from "../src/notify/notifier.ts";
import { formatSyslogLine, oneLine, SyslogNotifier, syslogPriority } from "../src/notify/syslog.ts";
import {
  backoffDelay,
  classifyStatus,
  parseWebhookUrl,
  WebhookNotifier,
  webhookPayload,
} from "../src/notify/webhook.ts";
import { type Clock, systemClock } from "../src/time/clock.ts";
import { fakeClock } from "./helpers/clock.ts";

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0, 123);
const onBattery = makeEvent({ id: "PowerFailed", nmc: "10.0.0.5", details: { runtimeRemaining: 1200 } }, T0);
const overload = makeEvent({ id: "Overload", nmc: "10.0.0.5" }, T0);
const restored = makeEvent({ id: "PowerRestored" }, T0);

/** A local HTTP server on 127.0.0.1:0 answering with `handler`; records each request. */
function httpServer(handler: (req: Request, n: number) => Response | Promise<Response>) {
  const requests: { headers: Headers; body: string; method: string; path: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests.push({
      headers: req.headers,
      body: await req.text(),
      method: req.method,
      path: new URL(req.url).pathname,
    });
    return await handler(req, requests.length);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, requests, server };
}

/** A port on 127.0.0.1 nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The system clock, recording the delays asked for. */
function recordingClock(): { clock: Clock; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    clock: {
      now: systemClock.now,
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return systemClock.setTimeout(fn, ms);
      },
      clearTimeout: systemClock.clearTimeout,
    },
  };
}

Deno.test("webhook: POSTs the event as JSON with our headers", async () => {
  const { url, requests, server } = httpServer(() => new Response("thanks"));
  try {
    const notifier = new WebhookNotifier({
      url: `${url}/hooks/ups?token=s3cret`,
      headers: { "X-Api-Key": "k1" },
      hostname: "server-7",
    });
    assert.equal(notifier.name, `webhook ${url}/...`);
    const result = await notifier.notify(onBattery);
    assert.deepEqual(result, { ok: true, attempts: 1 });
    assert.equal(requests.length, 1);
    const [req] = requests;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/hooks/ups");
    assert.equal(req.headers.get("content-type"), "application/json");
    assert.equal(req.headers.get("user-agent"), "pcns-agent");
    assert.equal(req.headers.get("x-api-key"), "k1");
    assert.deepEqual(JSON.parse(req.body), {
      time: "2026-11-21T12:00:00.123Z",
      id: "PowerFailed",
      severity: "critical",
      message: "UPS on battery (NMC 10.0.0.5)",
      nmc: "10.0.0.5",
      details: { runtimeRemaining: 1200 },
      host: "server-7",
    });
    // Without nmc/details those keys are absent; host defaults to this machine's name.
    await new WebhookNotifier({ url }).notify(restored);
    const second = JSON.parse(requests[1].body);
    assert.deepEqual(Object.keys(second).sort(), ["host", "id", "message", "severity", "time"]);
    assert.equal(second.host, Deno.hostname());
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhook: user:password in the URL becomes a Basic Authorization header", async () => {
  const { url, requests, server } = httpServer(() => new Response(null, { status: 204 }));
  try {
    const withCreds = url.replace("http://", "http://ups%40site:p%C3%A4ss@");
    const notifier = new WebhookNotifier({ url: withCreds });
    assert.equal(notifier.name, `webhook ${url}`);
    assert.equal((await notifier.notify(overload)).ok, true);
    assert.equal(requests[0].headers.get("authorization"), `Basic ${btoa("ups@site:p\u00c3\u00a4ss")}`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhook: a down endpoint is retried with doubling backoff, then reported failed", async () => {
  const port = closedPort();
  const { clock, delays } = recordingClock();
  const notifier = new WebhookNotifier({
    url: `http://127.0.0.1:${port}/secret-path/abc?token=xyz`,
    retries: 3,
    backoffMs: 20,
    timeoutMs: 2000,
    clock,
  });
  const result = await notifier.notify(onBattery);
  assert.equal(result.ok, false);
  assert.equal(result.attempts, 4);
  assert.match(
    result.error ?? "",
    new RegExp(`^request to http://127\\.0\\.0\\.1:${port}/\\.\\.\\. failed: `),
  );
  assert.match(result.error ?? "", /Connection refused/i);
  assert.match(result.error ?? "", /\(gave up after 4 attempts\)$/);
  assert.doesNotMatch(result.error ?? "", /secret-path|token|xyz/, "no secrets in the error");
  // Per-attempt timeouts (2000) interleaved with the backoff waits 20, 40, 80.
  assert.deepEqual(delays.filter((ms) => ms !== 2000), [20, 40, 80]);
});

Deno.test("webhook: backoff timing on a fake clock (1 s, 2 s, 4 s)", async () => {
  const { fake, clock } = fakeClock(T0);
  const attemptsAt: number[] = [];
  const fetch = (() => {
    attemptsAt.push(fake.now - T0);
    return Promise.reject(new TypeError("network down"));
  }) as typeof globalThis.fetch;
  const notifier = new WebhookNotifier({ url: "https://hooks.example.com/x", fetch, clock });
  const pending = notifier.notify(onBattery);
  await fake.tickAsync(10_000);
  const result = await pending;
  assert.deepEqual(attemptsAt, [0, 1000, 3000, 7000]);
  assert.equal(result.attempts, 4);
  assert.equal(
    result.error,
    "request to https://hooks.example.com/... failed: network down (gave up after 4 attempts)",
  );
  assert.equal(fake.countTimers(), 0, "no timers left");
});

Deno.test("webhook: a 500 then a 200 succeeds on attempt 2; 429 is retried too", async () => {
  const { url, requests, server } = httpServer((_req, n) =>
    n === 1
      ? new Response("oops", { status: 500 })
      : n === 3
      ? new Response("", { status: 429 })
      : new Response("ok")
  );
  try {
    const notifier = new WebhookNotifier({ url, backoffMs: 10 });
    assert.deepEqual(await notifier.notify(onBattery), { ok: true, attempts: 2 });
    assert.deepEqual(await notifier.notify(restored), { ok: true, attempts: 2 });
    assert.equal(requests.length, 4);
    assert.equal(requests[0].body, requests[1].body, "the same body is sent again");
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhook: a 400 is not retried and the status is reported", async () => {
  const { url, requests, server } = httpServer(() => new Response("bad", { status: 400 }));
  try {
    const result = await new WebhookNotifier({ url, backoffMs: 10 }).notify(onBattery);
    assert.deepEqual(result, {
      ok: false,
      attempts: 1,
      error: `${url} answered HTTP 400 Bad Request (not retried)`,
    });
    assert.equal(requests.length, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhook: a hanging endpoint times out on each attempt", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const { url, requests, server } = httpServer(async () => {
    await released;
    return new Response("too late");
  });
  try {
    const t0 = performance.now();
    const result = await new WebhookNotifier({ url, timeoutMs: 150, retries: 1, backoffMs: 10 }).notify(
      onBattery,
    );
    const elapsed = performance.now() - t0;
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 2);
    assert.equal(result.error, `${url} did not answer within 150 ms (gave up after 2 attempts)`);
    assert.equal(requests.length, 2);
    assert.ok(elapsed >= 300 && elapsed < 1500, `took ${elapsed} ms`);
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("webhook: bad settings are rejected at construction with a clear message", () => {
  assert.throws(
    () => new WebhookNotifier({ url: "not a url" }),
    { message: 'webhook URL "not a url" is not a valid URL (expected http://... or https://...)' },
  );
  assert.throws(
    () => new WebhookNotifier({ url: "ftp://files.example.com/up?key=1" }),
    { message: 'webhook URL "ftp://files.example.com/..." must start with http:// or https://' },
  );
  assert.throws(() => new WebhookNotifier({ url: "https://x.example", timeoutMs: 0 }), /timeoutMs/);
  assert.throws(() => new WebhookNotifier({ url: "https://x.example", retries: -1 }), /retries/);
  assert.throws(
    () => new WebhookNotifier({ url: "https://x.example", headers: { "X-Token": "bad\nvalue-s3cret" } }),
    (error: Error) => error.message === 'webhook header "X-Token" has an invalid name or value',
  );
});

Deno.test("webhook: pure helpers", () => {
  assert.deepEqual([200, 204, 301, 400, 404, 429, 500, 503].map(classifyStatus), [
    "ok",
    "ok",
    "fail",
    "fail",
    "fail",
    "retry",
    "retry",
    "retry",
  ]);
  assert.deepEqual([1, 2, 3, 4, 10].map((n) => backoffDelay(n, 1000)), [1000, 2000, 4000, 8000, 60_000]);
  assert.equal(parseWebhookUrl("https://hooks.example.com/").display, "https://hooks.example.com");
  assert.equal(parseWebhookUrl("https://h.example:8443/a#b").display, "https://h.example:8443/...");
  const big = makeEvent({ id: "Overload", details: { va: 10n } }, T0);
  assert.deepEqual(webhookPayload(big, "h").details, { va: 10n });
});

Deno.test("syslog: formatSyslogLine builds RFC 5424 lines", () => {
  assert.equal(
    formatSyslogLine(onBattery, { hostname: "server-7", procId: 4242 }),
    "<26>1 2026-11-21T12:00:00.123Z server-7 pcns-agent 4242 PowerFailed - UPS on battery (NMC 10.0.0.5)",
  );
  assert.equal(
    formatSyslogLine(overload, { facility: "local3", appName: "my app" }),
    "<156>1 2026-11-21T12:00:00.123Z - my_app - Overload - UPS overload (NMC 10.0.0.5)",
  );
  assert.equal(syslogPriority("info"), 30);
  assert.equal(syslogPriority("warning", "user"), 12);
  assert.equal(syslogPriority("critical", "kern"), 2);
  const multi = makeEvent({ id: "ConfigWarning", note: "line 1\r\nline 2\tend" }, T0);
  assert.match(formatSyslogLine(multi), / - Configuration problem: line 1 line 2 end$/);
  assert.equal(oneLine("a\u2028b\n\nc\r\n"), "a b c");
  const long = makeEvent({ id: "ConfigWarning", note: "é".repeat(3000) }, T0);
  const line = formatSyslogLine(long, { maxBytes: 301 });
  assert.ok(new TextEncoder().encode(line).length <= 301);
  assert.ok(!line.includes("\uFFFD"));
  assert.throws(
    () => new SyslogNotifier({ target: "local", facility: "nope" as "daemon" }),
    /unknown syslog facility "nope"/,
  );
  assert.throws(() => new SyslogNotifier({ target: { host: "h", port: 70000 } }), /port must be 1-65535/);
});

Deno.test("syslog: remote UDP gets one RFC 5424 line per event with the right PRI", async () => {
  const listener = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const notifier = new SyslogNotifier({ target: { host: "127.0.0.1", port }, hostname: "server-7" });
    assert.equal(notifier.name, `syslog udp://127.0.0.1:${port}`);
    const expected: [AgentEvent, number][] = [[onBattery, 26], [overload, 28], [restored, 30]];
    const sources = new Set<number>();
    for (const [event, pri] of expected) {
      assert.deepEqual(await notifier.notify(event), { ok: true, attempts: 1 });
      const [data, from] = await listener.receive();
      sources.add((from as Deno.NetAddr).port);
      const text = new TextDecoder().decode(data);
      assert.equal(
        text,
        `<${pri}>1 2026-11-21T12:00:00.123Z server-7 pcns-agent ${Deno.pid} ${event.id} - ${event.message}`,
      );
    }
    // One socket for all lines (a socket per line cost ~15 % of the packet -> notification path).
    assert.equal(sources.size, 1);
    notifier.close();
    // Closed (a reload, a stop): the next line opens a new socket and still arrives.
    assert.deepEqual(await notifier.notify(onBattery), { ok: true, attempts: 1 });
    const [again] = await listener.receive();
    assert.match(new TextDecoder().decode(again), / PowerFailed - /);
    notifier.close();
  } finally {
    listener.close();
  }
});

Deno.test({
  name: "syslog: local socket (a temporary unix datagram socket)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-syslog-" });
    const socketPath = `${dir}/log`;
    const listener = Deno.listenDatagram({ transport: "unixpacket", path: socketPath });
    const notifier = new SyslogNotifier({ target: "local", socketPath, facility: "local0", hostname: "h" });
    try {
      assert.equal(notifier.name, `syslog ${socketPath}`);
      assert.deepEqual(await notifier.notify(onBattery), { ok: true, attempts: 1 });
      const [data] = await listener.receive();
      assert.equal(
        new TextDecoder().decode(data),
        `<130>1 2026-11-21T12:00:00.123Z h pcns-agent ${Deno.pid} PowerFailed - UPS on battery (NMC 10.0.0.5)`,
      );
    } finally {
      listener.close();
    }
    // journald restarted (the socket gone, then back): the kept socket reports the gap and then sends again.
    const gone = await notifier.notify(onBattery);
    assert.equal(gone.error, `nothing is listening on syslog socket ${socketPath}`);
    await Deno.remove(socketPath);
    const back = Deno.listenDatagram({ transport: "unixpacket", path: socketPath });
    try {
      assert.deepEqual(await notifier.notify(overload), { ok: true, attempts: 1 });
      const [data] = await back.receive();
      assert.match(new TextDecoder().decode(data), / Overload - /);
    } finally {
      back.close();
      notifier.close();
    }
    // Nobody listening any more, then no socket at all: reported, not thrown.
    const refused = await new SyslogNotifier({ target: "local", socketPath }).notify(onBattery);
    assert.equal(refused.ok, false);
    assert.equal(refused.error, `nothing is listening on syslog socket ${socketPath}`);
    await Deno.remove(dir, { recursive: true });
    const missing = await new SyslogNotifier({ target: "local", socketPath }).notify(onBattery);
    assert.deepEqual(missing, {
      ok: false,
      attempts: 1,
      error: `syslog socket ${socketPath} does not exist (is a syslog daemon or journald running?)`,
    });
  },
});

Deno.test("NotifierSet: fans out concurrently, never throws, reports each failure", async () => {
  const started: string[] = [];
  let releaseSlow!: () => void;
  const slowGate = new Promise<void>((resolve) => releaseSlow = resolve);
  const fake = (name: string, behave: () => Promise<NotifyResult>): Notifier => ({
    name,
    notify: (event) => {
      started.push(`${name}:${event.id}`);
      return behave();
    },
  });
  const notifiers = [
    fake("slow", async () => {
      await slowGate;
      return { ok: true, attempts: 1 };
    }),
    fake("broken", () => Promise.resolve({ ok: false, attempts: 4, error: "HTTP 503" })),
    fake("throws", () => Promise.reject(new Error("boom"))),
  ];
  const failures: NotifyFailure[] = [];
  const set = new NotifierSet(notifiers, (failure) => {
    failures.push(failure);
    throw new Error("a broken reporter must not matter");
  });
  assert.deepEqual(set.names, ["slow", "broken", "throws"]);
  const pending = set.notify(onBattery);
  await Promise.resolve();
  // All started before the slow one finished.
  assert.deepEqual(started, ["slow:PowerFailed", "broken:PowerFailed", "throws:PowerFailed"]);
  releaseSlow();
  const outcomes = await pending;
  assert.deepEqual(outcomes.map((o) => [o.notifier, o.result.ok]), [
    ["slow", true],
    ["broken", false],
    ["throws", false],
  ]);
  assert.deepEqual(failures.map((f) => f.notifier).sort(), ["broken", "throws"]);
  const lines = failures.map(describeNotifyFailure).sort();
  assert.deepEqual(lines, [
    "notification of PowerFailed via broken failed after 4 attempts: HTTP 503",
    "notification of PowerFailed via throws failed: unexpected error: boom",
  ]);
  assert.deepEqual(await new NotifierSet([]).notify(onBattery), []);
});
