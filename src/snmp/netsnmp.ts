/**
 * npm net-snmp as the agent uses it: loaded once, with AES-128 privacy made to work under Deno
 * (see cfb.ts), and the agent's v3 users in net-snmp's shape.
 *
 * @module
 */
import snmpModule from "net-snmp";
import type { SnmpUser } from "../config/types.ts";
import { installAesCfb, type NetSnmpEncryption } from "./cfb.ts";

/** The net-snmp module (untyped: the package ships no types). */
// deno-lint-ignore no-explicit-any
export type NetSnmp = any;

/** net-snmp, ready for use. */
export const snmp: NetSnmp = snmpModule;

/** True when AES-CFB had to be supplied (Deno 2.9.5: yes). */
export const AES_CFB_PATCHED: boolean = installAesCfb(snmp as NetSnmpEncryption);

/** A v3 user as net-snmp's authorizer and sessions take it. */
export function snmpUser(lib: NetSnmp, user: SnmpUser): Record<string, unknown> {
  const auth = {
    sha: lib.AuthProtocols.sha,
    sha256: lib.AuthProtocols.sha256,
    sha512: lib.AuthProtocols.sha512,
  };
  const priv = user.privProtocol === "aes";
  return {
    name: user.name,
    level: priv ? lib.SecurityLevel.authPriv : lib.SecurityLevel.authNoPriv,
    authProtocol: auth[user.authProtocol],
    authKey: user.authPassphrase,
    ...(priv ? { privProtocol: lib.PrivProtocols.aes, privKey: user.privPassphrase } : {}),
  };
}
