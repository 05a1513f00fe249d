/**
 * Kernel-side help for the UDP listener on Linux, through libc (Deno FFI):
 * a larger receive buffer (Deno has no SO_RCVBUF option), and a classic BPF
 * socket filter that drops datagrams no card sends (from an address that is
 * not a configured card, or longer than any card packet) before they reach
 * the process, so a forged flood costs the agent nothing and cannot fill the
 * socket's receive queue. Deno does not hand out a socket's
 * file descriptor, so the descriptors are found through /proc (the socket
 * inodes bound to the listener's port).
 *
 * Everything here is optional: without Linux, without `--allow-ffi` or
 * without libc the functions report why and the agent filters in user space.
 *
 * @module
 */
import { libcOnce } from "../os/libc.ts";

/** One classic BPF instruction (struct sock_filter). */
interface BpfInstruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

// Classic BPF opcodes and offsets (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS = 0x20;
const LD_B_ABS = 0x30;
const LD_W_LEN = 0x80;
const ALU_RSH_K = 0x74;
const ALU_AND_K = 0x54;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JA = 0x05;
const RET_K = 0x06;
const SKF_NET_OFF = -0x100000;
const SKF_AD_RANDOM = -0x1000 + 56;
const ACCEPT = 0x40000; // keep up to 256 KiB of the datagram: all of it
const DROP = 0;
/** A UDP socket filter sees the datagram from its UDP header on: `len` is the payload plus these 8 bytes. */
const UDP_HEADER_BYTES = 8;

/** Parses a dotted IPv4 address to a 32-bit number; undefined if it is not one. */
export function ipv4Number(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Parses an IPv6 address to four 32-bit words; undefined if it is not one. */
export function ipv6Words(address: string): number[] | undefined {
  const text = address.replace(/^\[|\]$/g, "").toLowerCase();
  if (!/^[0-9a-f:]+$/.test(text) || (text.match(/::/g) ?? []).length > 1) return undefined;
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if ((tail === undefined && missing !== 0) || missing < 0) return undefined;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t];
  if (groups.length !== 8 || groups.some((g) => g.length === 0 || g.length > 4)) return undefined;
  const n = groups.map((g) => parseInt(g, 16));
  return [0, 2, 4, 6].map((i) => ((n[i] << 16) | n[i + 1]) >>> 0);
}

/** A jump target while assembling: a label, or the next instruction. */
type Target = string | "next";

interface PendingInstruction {
  readonly code: number;
  readonly k: number;
  readonly jt?: Target;
  readonly jf?: Target;
  readonly label?: string;
}

/** Resolves labels to relative offsets (classic BPF jumps go forward only, at most 255 for jt/jf). */
function assemble(pending: readonly PendingInstruction[]): BpfInstruction[] {
  const at = new Map<string, number>();
  pending.forEach((p, i) => p.label && at.set(p.label, i));
  const offset = (from: number, target: Target | undefined) => {
    if (target === undefined || target === "next") return 0;
    const to = at.get(target);
    if (to === undefined || to <= from) throw new Error(`bad jump target ${target}`);
    return to - from - 1;
  };
  return pending.map((p, i) => {
    if (p.code === JMP_JA) return { code: p.code, jt: 0, jf: 0, k: offset(i, p.jt) };
    const insn = { code: p.code, jt: offset(i, p.jt), jf: offset(i, p.jf), k: p.k >>> 0 };
    if (insn.jt > 255 || insn.jf > 255) throw new Error("too many cards for the kernel source filter");
    return insn;
  });
}

/** What the kernel filter lets through; the rest is dropped (but for the samples). */
export interface DatagramFilterRule {
  /** The only source addresses let through (IPv4 or IPv6 text); undefined = any source. */
  readonly cards?: readonly string[];
  /** The longest payload let through, bytes; undefined = any length. */
  readonly maxPayloadBytes?: number;
}

/**
 * The BPF program (pure): accept datagrams that `rule` lets through, drop the
 * rest, except one in `sampleOneIn` (a power of two; 0 or 1 = none) let
 * through at random so the agent can still see and report what is dropped.
 */
export function datagramFilterProgram(rule: DatagramFilterRule, sampleOneIn = 0): BpfInstruction[] {
  if (rule.cards === undefined && rule.maxPayloadBytes === undefined) {
    return assemble([{ code: RET_K, k: ACCEPT }]);
  }
  const p: PendingInstruction[] = [];
  const sources = rule.cards === undefined ? "accept" : "sources";
  if (rule.maxPayloadBytes !== undefined) {
    p.push({ code: LD_W_LEN, k: 0 });
    p.push({ code: JMP_JGT_K, k: rule.maxPayloadBytes + UDP_HEADER_BYTES, jt: "next", jf: sources });
    p.push({ code: JMP_JA, k: 0, jt: "unwanted" }); // ja: no 255-instruction limit past the card list
  }
  if (rule.cards !== undefined) p.push(...sourceChecks(rule.cards, sources));
  if (sampleOneIn > 1) {
    p.push({ code: LD_W_ABS, k: SKF_AD_RANDOM, label: "unwanted" });
    p.push({ code: ALU_AND_K, k: sampleOneIn - 1 });
    p.push({ code: JMP_JEQ_K, k: 0, jt: "accept", jf: "drop" });
    p.push({ code: RET_K, k: DROP, label: "drop" });
  } else {
    p.push({ code: RET_K, k: DROP, label: "unwanted" });
  }
  p.push({ code: RET_K, k: ACCEPT, label: "accept" });
  return assemble(p);
}

/** The source address checks (the first one labelled `label`): to "accept" for a card, else to "unwanted". */
function sourceChecks(cards: readonly string[], label: string): PendingInstruction[] {
  const v4 = cards.map(ipv4Number).filter((n): n is number => n !== undefined);
  const v6 = cards.map(ipv6Words).filter((w): w is number[] => w !== undefined);
  const p: PendingInstruction[] = [];
  // A = IP version: the high nibble of the first byte of the network header.
  p.push({ code: LD_B_ABS, k: SKF_NET_OFF, label });
  p.push({ code: ALU_RSH_K, k: 4 });
  p.push({ code: JMP_JEQ_K, k: 4, jt: "next", jf: "v6" });
  p.push({ code: LD_W_ABS, k: SKF_NET_OFF + 12 }); // IPv4 source address
  for (const address of v4) p.push({ code: JMP_JEQ_K, k: address, jt: "accept", jf: "next" });
  p.push({ code: JMP_JA, k: 0, jt: "unwanted" });
  v6.forEach((words, card) => {
    const next = card + 1 < v6.length ? `v6-${card + 1}` : "unwanted";
    words.forEach((word, w) => {
      p.push({
        code: LD_W_ABS,
        k: SKF_NET_OFF + 8 + 4 * w,
        label: w === 0 ? (card === 0 ? "v6" : `v6-${card}`) : undefined,
      });
      p.push({ code: JMP_JEQ_K, k: word, jt: w === 3 ? "accept" : "next", jf: next });
    });
  });
  if (v6.length === 0) p.push({ code: JMP_JA, k: 0, jt: "unwanted", label: "v6" });
  return p;
}

/** The program as the kernel takes it: 8 bytes per instruction (u16 code, u8 jt, u8 jf, u32 k), host order. */
export function encodeProgram(insns: readonly BpfInstruction[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Linux: the listener's sockets and setsockopt through libc
// ---------------------------------------------------------------------------

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SO_ATTACH_FILTER = 26;
const SO_DETACH_FILTER = 27;

/** libc's socket calls, or why they are not available here (loaded once). */
const socketCalls = libcOnce(
  {
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  } as const,
);

/** Socket inodes bound to local UDP `port` (pure: the text of /proc/net/udp and udp6). */
export function udpInodesForPort(tables: readonly string[], port: number): string[] {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes: string[] = [];
  for (const table of tables) {
    for (const line of table.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1].endsWith(hexPort)) inodes.push(fields[9]);
    }
  }
  return inodes;
}

/** The file descriptors of this process's UDP sockets bound to `port`. */
function socketDescriptors(port: number): number[] {
  const tables = ["/proc/self/net/udp", "/proc/self/net/udp6"].map((path) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  });
  const links = new Set(udpInodesForPort(tables, port).map((inode) => `socket:[${inode}]`));
  const fds: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (links.has(Deno.readLinkSync(`/proc/self/fd/${entry.name}`))) fds.push(Number(entry.name));
    } catch { /* closed meanwhile */ }
  }
  return fds;
}

/** Kernel controls over the sockets of one UDP port. */
export interface KernelSockets {
  /** The file descriptors controlled. */
  readonly fds: readonly number[];
  /** Sets the receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF); returns the size the kernel reports. */
  setReceiveBuffer(bytes: number): number;
  /** Attaches (or replaces) the datagram filter; throws naming the socket on failure. */
  attachFilter(rule: DatagramFilterRule, sampleOneIn: number): void;
  /** Removes the datagram filter (a no-op if none). */
  detachFilter(): void;
}

/** Controls over this process's sockets bound to UDP `port`, or why there are none. */
export function kernelSockets(port: number): KernelSockets | string {
  const c = socketCalls();
  if (typeof c === "string") return c;
  let fds: number[];
  try {
    fds = socketDescriptors(port);
  } catch (error) {
    return `cannot list the process's sockets in /proc: ${(error as Error).message}`;
  }
  if (fds.length === 0) return `no socket of UDP port ${port} found in /proc`;
  const intValue = (n: number) => new Uint8Array(new Int32Array([n]).buffer);
  return {
    fds,
    setReceiveBuffer(bytes: number): number {
      let actual = 0;
      for (const fd of fds) {
        if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, intValue(bytes), 4) !== 0) {
          c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, intValue(bytes), 4);
        }
        const out = new Int32Array(1);
        const len = new Uint32Array([4]);
        c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(out.buffer), new Uint8Array(len.buffer));
        actual = out[0];
      }
      return actual;
    },
    attachFilter(rule: DatagramFilterRule, sampleOneIn: number): void {
      const program = encodeProgram(datagramFilterProgram(rule, sampleOneIn));
      // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at offset 8 on 64 bit)
      const fprog = new Uint8Array(16);
      const view = new DataView(fprog.buffer);
      view.setUint16(0, program.length / 8, true);
      view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
      for (const fd of fds) {
        if (c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.length) !== 0) {
          throw new Error(`setsockopt(SO_ATTACH_FILTER) failed on socket ${fd}`);
        }
      }
    },
    detachFilter(): void {
      for (const fd of fds) c.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, intValue(0), 4);
    },
  };
}
