/**
 * SNMP variable bindings as the agent's pure modules build them.
 *
 * @module
 */

/** Value types (their BER tags, as npm net-snmp numbers its ObjectType). */
export const VarType = {
  Integer: 2,
  OctetString: 4,
  Oid: 6,
  Counter32: 65,
  Gauge32: 66,
  TimeTicks: 67,
  NoSuchObject: 128,
  NoSuchInstance: 129,
  EndOfMibView: 130,
} as const;

/** One variable binding. */
export interface Varbind {
  /** Dotted OID without a leading dot. */
  readonly oid: string;
  /** One of {@link VarType}. */
  readonly type: number;
  /** Number, string (OctetString, Oid) or null (exceptions). */
  readonly value: number | string | null;
}
