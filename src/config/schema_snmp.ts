/**
 * The `[SNMP]` keys of pcnsconfig.ini (the SNMP agent serving the UPS-MIB, RFC 1628): port and addresses,
 * up to 5 read-only communities (v1/v2c) and 5 SNMPv3 users, up to 5 trap receivers, the trap version,
 * community or user and repeat interval, and the card served. Per-value checks, the warnings about
 * combinations ({@link snmpCrossProblems}), the conversion into {@link SnmpSettings} and its masked copy.
 * Spliced into the schema by `schema.ts`; pure.
 *
 * Communities and passphrases are secrets (`***` wherever values are shown, never logged).
 *
 * @module
 */
import { isHost, isIPv6 } from "./hosts.ts";
import {
  boolDef,
  cardRefCheck,
  def as key,
  enumDef,
  intDef,
  integerCheck,
  type KeyDef,
  normalizeInteger,
  normalizeList,
  splitList,
  thenCheck,
} from "./keydefs.ts";
import type { SnmpAuthProtocol, SnmpPrivProtocol, SnmpSettings, SnmpUser } from "./types.ts";

// No value imports from schema.ts: it imports this module, and its constants are not set yet when
// snmpDefs() runs. The shared helpers come from keydefs.ts.

/** Number of `community_N`, `v3User_N` and `trapReceiver_N` keys each. */
export const MAX_SNMP_ENTRIES = 5;

/** `v3AuthProtocol_N` words (no MD5). */
export const SNMP_AUTH_PROTOCOLS: readonly SnmpAuthProtocol[] = ["sha256", "sha", "sha512"];

/** `v3PrivProtocol_N` words: AES-128 (RFC 3826), or none (authNoPriv). */
export const SNMP_PRIV_PROTOCOLS: readonly SnmpPrivProtocol[] = ["aes", "none"];

/** The trap port when a receiver names none. */
export const DEFAULT_TRAP_PORT = 162;

const S = "SNMP";

/** A trap receiver `host`, `host:port`, `[IPv6]`, `[IPv6]:port` or bare IPv6 as host and port (pure). */
export function parseTrapReceiver(value: string): { host: string; port: number } | undefined {
  const portOf = (p: string | undefined) =>
    p === undefined
      ? DEFAULT_TRAP_PORT
      : /^[0-9]{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535
      ? Number(p)
      : undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(value);
  if (bracketed) {
    const port = portOf(bracketed[2]);
    return isIPv6(bracketed[1]) && port !== undefined ? { host: bracketed[1], port } : undefined;
  }
  if (isIPv6(value)) return { host: value, port: DEFAULT_TRAP_PORT };
  const colon = value.lastIndexOf(":");
  const host = colon < 0 ? value : value.slice(0, colon);
  const port = portOf(colon < 0 ? undefined : value.slice(colon + 1));
  return isHost(host) && port !== undefined ? { host, port } : undefined;
}

/** Problems with a community string ("" = off): 1-32 printable ASCII characters, no blanks. */
export function communityProblems(value: string): string[] {
  if (value === "") return [];
  if (!/^[\x21-\x7e]+$/.test(value)) return ["must be printable ASCII without blanks"];
  return value.length > 32 ? ["must be at most 32 characters"] : [];
}

/** Problems with an SNMPv3 passphrase ("" = none): 8-64 printable ASCII characters (RFC 3414: 8 or more). */
export function passphraseProblems(value: string): string[] {
  if (value === "") return [];
  if (!/^[\x20-\x7e]+$/.test(value)) return ["must be printable ASCII"];
  if (value.length < 8) return ["must be at least 8 characters (SNMPv3 requires 8 or more)"];
  return value.length > 64 ? ["must be at most 64 characters"] : [];
}

function userNameProblems(value: string): string[] {
  if (value === "") return [];
  return /^[A-Za-z0-9_.@-]{1,32}$/.test(value) ? [] : ["must be 1-32 letters, digits, _, ., @ or -"];
}

/** Every `[SNMP]` key, in file order. */
export function snmpDefs(): KeyDef[] {
  const n = Array.from({ length: MAX_SNMP_ENTRIES }, (_, i) => i + 1);
  return [
    boolDef(S, "enabled", false, "serve the UPS-MIB (RFC 1628) over SNMP and send SNMP traps"),
    intDef(S, "port", 161, 1, 65535, "UDP port of the SNMP agent"),
    key({
      section: S,
      key: "listenAddress",
      type: "comma-separated addresses",
      default: "",
      description: "addresses the SNMP agent listens on (empty = every address, IPv4 and IPv6)",
      check: (v) => {
        const bad = splitList(v).filter((h) => !isHost(h));
        return bad.length > 0
          ? [
            `${
              bad.map((b) => JSON.stringify(b)).join(", ")
            }: must each be an IPv4 or IPv6 address or a host name`,
          ]
          : [];
      },
      normalize: normalizeList,
    }),
    key({
      section: S,
      key: "nmc",
      type: "NMC address or NUT UPS name",
      default: "",
      description:
        "the card whose UPS the UPS-MIB describes: an ip_N address or its NUT name (empty = the first)",
      check: cardRefCheck,
    }),
    ...n.map((i) =>
      key({
        section: S,
        key: `community_${i}`,
        type: "1-32 printable ASCII",
        default: "",
        description: `read-only SNMPv1/v2c community ${i} (empty = off)`,
        secret: true,
        check: communityProblems,
      })
    ),
    ...n.flatMap((i) => [
      key({
        section: S,
        key: `v3User_${i}`,
        type: "SNMPv3 user name",
        default: "",
        description: `read-only SNMPv3 user ${i} (empty = off)`,
        check: userNameProblems,
      }),
      enumDef(
        S,
        `v3AuthProtocol_${i}`,
        SNMP_AUTH_PROTOCOLS,
        "sha256",
        `authentication protocol of v3User_${i}`,
      ),
      key({
        section: S,
        key: `v3AuthPassphrase_${i}`,
        type: "8-64 printable ASCII",
        default: "",
        description: `authentication passphrase of v3User_${i}`,
        secret: true,
        check: passphraseProblems,
      }),
      enumDef(
        S,
        `v3PrivProtocol_${i}`,
        SNMP_PRIV_PROTOCOLS,
        "aes",
        `privacy protocol of v3User_${i}: aes (AES-128) or none (authNoPriv)`,
      ),
      key({
        section: S,
        key: `v3PrivPassphrase_${i}`,
        type: "8-64 printable ASCII",
        default: "",
        description: `privacy passphrase of v3User_${i} (with v3PrivProtocol_${i} = aes)`,
        secret: true,
        check: passphraseProblems,
      }),
    ]),
    ...n.map((i) =>
      key({
        section: S,
        key: `trapReceiver_${i}`,
        type: "host[:port]",
        default: "",
        description: `trap receiver ${i}: host[:port], port ${DEFAULT_TRAP_PORT} by default (empty = none)`,
        check: (v) =>
          v === "" || parseTrapReceiver(v) ? [] : ["must be host[:port] or [IPv6]:port (port 1-65535)"],
      })
    ),
    enumDef(
      S,
      "trapVersion",
      ["v2c", "v3"],
      "v2c",
      "SNMP version of the traps: v2c (trapCommunity) or v3 (trapUser)",
    ),
    key({
      section: S,
      key: "trapCommunity",
      type: "1-32 printable ASCII",
      default: "public",
      description: "community of v2c traps",
      secret: true,
      check: (v) => (v === "" ? ["must not be empty"] : communityProblems(v)),
    }),
    key({
      section: S,
      key: "trapUser",
      type: "a v3User_N name",
      default: "",
      description: "the v3User_N whose protocols and passphrases sign (and encrypt) v3 traps",
      check: userNameProblems,
    }),
    key({
      section: S,
      key: "trapRepeatInterval",
      type: "integer 0 or 5-3600",
      default: "30",
      description: "seconds between repeats of a trap while its condition holds (on battery, low battery, " +
        "communication lost, shutdown pending or starting); 0 = once",
      check: thenCheck(
        integerCheck(0, 3600, undefined, "0 or 5-3600"),
        (v) =>
          Number(v) > 0 && Number(v) < 5
            ? ["must be 0 or 5-3600 (RFC 1628: no trap more often than every 5 s)"]
            : [],
      ),
      normalize: normalizeInteger,
    }),
  ];
}

type Get = (name: string) => string;

function usersOf(get: Get): SnmpUser[] {
  const users: SnmpUser[] = [];
  for (let i = 1; i <= MAX_SNMP_ENTRIES; i++) {
    const name = get(`SNMP.v3User_${i}`);
    const authPassphrase = get(`SNMP.v3AuthPassphrase_${i}`);
    const privProtocol = get(`SNMP.v3PrivProtocol_${i}`) as SnmpPrivProtocol;
    const privPassphrase = get(`SNMP.v3PrivPassphrase_${i}`);
    if (name === "" || authPassphrase === "" || (privProtocol !== "none" && privPassphrase === "")) continue;
    if (users.some((u) => u.name === name)) continue;
    users.push({
      name,
      authProtocol: get(`SNMP.v3AuthProtocol_${i}`) as SnmpAuthProtocol,
      authPassphrase,
      privProtocol,
      privPassphrase: privProtocol === "none" ? "" : privPassphrase,
    });
  }
  return users;
}

/** The typed `[SNMP]` settings from checked values (incomplete users are left out; see snmpCrossProblems). */
export function buildSnmpSettings(get: Get): SnmpSettings {
  const list = (prefix: string) =>
    Array.from({ length: MAX_SNMP_ENTRIES }, (_, i) => get(`SNMP.${prefix}_${i + 1}`)).filter((v) =>
      v !== ""
    );
  return {
    enabled: get("SNMP.enabled") === "true",
    port: Number(get("SNMP.port")),
    listenAddresses: splitList(get("SNMP.listenAddress")),
    nmc: get("SNMP.nmc"),
    communities: [...new Set(list("community"))],
    users: usersOf(get),
    trapReceivers: list("trapReceiver"),
    trapVersion: get("SNMP.trapVersion") as "v2c" | "v3",
    trapCommunity: get("SNMP.trapCommunity"),
    trapUser: get("SNMP.trapUser"),
    trapRepeatInterval: Number(get("SNMP.trapRepeatInterval")),
  };
}

/** A copy with communities and passphrases as `***`. */
export function maskSnmpSettings(s: SnmpSettings): SnmpSettings {
  const mask = (v: string) => (v === "" ? "" : "***");
  return {
    ...s,
    communities: s.communities.map(mask),
    trapCommunity: mask(s.trapCommunity),
    users: s.users.map((u) => ({
      ...u,
      authPassphrase: mask(u.authPassphrase),
      privPassphrase: mask(u.privPassphrase),
    })),
  };
}

/**
 * Warnings about combinations of `[SNMP]` values (each names its key): a user without the passphrases
 * its protocols need (it is off), the same user twice, v3 traps without a usable `trapUser`, an enabled
 * agent nobody may read.
 */
export function snmpCrossProblems(
  get: (name: string) => string | undefined,
): { key: string; message: string }[] {
  const v = (name: string) => get(`SNMP.${name}`) ?? "";
  const out: { key: string; message: string }[] = [];
  const names: string[] = [];
  for (let i = 1; i <= MAX_SNMP_ENTRIES; i++) {
    const name = v(`v3User_${i}`);
    if (name === "") continue;
    const k = `SNMP.v3User_${i}`;
    if (names.includes(name)) {
      out.push({ key: k, message: `${k} = ${name} is configured twice: only the first is used` });
    }
    names.push(name);
    if (v(`v3AuthPassphrase_${i}`) === "") {
      out.push({ key: k, message: `${k} = ${name} has no v3AuthPassphrase_${i}: the user is off` });
    } else if (v(`v3PrivProtocol_${i}`) !== "none" && v(`v3PrivPassphrase_${i}`) === "") {
      out.push({
        key: k,
        message: `${k} = ${name} has no v3PrivPassphrase_${i} (v3PrivProtocol_${i} = aes): the user is off`,
      });
    }
  }
  const usable = usersOf((name) => get(name) ?? "").map((u) => u.name);
  const receivers = Array.from({ length: MAX_SNMP_ENTRIES }, (_, i) => v(`trapReceiver_${i + 1}`)).some((r) =>
    r !== ""
  );
  if (receivers && v("trapVersion") === "v3" && !usable.includes(v("trapUser"))) {
    out.push({
      key: "SNMP.trapUser",
      message:
        `SNMP.trapVersion = v3 but trapUser = ${v("trapUser") || "(empty)"} is not a complete v3User_N: ` +
        "no trap is sent",
    });
  }
  const communities = Array.from({ length: MAX_SNMP_ENTRIES }, (_, i) => v(`community_${i + 1}`)).some((c) =>
    c !== ""
  );
  if (v("enabled") === "true" && !communities && usable.length === 0) {
    out.push({
      key: "SNMP.enabled",
      message:
        "SNMP.enabled = true but no community_N or complete v3User_N is set: nobody can read the agent",
    });
  }
  return out;
}
