/**
 * AES-128 in CFB-128 mode for SNMPv3 privacy (RFC 3826), for when the runtime's node:crypto lacks the
 * `aes-128-cfb` cipher. Measured here: Deno 2.9.5's node:crypto has aes-128-ecb/cbc/ctr/gcm but throws
 * ERR_CRYPTO_UNKNOWN_CIPHER for aes-128-cfb, which npm net-snmp uses for `PrivProtocols.aes`, so every
 * authPriv request failed to decrypt. {@link installAesCfb} replaces net-snmp's AES encrypt/decrypt
 * functions (its `Encryption.algorithms` table, looked up on every message) with the same steps
 * (its key localization and IV: engine boots, engine time, salt) over this CFB built from AES-ECB; it does
 * nothing when the runtime has the cipher.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import crypto from "node:crypto";

const BLOCK = 16;

/** AES-CFB-128 over `data` (pure; `decrypt` feeds the ciphertext back instead of the output). */
export function aesCfb(key: Uint8Array, iv: Uint8Array, data: Uint8Array, decrypt: boolean): Buffer {
  if (iv.length !== BLOCK) throw new Error(`AES-CFB: the IV must be ${BLOCK} bytes, not ${iv.length}`);
  const ecb = crypto.createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  ecb.setAutoPadding(false);
  const out = Buffer.alloc(data.length);
  let feedback: Uint8Array = iv;
  for (let at = 0; at < data.length; at += BLOCK) {
    const stream = ecb.update(feedback);
    const n = Math.min(BLOCK, data.length - at);
    for (let j = 0; j < n; j++) out[at + j] = data[at + j] ^ stream[j];
    feedback = (decrypt ? data : out).subarray(at, at + BLOCK);
  }
  return out;
}

/** True when node:crypto has the cipher itself. */
function hasNativeCfb(): boolean {
  try {
    crypto.createCipheriv("aes-128-cfb", Buffer.alloc(16), Buffer.alloc(16));
    return true;
  } catch {
    return false;
  }
}

interface AesAlgorithm {
  localizationAlgorithm: (
    algorithm: AesAlgorithm,
    authProtocol: unknown,
    password: string,
    engineId: Buffer,
  ) => Buffer;
  encryptPdu: unknown;
  decryptPdu: unknown;
}

interface EngineView {
  engineID: Buffer;
  engineBoots: number;
  engineTime: number;
}

/** The part of net-snmp's module this patch touches. */
export interface NetSnmpEncryption {
  /** net-snmp's exported `Encryption` object. */
  readonly Encryption: {
    algorithms: Record<number, AesAlgorithm>;
    generateIvAes: (algorithm: AesAlgorithm, boots: number, time: number, salt: Buffer) => Buffer;
  };
  /** net-snmp's `PrivProtocols`. */
  readonly PrivProtocols: { aes: number };
}

/** Makes net-snmp's AES-128 privacy work where node:crypto has no aes-128-cfb; true when patched. */
export function installAesCfb(snmp: NetSnmpEncryption): boolean {
  if (hasNativeCfb()) return false;
  const { Encryption } = snmp;
  const aes = Encryption.algorithms[snmp.PrivProtocols.aes];
  aes.encryptPdu = (pdu: Buffer, _p: number, password: string, authProtocol: unknown, engine: EngineView) => {
    const key = aes.localizationAlgorithm(aes, authProtocol, password, engine.engineID);
    const salt = crypto.randomBytes(8);
    const iv = Encryption.generateIvAes(aes, engine.engineBoots, engine.engineTime, salt);
    return { encryptedPdu: aesCfb(key, iv, pdu, false), msgPrivacyParameters: salt };
  };
  aes.decryptPdu = (
    encrypted: Buffer,
    _p: number,
    salt: Buffer,
    password: string,
    authProtocol: unknown,
    engine: EngineView,
  ) => {
    if (!Buffer.isBuffer(salt) || salt.length !== 8) throw new Error("privacy parameters are not 8 bytes");
    const key = aes.localizationAlgorithm(aes, authProtocol, password, engine.engineID);
    const iv = Encryption.generateIvAes(aes, engine.engineBoots, engine.engineTime, salt);
    return aesCfb(key, iv, encrypted, true);
  };
  return true;
}
