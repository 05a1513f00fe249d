/**
 * The answer to a card's shutdown-time negotiation (pure): only a configured card asking from its own
 * address gets the signed block; everyone else gets the same refusal.
 *
 * @module
 */
import { cardNamed, normalizeSource } from "../nmc/gate.ts";
import { buildNegotiationAnswer, parseNegotiationQuery } from "../nmc/protocol.ts";
import type { RegistrarSettings } from "./registrar.ts";

/** An HTTP answer to a negotiation request. */
export interface NegotiationReply {
  /** Status code. */
  readonly status: number;
  /** Body (the signed block, or one sentence). */
  readonly body: string;
  /** The card that asked, when known. */
  readonly card?: string;
  /** Why it was refused. */
  readonly error?: string;
}

/** The one answer every refused negotiation gets, whatever the reason (it reveals nothing). */
export const NEGOTIATION_REFUSED_BODY = "negotiation refused\n";

/** The longest PC= value quoted in an event. */
const MAX_QUOTED_CARD = 64;

/** A client's PC= value as an event may quote it: address characters only, at most 64 of them. */
function quotedCard(card: string): string {
  const safe = card.replace(/[^A-Za-z0-9.:%_\[\]-]/g, "?");
  return safe.length > MAX_QUOTED_CARD
    ? `${safe.slice(0, MAX_QUOTED_CARD)}…[+${safe.length - MAX_QUOTED_CARD} chars]`
    : safe;
}

/**
 * Answers a card's negotiation request (pure). Only a configured card asking from its own address
 * gets an answer: 200 with the signed block carrying this host's address, UDP port, required seconds
 * and the nonce. A request from any other address, or naming another card than the one asking, gets
 * the same 403 {@link NEGOTIATION_REFUSED_BODY} (the reason goes to `error`, for the event only), so
 * the endpoint reveals neither which addresses are cards nor anything signed with the phrase. A
 * malformed query from a card's own address gets 400 with the reason. `cardAddresses` are those of the
 * cards given by host name (see `cardnames.ts`).
 */
export function answerNegotiation(
  query: URLSearchParams,
  settings: Pick<
    RegistrarSettings,
    "cards" | "username" | "authenticationPhrase" | "udpPort" | "requiredSeconds"
  >,
  hostAddress: (card: string) => string | undefined,
  remoteAddress: string,
  cardAddresses: ReadonlyMap<string, string> = new Map(),
): NegotiationReply {
  const from = normalizeSource(remoteAddress);
  const refused = (error: string, card?: string): NegotiationReply => ({
    status: 403,
    body: NEGOTIATION_REFUSED_BODY,
    card,
    error,
  });
  const asking = settings.cards.find((card) => normalizeSource(card) === from) ?? cardAddresses.get(from);
  if (asking === undefined) {
    const pc = query.get("PC");
    return refused(`not from a configured NMC${pc ? ` (PC=${quotedCard(pc)})` : ""}`);
  }
  const parsed = parseNegotiationQuery(query);
  if ("error" in parsed) return { status: 400, body: `${parsed.error}\n`, error: parsed.error };
  const named = cardNamed({ cards: settings.cards, cardAddresses }, parsed.card);
  if (normalizeSource(parsed.card) !== from || named !== asking) {
    return refused(`card ${asking} asked as PC=${quotedCard(parsed.card)}`, asking);
  }
  const body = buildNegotiationAnswer(
    {
      card: parsed.card,
      address: hostAddress(asking) ?? "",
      udpPort: settings.udpPort,
      seconds: settings.requiredSeconds,
      nonce: parsed.nonce,
    },
    settings.username,
    settings.authenticationPhrase,
  );
  return { status: 200, body, card: asking };
}
