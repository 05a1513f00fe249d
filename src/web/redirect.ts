/**
 * Where the plain HTTP port redirects to, and the request-path and Host-header parsing it needs: only a
 * host the agent serves (its names, its addresses, the address the connection arrived on) is ever put
 * into a Location header, so a forged Host header cannot send a browser elsewhere. Pure functions,
 * except {@link interfaceAddresses} and {@link systemHostname}.
 *
 * @module
 */

/**
 * The host part of a Host header without its port, or undefined when the
 * header is missing or not a plain host name / IPv4 / bracketed IPv6 literal
 * (so nothing odd can reach a Location header).
 */
export function hostFromHeader(value: string | null | undefined): string | undefined {
  if (!value || value.length > 260) return undefined;
  const m = value.match(/^(?:([A-Za-z0-9.-]+)|(\[[0-9A-Fa-f:.]+\]))(?::(\d{1,5}))?$/);
  if (!m) return undefined;
  if (m[2] && !m[2].includes(":")) return undefined;
  return (m[1] ?? m[2]).toLowerCase();
}

/** A host or address as it appears in a URL (IPv6 literals in brackets). */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * The path and query of a request, from Deno's `request.url`. Deno builds that
 * string as `http://` + the raw Host header + the raw request target, so with a
 * garbled Host header (say `evil.example/x?`) the URL's own pathname would be
 * wrong; the Host header is cut off textually instead. The result always starts
 * with "/" and is percent-encoded; it never throws.
 */
export function requestPath(requestUrl: string, hostHeader: string | null | undefined): string {
  let target: string | undefined;
  const scheme = requestUrl.match(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//)?.[0];
  if (scheme && hostHeader && requestUrl.startsWith(scheme + hostHeader)) {
    target = requestUrl.slice(scheme.length + hostHeader.length);
  } else {
    try {
      const url = new URL(requestUrl);
      target = url.pathname + url.search;
    } catch {
      target = "/";
    }
  }
  if (!target.startsWith("/")) return "/";
  try {
    const url = new URL(`http://x${target}`);
    return url.pathname + url.search;
  } catch {
    return "/";
  }
}

/** What a redirect may name besides the local address of the connection. */
export interface ServedHosts {
  /** Host names, lower case, without a trailing dot (`*.example.com` matches one label). */
  readonly names: ReadonlySet<string>;
  /** IP addresses of this host, canonical (see {@link canonicalAddress}). */
  readonly addresses: ReadonlySet<string>;
}

/**
 * The canonical text of an IP literal (pure): dotted-quad IPv4 without leading zeros, IPv6 as the URL
 * standard writes it (lower case, compressed, no zone); IPv4-mapped IPv6 as the IPv4 address.
 * Undefined for anything else (names, "2130706433", "0x7f.1" and other odd spellings included).
 */
export function canonicalAddress(text: string): string | undefined {
  const bare = text.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "").toLowerCase();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare)) {
    const parts = bare.split(".").map(Number);
    return parts.every((p) => p <= 255) ? parts.join(".") : undefined;
  }
  if (!bare.includes(":") || !/^[0-9a-f:.]+$/.test(bare)) return undefined;
  let host: string;
  try {
    host = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const [a, b] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [a >> 8, a & 255, b >> 8, b & 255].join(".");
}

function isLoopback(address: string): boolean {
  return address === "::1" || /^127\./.test(address);
}

function nameServed(name: string, names: ReadonlySet<string>): boolean {
  if (names.has(name)) return true;
  const dot = name.indexOf(".");
  return dot > 0 && names.has(`*${name.slice(dot)}`);
}

/**
 * The host a redirect names (pure): the Host header's host when the agent serves it (a name in
 * `served.names`, "localhost" on a loopback connection, an address of this host or the local address
 * the connection arrived on), else the local address of the connection. So a forged Host header can
 * never send a browser elsewhere.
 */
export function redirectHost(
  hostHeader: string | null | undefined,
  localAddress: string,
  served: ServedHosts,
): string {
  const local = canonicalAddress(localAddress) ??
    localAddress.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const fallback = urlHost(local);
  const host = hostFromHeader(hostHeader)?.replace(/\.$/, "");
  if (!host) return fallback;
  const address = canonicalAddress(host);
  if (address !== undefined) {
    return address === local || served.addresses.has(address) ? urlHost(address) : fallback;
  }
  if (host === "localhost") return isLoopback(local) ? host : fallback;
  return nameServed(host, served.names) ? host : fallback;
}

/**
 * Where the plain HTTP listener sends a request: `<protocol>://<host>:<port><path>?<query>`, the host
 * as {@link redirectHost} chooses it. The port is left out when it is the protocol's default.
 */
export function redirectLocation(
  requestUrl: string,
  hostHeader: string | null | undefined,
  port: number,
  protocol: "https" | "http",
  localAddress: string,
  served: ServedHosts = { names: new Set(), addresses: new Set() },
): string {
  const host = redirectHost(hostHeader, localAddress, served);
  const defaultPort = protocol === "https" ? 443 : 80;
  const portPart = port === defaultPort ? "" : `:${port}`;
  return `${protocol}://${host}${portPart}${requestPath(requestUrl, hostHeader)}`;
}

/** Lower-case host names as {@link ServedHosts} wants them (IP literals and odd text dropped). */
export function servedNames(names: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const raw of names) {
    const name = raw.trim().toLowerCase().replace(/\.$/, "");
    if (canonicalAddress(name) !== undefined) continue;
    if (/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(name)) out.add(name);
  }
  return out;
}

/** This host's interface addresses, canonical (empty without the `sys` permission). */
export function interfaceAddresses(): Set<string> {
  const out = new Set<string>();
  try {
    for (const i of Deno.networkInterfaces()) {
      const a = canonicalAddress(i.address);
      if (a) out.add(a);
    }
  } catch { /* no --allow-sys=networkInterfaces */ }
  return out;
}

/** The system host name (undefined without the `sys` permission). */
export function systemHostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}
