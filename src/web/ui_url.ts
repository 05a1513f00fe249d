/**
 * The web UI's address as a user can open it, for the start-up log line:
 * never `https://:6547/`. Listening on every address, it is this host's
 * name and the loopback address; else the configured address.
 *
 * @module
 */

/** True for a listen address that means "every address" ("", 0.0.0.0, ::). */
export function isWildcardAddress(address: string): boolean {
  return ["", "0.0.0.0", "::", "[::]"].includes(address.trim());
}

/** A host as it goes into a URL (pure): IPv6 in brackets. */
function urlHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare.includes(":") ? `[${bare}]` : bare;
}

/**
 * The URLs of a UI listening on `listenAddress:port` (pure), most useful
 * first: on every address, `hostName` (when known) then the loopback address
 * (127.0.0.1; [::1] for an explicit `::`, which may be IPv6 only); else the
 * address itself.
 */
export function usableUrls(
  scheme: string,
  listenAddress: string,
  port: number,
  hostName: string | undefined,
): string[] {
  const address = listenAddress.trim();
  if (!isWildcardAddress(address)) return [`${scheme}://${urlHost(address)}:${port}/`];
  const loopback = address === "::" || address === "[::]" ? "::1" : "127.0.0.1";
  const name = hostName?.trim();
  const hosts = name && name !== "localhost" ? [name, loopback] : [loopback];
  return hosts.map((h) => `${scheme}://${urlHost(h)}:${port}/`);
}

/** This host's name, or undefined without the permission or a name (impure). */
export function localHostName(): string | undefined {
  try {
    return Deno.hostname() || undefined;
  } catch {
    return undefined;
  }
}
