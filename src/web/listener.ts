/**
 * One web UI listener (plain TCP or TLS) with its own accept loops, so that nothing a client does can
 * stop it or use up the agent's descriptors:
 *
 * - accept errors never end a loop: on EMFILE/ENFILE (no descriptor left) and any other error it backs
 *   off (10 ms, doubling, at most 500 ms), logs once a minute, and accepts again as soon as it can; only
 *   closing the listener ends it. (`Deno.serve` ends the whole process with an uncaught "Too many open
 *   files" error in that case, measured with Deno 2.9.5, which is why it is not used.)
 * - every connection is admitted by the shared {@link ConnectionTable} (caps per address and in all,
 *   closing idle connections to make room) and timed: TLS handshake, the first request's headers, the
 *   wait between keep-alive requests, and the time a handler takes to start its response. A response in
 *   progress (e.g. an event stream) is never cut by these timeouts.
 * - TLS connections are relayed through a private TLS listener on 127.0.0.1 (see
 *   {@link startListener}), because Deno cannot close a server-side TLS connection whose handshake the
 *   client never starts.
 * - Requests are served by `Deno.serveHttp` (HTTP/1.1). Over TLS this also avoids the ~44 ms delay
 *   `Deno.serve` adds to responses of 1 KB or more on kept-alive TLS connections (Nagle's algorithm
 *   meeting the client's delayed ACK). (`Deno.serveHttp` is deprecated in Deno 2 but present in the
 *   pinned 2.9.5.)
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { ConnectionTable, TrackedConnection } from "./connections.ts";

/** How long a closing relayed TLS connection may take to write out what was already answered, ms. */
const DRAIN_MS = 500;

/** A certificate and its private key, PEM. */
export interface TlsPem {
  /** Certificate (chain), PEM. */
  readonly certPem: string;
  /** Private key, PEM. */
  readonly keyPem: string;
}

/** The two ends of the connection a request came on. */
export interface ConnectionInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The local address the connection arrived on. */
  readonly localAddr: Deno.NetAddr;
}

/** A listener's request handler. */
export type ListenerHandler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>;

/** One listener and what is needed to stop it. */
export interface Listener {
  /** Graceful stop: no new connections, idle ones closed at once; resolves when open responses are done. */
  readonly server: { shutdown(): Promise<void> };
  /** The address bound ("::", "0.0.0.0" or a configured address). */
  readonly hostname: string;
  /** The actual port. */
  readonly port: number;
  /** Bound with reusePort (a same-port successor can start before this one stops). */
  readonly reusePort: boolean;
  /** One controller per request in progress; aborting it cuts that response. */
  readonly inflight: Set<AbortController>;
}

/** What every listener shares. */
export interface ListenerContext {
  /** Caps, timeouts and the open connections of all listeners. */
  readonly table: ConnectionTable;
  /** Operational log (looked up at each use: it can be replaced). */
  readonly logger: () => Logger;
  /** Answer for a handler that threw. */
  readonly onError: (error: unknown) => Response | Promise<Response>;
  /** Rate limit of the warnings (one per key a minute). */
  readonly warnings: LogThrottle;
}

/** Backoff after the n-th consecutive accept error (pure): 10 ms doubling, at most 500 ms. */
export function acceptBackoffMs(consecutiveErrors: number): number {
  return Math.min(500, 10 * 2 ** Math.max(0, consecutiveErrors - 1));
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Resolves true when `promise` fulfils within `ms`, false when it rejects or takes longer. */
function fulfilsWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return Promise.race([promise.then(() => true, () => false), timeout]).finally(() => clearTimeout(timer));
}

/**
 * True for a response that may stay open indefinitely (server-sent events,
 * NDJSON or multipart streams): these are the ones a closing listener cuts.
 * Other responses are passed through untouched, so their Content-Length is kept
 * (a wrapped body would go out chunked).
 */
export function isLongLivedResponse(response: Response): boolean {
  const type = response.headers.get("content-type")?.toLowerCase() ?? "";
  return /^(text\/event-stream|application\/(x-)?ndjson|application\/stream\+json|multipart\/x-mixed-replace)/
    .test(type);
}

/** The response with a body that ends (with an error) when `signal` aborts, for long-lived responses. */
function cuttableResponse(response: Response, signal: AbortSignal): Response {
  // 101 (WebSocket upgrade) must go back untouched; bodiless and ordinary responses need nothing.
  if (response.status === 101 || !isLongLivedResponse(response) || response.body === null) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      signal.addEventListener("abort", () => {
        try {
          controller.error(new Error("server is closing"));
        } catch { /* already closed */ }
        reader.cancel().catch(() => {});
      }, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        try {
          controller.error(error);
        } catch { /* already errored by the abort */ }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** The HTTP connection API that `Deno.serveHttp` returns. */
interface HttpConnection {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

interface RequestEvent {
  readonly request: Request;
  respondWith(r: Response): Promise<void>;
}

const serveHttp = (Deno as unknown as { serveHttp(conn: Deno.Conn): HttpConnection }).serveHttp;

/** Outcome of one handler call. */
type HandlerOutcome =
  | { readonly kind: "response"; readonly response: Response }
  | { readonly kind: "timeout" }
  | { readonly kind: "closing" };

/** The handler's response, or why there is none (the request timed out, the listener is closing). */
async function runHandler(
  handler: () => Response | Promise<Response>,
  onError: ListenerContext["onError"],
  signal: AbortSignal,
  timeoutMs: number,
): Promise<HandlerOutcome> {
  let pending: Promise<Response>;
  try {
    const result = handler();
    if (result instanceof Response) return { kind: "response", response: result };
    pending = result;
  } catch (error) {
    return { kind: "response", response: await onError(error) };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<HandlerOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), timeoutMs);
    onAbort = () => resolve({ kind: "closing" });
    signal.addEventListener("abort", onAbort, { once: true });
  });
  const answered = pending.then(
    (response): HandlerOutcome => ({ kind: "response", response }),
    async (error): Promise<HandlerOutcome> => ({ kind: "response", response: await onError(error) }),
  );
  try {
    return await Promise.race([answered, stop]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort!);
  }
}

/** Copies `from` into `to` until `from` ends (resolves) or either fails (rejects). */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return;
    for (let done = 0; done < n;) done += await to.write(buffer.subarray(done, n));
  }
}

function setNoDelay(conn: Deno.Conn): void {
  try {
    (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
  } catch {
    // not a TCP connection, or already closed
  }
}

/** One client connection, whatever its parts (a TLS connection is relayed, see {@link startListener}). */
class Connection {
  readonly info: ConnectionInfo;
  tracked!: TrackedConnection;
  #closed = false;
  readonly #closers: (() => void)[] = [];
  /** Set while a TLS handshake is awaited. */
  handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * For a relayed TLS connection: ends only its private (TLS) side, so the relay still carries what that
   * side wrote (an answer just handed over) to the client before the whole connection closes.
   */
  closeInner: (() => void) | undefined;

  constructor(info: ConnectionInfo) {
    this.info = info;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `fn` when the connection closes (at once when it is closed already). */
  onClose(fn: () => void): void {
    if (this.#closed) run(fn);
    else this.#closers.push(fn);
  }

  /**
   * Closes gracefully: a relayed connection ends its private side first and closes the rest once the
   * relay has written everything out (at most `graceMs` later); any other connection closes now.
   */
  drain(graceMs: number): void {
    if (this.#closed) return;
    if (!this.closeInner) return this.close();
    run(this.closeInner);
    const timer = setTimeout(this.close, graceMs);
    this.onClose(() => clearTimeout(timer));
  }

  /** Closes every part now (idempotent). */
  readonly close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.handshakeTimer);
    for (const fn of this.#closers) run(fn);
  };
}

function run(fn: () => void): void {
  try {
    fn();
  } catch {
    // a part that is closed already
  }
}

/**
 * Binds and starts a listener (synchronously; throws the OS error when the address cannot be bound or
 * the TLS pair is refused).
 *
 * The port itself is always a plain TCP socket. For TLS, each connection is relayed through a private
 * TLS listener on 127.0.0.1: Deno runs a server-side TLS handshake in a background task that owns the
 * socket until the client sends or leaves, so closing a connection whose handshake never started
 * leaves its descriptor open (measured: 50 silent clients kept 50 descriptors after close()). A relayed
 * connection's public socket and relay socket are ordinary TCP and close at once; the private
 * handshake then ends with EOF. Cost: three descriptors per TLS connection instead of one.
 */
export function startListener(
  init: { hostname: string; port: number; reusePort: boolean; tls?: TlsPem },
  handler: ListenerHandler,
  context: ListenerContext,
): Listener {
  const socket = Deno.listen({
    hostname: init.hostname,
    port: init.port,
    transport: "tcp",
    ...(init.reusePort ? { reusePort: true } : {}),
  } as Deno.TcpListenOptions);
  let relay: Deno.TlsListener | undefined;
  if (init.tls) {
    try {
      relay = Deno.listenTls(
        { hostname: "127.0.0.1", port: 0, cert: init.tls.certPem, key: init.tls.keyPem } as
          & Deno.ListenTlsOptions
          & Deno.TlsCertifiedKeyPem,
      );
    } catch (error) {
      socket.close();
      throw error;
    }
  }
  const port = (socket.addr as Deno.NetAddr).port;
  const inflight = new Set<AbortController>();
  const open = new Set<Connection>();
  /** Relayed TLS connections by the local port of their relay socket, until their handshake is done. */
  const relayed = new Map<number, Connection>();
  const stopping = new AbortController();
  const { table } = context;

  const warn = (key: string, message: string) => {
    const suppressed = context.warnings.admit(key);
    if (suppressed === undefined) return;
    context.logger().warn(
      suppressed > 0 ? `${message} (${suppressed} more like it in the last minute)` : message,
    );
  };

  /** "keep": serve the next request; "drain": a closing answer was handed over; "close": the connection failed. */
  const respond = async (event: RequestEvent, info: ConnectionInfo): Promise<"keep" | "drain" | "close"> => {
    const abort = new AbortController();
    inflight.add(abort);
    try {
      const outcome = await runHandler(
        () => handler(event.request, info),
        context.onError,
        abort.signal,
        table.limits.requestTimeoutMs,
      );
      if (outcome.kind === "response") {
        await event.respondWith(cuttableResponse(outcome.response, abort.signal));
        return "keep";
      }
      const timedOut = outcome.kind === "timeout";
      if (timedOut) warn("request-timeout", `web UI: a request from ${info.remoteAddr.hostname} timed out`);
      await event.respondWith(
        new Response(timedOut ? "request timed out\n" : "server is closing\n", {
          status: 503,
          headers: { connection: "close", "content-type": "text/plain; charset=utf-8" },
        }),
      );
      return "drain";
    } catch {
      return "close"; // the client went away
    } finally {
      inflight.delete(abort);
    }
  };

  /**
   * Serves HTTP/1.1 requests on `conn` (plain TCP, or the private side of a relayed TLS connection) and
   * closes it at the end; a timeout closes the whole connection at once.
   */
  const serveRequests = async (conn: Deno.Conn, c: Connection, relayed = false) => {
    const http = serveHttp(conn);
    c.onClose(() => http.close());
    if (relayed) c.closeInner = () => http.close();
    try {
      await requestLoop(http, c);
    } finally {
      run(() => http.close());
    }
  };

  const requestLoop = async (http: HttpConnection, c: Connection) => {
    let first = true;
    while (!c.closed && !stopping.signal.aborted) {
      c.tracked.state = first ? "opening" : "idle";
      const timer = setTimeout(c.close, first ? table.limits.headerTimeoutMs : table.limits.idleTimeoutMs);
      let event: RequestEvent | null;
      try {
        event = await http.nextRequest();
      } catch {
        event = null; // reset, bad request, closed by the timer
      } finally {
        clearTimeout(timer);
      }
      if (!event || c.closed) break;
      first = false;
      c.tracked.state = "serving";
      const next = await respond(event, c.info);
      if (next === "drain") {
        // "Connection: close" was sent: the HTTP layer writes the answer out, then ends the connection.
        await fulfilsWithin(http.nextRequest(), 1000);
      }
      if (next !== "keep") break;
    }
  };

  /** Admits a new public connection (or refuses it, closing it); logs what the caps did. */
  const admit = (c: Connection): boolean => {
    const from = c.info.remoteAddr.hostname;
    const cap = (reason: "address" | "total") =>
      reason === "address"
        ? `${table.limits.maxConnectionsPerAddress} from one address`
        : `${table.limits.maxConnections} in all`;
    const admission = table.admit(from, c.close);
    if (!admission.admitted) {
      c.close();
      warn(
        `refused:${admission.reason}`,
        `web UI: connection limit reached (${cap(admission.reason)}, every one serving a request): ` +
          `refused a connection from ${from}`,
      );
      return false;
    }
    if (admission.evicted) {
      warn(
        `evicted:${admission.evicted.reason}`,
        `web UI: connection limit reached (${cap(admission.evicted.reason)}): closed an idle connection ` +
          `from ${admission.evicted.addressKey} for one from ${from}`,
      );
    }
    c.tracked = admission.connection;
    open.add(c);
    return true;
  };

  const release = (c: Connection) => {
    c.close();
    open.delete(c);
    table.release(c.tracked);
  };

  /** A plain connection: admitted, then served. */
  const servePlain = async (conn: Deno.Conn) => {
    const c = new Connection({
      remoteAddr: conn.remoteAddr as Deno.NetAddr,
      localAddr: conn.localAddr as Deno.NetAddr,
    });
    c.onClose(() => conn.close());
    if (!admit(c)) return;
    setNoDelay(conn);
    try {
      await serveRequests(conn, c);
    } catch {
      // a failure of this connection ends it alone
    } finally {
      release(c);
    }
  };

  /** A public TLS connection: admitted, then relayed to the private TLS listener until either side ends. */
  const relayTls = async (outer: Deno.Conn) => {
    const c = new Connection({
      remoteAddr: outer.remoteAddr as Deno.NetAddr,
      localAddr: outer.localAddr as Deno.NetAddr,
    });
    c.onClose(() => outer.close());
    if (!admit(c)) return;
    c.handshakeTimer = setTimeout(c.close, table.limits.handshakeTimeoutMs);
    try {
      const inner = await Deno.connect({ hostname: "127.0.0.1", port: (relay!.addr as Deno.NetAddr).port });
      c.onClose(() => inner.close());
      if (c.closed) return;
      const key = (inner.localAddr as Deno.NetAddr).port;
      relayed.set(key, c);
      c.onClose(() => relayed.delete(key));
      setNoDelay(outer);
      setNoDelay(inner);
      // The client's end: half-close towards the private side, which answers what it was sent. Before the
      // private side has even taken the connection (its handshake not done: it may not accept for lack of
      // descriptors), nothing will be answered: close both, or each such pair holds two descriptors with
      // none left to accept the connection that would free them (seen after EMFILE: the UI never came back).
      const up = pump(outer, inner).then(() => relayed.has(key) ? c.close() : inner.closeWrite(), c.close)
        .catch(c.close);
      const down = pump(inner, outer).catch(() => {}).finally(c.close);
      await Promise.all([up, down]);
    } catch {
      // the relay could not be set up: the connection ends
    } finally {
      release(c);
    }
  };

  /** The private side of a relayed TLS connection: handshake, then requests for the public connection. */
  const serveRelayed = async (conn: Deno.TlsConn) => {
    const from = conn.remoteAddr as Deno.NetAddr;
    const shaken = await fulfilsWithin(conn.handshake(), table.limits.handshakeTimeoutMs);
    const c = relayed.get(from.port);
    if (!shaken || !c || c.closed || from.hostname !== "127.0.0.1") {
      run(() => conn.close()); // failed (e.g. TLS 1.1), timed out, or not one of ours
      return;
    }
    relayed.delete(from.port);
    clearTimeout(c.handshakeTimer);
    try {
      await serveRequests(conn, c, true);
    } catch {
      // a failure of this connection ends it alone
    } finally {
      // The relay ends the public side once the last bytes are through (EOF from this side).
      setTimeout(c.close, 1000);
    }
  };

  /** Accepts until the listener closes; errors (EMFILE, ...) back off and retry, never end the loop. */
  const acceptLoop = async (listener: Deno.Listener, what: string, serve: (conn: Deno.Conn) => unknown) => {
    let errors = 0;
    while (!stopping.signal.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping.signal.aborted || error instanceof Deno.errors.BadResource) break;
        errors++;
        const wait = acceptBackoffMs(errors);
        warn(
          `accept:${what}`,
          `web UI: accept failed on ${what}: ${errorText(error)}; retrying (${wait} ms backoff)`,
        );
        await sleep(wait, stopping.signal);
        continue;
      }
      if (errors > 0) context.logger().info(`web UI: ${what} accepts connections again`);
      errors = 0;
      serve(conn);
    }
  };

  const accepting = Promise.all([
    acceptLoop(socket, `port ${port}`, relay ? relayTls : servePlain),
    ...(relay
      ? [acceptLoop(relay, `the TLS relay of port ${port}`, (conn) => serveRelayed(conn as Deno.TlsConn))]
      : []),
  ]);

  const server = {
    async shutdown() {
      stopping.abort();
      run(() => socket.close());
      if (relay) run(() => relay!.close());
      // Connections without a request in progress go at once; the others when their response is done.
      // (A relayed connection first lets the relay write out what its private side already answered.)
      for (const c of open) if (c.tracked.state !== "serving") c.drain(DRAIN_MS);
      const tick = () => new Promise((r) => setTimeout(r, 5));
      while (inflight.size > 0) await tick();
      // Answers just handed over (e.g. the 503 of a cut request) get a moment to be written.
      const deadline = Date.now() + 100;
      while ([...open].some((c) => c.tracked.state === "serving" && !c.closed) && Date.now() < deadline) {
        await tick();
      }
      for (const c of open) c.drain(DRAIN_MS);
      await accepting;
    },
  };
  return { server, hostname: init.hostname, port, reusePort: init.reusePort, inflight };
}
