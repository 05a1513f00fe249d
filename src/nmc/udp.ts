/**
 * The UDP listener the cards send to (default port 3052). A thin I/O shell:
 * it hands every datagram to a callback and knows nothing about packets.
 * With no explicit addresses it listens on every IPv6 and IPv4 address
 * (`::`, which is dual-stack on Linux, plus `0.0.0.0` where the OS keeps them
 * apart, as Windows does).
 *
 * @module
 */

import { type DatagramFilterRule, type KernelSockets, kernelSockets } from "./kernelfilter.ts";
import { QueuedDatagrams } from "./udpdrain.ts";

/**
 * Called for every datagram received. `data` is the handler's own copy, except a datagram longer than the
 * listener's `copyLimitBytes`: that one is a view of the receive buffer, valid only during the call.
 */
export type DatagramHandler = (data: Uint8Array, from: Deno.NetAddr) => void;

/** Receive buffer: larger than any datagram we accept, so oversize packets are seen whole and rejected. */
const RECEIVE_BUFFER_BYTES = 65536;
/** The kernel's receive queue per socket (where the kernel lets us set it): absorbs bursts and stalls. */
export const RECEIVE_QUEUE_BYTES = 4 * 1024 * 1024;

/** A set of bound UDP sockets sharing one port. */
export class UdpListener {
  readonly #sockets: Deno.DatagramConn[];
  readonly #loops: Promise<void>[];
  readonly #kernel: KernelSockets | string;
  readonly #receiveQueueBytes: number | undefined;
  /** Reads a burst's queued datagrams in one call (Linux, one socket), or why not. */
  readonly #queued: QueuedDatagrams | string;
  readonly #copyLimitBytes: number;
  #closed = false;

  private constructor(sockets: Deno.DatagramConn[], onDatagram: DatagramHandler, copyLimitBytes: number) {
    this.#sockets = sockets;
    this.#copyLimitBytes = copyLimitBytes;
    this.#kernel = kernelSockets((sockets[0].addr as Deno.NetAddr).port);
    this.#receiveQueueBytes = typeof this.#kernel === "string"
      ? undefined
      : this.#kernel.setReceiveBuffer(RECEIVE_QUEUE_BYTES);
    this.#queued = typeof this.#kernel === "string"
      ? this.#kernel
      : sockets.length !== 1 || this.#kernel.fds.length !== 1
      // With two sockets, reading one's queue could pass a datagram its own receive already holds.
      ? `${sockets.length} sockets`
      : QueuedDatagrams.open(this.#kernel.fds[0]);
    this.#loops = sockets.map((socket) => this.#receiveLoop(socket, onDatagram));
  }

  /** The kernel receive queue size set on the sockets, or undefined where it cannot be set. */
  get receiveQueueBytes(): number | undefined {
    return this.#receiveQueueBytes;
  }

  /**
   * Drops the datagrams `rule` does not let through in the kernel (one in `sampleOneIn` still gets
   * through), or with `rule` undefined lifts that filter. Returns why it cannot, if it cannot.
   */
  filterDatagrams(rule: DatagramFilterRule | undefined, sampleOneIn: number): string | undefined {
    if (typeof this.#kernel === "string") return this.#kernel;
    try {
      if (rule === undefined) this.#kernel.detachFilter();
      else this.#kernel.attachFilter(rule, sampleOneIn);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * Binds `port` (0 = any free port) on `hostnames` (empty = every address).
   * Throws with the address and the OS reason if nothing could be bound. A datagram longer than
   * `copyLimitBytes` is not copied for the handler (see `DatagramHandler`): the agent refuses such a one by
   * its length alone, and a flood of 64 KiB copies grew the process by 60-200 MiB for good.
   */
  static open(
    port: number,
    hostnames: readonly string[],
    onDatagram: DatagramHandler,
    copyLimitBytes = Infinity,
  ): UdpListener {
    const sockets: Deno.DatagramConn[] = [];
    const bind = (hostname: string, p: number) =>
      Deno.listenDatagram({ hostname, port: p, transport: "udp", reuseAddress: false });
    try {
      if (hostnames.length === 0) {
        let first: Deno.DatagramConn;
        try {
          first = bind("::", port);
        } catch {
          first = bind("0.0.0.0", port); // no IPv6 on this host
        }
        sockets.push(first);
        if ((first.addr as Deno.NetAddr).hostname === "::") {
          try {
            sockets.push(bind("0.0.0.0", (first.addr as Deno.NetAddr).port));
          } catch (error) {
            if (!(error instanceof Deno.errors.AddrInUse)) throw error; // dual-stack socket already covers IPv4
          }
        }
      } else {
        let boundPort = port;
        for (const hostname of hostnames) {
          const socket = bind(hostname, boundPort);
          sockets.push(socket);
          boundPort = (socket.addr as Deno.NetAddr).port;
        }
      }
    } catch (error) {
      for (const socket of sockets) socket.close();
      const where = hostnames.length ? hostnames.join(", ") : "all addresses";
      throw new Error(`cannot listen on UDP port ${port} (${where}): ${(error as Error).message}`);
    }
    return new UdpListener(sockets, onDatagram, copyLimitBytes);
  }

  /**
   * Datagrams read from a burst's queue in one system call rather than one receive each, or why they
   * cannot be (not Linux, no --allow-ffi, more than one socket).
   */
  get queuedReads(): number | string {
    return typeof this.#queued === "string" ? this.#queued : this.#queued.received;
  }

  /** The bound port. */
  get port(): number {
    return (this.#sockets[0].addr as Deno.NetAddr).port;
  }

  /** The bound addresses. */
  get addresses(): Deno.NetAddr[] {
    return this.#sockets.map((socket) => socket.addr as Deno.NetAddr);
  }

  /** Closes every socket and waits for the receive loops to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#sockets) socket.close();
    await Promise.all(this.#loops);
  }

  async #receiveLoop(socket: Deno.DatagramConn, onDatagram: DatagramHandler): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!this.#closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await socket.receive(buffer);
      } catch (error) {
        if (this.#closed) return;
        // ICMP errors (e.g. connection refused from an earlier send) can surface here; keep listening.
        if (error instanceof Deno.errors.BadResource) return;
        await new Promise((r) => setTimeout(r, 10)); // never spin on an error that repeats
        continue;
      }
      const [data, from] = received;
      onDatagram(data.length > this.#copyLimitBytes ? data : data.slice(), from as Deno.NetAddr);
      // The rest of a burst, before the next receive is asked for (so none is read out of order); never
      // after the close, when the descriptor may already name another file.
      if (typeof this.#queued !== "string") {
        this.#queued.drain(onDatagram, () => this.#closed, this.#copyLimitBytes);
      }
    }
  }
}
