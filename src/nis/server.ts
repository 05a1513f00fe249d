/**
 * The NIS server's TCP shell: reads length-prefixed requests and writes the answers the service builds.
 * Bounded like apcupsd (a request over 256 bytes closes the connection) and more: connections are capped
 * per address and in all, a connection silent for {@link NIS_IDLE_TIMEOUT_MS} is closed, and a client
 * that does not read its answers is disconnected.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
import {
  type BoundAddress,
  clientAddress,
  type ConnectionCaps,
  ConnectionGate,
  connStream,
  listenAll,
} from "../nut/listeners.ts";
import { RequestDecoder } from "./protocol.ts";

/** Milliseconds a NIS connection may stay silent (apcaccess asks at once and hangs up). */
export const NIS_IDLE_TIMEOUT_MS = 30_000;
/** Connection caps of the NIS server (apcaccess and dashboards connect for one request at a time). */
export const NIS_CAPS: ConnectionCaps = { maxConnections: 64, maxConnectionsPerAddress: 8 };
/** Answer bytes queued for a client that does not read before it is disconnected. */
const MAX_UNSENT_BYTES = 256 * 1024;

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
}

/** A running NIS server. */
export class NisServer {
  readonly #options: NisServerOptions;
  readonly #gate = new ConnectionGate(NIS_CAPS);
  readonly #sockets = new Set<Duplex>();
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
    for (const s of [...this.#sockets]) s.destroy();
    await closing;
  }

  #accept(conn: Deno.TcpConn): void {
    const socket = connStream(conn);
    const tracked = this.#gate.admit(clientAddress(conn), () => socket.destroy());
    if (!tracked) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const decoder = new RequestDecoder();
    let idle = setTimeout(() => socket.destroy(), NIS_IDLE_TIMEOUT_MS);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      clearTimeout(idle);
      this.#sockets.delete(socket);
      this.#gate.release(tracked);
    });
    socket.on("data", (chunk: Buffer) => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), NIS_IDLE_TIMEOUT_MS);
      const decoded = decoder.push(chunk);
      for (const request of decoded.requests) {
        let answer: Uint8Array;
        try {
          answer = this.#options.answer(request);
        } catch (error) {
          this.#options.report(`NIS server: answering ${JSON.stringify(request)} failed: ${error}`);
          socket.destroy();
          return;
        }
        socket.write(answer);
        if (socket.writableLength > MAX_UNSENT_BYTES) {
          socket.destroy(); // the client does not read its answers
          return;
        }
      }
      if (decoded.error !== undefined) socket.destroy(); // as apcupsd: an oversized request ends the connection
    });
  }
}
