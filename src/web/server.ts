/**
 * The web UI service: loads (or generates) the certificate, starts the two
 * listeners, builds the app over the agent and the config store, and
 * follows configuration changes (ports, protocol, certificate files,
 * session and lockout settings; a changed password ends every session).
 *
 * @module
 */
import type { Agent } from "../agent/agent.ts";
import type { ConfigStore } from "../config/store.ts";
import { ConfigError } from "../config/problems.ts";
import type { AgentConfig } from "../config/types.ts";
import { type EventLogRecord, readEventLogHistory } from "../events/eventlog.ts";
import type { Logger } from "../log/logger.ts";
import { NEGOTIATION_REFUSED_BODY } from "../agent/negotiation.ts";
import { cardTarget } from "../agent/wiring.ts";
import { checkNmc } from "../nmc/killpower.ts";
import { NEGOTIATION_PATH } from "../nmc/protocol.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { LoginThrottle } from "./auth/lockout.ts";
import { SessionStore } from "./auth/sessions.ts";
import { SetupToken } from "./auth/setup.ts";
import { TokenVerifier } from "./auth/tokens.ts";
import { clearEventLog } from "./eventclear.ts";
import { installCertificate, type LoadedCertificate, loadOrCreateCertificate } from "./certificate.ts";
import { connectionLimitsFor, openFilesLimit } from "./connections.ts";
import type { ConfigUpdateResult, WebAppContext } from "./context.ts";
import { localHostName, usableUrls } from "./ui_url.ts";
import { CertificateWatcher } from "./certwatch.ts";
import { requestPath } from "./redirect.ts";
import { type RequestInfo, WebTransport } from "./transport.ts";

/** How to start the web UI. */
export interface WebUiOptions {
  /** The running agent. */
  readonly agent: Agent;
  /** The config store (settings are written through it). */
  readonly store: ConfigStore;
  /** Operational log (the setup token is printed here while no password is set). */
  readonly logger: Logger;
  /** Time source. */
  readonly clock?: Clock;
  /** Milliseconds between checks of configured certificate files (default 30 000). */
  readonly certificatePollMs?: number;
}

/** Maps a ConfigError's problems to field messages by `Section.key`. */
export function problemsByKey(error: ConfigError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of error.problems) {
    if (p.level !== "error") continue;
    const key = p.key ?? "_";
    // Next to its field the file path is noise: drop the leading "file[:line]: ".
    const text = p.message.startsWith(p.file)
      ? p.message.slice(p.file.length).replace(/^(:\d+)?:\s*/, "")
      : p.message;
    out[key] = out[key] ? `${out[key]}; ${text}` : text;
  }
  if (Object.keys(out).length === 0) out._ = error.message;
  return out;
}

/**
 * Answers a card's shutdown-time negotiation (`GET /pcnsnegotiate.htm?PC=&CS=`)
 * on either port, without login, but only to a configured card asking from its
 * own address (src/agent/registrar.ts answerNegotiation); everyone else gets one
 * and the same refusal.
 */
export function negotiationResponse(agent: Agent, request: Request, info: RequestInfo): Response {
  const headers = {
    "Content-Type": "text/plain; charset=us-ascii",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  };
  if (request.method !== "GET") {
    return new Response("only GET is allowed here\n", { status: 405, headers: { ...headers, Allow: "GET" } });
  }
  const target = requestPath(request.url, request.headers.get("host"));
  const query = new URLSearchParams(target.includes("?") ? target.slice(target.indexOf("?") + 1) : "");
  const reply = agent.answerNegotiation(query, info.remoteAddr.hostname);
  // Not even "registration is off" is told to whoever asks.
  if (reply.status === 503) return new Response(NEGOTIATION_REFUSED_BODY, { status: 403, headers });
  return new Response(reply.body, { status: reply.status, headers });
}

function transportSettings(config: AgentConfig) {
  const n = config.networking;
  return {
    hostname: n.uiListenAddress,
    httpPort: n.httpPort,
    httpsPort: n.httpsPort,
    uiProtocol: n.uiProtocol,
  };
}

/** The host names redirects may keep: the certificate's DNS names and a configured host name. */
function serverNames(config: AgentConfig, certificate: LoadedCertificate | undefined): string[] {
  return [...(certificate?.info.dnsNames ?? []), config.nmc.localHostAddress].filter((n) => n !== "");
}

/** The running web UI. */
export class WebUi {
  readonly #options: WebUiOptions;
  readonly #clock: Clock;
  readonly #sessions: SessionStore;
  readonly #throttle: LoginThrottle;
  readonly #setup: SetupToken;
  #transport!: WebTransport;
  #certificate!: LoadedCertificate;
  #watcher: CertificateWatcher | undefined;
  #config: AgentConfig;
  /** Listener changes run one after another, each after the request that caused it has been answered. */
  #listenerWork: Promise<void> = Promise.resolve();

  private constructor(options: WebUiOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#config = options.store.current;
    const w = this.#config.webUi;
    this.#sessions = new SessionStore({
      idleMs: w.sessionIdleTimeout * 60_000,
      lifetimeMs: w.sessionLifetime * 60_000,
      clock: this.#clock,
    });
    this.#throttle = new LoginThrottle({
      threshold: w.lockoutThreshold,
      durationMs: w.lockoutDuration * 60_000,
      clock: this.#clock,
    });
    this.#setup = new SetupToken({ clock: this.#clock });
  }

  /** Starts the listeners; throws with the port and the reason if one cannot be bound. */
  static async start(options: WebUiOptions): Promise<WebUi> {
    const ui = new WebUi(options);
    const { store, logger } = options;
    const config = store.current;
    if (config.networking.uiProtocol === "https") {
      ui.#certificate = await loadOrCreateCertificate(store.dataDir, config.webUi);
      if (ui.#certificate.regenerated) {
        logger.warn(`web UI certificate regenerated: ${ui.#certificate.regenerated}`);
      }
    }
    // The pages and their handlers (a fifth of the start-up's module loading) load while the listener
    // comes up; a request that arrives before they are there waits for them.
    const tokens = new TokenVerifier(store.dataDir, (message) => logger.warn(message));
    const app = import("./app.tsx").then(({ createWebApp }) =>
      createWebApp({
        ctx: ui.#context(),
        sessions: ui.#sessions,
        throttle: ui.#throttle,
        setup: ui.#setup,
        tokens,
      })
    );
    app.catch((error) => logger.error(`web UI: the pages did not load: ${(error as Error).message}`));
    const fdLimit = openFilesLimit();
    const limits = connectionLimitsFor(config.webUi, fdLimit);
    if (limits.maxConnections < (config.webUi.maxConnections ?? limits.maxConnections)) {
      logger.warn(
        `web UI: at most ${limits.maxConnections} connections (maxConnections = ${config.webUi.maxConnections}), ` +
          `a quarter of the open-file limit ${fdLimit}`,
      );
    }
    ui.#transport = WebTransport.start(
      {
        ...transportSettings(config),
        cert: ui.#certificate,
        limits,
        serverNames: serverNames(config, ui.#certificate),
        logger,
        passThrough: {
          path: NEGOTIATION_PATH,
          handler: (request, info) => negotiationResponse(options.agent, request, info),
        },
      },
      async (request, info) =>
        (await app).fetch(request, { remoteAddr: info.remoteAddr.hostname, secure: info.secure }),
    );
    ui.#watchCertificateFiles();
    const n = config.networking;
    const host = localHostName();
    const urls = usableUrls(n.uiProtocol, n.uiListenAddress, ui.#transport.httpsPort, host).join(" and ");
    const redirect = usableUrls("http", n.uiListenAddress, ui.#transport.httpPort, host)[0];
    logger.info(
      `web UI on ${urls} (${redirect} redirects)` +
        (ui.#certificate ? `; certificate SHA-256 ${ui.#certificate.info.fingerprintSha256}` : ""),
    );
    ui.#announceSetup();
    return ui;
  }

  /** The UI port actually bound. */
  get httpsPort(): number {
    return this.#transport.httpsPort;
  }

  /** The redirecting HTTP port actually bound. */
  get httpPort(): number {
    return this.#transport.httpPort;
  }

  /** True when the UI port uses TLS. */
  get secure(): boolean {
    return this.#transport.secure;
  }

  /** The setup token (while no password is set). */
  get setupToken(): string | undefined {
    return this.#config.nmc.password === "" ? this.#setup.token : undefined;
  }

  /** Follows a new configuration. */
  applyConfig(config: AgentConfig): void {
    const old = this.#config;
    this.#config = config;
    const w = config.webUi;
    this.#sessions.configure({
      idleMs: w.sessionIdleTimeout * 60_000,
      lifetimeMs: w.sessionLifetime * 60_000,
    });
    this.#throttle.configure({ threshold: w.lockoutThreshold, durationMs: w.lockoutDuration * 60_000 });
    this.#transport.reconfigure({
      limits: connectionLimitsFor(w, openFilesLimit()),
      serverNames: serverNames(config, this.#certificate),
    }).catch(() => {});
    if (old.nmc.password !== config.nmc.password) {
      this.#sessions.destroyAll(); // a changed password (UI, CLI or ini edit) ends every session
      if (config.nmc.password === "") {
        this.#setup.renew(); // the one object the web app checks: the printed token is the one it accepts
        this.#announceSetup();
      }
    }
    const certChanged = old.webUi.certificateFile !== w.certificateFile || old.webUi.keyFile !== w.keyFile;
    const needCert = config.networking.uiProtocol === "https" && (certChanged || !this.#certificate);
    const before = transportSettings(old);
    const after = transportSettings(config);
    const moved = JSON.stringify(before) !== JSON.stringify(after);
    if (!needCert && !moved) return;
    this.#afterResponse(async () => {
      if (needCert) await this.#reloadCertificate();
      if (moved) {
        const error = await this.#transport.reconfigure({
          ...transportSettings(this.#config),
          cert: this.#certificate,
        });
        if (error) this.#options.agent.emit({ id: "ListenerFailed", note: error });
      }
    });
  }

  /** Resolves when every listener change asked for so far is done (for tests and orderly stops). */
  settled(): Promise<void> {
    return this.#listenerWork;
  }

  /**
   * Runs a listener change after the current request has returned its response: closing a listener
   * answers its in-flight requests with 503, and the request asking for the change must get its answer.
   */
  #afterResponse(task: () => Promise<void>): void {
    this.#listenerWork = this.#listenerWork
      .then(() => new Promise<void>((resolve) => setTimeout(resolve, 0)))
      .then(task)
      .catch((error) =>
        this.#options.logger.error(`web UI listener change failed: ${(error as Error).message}`)
      );
  }

  /** Stops the listeners. */
  async close(): Promise<void> {
    this.#watcher?.stop();
    await this.#listenerWork;
    await this.#transport.close();
  }

  #announceSetup(): void {
    if (this.#config.nmc.password !== "") return;
    const n = this.#config.networking;
    const url = usableUrls(n.uiProtocol, n.uiListenAddress, this.#transport.httpsPort, localHostName())[0];
    this.#options.logger.warn(
      `first-run setup: no web UI password is set. Open ${url}setup and enter the setup token ${this.#setup.token}`,
    );
  }

  async #reloadCertificate(): Promise<void> {
    const { store, logger, agent } = this.#options;
    try {
      this.#certificate = await loadOrCreateCertificate(store.dataDir, this.#config.webUi);
      await this.#transport.replaceCertificate(this.#certificate);
      await this.#transport.reconfigure({ serverNames: serverNames(this.#config, this.#certificate) });
      agent.emit({ id: "CertificateReplaced", note: `SHA-256 ${this.#certificate.info.fingerprintSha256}` });
      this.#watchCertificateFiles();
    } catch (error) {
      logger.error(`web UI certificate not changed: ${(error as Error).message}`);
      agent.emit({
        id: "ConfigWarning",
        note: `web UI certificate not changed: ${(error as Error).message}`,
      });
    }
  }

  #watchCertificateFiles(): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
    if (!this.#certificate || this.#certificate.source !== "configured") return;
    this.#watcher = new CertificateWatcher(
      [this.#certificate.certPath, this.#certificate.keyPath],
      () => this.#reloadCertificate(),
      { intervalMs: this.#options.certificatePollMs, clock: this.#clock, logger: this.#options.logger },
    ).start();
  }

  #context(): WebAppContext {
    const { agent, store } = this.#options;
    return {
      status: () => agent.status(),
      config: () => this.#config,
      values: () => store.values,
      history: (card) => agent.history(card),
      events: (): Promise<EventLogRecord[]> => readEventLogHistory(agent.eventLogPath),
      updateConfig: async (updates): Promise<ConfigUpdateResult> => {
        try {
          const change = await store.set(updates);
          // The store notifies subscribers (agent, this UI) itself; make the new values visible at once.
          this.applyConfig(store.current);
          return { ok: true, changed: change.changed };
        } catch (error) {
          if (error instanceof ConfigError) return { ok: false, errors: problemsByKey(error) };
          throw error;
        }
      },
      checkNmc: (card) => checkNmc(cardTarget(this.#config, card), { timeoutMs: 5000 }),
      certificate: () => ({ info: this.#certificate.info, source: this.#certificate.source }),
      installCertificate: async (certPem, keyPem) => {
        const loaded = await installCertificate(store.dataDir, certPem, keyPem);
        if (this.#config.webUi.certificateFile || this.#config.webUi.keyFile) {
          // An uploaded certificate lives in the data directory: stop pointing at other files.
          await store.set({ "WebUI.certificateFile": "", "WebUI.keyFile": "" });
          this.#config = store.current;
        }
        this.#certificate = loaded;
        this.#transport.reconfigure({ serverNames: serverNames(this.#config, loaded) }).catch(() => {});
        this.#watchCertificateFiles();
        this.#afterResponse(async () => {
          await this.#transport.replaceCertificate(loaded);
          agent.emit({
            id: "CertificateReplaced",
            note: `uploaded; SHA-256 ${loaded.info.fingerprintSha256}`,
          });
        });
      },
      emit: (draft) => agent.emit(draft),
      resetCounters: (card, by) => agent.resetCounters(card, by),
      recentHistory: (card) => agent.recentHistory(card),
      subscribe: (listener) => agent.bus.subscribe(listener),
      clearEvents: async () => {
        // The lines still on their way to the file belong to the log being cleared, not to the new one.
        await agent.eventLogWritten(5000);
        await clearEventLog(agent.eventLogPath);
      },
      now: () => this.#clock.now(),
    };
  }
}
