/**
 * The command responder (RFC 3416) over the served objects, read-only (pure): GET, GETNEXT and GETBULK
 * answers; SET is refused (notWritable, or noSuchName for SNMPv1). SNMPv1 has no exception values
 * (RFC 2576 4.1.2.1): a missing object or the end of the MIB is a noSuchName error naming the varbind,
 * and the request's varbinds come back unchanged. GETBULK is not part of v1.
 *
 * @module
 */
import { getBulk, getExact, getNext } from "./mib.ts";
import { type Varbind, VarType } from "./varbind.ts";

/** PDU types (BER tags). */
export const Pdu = { Get: 0xa0, GetNext: 0xa1, Set: 0xa3, GetBulk: 0xa5 } as const;

/** One request, as far as answering needs. */
export interface Request {
  /** Message version: 0 (v1), 1 (v2c), 3. */
  readonly version: number;
  /** PDU type. */
  readonly type: number;
  /** Requested OIDs (with the values of a SET). */
  readonly varbinds: readonly { readonly oid: string; readonly type?: number; readonly value?: unknown }[];
  /** GETBULK non-repeaters. */
  readonly nonRepeaters?: number;
  /** GETBULK max-repetitions. */
  readonly maxRepetitions?: number;
}

/** The response PDU's content. */
export interface Answer {
  /** errorStatus (0 = noError, 2 = noSuchName, 5 = genErr, 17 = notWritable). */
  readonly errorStatus: number;
  /** errorIndex (1-based, 0 = none). */
  readonly errorIndex: number;
  /** The varbinds. */
  readonly varbinds: readonly Varbind[];
}

const NO_SUCH_NAME = 2;
const GEN_ERR = 5;
const NOT_WRITABLE = 17;

const EXCEPTIONS: ReadonlySet<number> = new Set([
  VarType.NoSuchObject,
  VarType.NoSuchInstance,
  VarType.EndOfMibView,
]);

/** The answer to `request` over `mib` (sorted, as buildMib returns it), or undefined: not answered. */
export function answer(mib: readonly Varbind[], request: Request): Answer | undefined {
  const v1 = request.version === 0;
  const echo = request.varbinds.map((v) => ({
    oid: v.oid,
    type: typeof v.type === "number" ? v.type : 5,
    value: (v.value ?? null) as Varbind["value"],
  }));
  const oids = request.varbinds.map((v) => v.oid);
  let varbinds: Varbind[];
  switch (request.type) {
    case Pdu.Get:
      varbinds = oids.map((oid) => getExact(mib, oid));
      break;
    case Pdu.GetNext:
      varbinds = oids.map((oid) => getNext(mib, oid));
      break;
    case Pdu.GetBulk:
      if (v1) return undefined;
      return {
        errorStatus: 0,
        errorIndex: 0,
        varbinds: getBulk(mib, oids, request.nonRepeaters ?? 0, request.maxRepetitions ?? 0),
      };
    case Pdu.Set:
      return oids.length === 0
        ? { errorStatus: GEN_ERR, errorIndex: 0, varbinds: echo }
        : { errorStatus: v1 ? NO_SUCH_NAME : NOT_WRITABLE, errorIndex: 1, varbinds: echo };
    default:
      return undefined;
  }
  if (v1) {
    const bad = varbinds.findIndex((v) => EXCEPTIONS.has(v.type));
    if (bad >= 0) return { errorStatus: NO_SUCH_NAME, errorIndex: bad + 1, varbinds: echo };
  }
  return { errorStatus: 0, errorIndex: 0, varbinds };
}
