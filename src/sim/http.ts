/**
 * The simulated card's web server, for the UPS turn-off ("kill power") flow
 * of shared/spec/wire.md §8, over plain HTTP or HTTPS:
 *
 * - `GET /macontrol.htm` answers, chunked like an AP9617, with a page whose
 *   block (`PC=`, `SR=`, `SU=`, `CS=` challenge, `MD=`) is signed like a UDP
 *   packet from `<html>` on. SR/SU come from the simulator and advance, so the
 *   page is newer than every packet sent before it.
 * - `POST /Forms/macontrol1` with `macontrol1_control_shutdown_1=1,<h>` turns
 *   the UPS off when `h` answers an outstanding, unexpired challenge (single
 *   use); the next status packet then carries `SD=1`. Anything else gets 403.
 * - Registration (src/nmc/protocol.ts, docs/registration.md): `GET /pcnsreg.htm`
 *   gives a signed page with a fresh challenge; `POST /Forms/pcnsreg1` with the
 *   signed fields adds the client to (or removes it from) the simulator's client
 *   list, when the MD5 answers an outstanding, unexpired registration challenge
 *   (single use: a replay or a stale challenge gets 403, as does a wrong MD5);
 *   the 51st client is refused (`RS=FULL`). The answer is a signed page that
 *   echoes the challenge, the client's nonce, the action and the address.
 *
 * Raw sockets (Deno.listen / Deno.listenTls) so the page and the answer can
 * share one connection, as apcupsd expects.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { challengeAnswer, CONTROL_FIELD, CONTROL_FORM_PATH, CONTROL_PAGE_PATH } from "../nmc/killpower.ts";
import { computeSignature, signaturesEqual } from "../nmc/packet.ts";
import {
  buildRegistrationPage,
  buildRegistrationReply,
  parseRegistrationForm,
  REGISTRATION_FORM_PATH,
  REGISTRATION_PAGE_PATH,
  type RegistrationAction,
  type RegistrationOutcome,
  signFields,
} from "../nmc/protocol.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { chunkedResponse, HTTP_REASONS, parseRequest, plainResponse } from "./httpwire.ts";
import type { NmcSimulator } from "./simulator.ts";

/** Options of the simulated card's web server. */
export interface NmcWebServerOptions {
  /** Plain HTTP (default) or HTTPS (needs `cert` and `key`). */
  readonly protocol?: "http" | "https";
  /** PEM certificate (chain) for HTTPS. */
  readonly cert?: string;
  /** PEM private key for HTTPS. */
  readonly key?: string;
  /** Listen address (default 127.0.0.1). */
  readonly hostname?: string;
  /** Listen port (default 0: an ephemeral port). */
  readonly port?: number;
  /** How long a challenge stays valid, ms (default 60 000). */
  readonly challengeTtlMs?: number;
  /** Time source for challenge expiry and records (only `now()` is used). */
  readonly clock?: Pick<Clock, "now">;
  /** Called for every accepted turn-off. */
  readonly onTurnOff?: (record: TurnOffRecord) => void;
  /** Called for every authenticated registration or removal (accepted or refused as full). */
  readonly onRegistration?: (record: RegistrationRecord) => void;
}

/** An authenticated registration request and what the card did with it. */
export interface RegistrationRecord {
  /** When, epoch ms. */
  readonly at: number;
  /** The connecting client's address. */
  readonly remoteAddress: string;
  /** register or unregister. */
  readonly action: RegistrationAction;
  /** The address in the form. */
  readonly address: string;
  /** UDP port in the form. */
  readonly udpPort: number;
  /** Seconds the client needs. */
  readonly seconds: number;
  /** The verdict. */
  readonly outcome: RegistrationOutcome;
  /** Clients listed afterwards. */
  readonly clients: number;
}

/** An accepted turn-off request. */
export interface TurnOffRecord {
  /** When it was accepted, epoch ms. */
  readonly at: number;
  /** The client's address. */
  readonly remoteAddress: string;
  /** The challenge it answered. */
  readonly challenge: string;
}

/** Why an answer was refused. */
export type RefusalReason = "malformed" | "no-challenge" | "wrong-answer" | "expired" | "consumed";

/** A refused turn-off or registration request. */
export interface RefusalRecord {
  /** When it was refused, epoch ms. */
  readonly at: number;
  /** Which flow: the turn-off (default) or registration. */
  readonly flow?: "turn-off" | "registration";
  /** The client's address. */
  readonly remoteAddress: string;
  /** Why. */
  readonly reason: RefusalReason;
  /** One sentence for logs. */
  readonly detail: string;
}

/** What the control page carries. */
export interface ControlPageFields {
  /** The card's address (`PC=`). */
  readonly card: string;
  /** Reboot counter. */
  readonly sr: number;
  /** Uptime counter. */
  readonly su: number;
  /** The challenge (`CS=`). */
  readonly challenge: string;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const MAX_CHALLENGES = 1024;

/** The control page body: `<html>`, the signed block (LF line ends, like a packet), `</html>`. */
export function buildControlPage(fields: ControlPageFields, username: string, phrase: string): string {
  const signed = "<html>\n<head><title>UPS Control</title></head>\n<body>\n" +
    `PC=${fields.card}\n` +
    `SR=${fields.sr.toString(16).toUpperCase().padStart(2, "0")}\n` +
    `SU=${fields.su.toString(16).toUpperCase()}\n` +
    `CS=${fields.challenge}\n`;
  const md = computeSignature(encoder.encode(signed), username, phrase);
  return `${signed}MD=${md}\n</body>\n</html>\n`;
}

/** The answer `h` from a url-encoded form body with `macontrol1_control_shutdown_1=1,<h>`, or undefined. */
export function readAnswer(body: Uint8Array): string | undefined {
  const value = new URLSearchParams(latin1.decode(body)).get(CONTROL_FIELD);
  const match = value === null ? null : /^1,([0-9A-Fa-f]{32})$/.exec(value);
  return match?.[1];
}

interface Challenge {
  readonly issuedAt: number;
  used: boolean;
}

type AnswerVerdict =
  | { readonly accepted: true; readonly challenge: string }
  | { readonly accepted: false; readonly reason: RefusalReason; readonly detail: string };

/** The single-use, expiring challenges of one flow (a challenge of one flow never answers another). */
class ChallengeBook {
  readonly #challenges = new Map<string, Challenge>();
  constructor(readonly ttlMs: number, readonly clock: Pick<Clock, "now">) {}

  /** Hands out a fresh challenge (16 hex digits). */
  issue(): string {
    const now = this.clock.now();
    for (const [challenge, entry] of this.#challenges) {
      if (now - entry.issuedAt > 2 * this.ttlMs || this.#challenges.size > MAX_CHALLENGES) {
        this.#challenges.delete(challenge);
      }
    }
    const challenge = randomBytes(8).toString("hex");
    this.#challenges.set(challenge, { issuedAt: now, used: false });
    return challenge;
  }

  /** Challenges handed out and neither used nor expired. */
  outstanding(): number {
    const now = this.clock.now();
    return [...this.#challenges.values()].filter((c) => !c.used && now - c.issuedAt <= this.ttlMs).length;
  }

  /**
   * Finds the challenge `answers` accepts, the connection's own first, then
   * every remembered one; a match is used up. Refusals name why.
   */
  judge(answers: (challenge: string) => boolean, connChallenge: string | undefined): AnswerVerdict {
    const now = this.clock.now();
    const candidates = [...this.#challenges.keys()];
    if (connChallenge !== undefined) candidates.unshift(connChallenge);
    for (const challenge of candidates) {
      const entry = this.#challenges.get(challenge);
      if (!entry || !answers(challenge)) continue;
      if (entry.used) return { accepted: false, reason: "consumed", detail: "challenge already used" };
      if (now - entry.issuedAt > this.ttlMs) {
        return { accepted: false, reason: "expired", detail: `challenge expired (${this.ttlMs} ms)` };
      }
      entry.used = true;
      return { accepted: true, challenge };
    }
    const open = [...this.#challenges.values()].some((c) => !c.used && now - c.issuedAt <= this.ttlMs);
    return open
      ? {
        accepted: false,
        reason: "wrong-answer",
        detail: "answer does not match the challenge (wrong user name or authentication phrase)",
      }
      : { accepted: false, reason: "no-challenge", detail: "no challenge outstanding: fetch the page first" };
  }
}

/** The simulated card's web server (see the module doc); listening as soon as it is constructed. */
export class NmcWebServer {
  /** Accepted turn-offs, oldest first. */
  readonly turnOffs: TurnOffRecord[] = [];
  /** Refused answers, oldest first. */
  readonly refusals: RefusalRecord[] = [];
  /** Authenticated registrations and removals, oldest first. */
  readonly registrations: RegistrationRecord[] = [];
  /** Called for every accepted turn-off (replaces the option's callback when set). */
  onTurnOff: ((record: TurnOffRecord) => void) | undefined;
  /** Called for every authenticated registration or removal. */
  onRegistration: ((record: RegistrationRecord) => void) | undefined;
  /** HTTP or HTTPS. */
  readonly protocol: "http" | "https";

  readonly #sim: NmcSimulator;
  readonly #clock: Pick<Clock, "now">;
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #control: ChallengeBook;
  readonly #registration: ChallengeBook;
  readonly #accepting: Promise<void>;
  #closed = false;

  /** Starts listening for `sim` (its address, credentials, counters and UPS). */
  constructor(sim: NmcSimulator, options: NmcWebServerOptions = {}) {
    this.#sim = sim;
    this.#clock = options.clock ?? systemClock;
    const ttl = options.challengeTtlMs ?? 60_000;
    this.#control = new ChallengeBook(ttl, this.#clock);
    this.#registration = new ChallengeBook(ttl, this.#clock);
    this.onTurnOff = options.onTurnOff;
    this.onRegistration = options.onRegistration;
    this.protocol = options.protocol ?? "http";
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 0;
    if (this.protocol === "https") {
      if (!options.cert || !options.key) throw new Error("an HTTPS card web server needs cert and key");
      this.#listener = Deno.listenTls({ hostname, port, cert: options.cert, key: options.key });
    } else {
      this.#listener = Deno.listen({ hostname, port });
    }
    this.#accepting = this.#accept();
  }

  /** The address it listens on. */
  get hostname(): string {
    return (this.#listener.addr as Deno.NetAddr).hostname;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Turn-off challenges handed out and neither used nor expired. */
  get outstandingChallenges(): number {
    return this.#control.outstanding();
  }

  /** Registration challenges handed out and neither used nor expired. */
  get outstandingRegistrationChallenges(): number {
    return this.#registration.outstanding();
  }

  /** The simulated card this server belongs to. */
  get simulator(): NmcSimulator {
    return this.#sim;
  }

  /** Stops listening, drops every connection and waits until all is released. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    await this.#accepting;
    await Promise.all([...this.#handlers]);
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // listener closed
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      this.#conns.add(conn);
      const handler = this.#serve(conn).finally(() => {
        this.#conns.delete(conn);
        this.#handlers.delete(handler);
      });
      this.#handlers.add(handler);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const remoteAddress = (conn.remoteAddr as Deno.NetAddr).hostname;
    let pending = new Uint8Array(0);
    let connChallenge: string | undefined;
    let connRegistrationChallenge: string | undefined;
    const chunk = new Uint8Array(4096);
    try {
      while (true) {
        const request = parseRequest(pending);
        if (request === undefined) {
          const n = await conn.read(chunk);
          if (n === null) return;
          const grown = new Uint8Array(pending.length + n);
          grown.set(pending);
          grown.set(chunk.subarray(0, n), pending.length);
          pending = grown;
          continue;
        }
        if ("error" in request) {
          const reason = HTTP_REASONS[request.status] ?? "Bad Request";
          await this.#write(
            conn,
            plainResponse(request.status, reason, `<html>${request.error}</html>\n`, true),
          );
          return;
        }
        pending = pending.slice(request.size);
        let response: Uint8Array;
        if (request.path === CONTROL_PAGE_PATH && request.method === "GET") {
          const page = this.#page();
          connChallenge = page.challenge;
          response = chunkedResponse(200, "OK", page.html);
        } else if (request.path === CONTROL_FORM_PATH && request.method === "POST") {
          const verdict = this.#judge(readAnswer(request.body), connChallenge);
          if (verdict.accepted) {
            this.#turnOff(remoteAddress, verdict.challenge);
            response = chunkedResponse(200, "OK", "<html>UPS turn off initiated</html>\n");
          } else {
            this.refusals.push({
              at: this.#clock.now(),
              remoteAddress,
              reason: verdict.reason,
              detail: verdict.detail,
            });
            response = plainResponse(403, "Forbidden", `<html>${verdict.detail}</html>\n`);
          }
        } else if (request.path === REGISTRATION_PAGE_PATH && request.method === "GET") {
          const page = this.#registrationPage();
          connRegistrationChallenge = page.challenge;
          response = chunkedResponse(200, "OK", page.html);
        } else if (request.path === REGISTRATION_FORM_PATH && request.method === "POST") {
          response = this.#register(request.body, connRegistrationChallenge, remoteAddress);
        } else if (
          [CONTROL_PAGE_PATH, CONTROL_FORM_PATH, REGISTRATION_PAGE_PATH, REGISTRATION_FORM_PATH].includes(
            request.path,
          )
        ) {
          response = plainResponse(405, "Method Not Allowed", "<html>method not allowed</html>\n");
        } else {
          response = plainResponse(404, "Not Found", "<html>not found</html>\n");
        }
        await this.#write(conn, response);
        if (/close/i.test(request.headers.get("connection") ?? "")) return;
      }
    } catch {
      // peer went away, TLS handshake failed, or the server is closing
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }

  async #write(conn: Deno.Conn, data: Uint8Array): Promise<void> {
    let at = 0;
    while (at < data.length) at += await conn.write(data.subarray(at));
  }

  #page(): { html: string; challenge: string } {
    const challenge = this.#control.issue();
    const { sr, su } = this.#sim.nextCounters();
    const { username, authenticationPhrase } = this.#sim.credentials;
    const html = buildControlPage(
      { card: this.#sim.address, sr, su, challenge },
      username,
      authenticationPhrase,
    );
    return { html, challenge };
  }

  /** Checks a turn-off answer against the connection's challenge first, then every remembered one. */
  #judge(answer: string | undefined, connChallenge: string | undefined): AnswerVerdict {
    if (answer === undefined) {
      return {
        accepted: false,
        reason: "malformed",
        detail: `field ${CONTROL_FIELD} is missing or not "1,<32 hex digits>"`,
      };
    }
    const { username, authenticationPhrase } = this.#sim.credentials;
    return this.#control.judge(
      (challenge) => signaturesEqual(challengeAnswer(challenge, username, authenticationPhrase), answer),
      connChallenge,
    );
  }

  #registrationPage(): { html: string; challenge: string } {
    const challenge = this.#registration.issue();
    const { sr, su } = this.#sim.nextCounters();
    const { username, authenticationPhrase } = this.#sim.credentials;
    const html = buildRegistrationPage(
      {
        card: this.#sim.address,
        sr,
        su,
        now: this.#clock.now(),
        challenge,
        clients: this.#sim.clients.length,
      },
      username,
      authenticationPhrase,
    );
    return { html, challenge };
  }

  #refuse(remoteAddress: string, reason: RefusalReason, detail: string): void {
    this.refusals.push({ at: this.#clock.now(), flow: "registration", remoteAddress, reason, detail });
  }

  /** Handles a registration POST: 400 malformed, 403 unauthenticated, else 200 with a signed answer. */
  #register(body: Uint8Array, connChallenge: string | undefined, remoteAddress: string): Uint8Array {
    const form = parseRegistrationForm(body);
    if ("error" in form) {
      this.#refuse(remoteAddress, "malformed", form.error);
      return plainResponse(400, "Bad Request", `<html>malformed: ${form.error}</html>\n`);
    }
    const { username, authenticationPhrase } = this.#sim.credentials;
    const verdict = this.#registration.judge(
      (challenge) =>
        signaturesEqual(signFields(form.signed, challenge, username, authenticationPhrase), form.md),
      connChallenge,
    );
    if (!verdict.accepted) {
      this.#refuse(remoteAddress, verdict.reason, verdict.detail);
      return plainResponse(403, "Forbidden", `<html>${verdict.reason}: ${verdict.detail}</html>\n`);
    }
    const f = form.fields;
    let outcome: RegistrationOutcome = "OK";
    let reason = "";
    if (f.action === "register") {
      const added = this.#sim.registerClient({
        address: f.address,
        udpPort: f.udpPort,
        httpPort: f.httpPort,
        httpsPort: f.httpsPort,
        seconds: f.seconds,
      });
      if (added === "full") {
        outcome = "FULL";
        reason = `the client list already holds ${this.#sim.clients.length} clients`;
      }
    } else if (!this.#sim.unregisterClient(f.address)) {
      reason = "was not listed";
    }
    const clients = this.#sim.clients.length;
    const record: RegistrationRecord = {
      at: this.#clock.now(),
      remoteAddress,
      action: f.action,
      address: f.address,
      udpPort: f.udpPort,
      seconds: f.seconds,
      outcome,
      clients,
    };
    this.registrations.push(record);
    try {
      this.onRegistration?.(record);
    } catch {
      // a failing observer must not break the card
    }
    const { sr, su } = this.#sim.nextCounters();
    const html = buildRegistrationReply(
      {
        card: this.#sim.address,
        sr,
        su,
        challenge: verdict.challenge,
        nonce: f.nonce,
        action: f.action,
        address: f.address,
        outcome,
        reason,
        clients,
      },
      username,
      authenticationPhrase,
    );
    return chunkedResponse(200, "OK", html);
  }

  #turnOff(remoteAddress: string, challenge: string): void {
    const record: TurnOffRecord = { at: this.#clock.now(), remoteAddress, challenge };
    this.turnOffs.push(record);
    this.#sim.update({ shuttingDown: true });
    try {
      this.onTurnOff?.(record);
    } catch {
      // a failing observer must not break the card
    }
  }
}
