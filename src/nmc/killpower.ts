/**
 * UPS turn-off ("kill power") through the management card's web server, byte
 * for byte as apcupsd's pcnet driver does it (shared/spec/wire.md §8):
 *
 * 1. connect to the card (HTTP, or HTTPS on newer cards);
 * 2. `GET /macontrol.htm`; the page carries a signed block (`PC=`, `SR=`,
 *    `SU=`, `CS=` challenge, `MD=`) that is authenticated exactly like a UDP
 *    packet, from `<html>` on;
 * 3. on the same connection, `POST /Forms/macontrol1` with the answer
 *    `MD5("macontrol1_control_shutdown_1=1," + CS + user + phrase)`.
 *
 * apcupsd never reads the card's answer to the POST; we read its status line
 * for a short while and report it. The pure helpers (request building, reply
 * parsing, answer computation) are exported for the tests and the simulator.
 *
 * @module
 */
import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { judgePacket, type ReplayCounters, type Verdict } from "./gate.ts";
import { firstValue } from "./packet.ts";

/** Where and how to reach the card whose UPS is to be turned off. */
export interface KillPowerTarget {
  /** The card's address, as configured; also the `PC=` the page must carry. */
  readonly card: string;
  /** Plain HTTP (old cards, apcupsd) or HTTPS (NMC2 >= 6.8.0, NMC3). */
  readonly protocol: "http" | "https";
  /** TCP port of the card's web server. */
  readonly port: number;
  /** Accept any server certificate (self-signed cards) instead of verifying it. */
  readonly acceptCerts: boolean;
  /** PowerChute user name configured on the card. */
  readonly username: string;
  /** Authentication phrase configured on the card. */
  readonly authenticationPhrase: string;
  /** PEM certificates to trust for the card (its CA, or its own pinned certificate). */
  readonly caCerts?: readonly string[];
}

/** Tuning and hooks for `turnOffUps`. */
export interface KillPowerOptions {
  /** Time limit for the whole exchange, ms (default 10 000). */
  readonly timeoutMs?: number;
  /** The card's last accepted replay counters; the page must be newer. */
  readonly lastCounters?: (card: string) => ReplayCounters | undefined;
  /** Called when the page was accepted, so the caller's gate advances its counters (as apcupsd does). */
  readonly onAccepted?: (card: string, counters: ReplayCounters) => void;
  /** Connect to this address instead of `card` (tests); `card` still names the card everywhere else. */
  readonly connectHost?: string;
  /** Stop after verifying the page and its challenge: nothing is posted (the "Check details" probe). */
  readonly checkOnly?: boolean;
}

/** Where the exchange stopped: the step that failed, or "done". */
export type KillPowerStep = "connect" | "tls" | "page" | "verify" | "challenge" | "post" | "done";

/** Outcome of `turnOffUps`; problems are reported here, never thrown. */
export interface KillPowerResult {
  /** True once the answer was sent and the card did not refuse it. */
  readonly ok: boolean;
  /** True if the card confirmed the turn-off with a 2xx/3xx status. */
  readonly confirmed: boolean;
  /** The card addressed. */
  readonly card: string;
  /** The failed step, or "done". */
  readonly step: KillPowerStep;
  /** One sentence naming the cause, when `ok` is false. */
  readonly error?: string;
  /** On success: what the card said (or that it said nothing). */
  readonly detail?: string;
  /** Status code of the card's answer to the POST, if one came. */
  readonly httpStatus?: number;
  /** Time the exchange took, ms. */
  readonly durationMs: number;
}

/** Path of the page that carries the challenge. */
export const CONTROL_PAGE_PATH = "/macontrol.htm";
/** Path the answer is posted to. */
export const CONTROL_FORM_PATH = "/Forms/macontrol1";
/** Name of the form field that carries the answer. */
export const CONTROL_FIELD = "macontrol1_control_shutdown_1";
/** Most bytes read from the card for the page. */
export const MAX_REPLY_BYTES = 64 * 1024;
/** Default time limit of the whole exchange, ms. */
export const DEFAULT_KILL_POWER_TIMEOUT_MS = 10_000;
/** Longest wait for the card's answer to the POST, ms. */
export const POST_REPLY_WAIT_MS = 3_000;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** The `Host:` header value for a card: the address itself, IPv6 in brackets. */
export function hostHeader(card: string): string {
  return card.includes(":") && !card.startsWith("[") ? `[${card}]` : card;
}

/** The page request, exactly as apcupsd sends it. */
export function buildPageRequest(card: string): Uint8Array {
  return encoder.encode(`GET ${CONTROL_PAGE_PATH} HTTP/1.1\r\nHost: ${hostHeader(card)}\r\n\r\n`);
}

/** The answer to a challenge: lower-case hex MD5 of `macontrol1_control_shutdown_1=1,` + CS + user + phrase. */
export function challengeAnswer(challenge: string, username: string, phrase: string): string {
  return createHash("md5")
    .update(`${CONTROL_FIELD}=1,`, "latin1")
    .update(challenge, "latin1")
    .update(username, "latin1")
    .update(phrase, "latin1")
    .digest("hex");
}

/** The url-encoded form body carrying an answer, as apcupsd writes it (72 bytes for a 32-digit answer). */
export function buildAnswerBody(answer: string): string {
  return `macontrol1%5fcontrol%5fshutdown%5f1=1%2C${answer}`;
}

/** The POST that answers the challenge, exactly as apcupsd sends it. */
export function buildAnswerRequest(card: string, answer: string): Uint8Array {
  const body = buildAnswerBody(answer);
  return encoder.encode(
    `POST ${CONTROL_FORM_PATH} HTTP/1.1\r\nHost: ${hostHeader(card)}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** Index of `needle` in `haystack` at or after `from`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Status line and headers of an HTTP reply. */
export interface ReplyHead {
  /** Status code. */
  readonly status: number;
  /** Reason phrase. */
  readonly reason: string;
  /** Header fields, names in lower case (the last of repeated fields wins). */
  readonly headers: ReadonlyMap<string, string>;
  /** Offset of the first body byte. */
  readonly bodyOffset: number;
}

const HEAD_END = encoder.encode("\r\n\r\n");

/** True if `text` (no line end yet) can still grow into a status line `HTTP/1.x NNN`. */
function couldBeStatusLine(text: string): boolean {
  const template = "HTTP/1.x 000";
  for (let i = 0; i < Math.min(text.length, template.length); i++) {
    const ch = text[i];
    const ok = i === 7 ? ch === "0" || ch === "1" : i >= 9 ? ch >= "0" && ch <= "9" : ch === template[i];
    if (!ok) return false;
  }
  return text.length < 256;
}

/**
 * Parses the status line (`HTTP/1.x NNN reason`) at the start of `data`;
 * undefined while the line is incomplete, null if it is not HTTP.
 */
export function parseStatusLine(data: Uint8Array): { status: number; reason: string } | undefined | null {
  const eol = indexOfBytes(data, encoder.encode("\r\n"));
  if (eol < 0) return couldBeStatusLine(latin1.decode(data.subarray(0, 256))) ? undefined : null;
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(latin1.decode(data.subarray(0, eol)));
  return match ? { status: Number(match[1]), reason: match[2] ?? "" } : null;
}

/** Parses the reply head; undefined while incomplete, null if the reply is not HTTP. */
export function parseReplyHead(data: Uint8Array): ReplyHead | undefined | null {
  const status = parseStatusLine(data);
  if (status === null) return null;
  const end = indexOfBytes(data, HEAD_END);
  if (status === undefined || end < 0) return undefined;
  const headers = new Map<string, string>();
  for (const line of latin1.decode(data.subarray(0, end)).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { ...status, headers, bodyOffset: end + HEAD_END.length };
}

/** A chunked body decoded so far: `done` once the last (zero-size) chunk was seen. */
export interface ChunkedBody {
  /** The data of the complete chunks. */
  readonly data: Uint8Array;
  /** True once the zero-size chunk was read. */
  readonly done: boolean;
}

/** Decodes a chunked body as far as it goes; null if the framing is broken. */
export function decodeChunked(body: Uint8Array): ChunkedBody | null {
  const parts: Uint8Array[] = [];
  let at = 0;
  const finish = (done: boolean): ChunkedBody => {
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) (data.set(part, offset), offset += part.length);
    return { data, done };
  };
  while (true) {
    const eol = indexOfBytes(body, encoder.encode("\r\n"), at);
    if (eol < 0) return body.length - at > 32 ? null : finish(false);
    const sizeText = latin1.decode(body.subarray(at, eol)).split(";")[0].trim();
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return null;
    const size = parseInt(sizeText, 16);
    if (size === 0) return finish(true);
    const start = eol + 2;
    if (body.length < start + size + 2) return finish(false);
    if (body[start + size] !== 0x0d || body[start + size + 1] !== 0x0a) return null;
    parts.push(body.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** A complete reply: status and decoded body. */
export interface HttpReply {
  /** Status code. */
  readonly status: number;
  /** Reason phrase. */
  readonly reason: string;
  /** The body, de-chunked. */
  readonly body: Uint8Array;
}

/**
 * Decides whether a reply is complete and decodes it. `ended` tells whether
 * the peer closed the connection (then whatever arrived is all there is).
 * Returns undefined while more is expected, or an error sentence.
 */
export function parseReply(data: Uint8Array, ended: boolean): HttpReply | { error: string } | undefined {
  const head = parseReplyHead(data);
  if (head === null) return { error: "the card's answer is not HTTP" };
  if (head === undefined) {
    return ended ? { error: "the card closed the connection in the middle of its answer" } : undefined;
  }
  const body = data.subarray(head.bodyOffset);
  const base = { status: head.status, reason: head.reason };
  if (/\bchunked\b/i.test(head.headers.get("transfer-encoding") ?? "")) {
    const chunked = decodeChunked(body);
    if (chunked === null) return { error: "the card's chunked answer is garbled" };
    if (chunked.done) return { ...base, body: chunked.data };
    return ended
      ? { error: "the card closed the connection before the end of its chunked answer" }
      : undefined;
  }
  const lengthText = head.headers.get("content-length");
  if (lengthText !== undefined) {
    const length = /^\d+$/.test(lengthText) ? Number(lengthText) : NaN;
    if (Number.isNaN(length)) return { error: `the card sent a bad Content-Length "${lengthText}"` };
    if (body.length >= length) return { ...base, body: body.subarray(0, length) };
    return ended ? { error: "the card closed the connection before the end of its answer" } : undefined;
  }
  return ended ? { ...base, body } : undefined;
}

/** The page text from `<html>` on (what is signed like a packet), or undefined if there is no `<html>`. */
export function extractSignedPage(body: Uint8Array): Uint8Array | undefined {
  const at = indexOfBytes(body, encoder.encode("<html>"));
  return at < 0 ? undefined : body.subarray(at);
}

/** One sentence explaining why the gate refused the page. */
export function describePageRejection(verdict: Extract<Verdict, { accepted: false }>, card: string): string {
  switch (verdict.reason) {
    case "bad-md5":
      return `the control page of card ${card} is not authenticated: bad MD5, so the user name or ` +
        `authentication phrase differs from the card's PowerChute settings`;
    case "unknown-card":
      return `the control page does not come from card ${card} (wrong PC: ${verdict.detail})`;
    case "replay":
    case "no-counters":
      return `the control page of card ${card} looks replayed or stale (${verdict.detail})`;
    default:
      return `the control page of card ${card} is not a valid signed page (${verdict.reason}: ${verdict.detail})`;
  }
}

// ---------------------------------------------------------------------------
// Socket I/O
// ---------------------------------------------------------------------------

class Failure extends Error {
  constructor(readonly step: KillPowerStep, message: string) {
    super(message);
  }
}

type NodeError = Error & { code?: string };

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

function errorText(error: unknown): string {
  const e = error as NodeError;
  const message = e?.message ?? String(error);
  return e?.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

function describeConnectError(error: NodeError, where: string): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return `connection to card ${where} refused: nothing listens there (wrong port or protocol, ` +
        `or the card's web server is off)`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `card ${where} is unreachable (${errorText(error)})`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve the card's address ${where} (${errorText(error)})`;
    case "ECONNRESET":
      return `card ${where} reset the connection (${errorText(error)})`;
    default:
      return `cannot connect to card ${where}: ${errorText(error)}`;
  }
}

function describeTlsError(error: NodeError, card: string): string {
  const code = error.code ?? "";
  const text = errorText(error);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `TLS certificate problem: the card's certificate does not name ${card} (${text}); ` +
      `set acceptCerts or configure the card by the name in its certificate`;
  }
  if (/CERT|SELF_SIGNED|ISSUER|VERIFY|SIGNATURE/.test(code) || /certificate/i.test(error.message ?? "")) {
    return `TLS certificate problem: the certificate of card ${card} is not trusted (${text}); ` +
      `set acceptCerts or give the card's certificate (or its CA) as a trusted CA`;
  }
  if (/WRONG_VERSION|RECORD|PROTOCOL/.test(code)) {
    return `TLS handshake with card ${card} failed: the port does not seem to speak TLS ` +
      `(is the card's web server plain HTTP?) (${text})`;
  }
  return `TLS handshake with card ${card} failed (${text})`;
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

/** Opens the TCP connection; fails at "connect". */
function connectTcp(host: string, port: number, deadline: number, where: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const ms = Math.max(0, deadline - Date.now());
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Failure("connect", `timed out after ${ms} ms waiting for card ${where} to accept the connection`),
      );
    }, ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", (error: NodeError) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Failure("connect", describeConnectError(error, where)));
    });
  });
}

/** Runs the TLS handshake over a connected socket; fails at "tls". */
function startTls(raw: net.Socket, target: KillPowerTarget, deadline: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket: raw,
      rejectUnauthorized: !target.acceptCerts,
      minVersion: "TLSv1.2",
      ...(target.caCerts ? { ca: [...target.caCerts] } : {}),
      ...(net.isIP(target.card) === 0 ? { servername: target.card } : {}),
    });
    const ms = Math.max(0, deadline - Date.now());
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new Failure("tls", `timed out after ${ms} ms in the TLS handshake with card ${target.card}`));
    }, ms);
    secure.once("secureConnect", () => {
      clearTimeout(timer);
      secure.removeAllListeners("error");
      secure.on("error", () => {}); // the reader attaches its own handler next
      resolve(secure);
    });
    secure.once("error", (error: NodeError) => {
      clearTimeout(timer);
      secure.on("error", () => {});
      secure.destroy();
      reject(new Failure("tls", describeTlsError(error, target.card)));
    });
  });
}

/** Reads the page reply; fails at "page". */
async function readPage(link: Link, deadline: number, timeoutMs: number, card: string): Promise<HttpReply> {
  while (true) {
    if (link.length > MAX_REPLY_BYTES) {
      throw new Failure("page", `the card's answer to ${CONTROL_PAGE_PATH} is larger than 64 KiB`);
    }
    const reply = parseReply(link.bytes(), link.ended || link.error !== undefined);
    if (reply !== undefined) {
      if ("error" in reply) {
        const why = link.error && link.length === 0 ? `: ${errorText(link.error)}` : "";
        if (link.length === 0) {
          throw new Failure(
            "page",
            `card ${card} closed the connection without answering ${CONTROL_PAGE_PATH}${why}`,
          );
        }
        throw new Failure("page", `${reply.error} (reading ${CONTROL_PAGE_PATH})`);
      }
      return reply;
    }
    if (!(await link.wait(deadline))) {
      throw new Failure(
        "page",
        `timed out after ${timeoutMs} ms waiting for card ${card} to send ${CONTROL_PAGE_PATH}`,
      );
    }
  }
}

/** Reads the status line of the answer to the POST; undefined if none came before `until` or the card hung up. */
async function readPostStatus(link: Link, until: number): Promise<number | undefined> {
  while (true) {
    const status = parseStatusLine(link.bytes());
    if (status) return status.status;
    if (status === null || link.ended || link.error) return undefined;
    if (!(await link.wait(until))) return undefined;
  }
}

/**
 * Turns the UPS off through its card: fetches the signed control page,
 * verifies it like a UDP packet (MD5, `PC=`, fresh SR/SU), and posts the
 * answer to its challenge on the same connection. Never throws for network
 * or protocol problems: they come back as `ok: false` with the failed step.
 */
export async function turnOffUps(
  target: KillPowerTarget,
  options: KillPowerOptions = {},
): Promise<KillPowerResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_KILL_POWER_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const host = options.connectHost ?? target.card;
  const where = `${hostHeader(host)}:${target.port}`;
  const sockets: net.Socket[] = [];
  let step: KillPowerStep = "connect";
  const result = (r: Omit<KillPowerResult, "card" | "durationMs">): KillPowerResult => ({
    card: target.card,
    ...r,
    durationMs: Math.round(performance.now() - started),
  });

  try {
    const raw = await connectTcp(host, target.port, deadline, where);
    sockets.push(raw);
    let socket: net.Socket = raw;
    if (target.protocol === "https") {
      step = "tls";
      socket = await startTls(raw, target, deadline);
      sockets.push(socket);
    }
    const link = new Link(socket);

    step = "page";
    await link.write(buildPageRequest(target.card));
    const reply = await readPage(link, deadline, timeoutMs, target.card);
    if (reply.status !== 200) {
      throw new Failure(
        "page",
        `card ${target.card} answered HTTP ${reply.status} ${reply.reason} for ${CONTROL_PAGE_PATH}`.trim(),
      );
    }
    const page = extractSignedPage(reply.body);
    if (page === undefined) {
      throw new Failure("page", `the card's ${CONTROL_PAGE_PATH} has no <html> section`);
    }

    step = "verify";
    const settings = {
      username: target.username,
      authenticationPhrase: target.authenticationPhrase,
      cards: [target.card],
    };
    const verdict = judgePacket(page, settings, (card) => options.lastCounters?.(card));
    if (!verdict.accepted) throw new Failure("verify", describePageRejection(verdict, target.card));
    options.onAccepted?.(target.card, verdict.packet.counters);

    step = "challenge";
    const challenge = firstValue(verdict.packet, "CS");
    if (!challenge) {
      throw new Failure("challenge", `the control page of card ${target.card} has no CS= challenge`);
    }

    if (options.checkOnly) {
      return result({
        ok: true,
        confirmed: false,
        step: "challenge",
        detail: `card ${target.card} is reachable, its page verifies with these credentials and carries a ` +
          "challenge; nothing was sent",
      });
    }

    step = "post";
    link.clear();
    const answer = challengeAnswer(challenge, target.username, target.authenticationPhrase);
    try {
      await link.write(buildAnswerRequest(target.card, answer));
    } catch (error) {
      throw new Failure("post", `could not send the answer to card ${target.card}: ${errorText(error)}`);
    }
    const httpStatus = await readPostStatus(link, Math.min(deadline, Date.now() + POST_REPLY_WAIT_MS));
    if (httpStatus === undefined) {
      return result({
        ok: true,
        confirmed: false,
        step: "done",
        detail: `turn-off sent to card ${target.card}; the card did not confirm it`,
      });
    }
    if (httpStatus >= 400) {
      return result({
        ok: false,
        confirmed: false,
        step: "post",
        httpStatus,
        error: `card ${target.card} refused the answer to its challenge (HTTP ${httpStatus})`,
      });
    }
    const confirmed = httpStatus >= 200 && httpStatus < 400;
    return result({
      ok: true,
      confirmed,
      step: "done",
      httpStatus,
      detail: confirmed
        ? `card ${target.card} accepted the turn-off (HTTP ${httpStatus})`
        : `turn-off sent to card ${target.card}; it answered HTTP ${httpStatus}`,
    });
  } catch (error) {
    if (error instanceof Failure) {
      return result({ ok: false, confirmed: false, step: error.step, error: error.message });
    }
    return result({ ok: false, confirmed: false, step, error: `unexpected failure: ${errorText(error)}` });
  } finally {
    await Promise.all(sockets.reverse().map(waitForClose));
  }
}

/**
 * Checks a card without turning anything off: connects (TLS per target),
 * fetches and verifies the signed control page (credentials, card address,
 * counters) and its challenge, and stops there.
 */
export function checkNmc(
  target: KillPowerTarget,
  options: Omit<KillPowerOptions, "checkOnly"> = {},
): Promise<KillPowerResult> {
  return turnOffUps(target, { ...options, checkOnly: true });
}
