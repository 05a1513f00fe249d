/**
 * Binding helpers of the web UI listeners (I/O): the address to bind for a configured host name (dual
 * stack where the OS allows it), a plain-bind probe that reports a port already taken, clear bind errors,
 * and the bounded stop of a listener (graceful, then open responses cut, then left to finish).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { Listener } from "./listener.ts";
import { urlHost } from "./redirect.ts";

/** After cutting open responses, how long to wait more for the server to finish. */
const FORCE_WAIT_MS = 500;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let dualStackChecked: boolean | undefined;

/**
 * True when binding "::" also accepts IPv4 (checked once): IPv6 must be
 * bindable, and the OS must not default to IPV6_V6ONLY (Windows does;
 * Linux does when net.ipv6.bindv6only = 1).
 */
function dualStackAvailable(): boolean {
  if (dualStackChecked !== undefined) return dualStackChecked;
  dualStackChecked = Deno.build.os !== "windows";
  if (dualStackChecked && Deno.build.os === "linux") {
    try {
      dualStackChecked = Deno.readTextFileSync("/proc/sys/net/ipv6/bindv6only").trim() !== "1";
    } catch { /* no /proc or no read permission: assume the default (0) */ }
  }
  if (dualStackChecked) {
    try {
      Deno.listen({ hostname: "::", port: 0 }).close();
    } catch {
      dualStackChecked = false; // IPv6 disabled
    }
  }
  return dualStackChecked;
}

/** The address to bind for a configured hostname ("" = "::" where it is dual-stack, else "0.0.0.0"). */
export function bindAddress(hostname: string): string {
  if (hostname !== "") return hostname.replace(/^\[(.*)\]$/, "$1");
  return dualStackAvailable() ? "::" : "0.0.0.0";
}

/** A clear one-line message for a failed bind. */
export function bindError(what: string, hostname: string, port: number, error: unknown): Error {
  return new Error(
    `web UI: cannot listen on ${what} port ${port} (${urlHost(hostname)}): ${errorText(error)}`,
    {
      cause: error,
    },
  );
}

/** Binds and releases `hostname:port` with a plain (non-reusePort) socket; throws a clear error when taken. */
export function probePort(what: string, hostname: string, port: number): void {
  if (port === 0) return;
  try {
    Deno.listen({ hostname, port }).close();
  } catch (error) {
    throw bindError(what, hostname, port, error);
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise (no timer is left behind). */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const settled = promise.then(() => true, () => true);
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Stops a listener: graceful shutdown; after `graceMs` the open responses are
 * cut; after a further {@link FORCE_WAIT_MS} it is left to finish on its own.
 */
export async function stopListener(listener: Listener, graceMs: number, logger: Logger): Promise<void> {
  const done = listener.server.shutdown().catch(() => {});
  if (await settlesWithin(done, graceMs)) return;
  for (const abort of listener.inflight) abort.abort();
  listener.inflight.clear();
  if (await settlesWithin(done, FORCE_WAIT_MS)) return;
  logger.warn(`web UI: the listener on port ${listener.port} did not stop in time; leaving it to finish`);
}

/** True when `error` (or its cause) is "address in use". */
export function isAddrInUse(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.AddrInUse;
}
