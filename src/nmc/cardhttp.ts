/**
 * The HTTP(S) client the agent uses to talk to a management card's web
 * server, over raw node:net / node:tls sockets (not fetch), because the
 * card's flows need one connection for a page and the answer to its
 * challenge, exactly as apcupsd does for kill-power (shared/spec/wire.md §8).
 * Shared by the kill-power flow (`killpower.ts`), registration
 * (`registration.ts`) and the simulated card's negotiation poll.
 *
 * - Reply parsing (the `Host:` header, status line, headers, chunked and
 *   Content-Length bodies, the signed part of a page) is in `cardreply.ts`.
 * - {@link CardConnection}: connect (with a deadline), TLS (TLS 1.2 at least;
 *   verified unless `acceptCerts`; optional trusted CA certificates), the peer
 *   certificate's SHA-256 fingerprint and the local address the connection
 *   leaves from, write a request, read a whole reply, read a status line.
 * - {@link CardHttpError}: every failure, with the stage and a cause code and
 *   one sentence naming what went wrong.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { hostHeader, type HttpReply, MAX_REPLY_BYTES, parseReply, parseStatusLine } from "./cardreply.ts";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Where a card exchange failed at the transport level. */
export type CardHttpStage = "connect" | "tls" | "reply";

/**
 * Why a card exchange failed, as a code: `refused` (nothing listens), `timeout`,
 * `unreachable` (no route, host down), `dns` (name not resolved), `reset`,
 * `tls-certificate` (untrusted or misnamed certificate), `tls` (other TLS
 * handshake failure, e.g. TLS below 1.2 or a plain-HTTP port), `http`
 * (a reply that is not HTTP or is garbled, or an unexpected status), `closed`
 * (the card hung up without answering), `network` (anything else).
 */
export type CardHttpCause =
  | "refused"
  | "timeout"
  | "unreachable"
  | "dns"
  | "reset"
  | "tls-certificate"
  | "tls"
  | "http"
  | "closed"
  | "network";

/** A failed card exchange: the stage, a cause code and one sentence naming what went wrong. */
export class CardHttpError extends Error {
  /** Creates the error. */
  constructor(readonly stage: CardHttpStage, readonly causeCode: CardHttpCause, message: string) {
    super(message);
    this.name = "CardHttpError";
  }
}

type NodeError = Error & { code?: string };

/** The error text of a node error, with its code when the message lacks it. */
export function errorText(error: unknown): string {
  const e = error as NodeError;
  const message = e?.message ?? String(error);
  return e?.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

/** The cause code and sentence for a failed TCP connect. */
export function describeConnectError(error: NodeError, where: string): [CardHttpCause, string] {
  switch (error.code) {
    case "ECONNREFUSED":
      return [
        "refused",
        `connection to card ${where} refused: nothing listens there (wrong port or protocol, ` +
        `or the card's web server is off)`,
      ];
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
      return ["unreachable", `card ${where} is unreachable (${errorText(error)})`];
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return ["dns", `cannot resolve the card's address ${where} (${errorText(error)})`];
    case "ECONNRESET":
      return ["reset", `card ${where} reset the connection (${errorText(error)})`];
    case "ETIMEDOUT":
      return ["timeout", `timed out connecting to card ${where} (${errorText(error)})`];
    default:
      return ["network", `cannot connect to card ${where}: ${errorText(error)}`];
  }
}

/** The cause code and sentence for a failed TLS handshake. */
export function describeTlsError(error: NodeError, card: string): [CardHttpCause, string] {
  const code = error.code ?? "";
  const text = errorText(error);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return [
      "tls-certificate",
      `TLS certificate problem: the card's certificate does not name ${card} (${text}); ` +
      `set acceptCerts or configure the card by the name in its certificate`,
    ];
  }
  if (/CERT|SELF_SIGNED|ISSUER|VERIFY|SIGNATURE/.test(code) || /certificate/i.test(error.message ?? "")) {
    return [
      "tls-certificate",
      `TLS certificate problem: the certificate of card ${card} is not trusted (${text}); ` +
      `set acceptCerts or give the card's certificate (or its CA) as a trusted CA`,
    ];
  }
  if (/WRONG_VERSION|RECORD|PROTOCOL/.test(code)) {
    return [
      "tls",
      `TLS handshake with card ${card} failed: the port does not seem to speak TLS 1.2 or newer ` +
      `(is the card's web server plain HTTP, or does it offer only TLS 1.0/1.1?) (${text})`,
    ];
  }
  return ["tls", `TLS handshake with card ${card} failed (${text})`];
}

// ---------------------------------------------------------------------------
// Socket I/O
// ---------------------------------------------------------------------------

/** Buffers what a socket receives and lets the flow wait for a condition or the deadline. */
class Link {
  #chunks: Uint8Array[] = [];
  #length = 0;
  #ended = false;
  #error: NodeError | undefined;
  #wake: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      this.#length += chunk.length;
      this.#notify();
    });
    socket.on("end", () => (this.#ended = true, this.#notify()));
    socket.on("close", () => (this.#ended = true, this.#notify()));
    socket.on("error", (error: NodeError) => (this.#error ??= error, this.#notify()));
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Everything received so far. */
  bytes(): Uint8Array {
    if (this.#chunks.length !== 1) {
      const all = new Uint8Array(this.#length);
      let offset = 0;
      for (const chunk of this.#chunks) (all.set(chunk, offset), offset += chunk.length);
      this.#chunks = [all];
    }
    return this.#chunks[0] ?? new Uint8Array();
  }

  /** Forgets what was received (the next reply starts afresh). */
  clear() {
    this.#chunks = [];
    this.#length = 0;
  }

  get length(): number {
    return this.#length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get error(): NodeError | undefined {
    return this.#error;
  }

  /** Waits until something arrives, the peer ends, an error happens or `until` (epoch ms) passes; false on timeout. */
  async wait(until: number): Promise<boolean> {
    if (this.#ended || this.#error) return true;
    const ms = until - Date.now();
    if (ms <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const woke = await new Promise<boolean>((resolve) => {
      this.#wake = () => resolve(true);
      timer = setTimeout(() => resolve(false), ms);
    });
    clearTimeout(timer);
    this.#wake = undefined;
    return woke;
  }

  /** Writes and waits until the bytes were handed to the system. */
  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (error?: Error | null) => error ? reject(error) : resolve());
    });
  }
}

function waitForClose(socket: net.Socket): Promise<void> {
  if (socket.destroyed && (socket as { closed?: boolean }).closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, 1000);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    socket.once("close", done);
    socket.destroy();
  });
}

/** Where and how to reach a card's web server. */
export interface CardEndpoint {
  /** The card's address, as configured (used in messages, `Host:` and TLS server name). */
  readonly card: string;
  /** Plain HTTP or HTTPS. */
  readonly protocol: "http" | "https";
  /** TCP port of the card's web server. */
  readonly port: number;
  /** Accept any server certificate (self-signed cards) instead of verifying it. */
  readonly acceptCerts: boolean;
  /** PEM certificates to trust for the card (its CA, or its own certificate). */
  readonly caCerts?: readonly string[];
  /** Connect to this address instead of `card` (tests); `card` still names the card everywhere else. */
  readonly connectHost?: string;
}

/** The certificate a TLS peer presented. */
export interface PeerCertificate {
  /** SHA-256 fingerprint of the DER certificate, upper-case hex pairs joined by ":". */
  readonly sha256: string;
  /** Subject, as text (e.g. "CN=localhost"). */
  readonly subject: string;
  /** End of validity, as the certificate says it. */
  readonly validTo: string;
  /** True if it verified against the trusted CAs (false when accepted through acceptCerts). */
  readonly verified: boolean;
  /** Negotiated TLS version (e.g. "TLSv1.3"). */
  readonly tlsVersion: string;
}

/** Opens the TCP connection; fails at "connect". */
function connectTcp(
  host: string,
  port: number,
  deadline: number,
  where: string,
  signal?: AbortSignal,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CardHttpError("connect", "network", `connection to card ${where} aborted`));
      return;
    }
    const socket = net.connect({ host, port });
    const onAbort = () => {
      clearTimeout(timer);
      socket.destroy();
      reject(new CardHttpError("connect", "network", `connection to card ${where} aborted`));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const ms = Math.max(0, deadline - Date.now());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(
        new CardHttpError(
          "connect",
          "timeout",
          `timed out after ${ms} ms waiting for card ${where} to accept the connection`,
        ),
      );
    }, ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", (error: NodeError) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      const [cause, message] = describeConnectError(error, where);
      reject(new CardHttpError("connect", cause, message));
    });
  });
}

function subjectText(subject: unknown): string {
  if (!subject || typeof subject !== "object") return "";
  return Object.entries(subject as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(", ");
}

/** Runs the TLS handshake over a connected socket; fails at "tls". */
function startTls(
  raw: net.Socket,
  endpoint: CardEndpoint,
  deadline: number,
): Promise<{ socket: tls.TLSSocket; certificate: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket: raw,
      rejectUnauthorized: !endpoint.acceptCerts,
      minVersion: "TLSv1.2",
      ...(endpoint.caCerts ? { ca: [...endpoint.caCerts] } : {}),
      ...(net.isIP(endpoint.card) === 0 ? { servername: endpoint.card } : {}),
    });
    const ms = Math.max(0, deadline - Date.now());
    const timer = setTimeout(() => {
      secure.destroy();
      reject(
        new CardHttpError(
          "tls",
          "timeout",
          `timed out after ${ms} ms in the TLS handshake with card ${endpoint.card}`,
        ),
      );
    }, ms);
    secure.once("secureConnect", () => {
      clearTimeout(timer);
      secure.removeAllListeners("error");
      secure.on("error", () => {}); // the reader attaches its own handler next
      const peer = secure.getPeerCertificate();
      const version = secure.getProtocol() ?? "";
      if (version && !/^TLSv1\.[23]$/.test(version)) {
        secure.destroy();
        reject(
          new CardHttpError(
            "tls",
            "tls",
            `card ${endpoint.card} negotiated ${version}; TLS 1.2 or newer is required`,
          ),
        );
        return;
      }
      resolve({
        socket: secure,
        certificate: {
          sha256: String(peer?.fingerprint256 ?? "").toUpperCase(),
          subject: subjectText(peer?.subject),
          validTo: String(peer?.valid_to ?? ""),
          verified: secure.authorized === true,
          tlsVersion: version,
        },
      });
    });
    secure.once("error", (error: NodeError) => {
      clearTimeout(timer);
      secure.on("error", () => {});
      secure.destroy();
      const [cause, message] = describeTlsError(error, endpoint.card);
      reject(new CardHttpError("tls", cause, message));
    });
  });
}

/**
 * One connection to a card's web server (HTTP, or HTTPS with TLS 1.2+), on
 * which several requests may be sent one after another. Every method throws
 * {@link CardHttpError} on failure; `close()` never throws.
 */
export class CardConnection {
  /** The endpoint connected to. */
  readonly endpoint: CardEndpoint;
  /** The local address the connection leaves from (the interface that routes to the card). */
  readonly localAddress: string;
  /** The certificate the card presented (HTTPS only). */
  readonly certificate: PeerCertificate | undefined;
  readonly #sockets: net.Socket[];
  readonly #link: Link;

  private constructor(
    endpoint: CardEndpoint,
    sockets: net.Socket[],
    localAddress: string,
    certificate: PeerCertificate | undefined,
  ) {
    this.endpoint = endpoint;
    this.#sockets = sockets;
    this.localAddress = localAddress;
    this.certificate = certificate;
    this.#link = new Link(sockets[sockets.length - 1]);
  }

  /** `host:port` as shown in messages. */
  static where(endpoint: CardEndpoint): string {
    return `${hostHeader(endpoint.connectHost ?? endpoint.card)}:${endpoint.port}`;
  }

  /**
   * Connects (and runs the TLS handshake for HTTPS) before `deadline` (epoch
   * ms). Aborting `signal` ends the connection at any point: pending reads
   * then fail at once.
   */
  static async open(endpoint: CardEndpoint, deadline: number, signal?: AbortSignal): Promise<CardConnection> {
    const host = endpoint.connectHost ?? endpoint.card;
    const raw = await connectTcp(host, endpoint.port, deadline, CardConnection.where(endpoint), signal);
    const abortRaw = () => raw.destroy();
    signal?.addEventListener("abort", abortRaw, { once: true });
    const localAddress = (raw.localAddress ?? "").replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
    let connection: CardConnection;
    if (endpoint.protocol !== "https") {
      connection = new CardConnection(endpoint, [raw], localAddress, undefined);
    } else {
      try {
        const { socket, certificate } = await startTls(raw, endpoint, deadline);
        connection = new CardConnection(endpoint, [raw, socket], localAddress, certificate);
      } catch (error) {
        signal?.removeEventListener("abort", abortRaw);
        await waitForClose(raw);
        throw error;
      }
    }
    signal?.removeEventListener("abort", abortRaw);
    if (signal) {
      const abort = () => connection.abort();
      if (signal.aborted) abort();
      else signal.addEventListener("abort", abort, { once: true });
      connection.#onClose = () => signal.removeEventListener("abort", abort);
    }
    return connection;
  }

  #onClose: (() => void) | undefined;

  /** Ends the connection at once (pending reads fail); `close()` still waits for the release. */
  abort(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Sends bytes; fails at "reply" with the cause "closed" if the card went away. */
  async send(data: Uint8Array, what: string): Promise<void> {
    try {
      await this.#link.write(data);
    } catch (error) {
      throw new CardHttpError(
        "reply",
        "closed",
        `could not send ${what} to card ${this.endpoint.card}: ${errorText(error)}`,
      );
    }
  }

  /**
   * Reads one whole reply (at most 64 KiB) before `deadline`; `what` names
   * the request in messages (e.g. "/macontrol.htm"). The bytes of the reply
   * are consumed, so a next request on the connection starts afresh.
   */
  async readReply(what: string, deadline: number, timeoutMs: number): Promise<HttpReply> {
    const link = this.#link;
    const card = this.endpoint.card;
    while (true) {
      if (link.length > MAX_REPLY_BYTES) {
        throw new CardHttpError("reply", "http", `the card's answer to ${what} is larger than 64 KiB`);
      }
      const data = link.bytes();
      const reply = parseReply(data, link.ended || link.error !== undefined);
      if (reply !== undefined) {
        if ("error" in reply) {
          if (link.length === 0) {
            const why = link.error ? `: ${errorText(link.error)}` : "";
            throw new CardHttpError(
              "reply",
              "closed",
              `card ${card} closed the connection without answering ${what}${why}`,
            );
          }
          throw new CardHttpError("reply", "http", `${reply.error} (reading ${what})`);
        }
        link.clear();
        return { ...reply, body: reply.body.slice() };
      }
      if (!(await link.wait(deadline))) {
        throw new CardHttpError(
          "reply",
          "timeout",
          `timed out after ${timeoutMs} ms waiting for card ${card} to answer ${what}`,
        );
      }
    }
  }

  /** Sends a request and reads its whole reply (see {@link CardConnection.readReply}). */
  async request(data: Uint8Array, what: string, deadline: number, timeoutMs: number): Promise<HttpReply> {
    this.#link.clear();
    await this.send(data, what);
    return await this.readReply(what, deadline, timeoutMs);
  }

  /** Reads the status code of the next reply; undefined if none came before `until` or the card hung up. */
  async readStatus(until: number): Promise<number | undefined> {
    const link = this.#link;
    while (true) {
      const status = parseStatusLine(link.bytes());
      if (status) return status.status;
      if (status === null || link.ended || link.error) return undefined;
      if (!(await link.wait(until))) return undefined;
    }
  }

  /** Forgets whatever was received so far. */
  clearReceived(): void {
    this.#link.clear();
  }

  /** Closes the connection and waits until the sockets are released. */
  async close(): Promise<void> {
    this.#onClose?.();
    await Promise.all([...this.#sockets].reverse().map(waitForClose));
  }
}
