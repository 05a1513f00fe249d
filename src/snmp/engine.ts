/**
 * The SNMPv3 engine identity (RFC 3414): snmpEngineID stays the same across restarts and snmpEngineBoots
 * counts the starts, both kept in `snmp-engine.json` in the data directory (temp file, rename; mode 0600).
 * A stable engine ID is what a v3 trap receiver is configured with (`createUser -e <engineID> ...` in
 * snmptrapd.conf); the agent logs it at start. A file that cannot be read is replaced by a new identity;
 * one that cannot be written leaves this run with boots counted in memory (logged).
 *
 * @module
 */
import { join } from "node:path";

/** The file name in the data directory. */
export const ENGINE_FILE = "snmp-engine.json";

/** snmpEngineID and snmpEngineBoots of this start. */
export interface EngineIdentity {
  /** Hex, no 0x. */
  readonly engineId: string;
  /** 1 at the first start. */
  readonly boots: number;
}

const MAX_BOOTS = 2147483647;

/** A new engine ID (RFC 3411 format 5, octets): 0x80, a made-up enterprise 0x00B983 (as npm net-snmp), 12 random bytes. */
export function newEngineId(): string {
  const random = crypto.getRandomValues(new Uint8Array(12));
  return `8000b98305${[...random].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The identity a saved file holds, if it is one (pure). */
export function parseEngineFile(text: string): EngineIdentity | undefined {
  try {
    const data = JSON.parse(text) as { engineId?: unknown; boots?: unknown };
    const id = data.engineId;
    const boots = data.boots;
    if (typeof id !== "string" || !/^([0-9a-f]{2}){5,32}$/.test(id)) return undefined;
    if (typeof boots !== "number" || !Number.isInteger(boots) || boots < 0 || boots > MAX_BOOTS) {
      return undefined;
    }
    return { engineId: id, boots };
  } catch {
    return undefined;
  }
}

/** Reads the saved identity, counts this start, saves it; `warn` hears what could not be read or saved. */
export async function startEngine(dataDir: string, warn: (text: string) => void): Promise<EngineIdentity> {
  const path = join(dataDir, ENGINE_FILE);
  let saved: EngineIdentity | undefined;
  try {
    saved = parseEngineFile(await Deno.readTextFile(path));
    if (!saved) warn(`SNMP: ${path} is not a saved engine identity: a new engine ID is used`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      warn(`SNMP: ${path} cannot be read (${error}): a new engine ID is used`);
    }
  }
  const identity = {
    engineId: saved?.engineId ?? newEngineId(),
    boots: Math.min(MAX_BOOTS, (saved?.boots ?? 0) + 1),
  };
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(temp, JSON.stringify(identity) + "\n", { mode: 0o600 });
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    warn(`SNMP: ${path} cannot be written (${error}): engine boots are not saved for the next start`);
  }
  return identity;
}
