/**
 * The NIS server's TCP shell: reads length-prefixed requests and writes the answers the service builds.
 * Bounded like apcupsd (a request over 256 bytes closes the connection) and more: connections are capped
 * per address and in all, a connection silent for {@link NIS_IDLE_TIMEOUT_MS} is closed, and requests are
 * answered one at a time, the next read only once the answer is handed to the socket, so a client that
 * does not read its answers stalls only itself until the idle timeout closes it.
 *
 * Like the NUT server, a connection reads the Deno socket itself into one small buffer (no node streams)
 * and arms one idle timer per silent period, not one per request: apcaccess and dashboards connect for
 * every poll, so what a connection costs to open is paid at every poll.
 *
 * @module
 */
import {
  type BoundAddress,
  clientAddress,
  type ConnectionCaps,
  ConnectionGate,
  listenAll,
} from "../nut/listeners.ts";
import { TcpChannel } from "../nut/channel.ts";
import { IdleTimer } from "../nut/idle.ts";
import { RequestDecoder } from "./protocol.ts";

/** Milliseconds a NIS connection may stay silent (apcaccess asks at once and hangs up). */
export const NIS_IDLE_TIMEOUT_MS = 30_000;
/** Connection caps of the NIS server (apcaccess and dashboards connect for one request at a time). */
export const NIS_CAPS: ConnectionCaps = { maxConnections: 64, maxConnectionsPerAddress: 8 };

/** How one NIS server runs. */
export interface NisServerOptions {
  /** Addresses to bind ([] = every address). */
  readonly addresses: readonly string[];
  /** TCP port (0 = ephemeral). */
  readonly port: number;
  /** The answer to a request (the whole answer, its zero-length end included). */
  readonly answer: (request: string) => Uint8Array;
  /** Reports a problem for the operational log. */
  readonly report: (text: string) => void;
  /** Silence after which a connection is closed (default {@link NIS_IDLE_TIMEOUT_MS}). */
  readonly idleTimeoutMs?: number;
}

/** A running NIS server. */
export class NisServer {
  readonly #options: NisServerOptions;
  readonly #gate = new ConnectionGate(NIS_CAPS);
  readonly #connections = new Set<NisConnection>();
  #listeners: { addresses: readonly BoundAddress[]; close(): Promise<void> } | undefined;

  private constructor(options: NisServerOptions) {
    this.#options = options;
  }

  /** Binds and starts serving; throws when an address cannot be bound. */
  static async open(options: NisServerOptions): Promise<NisServer> {
    const server = new NisServer(options);
    server.#listeners = await listenAll({
      addresses: options.addresses,
      port: options.port,
      onConnection: (conn) => server.#accept(conn),
      onError: (text) => options.report(`NIS server: ${text}`),
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

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    const closing = this.#listeners?.close();
    for (const c of [...this.#connections]) c.close();
    await closing;
  }

  #accept(conn: Deno.TcpConn): void {
    const made: { connection?: NisConnection } = {};
    const tracked = this.#gate.admit(clientAddress(conn), () => made.connection?.close());
    if (!tracked) {
      try {
        conn.close();
      } catch { /* closed */ }
      return;
    }
    const connection = new NisConnection(conn, this.#options, () => {
      this.#connections.delete(connection);
      this.#gate.release(tracked);
    });
    made.connection = connection;
    this.#connections.add(connection);
  }
}

/** One client connection: its requests are answered in order, one at a time. */
class NisConnection {
  readonly #channel: TcpChannel;
  readonly #options: NisServerOptions;
  readonly #onClosed: () => void;
  readonly #decoder = new RequestDecoder();
  readonly #idle: IdleTimer;
  #closed = false;

  constructor(conn: Deno.TcpConn, options: NisServerOptions, onClosed: () => void) {
    this.#channel = new TcpChannel(conn);
    this.#options = options;
    this.#onClosed = onClosed;
    this.#idle = new IdleTimer(options.idleTimeoutMs ?? NIS_IDLE_TIMEOUT_MS, () => this.close());
    this.#serve().catch(() => {}).finally(() => this.close()); // reset, or closed meanwhile
  }

  /** Closes the connection at once. */
  close(): void {
    this.#channel.close();
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    this.#onClosed();
  }

  async #serve(): Promise<void> {
    while (!this.#closed) {
      const bytes = await this.#channel.read();
      if (bytes === null) return;
      this.#idle.heard();
      const decoded = this.#decoder.push(bytes); // copies what it keeps: the read buffer is reused
      for (const request of decoded.requests) {
        let answer: Uint8Array;
        try {
          answer = this.#options.answer(request);
        } catch (error) {
          this.#options.report(`NIS server: answering ${JSON.stringify(request)} failed: ${error}`);
          return;
        }
        await this.#channel.write(answer);
        if (this.#closed) return;
      }
      if (decoded.error !== undefined) return; // as apcupsd: an oversized request ends the connection
    }
  }
}
