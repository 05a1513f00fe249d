/**
 * The first look at every SNMP datagram, before npm net-snmp parses it (pure): just enough BER to read
 * the message version and, for v1/v2c, the community, for v3 the flags, the security model and the
 * user name; then the decision whether it goes on at all.
 *
 * Dropped without an answer: anything that is not a well-formed message header; v1/v2c with a community
 * that is not configured; v3 with a user that is not configured, or with less security than the user's
 * (a configured authPriv user sending authNoPriv). net-snmp itself would answer the last two with a
 * USM report (unknown user name, wrong digest), which tells a scanner which user names exist. The one
 * v3 message without a user that goes on is the engine-ID discovery (no authentication flag), whose
 * report every v3 manager needs; a request without a user never reaches the MIB (the server drops it).
 *
 * @module
 */

/** What the header says. */
export type SnmpHeader =
  | { readonly version: 0 | 1; readonly community: string }
  | {
    readonly version: 3;
    /** msgFlags: 1 auth, 2 priv, 4 reportable. */
    readonly flags: number;
    /** msgSecurityModel (3 = USM). */
    readonly securityModel: number;
    /** msgUserName. */
    readonly userName: string;
  };

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** One BER TLV at `at` within `[.., limit)`; undefined when it does not fit. */
function tlv(bytes: Uint8Array, at: number, limit: number): Tlv | undefined {
  if (at + 2 > limit) return undefined;
  const tag = bytes[at];
  let length = bytes[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || start + count > limit) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  const end = start + length;
  return end > limit ? undefined : { tag, start, end };
}

function integer(bytes: Uint8Array, t: Tlv | undefined): number | undefined {
  if (!t || t.tag !== 0x02 || t.end - t.start < 1 || t.end - t.start > 4) return undefined;
  let n = bytes[t.start] & 0x80 ? -1 : 0;
  for (let i = t.start; i < t.end; i++) n = n * 256 + bytes[i];
  return n;
}

const latin1 = new TextDecoder("latin1");

/** The header of a datagram, or undefined when it is not a BER SNMP message header (pure). */
export function readHeader(bytes: Uint8Array): SnmpHeader | undefined {
  const message = tlv(bytes, 0, bytes.length);
  if (!message || message.tag !== 0x30) return undefined;
  const versionTlv = tlv(bytes, message.start, message.end);
  const version = integer(bytes, versionTlv);
  if (!versionTlv || version === undefined) return undefined;
  if (version === 0 || version === 1) {
    const community = tlv(bytes, versionTlv.end, message.end);
    if (!community || community.tag !== 0x04) return undefined;
    return { version, community: latin1.decode(bytes.subarray(community.start, community.end)) };
  }
  if (version !== 3) return undefined;
  const header = tlv(bytes, versionTlv.end, message.end);
  if (!header || header.tag !== 0x30) return undefined;
  const id = tlv(bytes, header.start, header.end);
  const maxSize = id && tlv(bytes, id.end, header.end);
  const flags = maxSize && tlv(bytes, maxSize.end, header.end);
  const model = flags && tlv(bytes, flags.end, header.end);
  const securityModel = integer(bytes, model);
  if (!flags || flags.tag !== 0x04 || flags.end - flags.start !== 1 || securityModel === undefined) {
    return undefined;
  }
  const params = tlv(bytes, header.end, message.end);
  if (!params || params.tag !== 0x04) return undefined;
  const usm = tlv(bytes, params.start, params.end);
  if (!usm || usm.tag !== 0x30) return undefined;
  const engineId = tlv(bytes, usm.start, usm.end);
  const boots = engineId && tlv(bytes, engineId.end, usm.end);
  const time = boots && tlv(bytes, boots.end, usm.end);
  const user = time && tlv(bytes, time.end, usm.end);
  if (!engineId || engineId.tag !== 0x04 || !user || user.tag !== 0x04) return undefined;
  return {
    version: 3,
    flags: bytes[flags.start],
    securityModel,
    userName: latin1.decode(bytes.subarray(user.start, user.end)),
  };
}

/** What the gate knows of the configuration. */
export interface GateView {
  /** Configured communities. */
  readonly communities: ReadonlySet<string>;
  /** Configured v3 users by name: whether they need privacy. */
  readonly users: ReadonlyMap<string, { readonly priv: boolean }>;
}

/** Why a datagram was dropped. */
export type DropReason = "malformed" | "community" | "user" | "securityLevel";

/** Let the datagram go on to net-snmp, or why not (pure). */
export function admit(bytes: Uint8Array, view: GateView): { ok: true } | { ok: false; reason: DropReason } {
  const header = readHeader(bytes);
  if (!header) return { ok: false, reason: "malformed" };
  if (header.version !== 3) {
    return view.communities.has(header.community) ? { ok: true } : { ok: false, reason: "community" };
  }
  if (header.securityModel !== 3) return { ok: false, reason: "malformed" };
  const auth = (header.flags & 1) !== 0;
  const priv = (header.flags & 2) !== 0;
  if (priv && !auth) return { ok: false, reason: "malformed" };
  if (header.userName === "") return auth ? { ok: false, reason: "user" } : { ok: true }; // discovery
  const user = view.users.get(header.userName);
  if (!user) return { ok: false, reason: "user" };
  if (!auth || (user.priv && !priv)) return { ok: false, reason: "securityLevel" };
  return { ok: true };
}
