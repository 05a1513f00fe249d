/**
 * The simulated card's "Force Negotiation" (AP9617 guide p.50): the card asks
 * every registered client for the time it needs to shut down, over HTTP or
 * HTTPS, with a fresh nonce per client, verifies each signed answer (MD5 with
 * the card's credentials, its own address, the nonce), and sets its Maximum
 * Required Delay to the longest need + 2 minutes. A client that does not
 * answer, or whose answer does not verify, counts as 2 minutes (as a card
 * without negotiation assumes). Protocol: src/nmc/protocol.ts.
 *
 * @module
 */
import { CardConnection, CardHttpError, errorText } from "../nmc/cardhttp.ts";
import {
  buildNegotiationRequest,
  DEFAULT_CLIENT_SECONDS,
  maximumRequiredDelay,
  NEGOTIATION_PATH,
  newNonce,
  verifyNegotiationAnswer,
} from "../nmc/protocol.ts";
import type { RegisteredClient } from "./simulator.ts";

/** What the card needs to negotiate. */
export interface NegotiatingCard {
  /** The card's address (sent as `PC=`, expected back). */
  readonly address: string;
  /** Its PowerChute credentials (to verify the answers). */
  readonly credentials: { readonly username: string; readonly authenticationPhrase: string };
  /** The clients to ask. */
  readonly registeredClients: readonly RegisteredClient[];
}

/** Options of a negotiation round. */
export interface NegotiationOptions {
  /** Ask the clients over "http" (their HTTP port; default) or "https" (their HTTPS port). */
  readonly protocol?: "http" | "https";
  /** Time limit per client, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Verify the clients' certificates (default false: a card accepts the agents' self-signed ones). */
  readonly verifyCerts?: boolean;
  /** Connect to this host instead of each client's address (tests). */
  readonly connectHost?: string;
}

/** One client's part of a negotiation. */
export interface ClientNegotiation {
  /** The client's registered address. */
  readonly address: string;
  /** True when it answered with a verified need. */
  readonly ok: boolean;
  /** Seconds it needs (as answered), or the 2 min assumed. */
  readonly seconds: number;
  /** Why its answer was not used. */
  readonly error?: string;
}

/** The outcome of a negotiation round. */
export interface NegotiationResult {
  /** Per client. */
  readonly clients: readonly ClientNegotiation[];
  /** The card's new Maximum Required Delay, seconds (longest need + 120). */
  readonly maximumRequiredDelaySeconds: number;
}

/** Asks one client for its shutdown time. */
export async function negotiateWith(
  card: NegotiatingCard,
  client: RegisteredClient,
  options: NegotiationOptions = {},
): Promise<ClientNegotiation> {
  const protocol = options.protocol ?? "http";
  const port = protocol === "https" ? client.httpsPort : client.httpPort;
  const assumed = { address: client.address, ok: false, seconds: DEFAULT_CLIENT_SECONDS };
  if (!port) return { ...assumed, error: `the client registered no ${protocol.toUpperCase()} port` };
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  const nonce = newNonce();
  let connection: CardConnection | undefined;
  try {
    connection = await CardConnection.open({
      card: client.address,
      protocol,
      port,
      acceptCerts: !options.verifyCerts,
      connectHost: options.connectHost,
    }, deadline);
    const reply = await connection.request(
      buildNegotiationRequest(client.address, card.address, nonce),
      NEGOTIATION_PATH,
      deadline,
      timeoutMs,
    );
    if (reply.status !== 200) {
      return { ...assumed, error: `the client answered HTTP ${reply.status} ${reply.reason}`.trim() };
    }
    const { username, authenticationPhrase } = card.credentials;
    const answer = verifyNegotiationAnswer(
      reply.body,
      { card: card.address, nonce },
      username,
      authenticationPhrase,
    );
    if ("error" in answer) return { ...assumed, error: answer.error };
    if (answer.address && answer.address !== client.address) {
      return { ...assumed, error: `the answer names host ${answer.address}, not ${client.address}` };
    }
    return { address: client.address, ok: true, seconds: answer.seconds };
  } catch (error) {
    return { ...assumed, error: error instanceof CardHttpError ? error.message : errorText(error) };
  } finally {
    await connection?.close();
  }
}

/** Runs a negotiation round with every registered client (in parallel). */
export async function forceNegotiation(
  card: NegotiatingCard,
  options: NegotiationOptions = {},
): Promise<NegotiationResult> {
  const clients = await Promise.all(card.registeredClients.map((c) => negotiateWith(card, c, options)));
  return {
    clients,
    maximumRequiredDelaySeconds: maximumRequiredDelay(clients.map((c) => c.seconds)),
  };
}
