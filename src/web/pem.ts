/**
 * PEM certificates and private keys: the blocks of a PEM text, the facts the UI shows about a certificate,
 * and the checks a certificate and key must pass before the web UI serves them (the key matches, the
 * certificate is valid now, a key both rustls and browsers accept, a TLS listener opens with them).
 * Parsing uses node:crypto's X509Certificate; node:crypto reads PKCS#8, SEC1 ("EC PRIVATE KEY") and
 * PKCS#1 ("RSA PRIVATE KEY") keys alike, the formats Deno.serve (rustls) accepts.
 *
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";

/** What the web UI accepts as a key, for messages. */
export const ACCEPTED_KEYS = "RSA of at least 2048 bits or an EC P-256/P-384 key";

/** What the UI shows about a certificate. */
export interface CertificateInfo {
  /** Subject distinguished name, e.g. "CN=host". */
  readonly subject: string;
  /** Issuer distinguished name. */
  readonly issuer: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity. */
  readonly notAfter: Date;
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ":". */
  readonly fingerprintSha256: string;
  /** DNS names of the subjectAltName extension. */
  readonly dnsNames: string[];
  /** IP addresses of the subjectAltName extension. */
  readonly ipAddresses: string[];
  /** Issued by itself (issuer = subject). */
  readonly selfSigned: boolean;
}

/** The bytes as upper-case hex pairs joined by ":" ("AB:CD:..."). */
export function colonHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The DER bytes of every `-----BEGIN <label>-----` block of `pem`, in order. */
function pemBlocks(pem: string, label: string): Uint8Array<ArrayBuffer>[] {
  const re = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`, "g");
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (const m of pem.matchAll(re)) {
    const b64 = m[1].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length === 0) {
      throw new Error(`the ${label} PEM block is not valid base64`);
    }
    out.push(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  }
  return out;
}

/** Base64 text wrapped at 64 columns inside a PEM armour. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The certificate blocks of `pem`, re-armoured (anything else in the text is dropped). */
export function certificateBlocks(pem: string): string[] {
  return pemBlocks(pem, "CERTIFICATE").map((der) => toPem("CERTIFICATE", der));
}

/** Parses the first certificate of a PEM text; throws a clear Error otherwise. */
function parseFirstCertificate(certPem: string): { cert: X509Certificate; der: Uint8Array<ArrayBuffer> } {
  if (typeof certPem !== "string" || !certPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error("not a PEM certificate (no -----BEGIN CERTIFICATE----- block)");
  }
  let der: Uint8Array<ArrayBuffer> | undefined;
  try {
    der = pemBlocks(certPem, "CERTIFICATE")[0];
  } catch (error) {
    throw new Error(`unparsable certificate: ${errorText(error)}`);
  }
  if (!der) throw new Error("not a PEM certificate (the CERTIFICATE block is not terminated)");
  try {
    return { cert: new X509Certificate(toPem("CERTIFICATE", der)), der };
  } catch (error) {
    throw new Error(`unparsable certificate: ${errorText(error)}`);
  }
}

/** Names in an X.509 subjectAltName text ("DNS:a, IP Address:1.2.3.4"). */
function altNames(text: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const part of (text ?? "").split(/,\s*/)) {
    const i = part.indexOf(":");
    if (i < 0) continue;
    const kind = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (kind === "DNS") dnsNames.push(value);
    else if (kind === "IP Address") ipAddresses.push(value);
  }
  return { dnsNames, ipAddresses };
}

/** "CN=a\nO=b" (node's form) as "CN=a, O=b". */
const distinguishedName = (text: string) => text.split("\n").filter(Boolean).join(", ");

/**
 * Details of the first certificate of a PEM text (a chain may follow).
 * Throws an Error saying what is wrong for non-PEM or unparsable input.
 * (Parsed with node:crypto; the heavier npm @peculiar/x509 is loaded only to generate one.)
 */
export function certificateInfo(certPem: string): CertificateInfo {
  const { cert, der } = parseFirstCertificate(certPem);
  const { dnsNames, ipAddresses } = altNames(cert.subjectAltName);
  // Issued by itself: subject and issuer names are the same (what browsers show as "self-signed").
  const selfSigned = cert.subject === cert.issuer;
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: colonHex(createHash("sha256").update(der).digest()),
    dnsNames,
    ipAddresses,
    selfSigned,
  };
}

/** SHA-256 fingerprint ("AB:CD:...") of a PEM certificate text, or of the PEM file at `pathOrPem`. */
export async function certificateFingerprint(pathOrPem: string): Promise<string> {
  const pem = pathOrPem.includes("-----BEGIN") ? pathOrPem : await Deno.readTextFile(pathOrPem);
  return certificateInfo(pem).fingerprintSha256;
}

/** Reads the private key of a PEM text, or returns a one-line message saying why it cannot. */
function readPrivateKey(keyPem: string): KeyObject | string {
  if (typeof keyPem !== "string") return "not a PEM private key";
  if (keyPem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || /Proc-Type:\s*4,ENCRYPTED/.test(keyPem)) {
    return "the private key is encrypted; store it without a passphrase " +
      "(openssl pkey -in key.pem -out key-plain.pem)";
  }
  const block = keyPem.match(/-----BEGIN ((?:EC |RSA )?PRIVATE KEY)-----[^-]*-----END \1-----/);
  if (!block) {
    return keyPem.includes("-----BEGIN CERTIFICATE-----")
      ? "not a PEM private key (found a certificate where the key was expected)"
      : "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)";
  }
  try {
    return createPrivateKey({ key: block[0], format: "pem" });
  } catch (error) {
    return `unreadable private key (${errorText(error)})`;
  }
}

/** The single PEM block of the private key in `keyPem` (assumes {@link readPrivateKey} accepted it). */
export function privateKeyBlock(keyPem: string): string {
  const m = keyPem.match(/-----BEGIN ((?:EC |RSA )?PRIVATE KEY)-----[^-]*-----END \1-----/);
  return m ? m[0].trim() + "\n" : keyPem;
}

/**
 * Checks that `keyPem` is the private key of the (first) certificate in
 * `certPem`, that the certificate has not expired, that the key is one the TLS
 * stack and browsers accept ({@link tlsKeyProblem}) and that the TLS stack
 * really listens with the pair. Returns undefined when all hold, else a
 * one-line message saying what is wrong. Keys may be PKCS#8, SEC1 or PKCS#1
 * PEM; encrypted keys are refused with a hint. The one check shared by the
 * Certificate page, the `[WebUI]` files, `config check` and the start.
 */
export function checkKeyPair(
  certPem: string,
  keyPem: string,
  now: Date = new Date(),
): Promise<string | undefined> {
  return Promise.resolve(checkKeyPairSync(certPem, keyPem, now));
}

function checkKeyPairSync(certPem: string, keyPem: string, now: Date): string | undefined {
  let der: Uint8Array;
  let notAfter: Date;
  try {
    const parsed = parseFirstCertificate(certPem);
    der = parsed.der;
    notAfter = new Date(parsed.cert.validTo);
  } catch (error) {
    return `certificate: ${errorText(error)}`;
  }
  const key = readPrivateKey(keyPem);
  if (typeof key === "string") return key;
  let certSpki: Uint8Array;
  try {
    certSpki = createPublicKey({ key: toPem("CERTIFICATE", der), format: "pem" })
      .export({ type: "spki", format: "der" });
  } catch (error) {
    return `certificate: unsupported public key (${errorText(error)})`;
  }
  let keySpki: Uint8Array;
  try {
    keySpki = createPublicKey(key).export({ type: "spki", format: "der" });
  } catch (error) {
    return `unreadable private key (${errorText(error)})`;
  }
  if (!bytesEqual(certSpki, keySpki)) return "the private key does not match the certificate's public key";
  if (notAfter.getTime() <= now.getTime()) return `the certificate expired on ${notAfter.toISOString()}`;
  const kind = tlsKeyProblem(key);
  if (kind) return kind;
  return tlsListenProblem(certPem, keyPem);
}

/** The key's kind as people name it ("RSA 1024 bits", "EC P-521", "Ed25519"). */
function keyKind(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
      return `RSA ${details.modulusLength ?? "?"} bits`;
    case "rsa-pss":
      return `RSA-PSS ${details.modulusLength ?? "?"} bits`;
    case "ec": {
      const curve = details.namedCurve ?? "?";
      const names: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
      return `EC ${names[curve] ?? curve}`;
    }
    case "ed25519":
      return "Ed25519";
    case "ed448":
      return "Ed448";
    default:
      return key.asymmetricKeyType ?? "an unknown kind";
  }
}

/**
 * Undefined when the TLS stack and the browsers accept the key (RSA >= 2048 bits, EC P-256/P-384), else
 * why not.
 */
export function tlsKeyProblem(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  const ok = key.asymmetricKeyType === "rsa"
    ? (details.modulusLength ?? 0) >= 2048
    : key.asymmetricKeyType === "ec" && ["prime256v1", "secp384r1"].includes(details.namedCurve ?? "");
  if (ok) return undefined;
  return `the private key is ${keyKind(key)}; the web UI needs ${ACCEPTED_KEYS} ` +
    "(the TLS stack refuses shorter RSA keys and RSA-PSS keys, browsers refuse other curves and Ed25519)";
}

/**
 * Opens (and closes at once) a TLS listener on 127.0.0.1 with the pair: undefined when the TLS stack takes
 * it, else its complaint. Skipped (undefined) when listening is not possible here at all (no permission,
 * no loopback address), so it only ever adds a refusal the real start would meet too.
 */
function tlsListenProblem(certPem: string, keyPem: string): string | undefined {
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  } catch (error) {
    const notHere = error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.AddrInUse;
    return notHere
      ? undefined
      : `the TLS stack refuses the pair (${errorText(error).replace(/^unexpected error: /, "")})`;
  }
  listener.close();
  return undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The message of an error, or the value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
