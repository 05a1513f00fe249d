/**
 * The datagrams already queued on a UDP socket, read in one system call (Linux `recvmmsg` with
 * `MSG_DONTWAIT`, through libc). Each `DatagramConn.receive` costs an asynchronous op, about 5 us per
 * datagram here; under a burst the listener takes the first datagram that way and the rest of the queue
 * from here, up to `BATCH` per call. Nothing here waits: an empty queue answers at once.
 *
 * The kernel writes into buffers whose addresses it is given, so every buffer is a field of the
 * `QueuedDatagrams` that uses it: a buffer only referenced while the addresses are written (a local of the
 * constructor) is collected, and the kernel would then write into freed memory (seen here as glibc heap
 * corruption within seconds under `--max-semi-space-size=1`).
 *
 * @module
 */
import { libcOnce } from "../os/libc.ts";
import type { DatagramHandler } from "./udp.ts";

/** Datagrams read per system call. */
export const BATCH = 16;
/** Room for each datagram: more than the largest UDP payload (65,527 bytes), so none is cut. */
const SLOT_BYTES = 65536;
/** struct sockaddr_in6, the larger of the two address structures. */
const NAME_BYTES = 28;
/** struct mmsghdr on 64-bit Linux: struct msghdr (56 bytes) and msg_len (4, padded to 8). */
const HEADER_BYTES = 64;
const MSG_DONTWAIT = 0x40;
const AF_INET = 2;
const AF_INET6 = 10;

/** libc's recvmmsg, or why it is not available here (loaded once). */
const receiveCalls = libcOnce(
  {
    recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  } as const,
);

type Libc = Exclude<ReturnType<typeof receiveCalls>, string>;

/** Reads what is queued on one socket (see the module doc). */
export class QueuedDatagrams {
  readonly #fd: number;
  readonly #recvmmsg: Libc["recvmmsg"];
  // Every buffer the kernel is given the address of (see the module doc).
  readonly #data = new Uint8Array(BATCH * SLOT_BYTES);
  readonly #names = new Uint8Array(BATCH * NAME_BYTES);
  readonly #vectors = new BigUint64Array(BATCH * 2);
  readonly #headers = new Uint8Array(BATCH * HEADER_BYTES);
  readonly #view = new DataView(this.#headers.buffer);
  #received = 0;

  private constructor(fd: number, calls: Libc) {
    this.#fd = fd;
    this.#recvmmsg = calls.recvmmsg;
    const address = (bytes: Uint8Array) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    const data = address(this.#data);
    const names = address(this.#names);
    const vectors = address(new Uint8Array(this.#vectors.buffer));
    for (let i = 0; i < BATCH; i++) {
      this.#vectors[2 * i] = data + BigInt(i * SLOT_BYTES); // iov_base
      this.#vectors[2 * i + 1] = BigInt(SLOT_BYTES); // iov_len
      const at = i * HEADER_BYTES;
      this.#view.setBigUint64(at, names + BigInt(i * NAME_BYTES), true); // msg_name
      this.#view.setBigUint64(at + 16, vectors + BigInt(i * 16), true); // msg_iov
      this.#view.setBigUint64(at + 24, 1n, true); // msg_iovlen
    }
  }

  /**
   * A reader for socket `fd`, or why there is none here (not 64-bit Linux, no `--allow-ffi`). The caller
   * must stop calling `drain` before the socket is closed: the number may then name another file.
   */
  static open(fd: number): QueuedDatagrams | string {
    if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
      return `no recvmmsg layout for ${Deno.build.arch}`;
    }
    const calls = receiveCalls();
    return typeof calls === "string" ? calls : new QueuedDatagrams(fd, calls);
  }

  /** Datagrams read here so far. */
  get received(): number {
    return this.#received;
  }

  /**
   * Hands each queued datagram to `handler`, in the order they arrived, at most `limit` of them; returns
   * how many. `stop` is asked before each one (the socket may have been closed by the handler). A datagram
   * longer than `copyLimitBytes` is handed over as a view of the buffer, valid only during the call; the
   * others as copies.
   */
  drain(handler: DatagramHandler, stop: () => boolean, copyLimitBytes = Infinity, limit = BATCH * 4): number {
    let delivered = 0;
    while (delivered < limit && !stop()) {
      for (let i = 0; i < BATCH; i++) this.#view.setUint32(i * HEADER_BYTES + 8, NAME_BYTES, true);
      const count = this.#recvmmsg(this.#fd, this.#headers, BATCH, MSG_DONTWAIT, null);
      if (count <= 0) break; // empty (EAGAIN) or an error: the socket's own receive reports errors
      for (let i = 0; i < count; i++) {
        const length = this.#view.getUint32(i * HEADER_BYTES + 56, true); // msg_len
        const from = socketAddress(this.#names, i * NAME_BYTES);
        if (from === undefined) continue; // not an IP address: nothing a card sends from
        const start = i * SLOT_BYTES;
        delivered++;
        this.#received++;
        const data = length > copyLimitBytes
          ? this.#data.subarray(start, start + length)
          : this.#data.slice(start, start + length);
        handler(data, from);
        if (stop()) return delivered;
      }
      if (count < BATCH) break;
    }
    return delivered;
  }
}

/** A struct sockaddr_in or sockaddr_in6 at `at`, as Deno reports a datagram's source; undefined if neither. */
export function socketAddress(bytes: Uint8Array, at: number): Deno.NetAddr | undefined {
  const family = bytes[at] | (bytes[at + 1] << 8);
  const port = (bytes[at + 2] << 8) | bytes[at + 3];
  if (family === AF_INET) {
    return { transport: "udp", hostname: ipv4Text(bytes, at + 4), port };
  }
  if (family === AF_INET6) return { transport: "udp", hostname: ipv6Text(bytes, at + 8), port };
  return undefined;
}

function ipv4Text(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * The 16 bytes of an IPv6 address at `at`, written as Rust (Deno) writes them: an IPv4-mapped address as
 * `::ffff:a.b.c.d`, else lower-case hex groups with the first longest run of two or more zero groups as
 * `::` (RFC 5952).
 */
export function ipv6Text(bytes: Uint8Array, at: number): string {
  // An IPv4 card's packets reach the dual-stack socket this way: known without building the groups.
  let zeros = 0;
  while (zeros < 10 && bytes[at + zeros] === 0) zeros++;
  if (zeros === 10 && bytes[at + 10] === 0xff && bytes[at + 11] === 0xff) {
    return `::ffff:${ipv4Text(bytes, at + 12)}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i] << 8) | bytes[at + 2 * i + 1]);
  let runStart = 0, runLength = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > runLength) [runStart, runLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (part: number[]) => part.map((g) => g.toString(16)).join(":");
  return runLength > 1
    ? `${hex(groups.slice(0, runStart))}::${hex(groups.slice(runStart + runLength))}`
    : hex(groups);
}
