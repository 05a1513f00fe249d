/**
 * The registration and negotiation protocol between the agent and a
 * management card, in ONE place: every path, form field and page key, and the
 * pure functions that build, sign, parse and check its messages. The socket
 * code (`registration.ts` on the agent side, `src/sim/http.ts` and
 * `src/sim/negotiation.ts` on the simulated card) only moves these bytes.
 *
 * The vendor's registration requests are not published (shared/spec/wire.md
 * §11). This protocol is OURS, designed on the one published NMC pattern, the
 * kill-power flow (wire.md §8): an authenticated page carrying a `CS=`
 * challenge, then a form POST carrying MD5(fields + CS + user + phrase). The
 * phrase never crosses the wire, and the agent verifies the card's own MD5
 * before it trusts anything. To match a real card later, change the names
 * here (docs/registration.md lists what stays to be matched).
 *
 * Registration (agent -> card, on one connection):
 *
 * 1. `GET /pcnsreg.htm` -> a page signed like a UDP packet from `<html>` on:
 *    `PC=` card, `DT=`/`TM=` card clock, `SR=`/`SU=` counters, `CS=` challenge,
 *    `CN=` clients listed, `CM=` capacity (50), `MD=`.
 * 2. `POST /Forms/pcnsreg1`, url-encoded fields (in this order) `pcnsreg1_action`
 *    (register|unregister), `pcnsreg1_client_ip`, `pcnsreg1_client_udp_port`,
 *    `pcnsreg1_client_http_port`, `pcnsreg1_client_https_port`,
 *    `pcnsreg1_client_shutdown_seconds`, `pcnsreg1_client_nonce` (the agent's
 *    fresh nonce), then `pcnsreg1_md` = lower-case hex
 *    MD5(`name=value,` for each field in order + CS + user + phrase). With the
 *    single field `macontrol1_control_shutdown_1=1` this is exactly the
 *    kill-power answer.
 * 3. The card answers 200 with a signed page: `PC=`, `SR=`/`SU=` (newer than
 *    the page's), `CS=` (the challenge answered), `RN=` (the agent's nonce),
 *    `RA=` action, `CA=` client address, `RS=` OK|FULL|INVALID, `RE=` reason,
 *    `CN=`, `CM=`, `MD=`; or 403 (unsigned, text) when it cannot authenticate
 *    the answer (wrong MD5, stale or used challenge).
 *
 * Negotiation (card -> agent, "Force Negotiation"): `GET /pcnsnegotiate.htm?PC=<card>&CS=<nonce>`
 * on the agent's HTTP port or HTTPS port; the agent answers a block
 * `<html>`, `PCNSNEGOTIATE`, `PC=`, `HA=` host address, `UP=` UDP port,
 * `DL=` required seconds, `CS=` the nonce, `MD=` MD5(block up to `MD=` + user +
 * phrase), `</html>`. The card verifies it like a packet. The block carries no
 * `SR=`/`SU=`, so it can never pass as a card's packet or page.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { hostHeader } from "./cardreply.ts";
import { computeSignature, firstValue, locateSignature, parsePacket, signaturesEqual } from "./packet.ts";

// ---------------------------------------------------------------------------
// Names (the part to match against a real card)
// ---------------------------------------------------------------------------

/** The card's registration page (carries the challenge). */
export const REGISTRATION_PAGE_PATH = "/pcnsreg.htm";
/** Where the agent posts its (un)registration. */
export const REGISTRATION_FORM_PATH = "/Forms/pcnsreg1";
/** The agent's negotiation path, answered on its HTTP and HTTPS ports. */
export const NEGOTIATION_PATH = "/pcnsnegotiate.htm";

/** Form fields of the registration POST. */
export const REGISTRATION_FIELDS = {
  action: "pcnsreg1_action",
  address: "pcnsreg1_client_ip",
  udpPort: "pcnsreg1_client_udp_port",
  httpPort: "pcnsreg1_client_http_port",
  httpsPort: "pcnsreg1_client_https_port",
  seconds: "pcnsreg1_client_shutdown_seconds",
  nonce: "pcnsreg1_client_nonce",
  signature: "pcnsreg1_md",
} as const;

/** Keys of the card's signed registration page and reply. */
export const PAGE_KEYS = {
  card: "PC",
  date: "DT",
  time: "TM",
  challenge: "CS",
  clients: "CN",
  capacity: "CM",
  nonce: "RN",
  action: "RA",
  address: "CA",
  result: "RS",
  reason: "RE",
} as const;

/** Query parameters of the negotiation request. */
export const NEGOTIATION_QUERY = { card: "PC", nonce: "CS" } as const;

/** First line of the negotiation answer block after `<html>`. */
export const NEGOTIATION_MARKER = "PCNSNEGOTIATE";

/** Keys of the agent's negotiation answer. */
export const NEGOTIATION_KEYS = {
  card: "PC",
  address: "HA",
  udpPort: "UP",
  seconds: "DL",
  nonce: "CS",
} as const;

/** Most clients a card lists (AP9617 guide p.50; MACONFIG has 50 `CL=` slots). */
export const MAX_CARD_CLIENTS = 50;
/** What a card adds to the longest client delay for its Maximum Required Delay (NMC1: 2 min). */
export const NEGOTIATION_MARGIN_SECONDS = 120;
/** What a card assumes for a client that did not answer the negotiation (2 min). */
export const DEFAULT_CLIENT_SECONDS = 120;

/** What the agent asks for. */
export type RegistrationAction = "register" | "unregister";
/** The card's verdict on an authenticated registration. */
export type RegistrationOutcome = "OK" | "FULL" | "INVALID";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/** A fresh random nonce: 32 lower-case hex digits (128 bits). */
export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

/** True for a nonce/challenge this protocol accepts: 16 to 64 hex digits. */
export function isNonce(value: string): boolean {
  return /^[0-9A-Fa-f]{16,64}$/.test(value);
}

/** True for an address a client may register: IPv4 dotted quad or IPv6 literal (no zone). */
export function isClientAddress(value: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return value.split(".").every((p) => Number(p) <= 255);
  if (!value.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(value)) return false;
  try {
    new URL(`http://[${value}]/`);
    return true;
  } catch {
    return false;
  }
}

/** What a client registers (the values of the signed fields). */
export interface RegistrationFields {
  /** register or unregister. */
  readonly action: RegistrationAction;
  /** This host's address, as the card should list it. */
  readonly address: string;
  /** UDP port the card should send its packets to. */
  readonly udpPort: number;
  /** The agent's plain HTTP port (negotiation is answered there; 0 = none). */
  readonly httpPort: number;
  /** The agent's HTTPS port (0 = none). */
  readonly httpsPort: number;
  /** Seconds this host needs to shut down (the negotiated delay). */
  readonly seconds: number;
  /** The agent's fresh nonce; the card's signed reply echoes it. */
  readonly nonce: string;
}

const port = (n: number, zeroOk: boolean) => Number.isInteger(n) && n >= (zeroOk ? 0 : 1) && n <= 65535;

/** Every problem with registration values (empty when valid), each naming the field. */
export function registrationProblems(f: RegistrationFields): string[] {
  const problems: string[] = [];
  if (f.action !== "register" && f.action !== "unregister") {
    problems.push(`action "${f.action}" must be register or unregister`);
  }
  if (!isClientAddress(f.address)) {
    problems.push(`client address "${f.address}" is not an IPv4 or IPv6 address`);
  }
  if (!port(f.udpPort, false)) problems.push(`UDP port ${f.udpPort} is not 1-65535`);
  if (!port(f.httpPort, true)) problems.push(`HTTP port ${f.httpPort} is not 0-65535`);
  if (!port(f.httpsPort, true)) problems.push(`HTTPS port ${f.httpsPort} is not 0-65535`);
  if (!Number.isInteger(f.seconds) || f.seconds < 0 || f.seconds > 86_400) {
    problems.push(`shutdown seconds ${f.seconds} is not a whole number 0-86400`);
  }
  if (!isNonce(f.nonce)) problems.push(`nonce "${f.nonce}" is not 16-64 hex digits`);
  return problems;
}

/** The signed fields, in signing order, as `[name, value]`; throws naming every bad value. */
export function registrationFieldList(f: RegistrationFields): [string, string][] {
  const problems = registrationProblems(f);
  if (problems.length > 0) throw new Error(`bad registration values: ${problems.join("; ")}`);
  const F = REGISTRATION_FIELDS;
  return [
    [F.action, f.action],
    [F.address, f.address],
    [F.udpPort, String(f.udpPort)],
    [F.httpPort, String(f.httpPort)],
    [F.httpsPort, String(f.httpsPort)],
    [F.seconds, String(f.seconds)],
    [F.nonce, f.nonce.toLowerCase()],
  ];
}

/** The text a field list contributes to the MD5: `name=value,` for each field, in order. */
export function signedFieldText(fields: ReadonlyArray<readonly [string, string]>): string {
  return fields.map(([name, value]) => `${name}=${value},`).join("");
}

/** Lower-case hex MD5(`name=value,`... + challenge + user + phrase): the kill-power answer, generalised. */
export function signFields(
  fields: ReadonlyArray<readonly [string, string]>,
  challenge: string,
  username: string,
  phrase: string,
): string {
  return createHash("md5")
    .update(signedFieldText(fields), "latin1")
    .update(challenge, "latin1")
    .update(username, "latin1")
    .update(phrase, "latin1")
    .digest("hex");
}

/** The url-encoded form body: the fields, then the signature field. */
export function encodeRegistrationBody(fields: ReadonlyArray<readonly [string, string]>, md: string): string {
  return [...fields, [REGISTRATION_FIELDS.signature, md] as const]
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

/** `GET /pcnsreg.htm` for a card (keep-alive: the POST follows on the same connection). */
export function buildRegistrationPageRequest(card: string): Uint8Array {
  return encoder.encode(`GET ${REGISTRATION_PAGE_PATH} HTTP/1.1\r\nHost: ${hostHeader(card)}\r\n\r\n`);
}

/** The registration POST carrying `fields` and their signature. */
export function buildRegistrationPost(
  card: string,
  fields: ReadonlyArray<readonly [string, string]>,
  md: string,
): Uint8Array {
  const body = encodeRegistrationBody(fields, md);
  return encoder.encode(
    `POST ${REGISTRATION_FORM_PATH} HTTP/1.1\r\nHost: ${hostHeader(card)}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** A registration POST as the card reads it. */
export interface ParsedRegistrationForm {
  /** The values. */
  readonly fields: RegistrationFields;
  /** The signed fields in signing order (to recompute the MD5). */
  readonly signed: [string, string][];
  /** The signature sent. */
  readonly md: string;
}

/** Parses a registration form body (card side); an error names the first bad or missing field. */
export function parseRegistrationForm(body: Uint8Array | string): ParsedRegistrationForm | { error: string } {
  const params = new URLSearchParams(typeof body === "string" ? body : latin1.decode(body));
  const F = REGISTRATION_FIELDS;
  const get = (name: string) => params.get(name);
  for (const name of Object.values(F)) {
    if (get(name) === null) return { error: `field ${name} is missing` };
  }
  const md = get(F.signature)!;
  if (!/^[0-9a-f]{32}$/.test(md)) return { error: `field ${F.signature} is not 32 lower-case hex digits` };
  const number = (name: string) => /^\d{1,6}$/.test(get(name)!) ? Number(get(name)) : NaN;
  const fields: RegistrationFields = {
    action: get(F.action) as RegistrationAction,
    address: get(F.address)!,
    udpPort: number(F.udpPort),
    httpPort: number(F.httpPort),
    httpsPort: number(F.httpsPort),
    seconds: number(F.seconds),
    nonce: get(F.nonce)!,
  };
  const problems = registrationProblems(fields);
  if (problems.length > 0) return { error: problems.join("; ") };
  return { fields, signed: registrationFieldList(fields), md };
}

// ---------------------------------------------------------------------------
// Signed pages (card -> agent), laid out like the kill-power page
// ---------------------------------------------------------------------------

/** A signed block: `<html>`, head, `<body>`, the items (LF), `MD=`, `</body></html>`. */
export function buildSignedBlock(
  title: string,
  items: ReadonlyArray<readonly [string, string]>,
  username: string,
  phrase: string,
): string {
  let signed = `<html>\n<head><title>${title}</title></head>\n<body>\n`;
  for (const [key, value] of items) {
    if (/[\r\n<>]/.test(key + value)) {
      throw new Error(`page item ${key} must not contain a line break or < >`);
    }
    signed += `${key}=${value}\n`;
  }
  const md = computeSignature(encoder.encode(signed), username, phrase);
  return `${signed}MD=${md}\n</body>\n</html>\n`;
}

/** SR as two or more upper-case hex digits, SU as upper-case hex (as the card writes them). */
export function counterItems(sr: number, su: number): [string, string][] {
  return [
    ["SR", sr.toString(16).toUpperCase().padStart(2, "0")],
    ["SU", su.toString(16).toUpperCase()],
  ];
}

/** `MM/DD/YYYY` and `HH:MM:SS` of a time, in UTC (the simulated card's clock). */
export function cardClockItems(epochMs: number): [string, string][] {
  const d = new Date(epochMs);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return [
    ["DT", `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()}`],
    ["TM", `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`],
  ];
}

/** What the card's registration page carries besides the counters. */
export interface RegistrationPageInfo {
  /** The card's address (`PC=`). */
  readonly card: string;
  /** Reboot counter. */
  readonly sr: number;
  /** Uptime counter. */
  readonly su: number;
  /** The card's clock, epoch ms. */
  readonly now: number;
  /** The challenge (`CS=`). */
  readonly challenge: string;
  /** Clients listed now. */
  readonly clients: number;
}

/** The card's registration page body (signed like a packet from `<html>` on). */
export function buildRegistrationPage(info: RegistrationPageInfo, username: string, phrase: string): string {
  return buildSignedBlock(
    "PowerChute Registration",
    [
      ["PC", info.card],
      ...cardClockItems(info.now),
      ...counterItems(info.sr, info.su),
      ["CS", info.challenge],
      ["CN", String(info.clients)],
      ["CM", String(MAX_CARD_CLIENTS)],
    ],
    username,
    phrase,
  );
}

/** What the card's signed answer to a registration carries. */
export interface RegistrationReplyInfo {
  /** The card's address. */
  readonly card: string;
  /** Reboot counter. */
  readonly sr: number;
  /** Uptime counter (newer than the page's). */
  readonly su: number;
  /** The challenge that was answered. */
  readonly challenge: string;
  /** The agent's nonce from the form. */
  readonly nonce: string;
  /** The action asked for. */
  readonly action: RegistrationAction;
  /** The client address from the form. */
  readonly address: string;
  /** The verdict. */
  readonly outcome: RegistrationOutcome;
  /** One sentence (empty when OK). */
  readonly reason: string;
  /** Clients listed after the change. */
  readonly clients: number;
}

/** The card's signed answer to an authenticated registration. */
export function buildRegistrationReply(
  info: RegistrationReplyInfo,
  username: string,
  phrase: string,
): string {
  return buildSignedBlock(
    "PowerChute Registration",
    [
      ["PC", info.card],
      ...counterItems(info.sr, info.su),
      ["CS", info.challenge],
      ["RN", info.nonce],
      ["RA", info.action],
      ["CA", info.address],
      ["RS", info.outcome],
      ["RE", info.reason.replace(/[\r\n<>]/g, " ")],
      ["CN", String(info.clients)],
      ["CM", String(MAX_CARD_CLIENTS)],
    ],
    username,
    phrase,
  );
}

/** What the agent reads from a verified registration page. */
export interface RegistrationPageView {
  /** The challenge. */
  readonly challenge: string;
  /** `DT=` as sent, if any. */
  readonly date?: string;
  /** `TM=` as sent, if any. */
  readonly time?: string;
  /** Clients listed, if sent. */
  readonly clients?: number;
  /** Capacity, if sent. */
  readonly capacity?: number;
}

const optionalCount = (value: string | undefined) =>
  value !== undefined && /^\d{1,4}$/.test(value) ? Number(value) : undefined;

/** Reads a verified page's lines; an error sentence when it has no usable challenge. */
export function readRegistrationPage(
  lines: ReadonlyArray<{ key: string; value: string }>,
): RegistrationPageView | { error: string } {
  const challenge = firstValue({ lines }, PAGE_KEYS.challenge);
  if (!challenge) return { error: "has no CS= challenge" };
  if (!/^[\x21-\x7e]{1,128}$/.test(challenge)) return { error: "has a malformed CS= challenge" };
  return {
    challenge,
    date: firstValue({ lines }, PAGE_KEYS.date),
    time: firstValue({ lines }, PAGE_KEYS.time),
    clients: optionalCount(firstValue({ lines }, PAGE_KEYS.clients)),
    capacity: optionalCount(firstValue({ lines }, PAGE_KEYS.capacity)),
  };
}

/** What the agent reads from a verified registration reply. */
export interface RegistrationReplyView {
  /** The card's verdict. */
  readonly outcome: RegistrationOutcome;
  /** Its reason sentence. */
  readonly reason: string;
  /** Clients listed after the change, if sent. */
  readonly clients?: number;
}

/**
 * Checks that a verified reply answers THIS request (challenge, nonce,
 * action, address) and reads the verdict; an error sentence names the first
 * mismatch.
 */
export function readRegistrationReply(
  lines: ReadonlyArray<{ key: string; value: string }>,
  expected: { challenge: string; nonce: string; action: RegistrationAction; address: string },
): RegistrationReplyView | { error: string } {
  const value = (key: string) => firstValue({ lines }, key);
  const checks: [string, string, string][] = [
    [PAGE_KEYS.challenge, expected.challenge, "challenge"],
    [PAGE_KEYS.nonce, expected.nonce, "nonce"],
    [PAGE_KEYS.action, expected.action, "action"],
    [PAGE_KEYS.address, expected.address, "client address"],
  ];
  for (const [key, want, what] of checks) {
    const got = value(key);
    if (got !== want) {
      return { error: `answers another request: ${key}=${got ?? "(missing)"} is not our ${what} ${want}` };
    }
  }
  const outcome = value(PAGE_KEYS.result);
  if (outcome !== "OK" && outcome !== "FULL" && outcome !== "INVALID") {
    return { error: `has no valid RS= result (got ${outcome ?? "nothing"})` };
  }
  return {
    outcome,
    reason: value(PAGE_KEYS.reason) ?? "",
    clients: optionalCount(value(PAGE_KEYS.clients)),
  };
}

// ---------------------------------------------------------------------------
// Negotiation (card -> agent)
// ---------------------------------------------------------------------------

/** The negotiation request target (path and query) a card sends to a client. */
export function negotiationTarget(card: string, nonce: string): string {
  const q = new URLSearchParams({ [NEGOTIATION_QUERY.card]: card, [NEGOTIATION_QUERY.nonce]: nonce });
  return `${NEGOTIATION_PATH}?${q}`;
}

/** The full negotiation request (card side). */
export function buildNegotiationRequest(client: string, card: string, nonce: string): Uint8Array {
  return encoder.encode(
    `GET ${negotiationTarget(card, nonce)} HTTP/1.1\r\nHost: ${
      hostHeader(client)
    }\r\nConnection: close\r\n\r\n`,
  );
}

/** Reads the negotiation query (agent side); an error names what is wrong. */
export function parseNegotiationQuery(search: URLSearchParams): { card: string; nonce: string } | {
  error: string;
} {
  const card = search.get(NEGOTIATION_QUERY.card);
  const nonce = search.get(NEGOTIATION_QUERY.nonce);
  if (!card) return { error: `query parameter ${NEGOTIATION_QUERY.card} (the card's address) is missing` };
  if (card.length > 253 || !/^[A-Za-z0-9.:%_-]+$/.test(card)) {
    return { error: `query parameter ${NEGOTIATION_QUERY.card} is not an address` };
  }
  if (!nonce) return { error: `query parameter ${NEGOTIATION_QUERY.nonce} (the card's nonce) is missing` };
  if (!isNonce(nonce)) return { error: `query parameter ${NEGOTIATION_QUERY.nonce} is not 16-64 hex digits` };
  return { card, nonce };
}

/** What the agent answers to a negotiation. */
export interface NegotiationAnswerInfo {
  /** The card that asked (its configured address). */
  readonly card: string;
  /** This host's address as registered with that card ("" if unknown). */
  readonly address: string;
  /** The agent's UDP port. */
  readonly udpPort: number;
  /** Seconds this host needs to shut down. */
  readonly seconds: number;
  /** The card's nonce. */
  readonly nonce: string;
}

/** The agent's signed answer block: MD = MD5(block up to `MD=` + user + phrase). */
export function buildNegotiationAnswer(
  info: NegotiationAnswerInfo,
  username: string,
  phrase: string,
): string {
  const K = NEGOTIATION_KEYS;
  const items: [string, string][] = [
    [K.card, info.card],
    [K.address, info.address],
    [K.udpPort, String(info.udpPort)],
    [K.seconds, String(info.seconds)],
    [K.nonce, info.nonce],
  ];
  let signed = `<html>\n${NEGOTIATION_MARKER}\n`;
  for (const [key, value] of items) {
    if (/[\r\n<>]/.test(value)) {
      throw new Error(`negotiation item ${key} must not contain a line break or < >`);
    }
    signed += `${key}=${value}\n`;
  }
  const md = computeSignature(encoder.encode(signed), username, phrase);
  return `${signed}MD=${md}\n</html>\n`;
}

/** A verified negotiation answer (card side). */
export interface NegotiationAnswer {
  /** Seconds the client needs. */
  readonly seconds: number;
  /** The address the client says it has ("" if it did not say). */
  readonly address: string;
  /** The client's UDP port, if sent. */
  readonly udpPort?: number;
}

/**
 * Verifies a client's negotiation answer (card side): the marker, the MD5
 * with the card's credentials (constant-time), `PC=` = this card and `CS=` =
 * the nonce it sent, and a whole number of seconds. An error names what failed.
 */
export function verifyNegotiationAnswer(
  body: Uint8Array,
  expected: { card: string; nonce: string },
  username: string,
  phrase: string,
): NegotiationAnswer | { error: string } {
  const start = latin1.decode(body).indexOf("<html>");
  if (start < 0) return { error: "the answer has no <html> block" };
  const block = body.subarray(start);
  const signature = locateSignature(block);
  if (signature === undefined || signature.offset <= 0) return { error: "the answer is not signed (no MD=)" };
  const offset = signature.offset;
  const packet = parsePacket(block.subarray(0, offset));
  const marker = latin1.decode(block.subarray(0, offset)).split("\n")[1]?.trim();
  if (marker !== NEGOTIATION_MARKER) return { error: `the answer does not start with ${NEGOTIATION_MARKER}` };
  if (!signaturesEqual(computeSignature(block.subarray(0, offset), username, phrase), signature.value)) {
    return { error: "bad MD5: the client's user name or authentication phrase differs from the card's" };
  }
  const K = NEGOTIATION_KEYS;
  const card = firstValue(packet, K.card);
  if (card !== expected.card) {
    return { error: `the answer names card ${card ?? "(none)"}, not ${expected.card}` };
  }
  if (firstValue(packet, K.nonce) !== expected.nonce) return { error: "the answer does not carry our nonce" };
  const secondsText = firstValue(packet, K.seconds) ?? "";
  if (!/^\d{1,6}$/.test(secondsText)) {
    return { error: `DL="${secondsText}" is not a whole number of seconds` };
  }
  const udp = firstValue(packet, K.udpPort);
  return {
    seconds: Number(secondsText),
    address: firstValue(packet, K.address) ?? "",
    ...(udp && /^\d{1,5}$/.test(udp) ? { udpPort: Number(udp) } : {}),
  };
}

/** A card's Maximum Required Delay: the longest client need + 2 min (2 min per client when none answered). */
export function maximumRequiredDelay(clientSeconds: readonly number[]): number {
  const longest = clientSeconds.length ? Math.max(...clientSeconds) : DEFAULT_CLIENT_SECONDS;
  return longest + NEGOTIATION_MARGIN_SECONDS;
}
