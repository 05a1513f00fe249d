/**
 * A NUT connection's bytes as the server reads and writes them: pull reads and awaited writes, one at a
 * time. A plain connection is the Deno socket itself with one small read buffer ({@link READ_BYTES}); only
 * a connection upgraded by STARTTLS goes through node streams (node:tls takes a Duplex).
 *
 * Measured (500 secondaries polling every second, `bench/nut.ts`): with every connection a node Duplex
 * with a 16 KiB read buffer, the agent held 8 MiB of read buffers, and the stream machinery's garbage per
 * request made V8 grow its heap by 20 MiB in 20 s.
 *
 * @module
 */
import type { Duplex } from "node:stream";

/** Bytes read from a plain connection at a time (a NUT request line is at most 1 KiB). */
export const READ_BYTES = 2048;
/** Received bytes queued on a TLS connection before its socket is paused. */
export const MAX_QUEUED_BYTES = 16 * 1024;

/** A connection as the NUT server uses it. */
export interface ByteChannel {
  /** The next bytes received (valid until the next read: copy what you keep), or null at the end. */
  read(): Promise<Uint8Array | null>;
  /** Writes all of `bytes`; resolves once they are handed to the socket, rejects when it failed. */
  write(bytes: Uint8Array): Promise<void>;
  /** Sends the end of the stream (no more writes); reading may go on. */
  closeWrite(): void;
  /** Closes the connection at once; a pending read returns null or rejects. */
  close(): void;
}

/** A plain TCP connection, read into one reused buffer. */
export class TcpChannel implements ByteChannel {
  readonly #conn: Deno.Conn;
  readonly #buffer = new Uint8Array(READ_BYTES);

  /** The channel of `conn`. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** See {@link ByteChannel.read}. */
  async read(): Promise<Uint8Array | null> {
    const n = await this.#conn.read(this.#buffer);
    return n === null ? null : this.#buffer.subarray(0, n);
  }

  /** See {@link ByteChannel.write}. */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** See {@link ByteChannel.closeWrite}. */
  closeWrite(): void {
    try {
      this.#conn.closeWrite();
    } catch { /* closed */ }
  }

  /** See {@link ByteChannel.close}. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/**
 * A node Duplex (the TLS socket after STARTTLS) as a channel. Received chunks wait in a queue; past
 * {@link MAX_QUEUED_BYTES} the socket is paused until the server has read them.
 */
export class DuplexChannel implements ByteChannel {
  readonly #socket: Duplex;
  readonly #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  /** The channel of `socket`. */
  constructor(socket: Duplex) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > MAX_QUEUED_BYTES) socket.pause();
      this.#wakeReader();
    });
    const end = () => {
      this.#ended = true;
      this.#wakeReader();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /** See {@link ByteChannel.read}. */
  async read(): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const chunk = this.#chunks.shift()!;
    this.#queued -= chunk.length;
    if (this.#socket.isPaused() && this.#queued <= MAX_QUEUED_BYTES) this.#socket.resume();
    return chunk;
  }

  /** See {@link ByteChannel.write}. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** See {@link ByteChannel.closeWrite}. */
  closeWrite(): void {
    this.#socket.end();
  }

  /** See {@link ByteChannel.close}. */
  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
