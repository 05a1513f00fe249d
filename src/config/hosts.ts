/**
 * Host and address checks shared by the schema modules (pure, no imports, so that every schema file can use
 * them without an import cycle).
 *
 * @module
 */

/** True for an IPv4 dotted quad. */
export function isIPv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
}

/** True for an IPv6 address (optionally with a `%zone`). */
export function isIPv6(value: string): boolean {
  const [addr, zone, ...rest] = value.split("%");
  if (rest.length > 0 || !addr.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(addr)) return false;
  if (zone !== undefined && !/^[A-Za-z0-9_.-]+$/.test(zone)) return false;
  try {
    new URL(`http://[${addr}]/`);
    return true;
  } catch {
    return false;
  }
}

/** True for an RFC 1123 host name (not something that looks like a malformed IPv4 address). */
export function isHostName(value: string): boolean {
  if (value.length > 253 || /^[0-9.]+$/.test(value)) return false;
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  return name.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

/** True for an IPv4 address, an IPv6 address or a host name. */
export function isHost(value: string): boolean {
  return isIPv4(value) || isIPv6(value) || isHostName(value);
}
