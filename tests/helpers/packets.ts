/** Hand-built packets for tests. */
import { buildPacket } from "../../src/nmc/packet.ts";

/** Credentials and card used by most tests. */
export const CARD = {
  username: "apc",
  authenticationPhrase: "admin user phrase",
  address: "127.0.0.1",
} as const;

/** Options for a hand-built status packet. */
export interface StatusPacketOptions {
  card?: string;
  sr?: number;
  su?: number;
  status?: number;
  sd?: 0 | 1;
  data?: [string, string][];
  username?: string;
  phrase?: string;
  lineEnding?: "\n" | "\r\n" | "\r";
}

/** A signed MASTATUS with the given counters and status byte. */
export function statusPacket(o: StatusPacketOptions = {}): Uint8Array {
  const items: [string, string][] = [
    ["MV", "v1.7.0"],
    ["PC", o.card ?? CARD.address],
    ["SR", (o.sr ?? 1).toString(16).toUpperCase().padStart(2, "0")],
    ["SU", (o.su ?? 100).toString(16).toUpperCase()],
    ["SD", String(o.sd ?? 0)],
    ["51", (o.status ?? 0x08).toString(16).toUpperCase().padStart(2, "0")],
    ["66", "100.0"],
    ["6A", "0045:"],
    ["50", "025.0"],
    ["4C", "230.0"],
    ...(o.data ?? []),
  ];
  return buildPacket(
    { kind: "MASTATUS", items, lineEnding: o.lineEnding },
    o.username ?? CARD.username,
    o.phrase ?? CARD.authenticationPhrase,
  );
}

/** A signed MACONFIG with the given counters. */
export function configPacket(o: { card?: string; sr?: number; su?: number } = {}): Uint8Array {
  const items: [string, string][] = [
    ["MV", "v1.7.0"],
    ["PC", o.card ?? CARD.address],
    ["SR", (o.sr ?? 1).toString(16).padStart(2, "0")],
    ["SU", (o.su ?? 100).toString(16)],
    ["PT", "3052"],
    ["CL", "7F000001"],
    ...Array.from({ length: 49 }, (): [string, string] => ["CL", "00"]),
  ];
  return buildPacket({ kind: "MACONFIG", items }, CARD.username, CARD.authenticationPhrase);
}

/** Text to bytes. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Bytes to text (latin1, byte for byte). */
export function text(data: Uint8Array): string {
  return new TextDecoder("latin1").decode(data);
}
