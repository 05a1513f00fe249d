/**
 * A human message when the agent's HTTPS certificate is not trusted (a
 * self-signed web UI reached with `--url` and no `--ca`): instead of the TLS
 * library's text, say that the certificate is not trusted, show its SHA-256
 * fingerprint (to compare with the one the agent logs at start and shows in
 * its web UI) and how to trust it with `--ca <file>`.
 *
 * @module
 */
import { CardConnection } from "../nmc/cardhttp.ts";
import { CERT_FILE_NAME } from "../web/certificate.ts";

/** True when a TLS error text says the peer's certificate was not accepted (rustls or OpenSSL words). */
export function isUntrustedCertificate(cause: string): boolean {
  return /invalid peer certificate|UnknownIssuer|NotValidForName|certificate (verify|has expired|is not valid)|self[- ]signed|unable to (get|verify)|BadSignature|Expired|NotValidYet|CaUsedAsEndEntity/i
    .test(cause);
}

/** Why the certificate was refused, in words (pure; from the TLS library's text). */
export function untrustedReason(cause: string): string {
  if (/NotValidForName|not valid for name/i.test(cause)) return "it does not name this host";
  if (/Expired|has expired/i.test(cause)) return "it has expired";
  if (/NotValidYet/i.test(cause)) return "it is not valid yet (check this host's clock)";
  return "it is self-signed or signed by an unknown authority";
}

/**
 * The message for an untrusted agent certificate (pure): what, why, the
 * fingerprint when known, and the `--ca` remedy.
 */
export function untrustedCertificateMessage(
  what: string,
  baseUrl: string,
  cause: string,
  fingerprint: string | undefined,
  gaveCa: boolean,
): string {
  const seen = fingerprint ? `; it presents SHA-256 ${fingerprint}` : "";
  const remedy = gaveCa
    ? "the --ca file is not the certificate the agent presents: give the agent's current " +
      `${CERT_FILE_NAME} (from its data directory)`
    : `if that is the fingerprint the agent logs at start ("certificate SHA-256 ..."), copy the agent's ` +
      `${CERT_FILE_NAME} from its data directory and pass it with --ca <file>`;
  return `${what}: the certificate of ${baseUrl} is not trusted (${
    untrustedReason(cause)
  })${seen}; ${remedy}`;
}

/** The SHA-256 fingerprint the server at an https URL presents, without trusting it; undefined if unknown. */
export async function presentedFingerprint(baseUrl: string, timeoutMs = 3000): Promise<string | undefined> {
  let connection: CardConnection | undefined;
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== "https:") return undefined;
    connection = await CardConnection.open(
      {
        card: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        protocol: "https",
        port: Number(url.port || 443),
        acceptCerts: true,
      },
      Date.now() + timeoutMs,
    );
    return connection.certificate?.sha256 || undefined;
  } catch {
    return undefined;
  } finally {
    await connection?.close();
  }
}

/**
 * A human hint when `--url`'s scheme does not match what the port speaks (pure): HTTP sent to the TLS
 * port, or TLS to a plain-HTTP port (the redirect port); undefined for other errors.
 */
export function protocolMismatchMessage(what: string, baseUrl: string, cause: string): string | undefined {
  if (baseUrl.startsWith("http:") && /invalid HTTP version|HTTP\/0\.9/i.test(cause)) {
    return `${what}: ${baseUrl} speaks HTTPS, not plain HTTP: use ${baseUrl.replace(/^http:/, "https:")}`;
  }
  if (
    baseUrl.startsWith("https:") &&
    /InvalidContentType|corrupt message|wrong version number|packet length/i.test(cause)
  ) {
    return `${what}: ${baseUrl} does not speak TLS (is it the HTTP redirect port, [Networking] httpPort?): ` +
      "use the web UI port (httpsPort), or http:// if the UI runs without TLS (uiProtocol = http)";
  }
  return undefined;
}
