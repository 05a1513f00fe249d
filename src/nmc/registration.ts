/**
 * Registration of this host with a management card, and its removal, over
 * the card's web server (HTTP or HTTPS), following the kill-power pattern
 * (see `protocol.ts` for the messages and docs/registration.md):
 *
 * 1. connect (TLS 1.2+ for HTTPS; a pinned certificate fingerprint is
 *    compared before anything is sent);
 * 2. `GET /pcnsreg.htm`; the page is authenticated exactly like a UDP packet
 *    (MD5 with user + phrase, `PC=` = the card, SR/SU newer than the last
 *    accepted) before anything in it is used;
 * 3. on the same connection, `POST /Forms/pcnsreg1` with the signed fields
 *    (MD5 over fields + CS + user + phrase: the phrase never crosses the wire);
 * 4. the card's answer must itself be signed, newer than its page, and echo
 *    our challenge, nonce, action and address.
 *
 * Problems come back as `ok: false` with the failed step, a cause code and one
 * sentence; nothing here throws for network or protocol problems.
 *
 * @module
 */
import dns from "node:dns";
import {
  CardConnection,
  type CardEndpoint,
  type CardHttpCause,
  CardHttpError,
  errorText,
  type PeerCertificate,
} from "./cardhttp.ts";
import { extractSignedPage } from "./cardreply.ts";
import { judgeSignedPage, type ReplayCounters, type Verdict } from "./gate.ts";
import {
  buildRegistrationPageRequest,
  buildRegistrationPost,
  isClientAddress,
  newNonce,
  readRegistrationPage,
  readRegistrationReply,
  REGISTRATION_FORM_PATH,
  REGISTRATION_PAGE_PATH,
  type RegistrationAction,
  registrationFieldList,
  signFields,
} from "./protocol.ts";

/** A card to register with, and the credentials shared with it. */
export interface RegistrationTarget extends CardEndpoint {
  /** PowerChute user name configured on the card. */
  readonly username: string;
  /** Authentication phrase configured on the card. */
  readonly authenticationPhrase: string;
}

/** What this host registers. */
export interface ClientDescription {
  /**
   * Address to register. Undefined: the local address of the connection to
   * the card (the interface that routes to it). A host name is resolved.
   */
  readonly hostAddress?: string;
  /** UDP port the card should send to. */
  readonly udpPort: number;
  /** The agent's plain HTTP port (negotiation; 0 = none). */
  readonly httpPort: number;
  /** The agent's HTTPS port (0 = none). */
  readonly httpsPort: number;
  /** Seconds this host needs to shut down (totalShutdownSeconds). */
  readonly requiredSeconds: number;
}

/** Where a registration stopped: the failed step, or "done". */
export type RegistrationStep =
  | "connect"
  | "tls"
  | "pin"
  | "page"
  | "verify"
  | "challenge"
  | "address"
  | "post"
  | "reply"
  | "done";

/**
 * Why a registration failed: a transport cause from `cardhttp.ts`, or
 * `pin-mismatch` (the card's certificate is not the pinned one),
 * `not-found` (the card has no registration page: it does not speak this
 * protocol), `credentials` (the card's page does not verify with our user
 * name and phrase, or the card refused our answer as wrong), `wrong-card`
 * (the page names another card), `stale` (the page is not newer than what was
 * seen before), `card-md5` (the card's answer to the POST is not correctly
 * signed or answers another request), `card-refused` (the card refused the
 * answer: stale or used challenge), `list-full` (50 clients already),
 * `invalid` (the card found a value invalid), `address` (no usable host
 * address), `protocol` (a page without a challenge and the like).
 */
export type RegistrationCause =
  | CardHttpCause
  | "pin-mismatch"
  | "not-found"
  | "credentials"
  | "wrong-card"
  | "stale"
  | "card-md5"
  | "card-refused"
  | "list-full"
  | "invalid"
  | "address"
  | "protocol";

/** Tuning and hooks. */
export interface RegistrationOptions {
  /** Time limit of the whole exchange, ms (default 10 000). */
  readonly timeoutMs?: number;
  /** The card's last accepted replay counters; the page must be newer. */
  readonly lastCounters?: (card: string) => ReplayCounters | undefined;
  /** Expected certificate fingerprint (HTTPS): another certificate is refused before anything is sent. */
  readonly pin?: string;
  /** Nonce source (tests). */
  readonly nonce?: () => string;
  /** Ends the exchange early (the agent stopping). */
  readonly signal?: AbortSignal;
}

/** Outcome of a registration exchange. */
export interface RegistrationResult {
  /** True when the card confirmed (or, for a probe, when the page verified). */
  readonly ok: boolean;
  /** The card addressed. */
  readonly card: string;
  /** What was asked ("probe": page only). */
  readonly action: RegistrationAction | "probe";
  /** The failed step, or "done" ("challenge" for a successful probe). */
  readonly step: RegistrationStep;
  /** Cause code when `ok` is false. */
  readonly cause?: RegistrationCause;
  /** One sentence naming the cause, when `ok` is false. */
  readonly error?: string;
  /** On success: what the card said. */
  readonly detail?: string;
  /** The address registered (or that would be). */
  readonly hostAddress?: string;
  /** The local address of the connection to the card. */
  readonly localAddress?: string;
  /** The card's certificate (HTTPS). */
  readonly certificate?: PeerCertificate;
  /** True once the card's page verified with our credentials (the card knows the phrase). */
  readonly pageVerified: boolean;
  /** The newest counters accepted from the card (page or answer). */
  readonly counters?: ReplayCounters;
  /** The card's clock from its page (`DT=`, `TM=`). */
  readonly cardClock?: { readonly date?: string; readonly time?: string };
  /** Clients the card lists (after the change, when it said). */
  readonly clients?: number;
  /** Clients the card can list. */
  readonly capacity?: number;
  /** HTTP status of the answer to the POST. */
  readonly httpStatus?: number;
  /** Time the exchange took, ms. */
  readonly durationMs: number;
}

/** Default time limit of one exchange, ms. */
export const DEFAULT_REGISTRATION_TIMEOUT_MS = 10_000;

class Failure extends Error {
  constructor(readonly step: RegistrationStep, readonly code: RegistrationCause, message: string) {
    super(message);
  }
}

/** The cause code for a gate verdict on the card's registration page. */
export function pageRejectionCause(verdict: Extract<Verdict, { accepted: false }>): RegistrationCause {
  switch (verdict.reason) {
    case "bad-md5":
      return "credentials";
    case "unknown-card":
      return "wrong-card";
    case "replay":
    case "no-counters":
      return "stale";
    default:
      return "protocol";
  }
}

/** One sentence for a refused registration page. */
export function describeRegistrationPageRejection(
  verdict: Extract<Verdict, { accepted: false }>,
  card: string,
): string {
  switch (verdict.reason) {
    case "bad-md5":
      return `bad credentials: the registration page of card ${card} does not verify with this user name ` +
        `and authentication phrase (bad MD5), so they differ from the card's PowerChute settings`;
    case "unknown-card":
      return `the registration page does not come from card ${card} (wrong PC: ${verdict.detail})`;
    case "replay":
    case "no-counters":
      return `the registration page of card ${card} looks replayed or stale (${verdict.detail})`;
    default:
      return `the registration page of card ${card} is not a valid signed page (${verdict.reason}: ` +
        `${verdict.detail})`;
  }
}

/** Resolves a configured host address to an IP (IPv4 first); an IP literal is returned as is. */
export async function resolveHostAddress(value: string, timeoutMs = 5000): Promise<string> {
  const bare = value.replace(/^\[(.*)\]$/, "$1");
  if (isClientAddress(bare)) return bare;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const lookup = async () => {
      try {
        return (await dns.promises.lookup(bare, { family: 4 })).address;
      } catch {
        return (await dns.promises.lookup(bare)).address;
      }
    };
    return await Promise.race([lookup(), timeout]);
  } catch (error) {
    throw new Error(`cannot resolve localHostAddress "${value}": ${errorText(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

function transportFailure(error: CardHttpError, requestStep: RegistrationStep): Failure {
  const step: RegistrationStep = error.stage === "reply" ? requestStep : error.stage;
  return new Failure(step, error.causeCode, error.message);
}

async function exchange(
  target: RegistrationTarget,
  action: RegistrationAction | "probe",
  client: ClientDescription | undefined,
  options: RegistrationOptions,
): Promise<RegistrationResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_REGISTRATION_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const card = target.card;
  let connection: CardConnection | undefined;
  let step: RegistrationStep = "connect";
  const seen: {
    certificate?: PeerCertificate;
    localAddress?: string;
    hostAddress?: string;
    pageVerified: boolean;
    counters?: ReplayCounters;
    cardClock?: { date?: string; time?: string };
    clients?: number;
    capacity?: number;
    httpStatus?: number;
  } = { pageVerified: false };
  const result = (r: Pick<RegistrationResult, "ok" | "step" | "cause" | "error" | "detail">) => ({
    card,
    action,
    ...seen,
    ...r,
    durationMs: Math.round(performance.now() - started),
  });

  try {
    try {
      connection = await CardConnection.open(target, deadline, options.signal);
    } catch (error) {
      if (error instanceof CardHttpError) throw transportFailure(error, "page");
      throw error;
    }
    seen.localAddress = connection.localAddress;
    seen.certificate = connection.certificate;

    step = "pin";
    const presented = connection.certificate?.sha256;
    if (options.pin && presented !== undefined && presented !== options.pin) {
      throw new Failure(
        "pin",
        "pin-mismatch",
        `the certificate of card ${card} changed: SHA-256 ${presented} is not the pinned ${options.pin}; ` +
          "nothing was sent (if the card's certificate was replaced on purpose, run " +
          "`pcns-agent register --repin`)",
      );
    }

    step = "page";
    const page = await requestOrFail(
      connection,
      buildRegistrationPageRequest(card),
      REGISTRATION_PAGE_PATH,
      "page",
      deadline,
      timeoutMs,
    );
    if (page.status === 404) {
      throw new Failure(
        "page",
        "not-found",
        `card ${card} has no registration page ${REGISTRATION_PAGE_PATH} (HTTP 404): it does not speak ` +
          "this agent's registration protocol (see docs/registration.md); add this host to the card's " +
          "PowerChute client list by hand",
      );
    }
    if (page.status !== 200) {
      throw new Failure(
        "page",
        "http",
        `card ${card} answered HTTP ${page.status} ${page.reason} for ${REGISTRATION_PAGE_PATH}`.trim(),
      );
    }
    const signedPage = extractSignedPage(page.body);
    if (signedPage === undefined) {
      throw new Failure("page", "protocol", `the card's ${REGISTRATION_PAGE_PATH} has no <html> section`);
    }

    step = "verify";
    const settings = {
      username: target.username,
      authenticationPhrase: target.authenticationPhrase,
      cards: [card],
    };
    const verdict = judgeSignedPage(signedPage, settings, (c) => options.lastCounters?.(c));
    if (!verdict.accepted) {
      throw new Failure(
        "verify",
        pageRejectionCause(verdict),
        describeRegistrationPageRejection(verdict, card),
      );
    }
    seen.pageVerified = true;
    seen.counters = verdict.packet.counters;

    step = "challenge";
    const view = readRegistrationPage(verdict.packet.lines);
    if ("error" in view) {
      throw new Failure("challenge", "protocol", `the registration page of card ${card} ${view.error}`);
    }
    seen.cardClock = { date: view.date, time: view.time };
    seen.clients = view.clients;
    seen.capacity = view.capacity;

    if (action === "probe" || client === undefined) {
      return result({
        ok: true,
        step: "challenge",
        detail: `card ${card} is reachable and its registration page verifies with these credentials; ` +
          "nothing was sent",
      });
    }

    step = "address";
    let hostAddress: string;
    try {
      hostAddress = client.hostAddress
        ? await resolveHostAddress(client.hostAddress, Math.max(1, deadline - Date.now()))
        : connection.localAddress;
    } catch (error) {
      throw new Failure("address", "address", (error as Error).message);
    }
    if (!isClientAddress(hostAddress)) {
      throw new Failure(
        "address",
        "address",
        `no usable address of this host to register with card ${card} (got "${hostAddress}"); ` +
          "set [NetworkManagementCard] localHostAddress",
      );
    }
    seen.hostAddress = hostAddress;

    step = "post";
    const nonce = (options.nonce ?? newNonce)();
    let fields: [string, string][];
    try {
      fields = registrationFieldList({
        action,
        address: hostAddress,
        udpPort: client.udpPort,
        httpPort: client.httpPort,
        httpsPort: client.httpsPort,
        seconds: client.requiredSeconds,
        nonce,
      });
    } catch (error) {
      throw new Failure("post", "invalid", (error as Error).message);
    }
    const md = signFields(fields, view.challenge, target.username, target.authenticationPhrase);
    const answer = await requestOrFail(
      connection,
      buildRegistrationPost(card, fields, md),
      REGISTRATION_FORM_PATH,
      "post",
      deadline,
      timeoutMs,
    );
    seen.httpStatus = answer.status;
    const said = new TextDecoder("latin1").decode(answer.body).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ")
      .trim().slice(0, 200);
    if (answer.status === 403) {
      const wrong = /wrong|answer does not match|credential/i.test(said);
      throw new Failure(
        "post",
        wrong ? "credentials" : "card-refused",
        wrong
          ? `bad credentials: card ${card} refused our answer to its challenge (HTTP 403: ${said})`
          : `card ${card} refused the ${action} (HTTP 403: ${said || "no reason given"})`,
      );
    }
    if (answer.status === 404) {
      throw new Failure(
        "post",
        "not-found",
        `card ${card} has no ${REGISTRATION_FORM_PATH} (HTTP 404): it does not speak this agent's ` +
          "registration protocol (see docs/registration.md)",
      );
    }
    if (answer.status !== 200) {
      throw new Failure("post", "http", `card ${card} answered HTTP ${answer.status} to the ${action}`);
    }

    step = "reply";
    const signedReply = extractSignedPage(answer.body);
    if (signedReply === undefined) {
      throw new Failure("reply", "card-md5", `card ${card} answered the ${action} without a signed page`);
    }
    const replyVerdict = judgeSignedPage(signedReply, settings, () => seen.counters);
    if (!replyVerdict.accepted) {
      const why = replyVerdict.reason === "bad-md5"
        ? "bad MD5 from the card"
        : `${replyVerdict.reason}: ${replyVerdict.detail}`;
      throw new Failure(
        "reply",
        "card-md5",
        `the answer of card ${card} to the ${action} cannot be trusted (${why}); its page verified, so ` +
          "the answer was altered or does not come from the card",
      );
    }
    seen.counters = replyVerdict.packet.counters;
    const reply = readRegistrationReply(replyVerdict.packet.lines, {
      challenge: view.challenge,
      nonce,
      action,
      address: hostAddress,
    });
    if ("error" in reply) {
      throw new Failure("reply", "card-md5", `the signed answer of card ${card} ${reply.error}`);
    }
    if (reply.clients !== undefined) seen.clients = reply.clients;
    if (reply.outcome === "FULL") {
      throw new Failure(
        "reply",
        "list-full",
        `card ${card} refused the registration: its client list is full (${seen.capacity ?? 50} clients)` +
          (reply.reason ? `: ${reply.reason}` : ""),
      );
    }
    if (reply.outcome === "INVALID") {
      throw new Failure(
        "reply",
        "invalid",
        `card ${card} refused the ${action}: ${reply.reason || "invalid values"}`,
      );
    }
    return result({
      ok: true,
      step: "done",
      detail: action === "register"
        ? `card ${card} registered ${hostAddress} (UDP port ${client.udpPort}, ${client.requiredSeconds} s to shut ` +
          `down); it lists ${seen.clients ?? "?"} client(s)`
        : `card ${card} removed ${hostAddress} from its client list${
          reply.reason ? ` (${reply.reason})` : ""
        }`,
    });
  } catch (error) {
    if (error instanceof Failure) {
      return result({ ok: false, step: error.step, cause: error.code, error: error.message });
    }
    if (error instanceof CardHttpError) {
      const failure = transportFailure(error, step);
      return result({ ok: false, step: failure.step, cause: failure.code, error: failure.message });
    }
    return result({ ok: false, step, cause: "network", error: `unexpected failure: ${errorText(error)}` });
  } finally {
    await connection?.close();
  }
}

async function requestOrFail(
  connection: CardConnection,
  request: Uint8Array,
  what: string,
  step: RegistrationStep,
  deadline: number,
  timeoutMs: number,
) {
  try {
    return await connection.request(request, what, deadline, timeoutMs);
  } catch (error) {
    if (error instanceof CardHttpError) throw transportFailure(error, step);
    throw error;
  }
}

/** Registers this host with a card (see the module doc). Never throws for network or protocol problems. */
export function registerWithCard(
  target: RegistrationTarget,
  client: ClientDescription,
  options: RegistrationOptions = {},
): Promise<RegistrationResult> {
  return exchange(target, "register", client, options);
}

/** Removes this host from a card's client list. Never throws for network or protocol problems. */
export function unregisterFromCard(
  target: RegistrationTarget,
  client: ClientDescription,
  options: RegistrationOptions = {},
): Promise<RegistrationResult> {
  return exchange(target, "unregister", client, options);
}

/**
 * Checks a card without changing anything: connects (TLS, pin), fetches and
 * verifies the registration page (credentials, card address, counters) and
 * its challenge, and stops there. The result carries the certificate, the
 * local address and the card's clock.
 */
export function probeCard(
  target: RegistrationTarget,
  options: RegistrationOptions = {},
): Promise<RegistrationResult> {
  return exchange(target, "probe", undefined, options);
}
