/**
 * The NUT server's TCP shell: it reads request lines, hands them to a {@link NutSession} one at a time,
 * writes the answers, and upgrades a connection to TLS on STARTTLS. Everything a client sends is bounded:
 *
 * - a line longer than {@link MAX_LINE_BYTES} gets `ERR INVALID-ARGUMENT` and the connection is closed
 *   (a 10 MB line costs at most ~64 KB of memory: unread bytes beyond {@link MAX_PENDING_BYTES} pause
 *   the socket);
 * - a client that does not read its answers (more than {@link MAX_UNSENT_BYTES} queued) is disconnected;
 * - a connection silent for `idleTimeoutMs` is closed (upsd sheds clients after 60 s; upsmon polls every
 *   POLLFREQ seconds, 5 by default); a TLS handshake must finish within {@link TLS_HANDSHAKE_MS};
 * - connections are capped per address and in all ({@link ConnectionGate}); a logged-in secondary is
 *   never pushed out to make room.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
import tls from "node:tls";
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

/** Unread bytes kept per connection before its socket is paused. */
export const MAX_PENDING_BYTES = 64 * 1024;
/** Answer bytes queued for a client that does not read before it is disconnected. */
export const MAX_UNSENT_BYTES = 1024 * 1024;
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
    const socket = connStream(conn);
    const made: { connection?: NutConnection } = {};
    const tracked = this.#gate.admit(address, () => made.connection?.destroy());
    if (!tracked) {
      // Every slot is held by logged-in secondaries: say why, then hang up.
      socket.on("error", () => socket.destroy());
      socket.end(`${errorLine(NUT_ERRORS.accessDenied)}\n`);
      setTimeout(() => socket.destroy(), 1000);
      return;
    }
    const connection = new NutConnection(socket, address, this.#options, this.#idleTimeoutMs, {
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

/** One client connection (plain, or TLS after STARTTLS). */
class NutConnection {
  readonly session: NutSession;
  readonly #raw: Duplex;
  #socket: Duplex;
  readonly #options: NutServerOptions;
  readonly #events: ConnectionEvents;
  #pending: Buffer = Buffer.alloc(0);
  #busy = false;
  #closed = false;
  #how: "logout" | "disconnected" = "disconnected";
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #idleTimeoutMs: number;

  constructor(
    socket: Duplex,
    address: string,
    options: NutServerOptions,
    idleTimeoutMs: number,
    events: ConnectionEvents,
  ) {
    this.#raw = socket;
    this.#socket = socket;
    this.#options = options;
    this.#events = events;
    this.session = new NutSession(address, options.context, options.now);
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#heard();
    socket.on("close", () => this.#finish());
    socket.on("error", () => this.destroy());
    this.#listen(socket);
  }

  /** Closes the connection at once. */
  destroy(): void {
    if (this.#socket !== this.#raw) this.#socket.destroy();
    this.#raw.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer);
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#events.closed(this, this.#how);
  }

  /** Restarts the idle timer (the client sent something). */
  #heard(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.destroy(), this.#idleTimeoutMs);
  }

  #listen(socket: Duplex): void {
    socket.on("data", (chunk: Buffer) => {
      this.#heard();
      this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
      if (this.#pending.length > MAX_PENDING_BYTES) socket.pause();
      void this.#pump();
    });
  }

  /** Handles the complete lines received, one at a time (a LOGIN's password check is asynchronous). */
  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (!this.#closed) {
        const end = this.#pending.indexOf(0x0a);
        if (end < 0) {
          if (this.#pending.length > MAX_LINE_BYTES) return this.#refuseLongLine();
          if (this.#socket.isPaused()) this.#socket.resume();
          return;
        }
        if (end > MAX_LINE_BYTES) return this.#refuseLongLine();
        const line = this.#pending.subarray(0, end).toString("latin1");
        this.#pending = this.#pending.subarray(end + 1);
        const wasLoggedIn = this.session.loginUps !== undefined;
        const reply = await this.session.handle(line);
        if (this.#closed) return;
        if (!wasLoggedIn && this.session.loginUps !== undefined) this.#events.loggedIn(this);
        if (reply.lines.length === 0) continue;
        if (!this.#send(reply.lines)) return;
        if (reply.close) {
          // LOGOUT: the login ends now; the connection once the answer is out.
          this.#how = "logout";
          this.#socket.once("finish", () => this.destroy());
          this.#socket.end();
          this.#finish();
          return;
        }
        if (reply.startTls) return this.#startTls();
      }
    } finally {
      this.#busy = false;
    }
  }

  #send(lines: readonly string[]): boolean {
    this.#socket.write(`${lines.join("\n")}\n`);
    if (this.#socket.writableLength > MAX_UNSENT_BYTES) {
      this.destroy(); // the client does not read its answers
      return false;
    }
    return true;
  }

  #refuseLongLine(): void {
    this.#pending = Buffer.alloc(0);
    this.#socket.end(`${errorLine(NUT_ERRORS.invalidArgument)}\n`);
    this.#socket.pause(); // read nothing more of it
    setTimeout(() => this.destroy(), 1000);
  }

  /** After OK STARTTLS: the rest of the connection is TLS with the web UI's certificate. */
  #startTls(): void {
    const secureContext = this.#options.secureContext();
    if (!secureContext) return this.destroy();
    const early = this.#pending; // bytes the client sent after STARTTLS belong to its handshake
    this.#pending = Buffer.alloc(0);
    this.#raw.removeAllListeners("data");
    this.#raw.pause();
    if (early.length) this.#raw.unshift(early);
    const secure = new tls.TLSSocket(this.#raw, { isServer: true, secureContext });
    this.#socket = secure;
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
    secure.on("close", () => this.destroy());
    this.#listen(secure);
    this.#raw.resume();
  }
}
