/**
 * The web UI's TLS certificate: a self-signed ECDSA P-256 certificate made at
 * first start (`<dataDir>/ui-cert.pem` + `ui-key.pem`), or the administrator's
 * own PEM files from `[WebUI] certificateFile` / `keyFile`. Also the checks the
 * certificate upload needs (PEM, key matches, not expired) and atomic writes.
 *
 * Generation uses npm @peculiar/x509 with WebCrypto; parsing and the key checks
 * are in pem.ts (node:crypto). Only keys both the TLS stack and browsers take
 * are accepted: RSA of 2048 bits or more, or EC P-256/P-384 (rustls refuses
 * shorter RSA keys and RSA-PSS keys; browsers refuse P-521 and Ed25519 server
 * certificates). Files are read only when they are regular files of at most
 * {@link MAX_PEM_BYTES}.
 *
 * @module
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { FileProblem, readRegularFile } from "../config/fs.ts";
import {
  certificateBlocks,
  type CertificateInfo,
  certificateInfo,
  checkKeyPair,
  errorText,
  privateKeyBlock,
  toPem,
} from "./pem.ts";

/** File name of the generated (or uploaded) certificate in the data directory. */
export const CERT_FILE_NAME = "ui-cert.pem";
/** File name of the generated (or uploaded) private key in the data directory. */
export const KEY_FILE_NAME = "ui-key.pem";
/** Default validity of a generated certificate, in days (the CA/Browser Forum's old 825-day limit). */
export const DEFAULT_CERT_DAYS = 825;
/** Largest certificate or key file read (a chain of a few certificates is a few KiB). */
export const MAX_PEM_BYTES = 1024 * 1024;

const isWindows = Deno.build.os === "windows";
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A certificate with its private key, both PEM. */
export interface PemPair {
  /** The certificate (possibly followed by intermediates), PEM. */
  readonly certPem: string;
  /** The private key, PEM. */
  readonly keyPem: string;
}

/** A certificate ready to be served. */
export interface LoadedCertificate extends PemPair {
  /** Parsed details of the (first) certificate. */
  readonly info: CertificateInfo;
  /** "configured": the `[WebUI]` files; "generated": the data directory's pair (generated or uploaded). */
  readonly source: "configured" | "generated";
  /** Path of the certificate file. */
  readonly certPath: string;
  /** Path of the key file. */
  readonly keyPath: string;
  /** Set when an existing generated pair was replaced by a new one: why. */
  readonly regenerated?: string;
}

/** Options of {@link generateSelfSigned}. */
export interface SelfSignedOptions {
  /** Subject CN (cut to 64 characters). */
  readonly commonName: string;
  /** subjectAltName DNS names. */
  readonly dnsNames: readonly string[];
  /** subjectAltName IP addresses (IPv4 or IPv6). */
  readonly ipAddresses: readonly string[];
  /** Validity in days (default 825). */
  readonly days?: number;
  /** Reference time (default now): notBefore is one hour earlier, notAfter `days` later. */
  readonly now?: Date;
}

// ---------------------------------------------------------------------------
// Pure helpers

/** True for a plausible DNS name (letters, digits, "-", "_", dots; labels 1-63; at most 253). */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.replace(/\.$/, "").split(".");
  return labels.every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

/** True for an IP address that names nothing outside this host's link (loopback, link-local). */
function isLocalOnly(address: string): boolean {
  const a = address.toLowerCase().replace(/%.*$/, "");
  return a.startsWith("127.") || a === "::1" || a.startsWith("169.254.") || /^fe[89ab]/.test(a);
}

/**
 * The names a generated certificate should carry: the host name and "localhost"
 * as DNS names; every interface address that is not loopback or link-local, plus
 * 127.0.0.1 and ::1, as IP addresses; `extra` entries go to DNS names or IPs as
 * they parse. Invalid names are left out; duplicates are removed.
 */
export function defaultCertificateNames(
  hostname: string,
  interfaces: readonly { readonly address: string }[],
  extra: readonly string[] = [],
): { commonName: string; dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  const add = (value: string) => {
    const v = value.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
    if (isIP(v)) ips.add(v.toLowerCase());
    else if (isDnsName(v)) dns.add(v.toLowerCase());
  };
  add(hostname);
  add("localhost");
  for (const e of extra) add(e);
  for (const i of interfaces) {
    if (isIP(i.address.replace(/%.*$/, "")) && !isLocalOnly(i.address)) add(i.address);
  }
  add("127.0.0.1");
  add("::1");
  const commonName = isDnsName(hostname) ? hostname.toLowerCase() : "localhost";
  return { commonName, dnsNames: [...dns], ipAddresses: [...ips] };
}

// ---------------------------------------------------------------------------
// Generation

/** 16 random bytes as a positive, non-zero-led hex serial number. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Makes a self-signed ECDSA P-256 / SHA-256 server certificate: subjectAltName
 * with the DNS names and IPs, KeyUsage digitalSignature (critical), EKU
 * serverAuth, SubjectKeyIdentifier, a random serial, notBefore one hour ago
 * (clock skew) and notAfter `days` (825) from now. The key is PKCS#8 PEM.
 */
export async function generateSelfSigned(options: SelfSignedOptions): Promise<PemPair> {
  const days = options.days ?? DEFAULT_CERT_DAYS;
  if (!(days > 0)) throw new Error(`certificate validity must be a positive number of days, got ${days}`);
  const commonName = options.commonName.trim().slice(0, 64);
  if (!commonName) throw new Error("certificate common name is empty");
  for (const name of options.dnsNames) {
    if (!isDnsName(name)) throw new Error(`not a valid DNS name for a certificate: ${JSON.stringify(name)}`);
  }
  for (const ip of options.ipAddresses) {
    if (!isIP(ip)) throw new Error(`not a valid IP address for a certificate: ${JSON.stringify(ip)}`);
  }
  const now = (options.now ?? new Date()).getTime();
  // Loaded only here: generating is rare (first start), and the library costs ~14 MiB of memory.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
  const names: { type: "dns" | "ip"; value: string }[] = [
    ...options.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...options.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: algorithm,
    keys,
    extensions,
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: toPem("CERTIFICATE", new Uint8Array(cert.rawData)), keyPem: toPem("PRIVATE KEY", pkcs8) };
}

// ---------------------------------------------------------------------------
// Files

/** Writes `text` to a temporary file next to `path` with `mode`, fsynced; returns its path. */
async function writeTemp(path: string, text: string, mode: number): Promise<string> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  file.close();
  try {
    if (!isWindows) await Deno.chmod(tmp, mode);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  return tmp;
}

/**
 * Replaces the certificate and key files: both are first written to temporary
 * files (key 0600, certificate 0644), then renamed over the targets, key first.
 */
async function writePair(certPath: string, certPem: string, keyPath: string, keyPem: string): Promise<void> {
  const keyTmp = await writeTemp(keyPath, keyPem, 0o600);
  let certTmp: string;
  try {
    certTmp = await writeTemp(certPath, certPem, 0o644);
  } catch (error) {
    await Deno.remove(keyTmp).catch(() => {});
    throw error;
  }
  try {
    await Deno.rename(keyTmp, keyPath);
    await Deno.rename(certTmp, certPath);
  } catch (error) {
    await Deno.remove(keyTmp).catch(() => {});
    await Deno.remove(certTmp).catch(() => {});
    throw error;
  }
}

/** Reads a PEM file (a regular file of at most {@link MAX_PEM_BYTES}); null when it does not exist. */
async function readOrNull(path: string): Promise<string | null> {
  try {
    return await readPem(path);
  } catch (error) {
    if (error instanceof FileProblem && error.notFound) return null;
    throw error;
  }
}

/** Reads a PEM file; throws a {@link FileProblem} ("... is a directory", "... is larger than 1 MiB"). */
export async function readPem(path: string): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, MAX_PEM_BYTES));
}

/** Which `[WebUI]` key a problem of {@link checkCertificateFiles} belongs to, and the problem. */
export interface CertificateFilesProblem {
  /** `certificateFile` or `keyFile`. */
  readonly key: "certificateFile" | "keyFile";
  /** One line, naming the file. */
  readonly problem: string;
  /** The file concerned ("" when the key is empty). */
  readonly path: string;
  /** What is wrong, without the path ("does not exist", "not a PEM certificate ..."). */
  readonly detail: string;
  /** The file could not be read at all (missing, a directory, a device, too large). */
  readonly unreadable: boolean;
}

/**
 * Checks the `[WebUI] certificateFile` / `keyFile` pair as the start will use it: both set (or neither),
 * both readable regular files of at most {@link MAX_PEM_BYTES} (a device such as /dev/zero is never
 * opened), and {@link checkKeyPair}. Returns undefined when the pair is usable (or not configured).
 */
export async function checkCertificateFiles(
  settings: { readonly certificateFile: string; readonly keyFile: string },
): Promise<CertificateFilesProblem | undefined> {
  const { certificateFile: certPath, keyFile: keyPath } = settings;
  if (!certPath && !keyPath) return undefined;
  const empty = (key: "certificateFile" | "keyFile", other: string, path: string) => {
    const detail = `${key} is empty but ${other} is set (${path}): set both`;
    return { key, problem: detail, path: "", detail, unreadable: true };
  };
  if (!certPath) return empty("certificateFile", "keyFile", keyPath);
  if (!keyPath) return empty("keyFile", "certificateFile", certPath);
  const read = async (path: string) => {
    try {
      return await readPem(path);
    } catch (error) {
      if (error instanceof FileProblem) return error;
      throw error;
    }
  };
  const unreadable = (key: "certificateFile" | "keyFile", error: FileProblem) => ({
    key,
    problem: error.message,
    path: error.path,
    detail: error.problem,
    unreadable: true,
  });
  const certPem = await read(certPath);
  if (certPem instanceof FileProblem) return unreadable("certificateFile", certPem);
  const keyPem = await read(keyPath);
  if (keyPem instanceof FileProblem) return unreadable("keyFile", keyPem);
  const bad = (key: "certificateFile" | "keyFile", path: string, detail: string) => ({
    key,
    problem: `${path}: ${detail}`,
    path,
    detail,
    unreadable: false,
  });
  try {
    certificateInfo(certPem);
  } catch (error) {
    return bad("certificateFile", certPath, errorText(error));
  }
  const problem = await checkKeyPair(certPem, keyPem);
  if (!problem) return undefined;
  const certProblem = problem.startsWith("certificate") || problem.startsWith("the certificate");
  return certProblem ? bad("certificateFile", certPath, problem) : bad("keyFile", keyPath, problem);
}

/** This host's certificate names ({@link defaultCertificateNames} over Deno.hostname and the interfaces). */
function hostCertificateNames(extra: readonly string[]) {
  let hostname = "localhost";
  let interfaces: { address: string }[] = [];
  try {
    hostname = Deno.hostname();
  } catch { /* no --allow-sys: fall back to localhost */ }
  try {
    interfaces = Deno.networkInterfaces();
  } catch { /* no --allow-sys: loopback only */ }
  return defaultCertificateNames(hostname, interfaces, extra);
}

/**
 * The certificate the web UI serves. With `certificateFile` and `keyFile` set,
 * both files are read and checked (key matches, not expired); any problem
 * throws an Error naming the file. Otherwise `<dataDir>/ui-cert.pem` and
 * `ui-key.pem` are used, generated at first start (SANs: host name, localhost,
 * the interface addresses, 127.0.0.1, ::1, plus `hostNames`) and generated
 * again when the existing pair is expired or broken (`regenerated` says why).
 */
export async function loadOrCreateCertificate(
  dataDir: string,
  settings: { readonly certificateFile: string; readonly keyFile: string },
  hostNames: readonly string[] = [],
): Promise<LoadedCertificate> {
  await removeStaleTemps(dataDir);
  if (settings.certificateFile || settings.keyFile) return await loadConfigured(settings);
  const certPath = join(dataDir, CERT_FILE_NAME);
  const keyPath = join(dataDir, KEY_FILE_NAME);
  const readable = async (path: string) => {
    try {
      return { text: await readOrNull(path) };
    } catch (error) {
      return { text: null, problem: errorText(error) }; // e.g. a device or a directory where the file was
    }
  };
  const cert = await readable(certPath);
  const key = await readable(keyPath);
  const certText = cert.text;
  const keyText = key.text;
  let regenerated: string | undefined = cert.problem ?? key.problem;
  if (certText !== null && keyText !== null) {
    const problem = await checkKeyPair(certText, keyText);
    if (!problem) {
      return {
        certPem: certText,
        keyPem: keyText,
        info: certificateInfo(certText),
        source: "generated",
        certPath,
        keyPath,
      };
    }
    regenerated = `${certPath}: ${problem}`;
  } else if (!regenerated && (certText !== null || keyText !== null)) {
    regenerated = `${certText === null ? certPath : keyPath} is missing`;
  }
  const names = hostCertificateNames(hostNames);
  const pair = await generateSelfSigned(names);
  await Deno.mkdir(dataDir, { recursive: true });
  await writePair(certPath, pair.certPem, keyPath, pair.keyPem);
  return {
    ...pair,
    info: certificateInfo(pair.certPem),
    source: "generated",
    certPath,
    keyPath,
    ...(regenerated ? { regenerated } : {}),
  };
}

async function loadConfigured(
  settings: { readonly certificateFile: string; readonly keyFile: string },
): Promise<LoadedCertificate> {
  const problem = await checkCertificateFiles(settings);
  if (problem) {
    if (problem.path === "") throw new Error(`web UI [WebUI] ${problem.detail}`);
    const what = problem.key === "certificateFile" ? "certificate file" : "key file";
    const detail = problem.unreadable ? `cannot read it: ${problem.detail}` : problem.detail;
    const pairNote = detail.includes("does not match")
      ? ` (certificate file ${settings.certificateFile})`
      : "";
    throw new Error(`web UI ${what} ${problem.path}: ${detail}${pairNote}`);
  }
  const { certificateFile: certPath, keyFile: keyPath } = settings;
  const certPem = await readPem(certPath);
  const keyPem = await readPem(keyPath);
  return { certPem, keyPem, info: certificateInfo(certPem), source: "configured", certPath, keyPath };
}

/**
 * Removes temporary files a killed certificate writer left next to the data directory's pair (they may
 * hold the private key); those of this process are kept (a write may be under way).
 */
async function removeStaleTemps(dataDir: string): Promise<void> {
  const prefixes = [CERT_FILE_NAME, KEY_FILE_NAME].map((name) => `${name}.tmp-`);
  const own = new RegExp(`\\.tmp-${Deno.pid}-`);
  try {
    for await (const entry of Deno.readDir(dataDir)) {
      if (!entry.isFile || !prefixes.some((p) => entry.name.startsWith(p)) || own.test(entry.name)) continue;
      await Deno.remove(join(dataDir, entry.name)).catch(() => {});
    }
  } catch {
    // An unreadable or missing directory: nothing to clean up.
  }
}

/**
 * Installs an uploaded certificate and key as `<dataDir>/ui-cert.pem` and
 * `ui-key.pem` (key 0600), replacing both atomically. The pair is checked first
 * (PEM, key matches, not expired); on any problem an Error is thrown and
 * nothing is written. Only the CERTIFICATE blocks and the key block are kept.
 */
export async function installCertificate(
  dataDir: string,
  certPem: string,
  keyPem: string,
): Promise<LoadedCertificate> {
  let info: CertificateInfo;
  let certText: string;
  try {
    info = certificateInfo(certPem);
    certText = certificateBlocks(certPem).join("");
  } catch (error) {
    throw new Error(`certificate rejected: ${errorText(error)}`);
  }
  const problem = await checkKeyPair(certPem, keyPem);
  if (problem) throw new Error(`certificate rejected: ${problem}`);
  const keyText = privateKeyBlock(keyPem);
  const certPath = join(dataDir, CERT_FILE_NAME);
  const keyPath = join(dataDir, KEY_FILE_NAME);
  await Deno.mkdir(dataDir, { recursive: true });
  await writePair(certPath, certText, keyPath, keyText);
  return { certPem: certText, keyPem: keyText, info, source: "generated", certPath, keyPath };
}
