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
 * parsing, answer computation) are exported for the tests and the simulator;
 * the socket and HTTP parts are shared with registration in `cardhttp.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CardConnection, CardHttpError, errorText } from "./cardhttp.ts";
import { describeSignedPageRejection, extractSignedPage, hostHeader } from "./cardreply.ts";
import { judgeSignedPage, type ReplayCounters, type Verdict } from "./gate.ts";
import { firstValue } from "./packet.ts";

export {
  type ChunkedBody,
  decodeChunked,
  extractSignedPage,
  hostHeader,
  type HttpReply,
  indexOfBytes,
  MAX_REPLY_BYTES,
  parseReply,
  parseReplyHead,
  parseStatusLine,
  type ReplyHead,
} from "./cardreply.ts";

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
/** Default time limit of the whole exchange, ms. */
export const DEFAULT_KILL_POWER_TIMEOUT_MS = 10_000;
/** Longest wait for the card's answer to the POST, ms. */
export const POST_REPLY_WAIT_MS = 3_000;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

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

/** One sentence explaining why the gate refused the page. */
export function describePageRejection(verdict: Extract<Verdict, { accepted: false }>, card: string): string {
  return describeSignedPageRejection(verdict, card, "the control page");
}

// ---------------------------------------------------------------------------
// Socket I/O (cardhttp.ts)
// ---------------------------------------------------------------------------

class Failure extends Error {
  constructor(readonly step: KillPowerStep, message: string) {
    super(message);
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
  let connection: CardConnection | undefined;
  let step: KillPowerStep = "connect";
  const result = (r: Omit<KillPowerResult, "card" | "durationMs">): KillPowerResult => ({
    card: target.card,
    ...r,
    durationMs: Math.round(performance.now() - started),
  });

  try {
    connection = await CardConnection.open({ ...target, connectHost: options.connectHost }, deadline);

    step = "page";
    const reply = await connection.request(
      buildPageRequest(target.card),
      CONTROL_PAGE_PATH,
      deadline,
      timeoutMs,
    );
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
    const verdict = judgeSignedPage(page, settings, (card) => options.lastCounters?.(card));
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
    connection.clearReceived();
    const answer = challengeAnswer(challenge, target.username, target.authenticationPhrase);
    try {
      await connection.send(buildAnswerRequest(target.card, answer), "the answer");
    } catch (error) {
      throw new Failure("post", `could not send the answer to card ${target.card}: ${errorText(error)}`);
    }
    const httpStatus = await connection.readStatus(Math.min(deadline, Date.now() + POST_REPLY_WAIT_MS));
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
    if (error instanceof CardHttpError) {
      const failedAt: KillPowerStep = error.stage === "reply" ? "page" : error.stage;
      return result({ ok: false, confirmed: false, step: failedAt, error: error.message });
    }
    return result({ ok: false, confirmed: false, step, error: `unexpected failure: ${errorText(error)}` });
  } finally {
    await connection?.close();
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
