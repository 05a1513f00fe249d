/**
 * The agent's registrar: keeps this host registered with every configured
 * NMC (`ip_1..ip_9`), as PCNS does at start and after a configuration change,
 * and answers the cards' shutdown-time negotiation.
 *
 * - One worker per card, never two exchanges with a card at once. A failed
 *   attempt raises `RegistrationFailed` naming the cause and is retried with
 *   backoff (5 s, 10 s, 20 s, ... capped at 5 min) on the injected Clock.
 * - A changed setting that the card must know (credentials, protocol, port,
 *   address, UDP port, shutdown time, web ports) re-registers at once; a card
 *   removed from the config is unregistered (best effort, once).
 * - HTTPS: the certificate is verified unless `acceptCerts`; in both cases the
 *   first contact whose page verifies records its SHA-256 fingerprint in
 *   `nmc-pins.json` (trust on first use), and a different certificate later is
 *   refused before anything is sent (`CardCertificateChanged`).
 * - Registration state per card (`status()`): the phase, the last error and
 *   cause, the next attempt, the certificate and pin, and whether the card's
 *   MACONFIG client list (`CL=`) shows this host (IPv4 only).
 *
 * Pure parts are exported functions: the backoff schedule and the settings
 * diff key here, the listed check and summary text in registration_status.ts,
 * the negotiation answer in negotiation.ts; the class only adds timers and I/O.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { ReplayCounters } from "../nmc/gate.ts";
import { isNewer } from "../nmc/gate.ts";
import type { CardPin, PinStore } from "../nmc/pins.ts";
import { isClientAddress } from "../nmc/protocol.ts";
import {
  type ClientDescription,
  registerWithCard,
  type RegistrationOptions,
  type RegistrationResult,
  type RegistrationTarget,
  unregisterFromCard,
} from "../nmc/registration.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import { answerNegotiation, type NegotiationReply } from "./negotiation.ts";
import {
  type CertificateState,
  listedState,
  type NmcRegistrationStatus,
  type RegistrationPhase,
  registrationSummary,
} from "./registration_status.ts";

/** What the registrar needs from the configuration (see `registrarSettings` in wiring.ts). */
export interface RegistrarSettings {
  /** Register at all (`registerWithNmc`). */
  readonly enabled: boolean;
  /** Card addresses, in order. */
  readonly cards: readonly string[];
  /** How to reach the cards. */
  readonly protocol: "http" | "https";
  /** Their web server port. */
  readonly port: number;
  /** Accept an untrusted card certificate. */
  readonly acceptCerts: boolean;
  /** PowerChute user name. */
  readonly username: string;
  /** Authentication phrase. */
  readonly authenticationPhrase: string;
  /** Configured address of this host ("" = the interface that routes to the card). */
  readonly localHostAddress: string;
  /** The agent's UDP port. */
  readonly udpPort: number;
  /** Seconds this host needs to shut down (totalShutdownSeconds). */
  readonly requiredSeconds: number;
  /** The agent's configured HTTP and HTTPS ports (a change re-registers). */
  readonly webPorts: { readonly httpPort: number; readonly httpsPort: number };
}

/** The exchanges with a card (replaceable in tests). */
export interface RegistrarExchange {
  /** Registers this host with a card. */
  register(target: RegistrationTarget, client: ClientDescription, options: RegistrationOptions): Promise<
    RegistrationResult
  >;
  /** Removes this host from a card. */
  unregister(target: RegistrationTarget, client: ClientDescription, options: RegistrationOptions): Promise<
    RegistrationResult
  >;
}

/** How to build a registrar. */
export interface RegistrarOptions {
  /** Timers and time (a fake clock in tests drives the backoff). */
  readonly clock: Clock;
  /** Where events go. */
  readonly emit: (draft: EventDraft) => void;
  /** Certificate pins (HTTPS); undefined: nothing is pinned. */
  readonly pins?: PinStore;
  /** The gate's last accepted counters of a card (a page must be newer). */
  readonly lastCounters?: (card: string) => ReplayCounters | undefined;
  /** The card's client list from its last MACONFIG (undefined before the first). */
  readonly clientList?: (card: string) => readonly string[] | undefined;
  /** The addresses of the cards given by host name, now (negotiation; see `cardnames.ts`). */
  readonly cardAddresses?: () => ReadonlyMap<string, string>;
  /** The web ports actually serving negotiation now (default: the configured ones). */
  readonly webPorts?: () => { readonly httpPort: number; readonly httpsPort: number };
  /** Time limit of one exchange, ms (default 10 000). */
  readonly timeoutMs?: number;
  /** The exchanges (default: the real ones over the network). */
  readonly exchange?: RegistrarExchange;
}

/** First retry after this many ms; doubled per failure. */
export const FIRST_RETRY_MS = 5_000;
/** Longest wait between two attempts, ms. */
export const MAX_RETRY_MS = 5 * 60_000;

/**
 * Causes that retrying cannot cure: the card has no registration page (it
 * does not speak this protocol). Not retried until the configuration changes
 * or the agent restarts, so a card that is only listed by hand does not fill
 * the event log.
 */
export const PERMANENT_CAUSES: readonly string[] = ["not-found"];

/** Backoff: ms to wait after `failures` consecutive failures (5 s, 10 s, 20 s, ... capped at 5 min). */
export function retryDelayMs(failures: number, firstMs = FIRST_RETRY_MS, maxMs = MAX_RETRY_MS): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, firstMs * 2 ** Math.min(failures - 1, 30));
}

/** The settings that, when changed, make the card's registration stale (the re-registration key). */
export function registrationKey(settings: RegistrarSettings, card: string): string {
  return JSON.stringify([
    card,
    settings.protocol,
    settings.port,
    settings.acceptCerts,
    settings.username,
    settings.authenticationPhrase,
    settings.localHostAddress,
    settings.udpPort,
    settings.requiredSeconds,
    settings.webPorts.httpPort,
    settings.webPorts.httpsPort,
  ]);
}

interface CardState {
  key: string;
  phase: RegistrationPhase;
  failures: number;
  hostAddress?: string;
  registeredAddress?: string;
  registeredWith?: RegistrarSettings;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  nextAttemptAt?: number;
  lastError?: string;
  cause?: NmcRegistrationStatus["cause"];
  cardClients?: number;
  certificate?: CertificateState;
  counters?: ReplayCounters;
  timer?: TimerHandle;
  running?: Promise<void>;
  rerun: boolean;
  refusedFingerprint?: string;
}

const defaultExchange: RegistrarExchange = { register: registerWithCard, unregister: unregisterFromCard };

/** Keeps this host registered with the configured cards (see the module doc). */
export class Registrar {
  #settings: RegistrarSettings;
  readonly #options: RegistrarOptions;
  readonly #exchange: RegistrarExchange;
  readonly #cards = new Map<string, CardState>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #throttle: LogThrottle;
  /** Negotiation requests refused since start. */
  #negotiationRefusals = 0;
  readonly #abort = new AbortController();
  #started = false;
  #startTimer: TimerHandle | undefined;
  #startAt: number | undefined;
  #stopped = false;

  /** Creates a registrar; nothing happens before `start()`. */
  constructor(settings: RegistrarSettings, options: RegistrarOptions) {
    this.#settings = settings;
    this.#options = options;
    this.#exchange = options.exchange ?? defaultExchange;
    this.#throttle = new LogThrottle(60_000, () => options.clock.now());
  }

  /** The settings in effect. */
  get settings(): RegistrarSettings {
    return this.#settings;
  }

  /**
   * Registers with every configured card (when enabled), now or after
   * `initialDelayMs` (the service waits a few seconds after a start, so the
   * network of a booting host is up and the listeners are bound).
   */
  start(initialDelayMs = 0): void {
    if (this.#started || this.#stopped || this.#startTimer !== undefined) return;
    if (initialDelayMs <= 0) {
      this.#started = true;
      this.#reconcile(undefined);
      return;
    }
    this.#startAt = this.#options.clock.now() + initialDelayMs;
    this.#startTimer = this.#options.clock.setTimeout(() => {
      this.#startTimer = undefined;
      this.#startAt = undefined;
      if (this.#stopped) return;
      this.#started = true;
      this.#reconcile(undefined);
    }, initialDelayMs);
  }

  /** Applies new settings: registers new cards, re-registers changed ones, unregisters removed ones. */
  configure(settings: RegistrarSettings): void {
    const old = this.#settings;
    this.#settings = settings;
    if (this.#started && !this.#stopped) this.#reconcile(old);
  }

  /** Registration state of every configured card, in config order. */
  status(): NmcRegistrationStatus[] {
    const now = this.#options.clock.now();
    return this.#settings.cards.map((card) => {
      const state = this.#cards.get(card);
      const address = state?.registeredAddress ?? state?.hostAddress ??
        (isClientAddress(this.#settings.localHostAddress) ? this.#settings.localHostAddress : undefined);
      const listed = listedState(address, this.#options.clientList?.(card));
      const phase: RegistrationPhase = !this.#settings.enabled ? "disabled" : state?.phase ?? "pending";
      const base = {
        phase,
        listed,
        lastError: state?.lastError,
        cause: state?.cause,
        nextAttemptAt: phase === "failed"
          ? state?.nextAttemptAt
          : phase === "pending"
          ? this.#startAt
          : undefined,
      };
      return {
        card,
        protocol: this.#settings.protocol,
        port: this.#settings.port,
        hostAddress: address,
        udpPort: this.#settings.udpPort,
        requiredSeconds: this.#settings.requiredSeconds,
        failures: state?.failures ?? 0,
        lastAttemptAt: state?.lastAttemptAt,
        lastSuccessAt: state?.lastSuccessAt,
        cardClients: state?.cardClients,
        certificate: state?.certificate,
        ...base,
        summary: registrationSummary(base, now),
      };
    });
  }

  /** Answers a card's negotiation request (see `answerNegotiation`) and raises a (throttled) event. */
  negotiate(query: URLSearchParams, remoteAddress: string): NegotiationReply {
    const reply = answerNegotiation(
      query,
      this.#settings,
      (card) => {
        const state = this.#cards.get(card);
        const configured = this.#settings.localHostAddress;
        return state?.registeredAddress ?? state?.hostAddress ??
          (isClientAddress(configured) ? configured : undefined);
      },
      remoteAddress,
      this.#options.cardAddresses?.(),
    );
    const id = reply.status === 200 ? "NegotiationAnswered" : "NegotiationRefused";
    if (reply.status !== 200) this.#negotiationRefusals++;
    // Answers are throttled per card; refusals from a configured card per card, all others under one key
    // (so neither a made-up PC= nor many source addresses can get past it, and memory stays bounded).
    const suppressed = this.#throttle.admit(
      reply.status === 200 ? `${id}|${reply.card}` : `${id}|${reply.card ?? "stranger"}`,
    );
    if (suppressed !== undefined) {
      const more = suppressed > 0 ? ` (${suppressed} more in the last minute not logged)` : "";
      this.#options.emit({
        id,
        nmc: reply.status === 200 ? reply.card : undefined,
        note: reply.status === 200
          ? `answered ${this.#settings.requiredSeconds} s to card ${reply.card} (from ${remoteAddress})${more}`
          : `from ${remoteAddress}: ${reply.error}${more}`,
        details: {
          remoteAddress,
          seconds: this.#settings.requiredSeconds,
          status: reply.status,
          ...(reply.status !== 200 ? { refusedSinceStart: this.#negotiationRefusals } : {}),
        },
      });
    }
    return reply;
  }

  /** Resolves when no exchange is running or queued right now (tests). */
  async idle(): Promise<void> {
    while (true) {
      const running = [...this.#cards.values()].map((s) => s.running).filter((p) => p !== undefined);
      const pending = [...running, ...this.#background];
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /** Cancels the retries, aborts running exchanges and waits for them (nothing is unregistered). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#startTimer !== undefined) this.#options.clock.clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    for (const state of this.#cards.values()) this.#cancelTimer(state);
    await this.idle();
  }

  #cancelTimer(state: CardState): void {
    if (state.timer !== undefined) this.#options.clock.clearTimeout(state.timer);
    state.timer = undefined;
    state.nextAttemptAt = undefined;
  }

  #reconcile(old: RegistrarSettings | undefined): void {
    const settings = this.#settings;
    // Cards no longer configured: unregister them with the settings they were registered with.
    for (const [card, state] of [...this.#cards]) {
      if (settings.cards.includes(card)) continue;
      this.#cancelTimer(state);
      this.#cards.delete(card);
      const registered = state.registeredWith ?? old;
      if (state.lastSuccessAt !== undefined && registered) {
        this.#track(this.#unregisterRemoved(card, state, registered));
      }
    }
    for (const card of settings.cards) {
      const key = registrationKey(settings, card);
      let state = this.#cards.get(card);
      if (!settings.enabled) {
        if (state) this.#cancelTimer(state);
        continue;
      }
      if (!state) {
        state = { key, phase: "pending", failures: 0, rerun: false };
        this.#cards.set(card, state);
        this.#kick(card, state);
      } else if (state.key !== key || state.phase === "pending" || old?.enabled === false) {
        state.key = key;
        state.failures = 0;
        this.#kick(card, state);
      }
    }
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /** Runs an attempt now (or right after the running one). */
  #kick(card: string, state: CardState): void {
    this.#cancelTimer(state);
    if (state.running) {
      state.rerun = true;
      return;
    }
    state.phase = "registering";
    state.running = this.#attempt(card, state).finally(() => {
      state.running = undefined;
      if (this.#stopped || this.#cards.get(card) !== state) return;
      if (state.rerun) {
        state.rerun = false;
        state.failures = 0;
        this.#kick(card, state);
      }
    });
  }

  #target(card: string, settings: RegistrarSettings): RegistrationTarget {
    return {
      card,
      protocol: settings.protocol,
      port: settings.port,
      acceptCerts: settings.acceptCerts,
      username: settings.username,
      authenticationPhrase: settings.authenticationPhrase,
    };
  }

  #client(settings: RegistrarSettings, hostAddress?: string): ClientDescription {
    const ports = this.#options.webPorts?.() ?? settings.webPorts;
    return {
      hostAddress: hostAddress ?? (settings.localHostAddress || undefined),
      udpPort: settings.udpPort,
      httpPort: ports.httpPort,
      httpsPort: ports.httpsPort,
      requiredSeconds: settings.requiredSeconds,
    };
  }

  #lastCounters(card: string, state: CardState): ReplayCounters | undefined {
    const gate = this.#options.lastCounters?.(card);
    const own = state.counters;
    if (gate === undefined) return own;
    if (own === undefined) return gate;
    return isNewer(own, gate) ? own : gate;
  }

  async #loadPin(
    card: string,
    settings: RegistrarSettings,
  ): Promise<CardPin | undefined | { error: string }> {
    if (!this.#options.pins || settings.protocol !== "https") return undefined;
    try {
      return await this.#options.pins.get(card);
    } catch (error) {
      return { error: (error as Error).message };
    }
  }

  async #attempt(card: string, state: CardState): Promise<void> {
    const settings = this.#settings;
    const key = state.key;
    const pin = await this.#loadPin(card, settings);
    if (pin && "error" in pin) {
      this.#fail(card, state, "pin-store", `cannot read the certificate pins: ${pin.error}`, "pin");
      return;
    }
    const result = await this.#exchange.register(this.#target(card, settings), this.#client(settings), {
      timeoutMs: this.#options.timeoutMs,
      lastCounters: (c) => this.#lastCounters(c, state),
      pin: pin?.sha256,
      signal: this.#abort.signal,
    });
    if (this.#stopped || this.#cards.get(card) !== state) return; // stopped or removed meanwhile
    const now = this.#options.clock.now();
    state.lastAttemptAt = now;
    if (result.hostAddress) state.hostAddress = result.hostAddress;
    if (result.counters) state.counters = result.counters;
    if (result.clients !== undefined) state.cardClients = result.clients;
    await this.#notePin(card, state, result, pin);
    if (state.key !== key) return; // settings changed meanwhile: the rerun decides
    if (!result.ok) {
      this.#fail(card, state, result.cause ?? "network", result.error ?? "unknown error", result.step);
      return;
    }
    const previous = state.registeredAddress;
    const previousSettings = state.registeredWith;
    state.phase = "registered";
    state.failures = 0;
    state.lastError = undefined;
    state.cause = undefined;
    state.lastSuccessAt = now;
    state.registeredAddress = result.hostAddress;
    state.registeredWith = settings;
    this.#options.emit({
      id: "RegistrationSucceeded",
      nmc: card,
      note: result.detail,
      details: {
        hostAddress: result.hostAddress,
        udpPort: settings.udpPort,
        requiredSeconds: settings.requiredSeconds,
        protocol: settings.protocol,
        port: settings.port,
      },
    });
    if (previous && previousSettings && previous !== result.hostAddress) {
      // This host now registers another address: take the old one off the card's list.
      await this.#unregister(card, previousSettings, previous, state);
    }
  }

  /** Records the first verified certificate as the pin; reports a refused changed one (once per fingerprint). */
  async #notePin(
    card: string,
    state: CardState,
    result: RegistrationResult,
    pin: CardPin | undefined,
  ): Promise<void> {
    const cert = result.certificate;
    if (!cert) return;
    state.certificate = {
      sha256: cert.sha256,
      subject: cert.subject,
      validTo: cert.validTo,
      verified: cert.verified,
      pinned: pin?.sha256,
      pinnedAt: pin?.pinnedAt,
    };
    if (result.cause === "pin-mismatch") {
      if (state.refusedFingerprint !== cert.sha256) {
        state.refusedFingerprint = cert.sha256;
        this.#options.emit({
          id: "CardCertificateChanged",
          nmc: card,
          note: `presented SHA-256 ${cert.sha256}, pinned ${pin?.sha256} (since ${pin?.pinnedAt}); ` +
            "nothing was sent. If the card's certificate was replaced on purpose, run " +
            "`pcns-agent register --repin`",
          details: { presented: cert.sha256, pinned: pin?.sha256, subject: cert.subject },
        });
      }
      return;
    }
    if (pin || !result.pageVerified || !this.#options.pins) return;
    const record: CardPin = {
      sha256: cert.sha256,
      subject: cert.subject,
      validTo: cert.validTo,
      pinnedAt: new Date(this.#options.clock.now()).toISOString(),
    };
    try {
      await this.#options.pins.set(card, record);
      state.certificate = { ...state.certificate, pinned: record.sha256, pinnedAt: record.pinnedAt };
      this.#options.emit({
        id: "CardCertificatePinned",
        nmc: card,
        note: `SHA-256 ${cert.sha256} (${cert.subject}; ${
          cert.verified ? "verified by a trusted CA" : "accepted through acceptCerts"
        })`,
        details: { sha256: cert.sha256, subject: cert.subject, verified: cert.verified },
      });
    } catch (error) {
      this.#options.emit({
        id: "RegistrationFailed",
        nmc: card,
        note: `cannot record the certificate pin: ${(error as Error).message}`,
        details: { cause: "pin-store" },
      });
    }
  }

  #fail(card: string, state: CardState, cause: NonNullable<CardState["cause"]>, error: string, step: string) {
    state.phase = "failed";
    state.failures++;
    state.lastError = error;
    state.cause = cause;
    state.lastAttemptAt = this.#options.clock.now();
    const permanent = PERMANENT_CAUSES.includes(cause);
    const delay = retryDelayMs(state.failures);
    state.nextAttemptAt = permanent ? undefined : this.#options.clock.now() + delay;
    this.#options.emit({
      id: "RegistrationFailed",
      nmc: card,
      note: `${cause}: ${error}; attempt ${state.failures}, ` +
        (permanent ? "not retried until the configuration changes" : `next in ${Math.round(delay / 1000)} s`),
      details: { cause, step, attempt: state.failures, retryInSeconds: permanent ? null : delay / 1000 },
    });
    if (this.#stopped || permanent) return;
    state.timer = this.#options.clock.setTimeout(() => {
      state.timer = undefined;
      if (this.#stopped || this.#cards.get(card) !== state || !this.#settings.enabled) return;
      this.#kick(card, state);
    }, delay);
  }

  async #unregisterRemoved(card: string, state: CardState, settings: RegistrarSettings): Promise<void> {
    await state.running;
    await this.#unregister(card, settings, state.registeredAddress, state);
  }

  async #unregister(
    card: string,
    settings: RegistrarSettings,
    address: string | undefined,
    state: CardState,
  ): Promise<RegistrationResult> {
    const pin = settings.protocol === "https" && this.#options.pins
      ? await this.#options.pins.get(card).catch(() => undefined)
      : undefined;
    const result = await this.#exchange.unregister(
      this.#target(card, settings),
      this.#client(settings, address),
      {
        timeoutMs: this.#options.timeoutMs,
        lastCounters: (c) => this.#lastCounters(c, state),
        pin: pin?.sha256,
      },
    );
    if (result.counters) state.counters = result.counters;
    this.#options.emit(
      result.ok
        ? { id: "Unregistered", nmc: card, note: result.detail, details: { hostAddress: result.hostAddress } }
        : {
          id: "UnregistrationFailed",
          nmc: card,
          note: `${result.cause}: ${result.error}`,
          details: { cause: result.cause, step: result.step },
        },
    );
    return result;
  }
}
