/**
 * Connection accounting of the web UI listeners: how many TCP connections are open, per source address
 * and in all (both ports together: descriptors are one budget per process), and which one gives way when
 * a cap is reached.
 *
 * Policy when a connection arrives and a cap is full:
 * - its address already holds `maxConnectionsPerAddress`: that address's oldest connection that is not
 *   serving a request is closed to make room; if all of them are serving, the new one is refused;
 * - `maxConnections` are open in all: the oldest not-serving connection of the address holding the most
 *   connections is closed (so one flooding address cannot push a user out); if every connection is
 *   serving a request, the new one is refused.
 *
 * "Not serving" means waiting for a TLS handshake, for the first request's headers, or idle between two
 * keep-alive requests: such a connection holds a descriptor but does no work, and a browser reconnects
 * transparently when an idle keep-alive connection goes away.
 *
 * @module
 */
import { throttleAddressKey } from "./auth/lockout.ts";

/** Caps and timeouts of the web UI's TCP connections. */
export interface ConnectionLimits {
  /** Most connections open at once over both ports. */
  readonly maxConnections: number;
  /** Most connections from one address (IPv6: one /64) at once. */
  readonly maxConnectionsPerAddress: number;
  /** Milliseconds a TLS handshake may take. */
  readonly handshakeTimeoutMs: number;
  /** Milliseconds from the connection (after TLS) to the end of the first request's headers. */
  readonly headerTimeoutMs: number;
  /** Milliseconds a kept-alive connection may wait for its next request (headers included). */
  readonly idleTimeoutMs: number;
  /** Milliseconds a handler may take to start its response (reading the request body included). */
  readonly requestTimeoutMs: number;
}

/** The defaults (README "Security: limits"). */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  maxConnectionsPerAddress: 32,
  handshakeTimeoutMs: 10_000,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
};

/** What a connection is doing. */
export type ConnectionState = "opening" | "idle" | "serving";

/** A connection as the table knows it. */
export interface TrackedConnection {
  /** Sequence number (older = smaller). */
  readonly id: number;
  /** The throttle key of its source address. */
  readonly addressKey: string;
  /** What it is doing now (set by the listener). */
  state: ConnectionState;
}

/** Answer of {@link ConnectionTable.admit}. */
export type Admission =
  | {
    readonly admitted: true;
    readonly connection: TrackedConnection;
    /** The connection closed to make room, if any. */
    readonly evicted?: { readonly addressKey: string; readonly reason: "address" | "total" };
  }
  | { readonly admitted: false; readonly reason: "address" | "total" };

/** Counters for logs, tests and the README's measurements. */
export interface ConnectionStats {
  /** Open now. */
  readonly open: number;
  /** Refused at accept since start (every slot busy serving). */
  readonly refused: number;
  /** Closed to make room since start. */
  readonly evicted: number;
}

interface Entry extends TrackedConnection {
  readonly close: () => void;
}

/** The open connections of both listeners, and the cap policy (see module doc). */
export class ConnectionTable {
  #limits: ConnectionLimits;
  #next = 1;
  /** Insertion order = age (oldest first). */
  readonly #entries = new Map<number, Entry>();
  readonly #perAddress = new Map<string, number>();
  #refused = 0;
  #evicted = 0;

  /** An empty table with these caps. */
  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  /** The caps and timeouts in effect. */
  get limits(): ConnectionLimits {
    return this.#limits;
  }

  /** Changes caps and timeouts (open connections over a lowered cap are left alone). */
  configure(limits: ConnectionLimits): void {
    this.#limits = limits;
  }

  /** Counters. */
  get stats(): ConnectionStats {
    return { open: this.#entries.size, refused: this.#refused, evicted: this.#evicted };
  }

  /** Connections open from an address now. */
  openFrom(address: string): number {
    return this.#perAddress.get(throttleAddressKey(address)) ?? 0;
  }

  /**
   * Admits a connection from `address` (closing another one if a cap requires it, see module doc) or
   * refuses it. `close` must close the admitted connection at once; the listener calls
   * {@link ConnectionTable.release} when it has ended (whoever closed it).
   */
  admit(address: string, close: () => void): Admission {
    const addressKey = throttleAddressKey(address);
    let evicted: { addressKey: string; reason: "address" | "total" } | undefined;
    if ((this.#perAddress.get(addressKey) ?? 0) >= this.#limits.maxConnectionsPerAddress) {
      const victim = this.#oldestIdle((e) => e.addressKey === addressKey);
      if (!victim) return this.#refuse("address");
      this.#evict(victim);
      evicted = { addressKey, reason: "address" };
    }
    if (this.#entries.size >= this.#limits.maxConnections) {
      const heaviest = this.#heaviestAddressWithIdle();
      const victim = heaviest === undefined ? undefined : this.#oldestIdle((e) => e.addressKey === heaviest);
      if (!victim) return this.#refuse("total");
      this.#evict(victim);
      evicted = { addressKey: victim.addressKey, reason: "total" };
    }
    const entry: Entry = { id: this.#next++, addressKey, state: "opening", close };
    this.#entries.set(entry.id, entry);
    this.#perAddress.set(addressKey, (this.#perAddress.get(addressKey) ?? 0) + 1);
    return evicted ? { admitted: true, connection: entry, evicted } : { admitted: true, connection: entry };
  }

  /** Forgets a connection that has ended (a second call, or one for an evicted connection, is ignored). */
  release(connection: TrackedConnection): void {
    const entry = this.#entries.get(connection.id);
    if (!entry) return;
    this.#entries.delete(entry.id);
    const left = (this.#perAddress.get(entry.addressKey) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(entry.addressKey, left);
    else this.#perAddress.delete(entry.addressKey);
  }

  #refuse(reason: "address" | "total"): Admission {
    this.#refused++;
    return { admitted: false, reason };
  }

  #evict(victim: Entry): void {
    this.release(victim);
    this.#evicted++;
    try {
      victim.close();
    } catch {
      // already closed
    }
  }

  #oldestIdle(match: (e: Entry) => boolean): Entry | undefined {
    for (const entry of this.#entries.values()) {
      if (entry.state !== "serving" && match(entry)) return entry;
    }
    return undefined;
  }

  /** The address with the most connections among those holding a connection that is not serving. */
  #heaviestAddressWithIdle(): string | undefined {
    const idle = new Set<string>();
    for (const entry of this.#entries.values()) if (entry.state !== "serving") idle.add(entry.addressKey);
    let best: string | undefined;
    let most = 0;
    for (const key of idle) {
      const n = this.#perAddress.get(key) ?? 0;
      if (n > most) [best, most] = [key, n];
    }
    return best;
  }
}

/**
 * The connection caps that fit a descriptor limit (pure): at most a quarter of `fdLimit` connections in
 * all (a relayed TLS connection takes three descriptors), so the agent always keeps descriptors for its
 * event log, config writes, command files and the shutdown; the per-address cap never exceeds the total.
 * `fdLimit` undefined (unknown) leaves the caps as they are.
 */
export function fitToDescriptorLimit(
  limits: ConnectionLimits,
  fdLimit: number | undefined,
): ConnectionLimits {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return limits;
  const maxConnections = Math.max(8, Math.min(limits.maxConnections, Math.floor(fdLimit / 4)));
  return {
    ...limits,
    maxConnections,
    maxConnectionsPerAddress: Math.min(limits.maxConnectionsPerAddress, maxConnections),
  };
}

/** The soft RLIMIT_NOFILE from `/proc/self/limits` text (pure); undefined when absent or "unlimited". */
export function parseOpenFilesLimit(procLimits: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(procLimits);
  if (!m || m[1] === "unlimited") return undefined;
  return Number(m[1]);
}

/**
 * This process's descriptor limit (soft RLIMIT_NOFILE), undefined where it cannot be learnt. Deno lets
 * only `--allow-all` read /proc/self/limits, so the agent (which runs with narrower permissions but may
 * run commands) asks `sh -c "ulimit -n"`, which inherits the limit.
 */
export function openFilesLimit(): number | undefined {
  if (Deno.build.os === "windows") return undefined;
  try {
    return parseOpenFilesLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch { /* not --allow-all, or not Linux */ }
  try {
    const out = new Deno.Command("/bin/sh", { args: ["-c", "ulimit -n"], stdin: "null", stderr: "null" })
      .outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined; // no --allow-run, no /bin/sh
  }
}

/** The `[WebUI]` connection keys (seconds), as the config holds them; absent ones take the defaults. */
export interface ConnectionSettings {
  readonly maxConnections?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly handshakeTimeout?: number;
  readonly headerTimeout?: number;
  readonly keepAliveTimeout?: number;
}

/** The limits for the `[WebUI]` settings and a descriptor limit (pure; see {@link fitToDescriptorLimit}). */
export function connectionLimitsFor(
  settings: ConnectionSettings,
  fdLimit: number | undefined,
): ConnectionLimits {
  const d = DEFAULT_CONNECTION_LIMITS;
  const ms = (
    seconds: number | undefined,
    fallback: number,
  ) => (seconds === undefined ? fallback : seconds * 1000);
  return fitToDescriptorLimit({
    maxConnections: settings.maxConnections ?? d.maxConnections,
    maxConnectionsPerAddress: settings.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress,
    handshakeTimeoutMs: ms(settings.handshakeTimeout, d.handshakeTimeoutMs),
    headerTimeoutMs: ms(settings.headerTimeout, d.headerTimeoutMs),
    idleTimeoutMs: ms(settings.keepAliveTimeout, d.idleTimeoutMs),
    requestTimeoutMs: d.requestTimeoutMs,
  }, fdLimit);
}
