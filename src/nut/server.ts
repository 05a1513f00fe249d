/**
 * The NUT server's TCP shell: it reads request lines, hands them to a {@link NutSession} one at a time,
 * writes the answers, and upgrades a connection to TLS on STARTTLS. Everything a client sends is bounded:
 *
 * - a line longer than MAX_LINE_BYTES gets `ERR INVALID-ARGUMENT`, nothing more is read, and the
 *   connection is closed a second later (a 100 MB line costs one read buffer: the rest stays in the
 *   kernel);
 * - a request is read only when the answer to the one before is handed to the socket, so a client that
 *   does not read its answers stalls only itself, holds one answer, and is closed by the idle timeout;
 * - a connection silent for `idleTimeoutMs` is closed (upsd sheds clients after 60 s; upsmon polls every
 *   POLLFREQ seconds, 5 by default); a TLS handshake must finish within {@link TLS_HANDSHAKE_MS};
 * - connections are capped per address and in all ({@link ConnectionGate}); a logged-in secondary is
 *   never pushed out to make room.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { type ByteChannel, DuplexChannel, TcpChannel } from "./channel.ts";
import { IdleTimer } from "./idle.ts";
import {
  type BoundAddress,
  clientAddress,
  type ConnectionCaps,
  ConnectionGate,
  connStream,
  listenAll,
} from "./listeners.ts";
import { errorLine, MAX_LINE_BYTES, NUT_ERRORS } from "./protocol.ts";
import { NutSession, type SessionContext } from "./session.ts";

/** Milliseconds a TLS handshake may take after OK STARTTLS. */
export const TLS_HANDSHAKE_MS = 10_000;

/** How one server runs. */
export interface NutServerOptions {
  /** Addresses to bind ([] = every address). */
  readonly addresses: readonly string[];
  /** TCP port (0 = ephemeral). */
  readonly port: number;
  /** Connection caps. */
  readonly caps: ConnectionCaps;
  /** Milliseconds a connection may stay silent. */
  readonly idleTimeoutMs: number;
  /** What the sessions answer from. */
  readonly context: SessionContext;
  /** The certificate for STARTTLS (undefined: not available). */
  readonly secureContext: () => tls.SecureContext | undefined;
  /** A session logged in (LOGIN accepted). */
  readonly onLogin: (session: NutSession) => void;
  /** A logged-in session ended (LOGOUT or the connection closed). */
  readonly onLogout: (session: NutSession, how: "logout" | "disconnected") => void;
  /** Reports a problem (accept errors, TLS failures) for the operational log. */
  readonly report: (text: string) => void;
  /** Time source for login times. */
  readonly now: () => number;
}

/** A running NUT server. */
export class NutServer {
  readonly #options: NutServerOptions;
  readonly #gate: ConnectionGate;
  readonly #connections = new Set<NutConnection>();
  #listeners: { addresses: readonly BoundAddress[]; close(): Promise<void> } | undefined;
  #idleTimeoutMs: number;

  private constructor(options: NutServerOptions) {
    this.#options = options;
    this.#gate = new ConnectionGate(options.caps);
    this.#idleTimeoutMs = options.idleTimeoutMs;
  }

  /** Binds and starts serving; throws when an address cannot be bound. */
  static async open(options: NutServerOptions): Promise<NutServer> {
    const server = new NutServer(options);
    server.#listeners = await listenAll({
      addresses: options.addresses,
      port: options.port,
      onConnection: (conn) => server.#accept(conn),
      onError: (text) => options.report(`NUT server: ${text}`),
    });
    return server;
  }

  /** The bound addresses. */
  get addresses(): readonly BoundAddress[] {
    return this.#listeners?.addresses ?? [];
  }

  /** Open connections, refused and pushed-out counts. */
  get connectionStats(): { open: number; refused: number; evicted: number } {
    return this.#gate.stats;
  }

  /** The sessions of the open connections. */
  sessions(): NutSession[] {
    return [...this.#connections].map((c) => c.session);
  }

  /** Changes caps and idle timeout (open connections keep their timer until their next request). */
  configure(caps: ConnectionCaps, idleTimeoutMs: number): void {
    this.#gate.configure(caps);
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    const closing = this.#listeners?.close();
    for (const c of [...this.#connections]) c.destroy();
    await closing;
  }

  #accept(conn: Deno.TcpConn): void {
    const address = clientAddress(conn);
    try {
      conn.setNoDelay(true);
    } catch { /* closed meanwhile */ }
    const made: { connection?: NutConnection } = {};
    const tracked = this.#gate.admit(address, () => made.connection?.destroy());
    if (!tracked) {
      // Every slot is held by logged-in secondaries: say why, then hang up.
      const channel = new TcpChannel(conn);
      channel.write(encoder.encode(`${errorLine(NUT_ERRORS.accessDenied)}\n`))
        .then(() => channel.closeWrite(), () => {});
      setTimeout(() => channel.close(), 1000);
      return;
    }
    const connection = new NutConnection(conn, address, this.#options, this.#idleTimeoutMs, {
      loggedIn: (c) => {
        this.#gate.mark(tracked, true);
        this.#options.onLogin(c.session);
      },
      closed: (c, how) => {
        this.#gate.release(tracked);
        if (this.#connections.delete(c) && c.session.loginUps !== undefined) {
          this.#options.onLogout(c.session, how);
        }
      },
    });
    made.connection = connection;
    this.#connections.add(connection);
  }
}

interface ConnectionEvents {
  loggedIn(c: NutConnection): void;
  closed(c: NutConnection, how: "logout" | "disconnected"): void;
}

/** One client connection (plain, or TLS after STARTTLS): its requests are handled one at a time. */
class NutConnection {
  readonly session: NutSession;
  readonly #conn: Deno.Conn;
  #channel: ByteChannel;
  /** After STARTTLS: the TCP connection as the stream under the TLS socket. */
  #raw: Duplex | undefined;
  readonly #options: NutServerOptions;
  readonly #events: ConnectionEvents;
  /**
   * Received bytes not yet handled (at most one line and one read). Often a view of the channel's reused
   * read buffer, so nothing is copied for the usual one-line read; what is left is copied before the next
   * read.
   */
  #pending: Uint8Array = NOTHING;
  #closed = false;
  #how: "logout" | "disconnected" = "disconnected";
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #idle: IdleTimer;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    conn: Deno.Conn,
    address: string,
    options: NutServerOptions,
    idleTimeoutMs: number,
    events: ConnectionEvents,
  ) {
    this.#conn = conn;
    this.#channel = new TcpChannel(conn);
    this.#options = options;
    this.#events = events;
    this.session = new NutSession(address, options.context, options.now);
    this.#idle = new IdleTimer(idleTimeoutMs, () => this.destroy());
    this.#serve().catch(() => this.destroy()); // reset, or closed meanwhile
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.#channel.close();
    this.#raw?.destroy();
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer);
    this.#idle.stop();
    this.#events.closed(this, this.#how);
  }

  /** Reads, handles and answers request lines until the connection ends. */
  async #serve(): Promise<void> {
    for (;;) {
      const line = await this.#nextLine();
      if (line === undefined || this.#closed) return this.destroy();
      if (line === TOO_LONG) return await this.#refuseLongLine();
      const wasLoggedIn = this.session.loginUps !== undefined;
      const reply = await this.session.handle(line);
      if (this.#closed) return;
      if (!wasLoggedIn && this.session.loginUps !== undefined) this.#events.loggedIn(this);
      if (reply.lines.length === 0) continue;
      if (reply.close) {
        // LOGOUT: the login ends now; the connection once the answer is out.
        this.#how = "logout";
        this.#finish();
        await this.#send(reply.lines);
        this.#channel.closeWrite();
        return this.destroy();
      }
      await this.#send(reply.lines);
      if (reply.startTls && !this.#startTls()) return;
    }
  }

  /** The next request line (latin1), {@link TOO_LONG}, or undefined at the end of the connection. */
  async #nextLine(): Promise<string | typeof TOO_LONG | undefined> {
    for (;;) {
      const end = this.#pending.indexOf(0x0a);
      if (end > MAX_LINE_BYTES || (end < 0 && this.#pending.length > MAX_LINE_BYTES)) return TOO_LONG;
      if (end >= 0) {
        const line = latin1(this.#pending.subarray(0, end));
        this.#pending = end + 1 === this.#pending.length ? NOTHING : this.#pending.subarray(end + 1);
        return line;
      }
      // The read reuses the channel's buffer: keep a copy of a partial line first.
      const partial = this.#pending.length ? this.#pending.slice() : NOTHING;
      this.#pending = NOTHING;
      const bytes = await this.#channel.read();
      if (bytes === null) return undefined;
      this.#idle.heard();
      this.#pending = partial.length ? joined(partial, bytes) : bytes;
    }
  }

  #send(lines: readonly string[]): Promise<void> {
    return this.#channel.write(encoder.encode(`${lines.join("\n")}\n`));
  }

  /** Answers a line over MAX_LINE_BYTES, reads nothing more, and hangs up a second later. */
  async #refuseLongLine(): Promise<void> {
    this.#pending = NOTHING;
    await this.#send([errorLine(NUT_ERRORS.invalidArgument)]);
    this.#channel.closeWrite();
    if (!this.#closed) this.#closeTimer = setTimeout(() => this.destroy(), 1000);
  }

  /** After OK STARTTLS: the rest of the connection is TLS with the web UI's certificate. */
  #startTls(): boolean {
    const secureContext = this.#options.secureContext();
    if (!secureContext) {
      this.destroy();
      return false;
    }
    // Bytes the client sent after STARTTLS belong to its handshake.
    this.#raw = connStream(this.#conn, this.#pending.slice());
    this.#raw.on("error", () => this.destroy()); // a reset under the TLS socket (unhandled, it would throw)
    this.#pending = NOTHING;
    const secure = new tls.TLSSocket(this.#raw, { isServer: true, secureContext });
    this.#channel = new DuplexChannel(secure);
    this.session.tls = true;
    this.#handshakeTimer = setTimeout(() => {
      this.#options.report(`NUT server: TLS handshake from ${this.session.address} took too long`);
      this.destroy();
    }, TLS_HANDSHAKE_MS);
    secure.once("secure", () => {
      if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    });
    secure.on("error", (error: Error) => {
      this.#options.report(`NUT server: TLS with ${this.session.address} failed: ${error.message}`);
      this.destroy();
    });
    return true;
  }
}

/** What {@link NutConnection} reads when a line exceeds MAX_LINE_BYTES. */
const TOO_LONG = Symbol("too long");
const encoder = new TextEncoder();
/** No bytes. */
const NOTHING = new Uint8Array(0);

/** Bytes as ISO-8859-1 text (each byte one character, as upsd reads them): one string, not one per byte. */
function latin1(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]); // at most MAX_LINE_BYTES of them
}

/** `head` followed by a copy of `tail`. */
function joined(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
