/**
 * The TCP plumbing the NUT and NIS servers share: binding one listener per configured address ("" = every
 * address: "::", dual-stack, else "0.0.0.0"), accept loops that nothing a client does can stop, each
 * connection as a node stream (so node:tls can take it over on STARTTLS), and the connection caps per
 * source address and in all, with the web UI's {@link ConnectionTable} (a new connection may push out the
 * oldest idle one of the same address, or of the address holding the most; a connection marked busy, e.g.
 * a logged-in NUT secondary, is never pushed out).
 *
 * Deno's `Deno.listen` with an own accept loop, not node:net's server: measured here (Deno 2.9.5), a
 * node:net server under descriptor exhaustion (EMFILE) stops accepting for good without an error event
 * (`prlimit --nofile=160`, 400 connections: every later connect refused). This loop backs off (10 ms
 * doubling, at most 500 ms, as the web UI's) and accepts again as soon as a descriptor is free.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { acceptBackoffMs } from "../web/listener.ts";
import { ConnectionTable, type TrackedConnection } from "../web/connections.ts";

/** A bound address. */
export interface BoundAddress {
  /** The address as bound ("::", "0.0.0.0" or a configured one). */
  readonly hostname: string;
  /** The port. */
  readonly port: number;
}

/** Listeners on every configured address. */
export interface TcpListeners {
  /** What is bound. */
  readonly addresses: readonly BoundAddress[];
  /** Stops accepting (open connections are the caller's to close). */
  close(): Promise<void>;
}

/** Options of {@link listenAll}. */
export interface ListenOptions {
  /** Addresses to bind ([] = every address). */
  readonly addresses: readonly string[];
  /** Port (0 = ephemeral, for tests; with several addresses all get the first one's port). */
  readonly port: number;
  /** Called for each accepted connection. */
  readonly onConnection: (conn: Deno.TcpConn) => void;
  /** Reports an accept error (the loop goes on). */
  readonly onError: (text: string) => void;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Accepts until the listener is closed; errors (EMFILE, ...) back off and never end the loop. */
async function acceptLoop(
  listener: Deno.TcpListener,
  o: ListenOptions,
  closed: () => boolean,
): Promise<void> {
  let errors = 0;
  while (!closed()) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (closed() || error instanceof Deno.errors.BadResource) return;
      errors++;
      o.onError(`accept failed (${errorText(error)}); retrying`);
      await new Promise((r) => setTimeout(r, acceptBackoffMs(errors)));
      continue;
    }
    errors = 0;
    try {
      o.onConnection(conn);
    } catch (error) {
      o.onError(`a connection could not be set up: ${errorText(error)}`);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }
}

/** Binds every address (all or nothing: a failure closes what was bound and throws). */
export function listenAll(o: ListenOptions): Promise<TcpListeners> {
  const listeners: Deno.TcpListener[] = [];
  try {
    if (o.addresses.length === 0) {
      try {
        listeners.push(Deno.listen({ hostname: "::", port: o.port }));
      } catch (error) {
        // No IPv6 on this host: every IPv4 address then.
        if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied) {
          throw error;
        }
        listeners.push(Deno.listen({ hostname: "0.0.0.0", port: o.port }));
      }
    } else {
      let port = o.port;
      for (const address of o.addresses) {
        const listener = Deno.listen({ hostname: address.replace(/^\[(.*)\]$/, "$1"), port });
        listeners.push(listener);
        port = (listener.addr as Deno.NetAddr).port;
      }
    }
  } catch (error) {
    for (const l of listeners) l.close();
    return Promise.reject(error);
  }
  let closed = false;
  const loops = listeners.map((l) => acceptLoop(l, o, () => closed));
  return Promise.resolve({
    addresses: listeners.map((l) => {
      const a = l.addr as Deno.NetAddr;
      return { hostname: a.hostname, port: a.port };
    }),
    close: async () => {
      closed = true;
      for (const l of listeners) {
        try {
          l.close();
        } catch { /* closed */ }
      }
      await Promise.all(loops);
    },
  });
}

/** The client's address without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.5` -> `10.0.0.5`). */
export function clientAddress(conn: Deno.Conn): string {
  const address = (conn.remoteAddr as Deno.NetAddr).hostname ?? "unknown";
  return address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

/**
 * A connection as a node Duplex (what node:tls takes over on STARTTLS). Reading follows the consumer:
 * while it is paused and the stream's buffer is full, nothing more is read from the socket, so a client
 * sending without end costs bounded memory. `initial` bytes (already read from `conn`) come first.
 */
export function connStream(conn: Deno.Conn, initial?: Uint8Array): Duplex {
  let wanted: (() => void) | undefined;
  const stream: Duplex = new Duplex({
    highWaterMark: 16 * 1024,
    allowHalfOpen: false, // the client's end ends the connection
    read() {
      wanted?.();
      wanted = undefined;
    },
    write(chunk: Buffer, _encoding, done) {
      (async () => {
        let at = 0;
        while (at < chunk.length) at += await conn.write(chunk.subarray(at));
      })().then(() => done(), (error) => done(error));
    },
    final(done) {
      try {
        conn.closeWrite();
      } catch { /* closed */ }
      done();
    },
    destroy(error, done) {
      try {
        conn.close();
      } catch { /* closed */ }
      wanted?.();
      done(error);
    },
  });
  if (initial?.length) stream.push(Buffer.from(initial));
  (async () => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (!stream.destroyed) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (!stream.push(Buffer.from(buffer.subarray(0, n)))) {
          await new Promise<void>((resolve) => (wanted = resolve));
        }
      }
    } catch { /* reset or closed */ }
    if (!stream.destroyed) stream.push(null);
  })();
  return stream;
}

/** Connection caps of one server. */
export interface ConnectionCaps {
  /** Connections open at once. */
  readonly maxConnections: number;
  /** Connections open at once from one address (IPv6: one /64). */
  readonly maxConnectionsPerAddress: number;
}

/** Admits connections under the caps (see the module documentation). */
export class ConnectionGate {
  readonly #table: ConnectionTable;

  /** A gate with these caps. */
  constructor(caps: ConnectionCaps) {
    this.#table = new ConnectionTable(tableLimits(caps));
  }

  /** Changes the caps (connections already open stay). */
  configure(caps: ConnectionCaps): void {
    this.#table.configure(tableLimits(caps));
  }

  /** Open connections, refused and pushed-out counts. */
  get stats(): { open: number; refused: number; evicted: number } {
    return this.#table.stats;
  }

  /** Admits a connection from `address` (`close` ends it if it is pushed out later), or refuses it. */
  admit(address: string, close: () => void): TrackedConnection | undefined {
    const admission = this.#table.admit(address, close);
    if (!admission.admitted) return undefined;
    admission.connection.state = "idle";
    return admission.connection;
  }

  /** Marks a connection busy (never pushed out) or idle. */
  mark(connection: TrackedConnection, busy: boolean): void {
    connection.state = busy ? "serving" : "idle";
  }

  /** Forgets a connection that ended. */
  release(connection: TrackedConnection): void {
    this.#table.release(connection);
  }
}

function tableLimits(caps: ConnectionCaps) {
  return {
    maxConnections: caps.maxConnections,
    maxConnectionsPerAddress: Math.min(caps.maxConnectionsPerAddress, caps.maxConnections),
    // Timeouts are the servers' own; the table only counts.
    handshakeTimeoutMs: 0,
    headerTimeoutMs: 0,
    idleTimeoutMs: 0,
    requestTimeoutMs: 0,
  };
}
