/**
 * The web UI's two TCP listeners, as PowerChute has them: a plain HTTP port
 * (3052) that answers every request with a redirect (except one path handed
 * through on both ports: the NMC's shutdown-time negotiation, see
 * {@link TransportOptions.passThrough}), and the UI port (6547)
 * with TLS 1.2/1.3 (Deno's TLS is rustls, which refuses TLS 1.0/1.1 by
 * itself). Ports, bind address and protocol can be changed at run time, and
 * the certificate can be swapped without a restart:
 *
 * - Certificate swap on Linux: the UI listener is bound with `reusePort`, so
 *   the new server starts on the same port before the old one is shut down;
 *   there is no moment without a listener (gap 0 ms). Where `reusePort` is not
 *   available (other OSes, no `--unstable-net`) the old server is shut down and
 *   the new one bound as soon as the port is free, retried every millisecond
 *   while open responses drain. Measured here (Deno 2.9.5, Linux): 0.25-0.45 ms
 *   with idle connections, 2.3-2.8 ms with an event stream open; during the gap
 *   new connections are refused. {@link WebTransport.lastSwap} reports the way
 *   used and the gap.
 * - Because a `reusePort` bind would not fail when another process already
 *   holds the port with `reusePort`, every new port is first probed with a
 *   plain bind, so "address in use" is still reported.
 * - Closing a listener closes idle keep-alive connections at once but waits
 *   for responses in progress (a server-sent event stream never ends). So the
 *   bodies of long-lived responses (see `isLongLivedResponse` in src/web/listener.ts) are passed
 *   through a stream that can be cut: after a short grace time a closing
 *   listener ends them and answers still-running handlers with 503. Anything
 *   else still open after another 0.5 s is left to finish in the background,
 *   so closing never takes more than about 0.8 s.
 * - Each listener runs its own accept loop (src/web/listener.ts): accept errors
 *   (EMFILE, ...) never stop it; connections are capped per address and in all
 *   and time out in the TLS handshake, before their headers and when idle
 *   (src/web/connections.ts, {@link TransportOptions.limits}).
 * - The redirect goes only to a host the agent serves (see `redirectHost` in src/web/redirect.ts).
 *
 * The binding helpers are in src/web/binding.ts, the certificate files watcher in src/web/certwatch.ts.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import { bindAddress, bindError, isAddrInUse, probePort, settlesWithin, stopListener } from "./binding.ts";
import { clientText } from "./clienttext.ts";
import {
  type ConnectionLimits,
  type ConnectionStats,
  ConnectionTable,
  DEFAULT_CONNECTION_LIMITS,
} from "./connections.ts";
import { type ConnectionInfo, type Listener, startListener, type TlsPem } from "./listener.ts";

import {
  canonicalAddress,
  interfaceAddresses,
  redirectLocation,
  requestPath,
  type ServedHosts,
  servedNames,
  systemHostname,
  urlHost,
} from "./redirect.ts";

/** Settings of the two listeners. */
export interface TransportOptions {
  /**
   * Address to bind ("" = every address: "::", which is dual-stack on Linux and
   * macOS, or "0.0.0.0" on Windows and where IPv6 is unavailable or v6-only).
   */
  readonly hostname: string;
  /** Plain HTTP port that only redirects (0 = ephemeral, for tests). */
  readonly httpPort: number;
  /** UI port (0 = ephemeral, for tests). */
  readonly httpsPort: number;
  /** "https" (TLS on httpsPort) or "http" (plain HTTP on httpsPort, with a warning). */
  readonly uiProtocol: "https" | "http";
  /** Certificate and key; required when uiProtocol is "https". */
  readonly cert?: TlsPem;
  /** Operational log. */
  readonly logger: Logger;
  /** Answer for a handler that threw (default: log it and answer 500). */
  readonly onError?: (error: unknown) => Response | Promise<Response>;
  /** Milliseconds a closing listener lets open responses finish before cutting them (default 300). */
  readonly closeGraceMs?: number;
  /**
   * Bind the UI port with SO_REUSEPORT so a certificate swap starts the new
   * server before the old one stops (default: true on Linux; always off
   * without `--unstable-net`). When off, a swap stops the old server first
   * (about 0.3 ms without a listener, ~2.5 ms while responses drain).
   */
  readonly reusePort?: boolean;
  /**
   * One exact path answered by its own handler on BOTH listeners, before the
   * app and instead of the redirect: the NMC's shutdown-time negotiation
   * (src/nmc/protocol.ts NEGOTIATION_PATH), which cards ask on the plain port.
   */
  readonly passThrough?: { readonly path: string; readonly handler: TransportHandler };
  /** Connection caps and timeouts (default {@link DEFAULT_CONNECTION_LIMITS}); changeable by reconfigure. */
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * Host names the agent is reached by besides its addresses (e.g. the certificate's DNS names; the
   * system host name and "localhost" on loopback are added): redirects keep a Host header naming one of
   * them, anything else goes to the local address of the connection.
   */
  readonly serverNames?: readonly string[];
}

/** What the handler learns about a request besides the Request itself. */
export interface RequestInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The local address the connection arrived on. */
  readonly localAddr?: Deno.NetAddr;
  /** True when the request came over TLS. */
  readonly secure: boolean;
}

/** The application's request handler. */
export type TransportHandler = (request: Request, info: RequestInfo) => Response | Promise<Response>;

/** How the last certificate or protocol change of the UI listener went. */
export interface SwapReport {
  /** "overlap": new listener started before the old one stopped; "restart": stop, then start. */
  readonly method: "overlap" | "restart";
  /**
   * Milliseconds during which new connections could be refused: 0 for "overlap";
   * for "restart", from the start of the old server's shutdown to the new bind.
   */
  readonly gapMs: number;
}

const DEFAULT_CLOSE_GRACE_MS = 300;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------

/** The applied state of the UI listener. */
interface MainState {
  readonly listener: Listener;
  /** Hostname as configured ("" = every address). */
  readonly configuredHostname: string;
  /** Port as configured (0 = ephemeral). */
  readonly configuredPort: number;
  readonly protocol: "https" | "http";
  /** The certificate (kept in "http" mode too, for a later switch). */
  readonly cert: TlsPem | undefined;
}

/** The applied state of the redirect listener. */
interface RedirectState {
  readonly listener: Listener;
  readonly configuredHostname: string;
  readonly configuredPort: number;
}

/** The binding part of the options. */
type Binding = Pick<TransportOptions, "hostname" | "httpPort" | "httpsPort" | "uiProtocol" | "cert">;

/**
 * The web UI listeners: a redirect-only HTTP port and the UI port (TLS, or
 * plain HTTP when uiProtocol = "http"). Start with {@link WebTransport.start}.
 */
export class WebTransport {
  readonly #handler: TransportHandler;
  readonly #passThrough: TransportOptions["passThrough"];
  #logger: Logger;
  #onError: ((error: unknown) => Response | Promise<Response>) | undefined;
  #graceMs: number;
  /** What was asked for last (used for a listener that is missing). */
  #desired: Binding;
  #main: MainState | undefined;
  #redirect: RedirectState | undefined;
  readonly #reusePort: boolean;
  readonly #table: ConnectionTable;
  readonly #warnings = new LogThrottle();
  #serverNames: readonly string[];
  #served: { hosts: ServedHosts; at: number } | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #lastSwap: SwapReport | undefined;

  private constructor(options: TransportOptions, handler: TransportHandler) {
    this.#handler = handler;
    this.#passThrough = options.passThrough;
    this.#logger = options.logger;
    this.#onError = options.onError;
    this.#graceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    // Without --unstable-net a reusePort bind would end the process (Deno exits on unstable APIs);
    // Deno.listenDatagram exists exactly when that flag is on.
    const unstableNet = typeof (Deno as unknown as Record<string, unknown>).listenDatagram === "function";
    this.#reusePort = unstableNet && (options.reusePort ?? Deno.build.os === "linux");
    const { hostname, httpPort, httpsPort, uiProtocol, cert } = options;
    this.#desired = { hostname, httpPort, httpsPort, uiProtocol, cert };
    this.#table = new ConnectionTable({ ...DEFAULT_CONNECTION_LIMITS, ...options.limits });
    this.#serverNames = options.serverNames ?? [];
  }

  /** The names and addresses redirects may keep (interfaces looked at again after a minute). */
  #servedHosts(): ServedHosts {
    const now = Date.now();
    if (this.#served && now - this.#served.at < 60_000) return this.#served.hosts;
    const system = systemHostname();
    const names = servedNames([...this.#serverNames, ...(system ? [system] : []), this.#desired.hostname]);
    const addresses = interfaceAddresses();
    const bound = canonicalAddress(this.#desired.hostname);
    if (bound) addresses.add(bound);
    this.#served = { hosts: { names, addresses }, at: now };
    return this.#served.hosts;
  }

  #listenerContext() {
    return {
      table: this.#table,
      logger: () => this.#logger,
      warnings: this.#warnings,
    };
  }

  /**
   * Binds both listeners. Throws an Error naming the port and the OS reason
   * when one cannot be bound (nothing is left listening then), or when
   * uiProtocol is "https" without a certificate.
   */
  static start(options: TransportOptions, handler: TransportHandler): WebTransport {
    const transport = new WebTransport(options, handler);
    transport.#startAll(options);
    return transport;
  }

  #startAll(o: Binding): void {
    const problem = bindingProblem(o);
    if (problem) throw new Error(problem);
    const host = bindAddress(o.hostname);
    probePort("UI", host, o.httpsPort);
    probePort("HTTP redirect", host, o.httpPort);
    const main = this.#serveMain(host, o.httpsPort, o.uiProtocol, o.cert);
    let redirect: Listener;
    try {
      redirect = this.#serveRedirect(host, o.httpPort);
    } catch (error) {
      main.server.shutdown().catch(() => {});
      throw error;
    }
    this.#main = {
      listener: main,
      configuredHostname: o.hostname,
      configuredPort: o.httpsPort,
      protocol: o.uiProtocol,
      cert: o.cert,
    };
    this.#redirect = { listener: redirect, configuredHostname: o.hostname, configuredPort: o.httpPort };
    if (o.uiProtocol === "http") this.#logger.warn("web UI served without TLS (uiProtocol = http)");
    this.#logger.info(
      `web UI: listening on ${o.uiProtocol}://${urlHost(host)}:${main.port}; ` +
        `http://${urlHost(host)}:${redirect.port} redirects to it`,
    );
  }

  /** Starts the UI server (reusePort where possible); throws a clear bind error. */
  #serveMain(hostname: string, port: number, protocol: "https" | "http", cert: TlsPem | undefined): Listener {
    if (protocol === "https" && !cert) {
      throw new Error("web UI: uiProtocol is https but there is no certificate");
    }
    const secure = protocol === "https";
    const handler = (request: Request, conn: ConnectionInfo) => {
      const info = { ...conn, secure };
      return this.#passedThrough(request, info) ?? this.#handler(request, info);
    };
    const onError = (error: unknown) => this.#onError ? this.#onError(error) : this.#defaultOnError(error);
    const tls = secure ? cert : undefined;
    try {
      return startListener({ hostname, port, reusePort: this.#reusePort, tls }, handler, {
        ...this.#listenerContext(),
        onError,
      });
    } catch (error) {
      throw bindError("UI", hostname, port, error);
    }
  }

  /** Starts the redirect-only server; throws a clear bind error. */
  #serveRedirect(hostname: string, port: number): Listener {
    const handler = (request: Request, conn: ConnectionInfo) => {
      const passed = this.#passedThrough(request, { ...conn, secure: false });
      if (passed) return passed;
      const main = this.#main;
      if (!main) return new Response("web UI unavailable\n", { status: 503 });
      const location = redirectLocation(
        request.url,
        request.headers.get("host"),
        main.listener.port,
        main.protocol,
        conn.localAddr.hostname,
        this.#servedHosts(),
      );
      return new Response(null, { status: 308, headers: { location } });
    };
    try {
      return startListener({ hostname, port, reusePort: false }, handler, {
        ...this.#listenerContext(),
        onError: (e) => this.#defaultOnError(e),
      });
    } catch (error) {
      throw bindError("HTTP redirect", hostname, port, error);
    }
  }

  /** The pass-through handler's answer when the request is for its path, else undefined. */
  #passedThrough(request: Request, info: RequestInfo): Response | Promise<Response> | undefined {
    const pass = this.#passThrough;
    if (!pass) return undefined;
    const path = requestPath(request.url, request.headers.get("host")).split("?")[0];
    return path === pass.path ? pass.handler(request, info) : undefined;
  }

  #defaultOnError(error: unknown): Response {
    this.#logger.error(`web UI: request failed: ${clientText(errorText(error), 200)}`);
    return new Response("Internal Server Error\n", { status: 500 });
  }

  /** The UI listener's actual port (0 when it is not listening). */
  get httpsPort(): number {
    return this.#main?.listener.port ?? 0;
  }

  /** The redirect listener's actual port (0 when it is not listening). */
  get httpPort(): number {
    return this.#redirect?.listener.port ?? 0;
  }

  /** True when the UI listener uses TLS. */
  get secure(): boolean {
    return this.#main?.protocol === "https";
  }

  /** The address the UI listener is bound to ("::", "0.0.0.0" or the configured address). */
  get hostname(): string {
    return this.#main?.listener.hostname ?? "";
  }

  /** Connection counters of both listeners (open now, refused and closed to make room since start). */
  get connections(): ConnectionStats {
    return this.#table.stats;
  }

  /** The connection caps and timeouts in effect. */
  get limits(): ConnectionLimits {
    return this.#table.limits;
  }

  /** How the last replacement of the UI listener went (undefined before the first). */
  get lastSwap(): SwapReport | undefined {
    return this.#lastSwap;
  }

  /** Runs `fn` after every earlier reconfiguration finished. */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Applies changed settings, re-binding only the listeners whose address,
   * port, protocol or certificate changed. A listener that cannot be bound
   * keeps the old one running; the result is then a one-line message naming
   * the port and the OS reason (also logged), else undefined.
   * logger, onError, closeGraceMs, limits and serverNames apply at once (lowered caps leave open
   * connections alone).
   */
  reconfigure(changes: Partial<TransportOptions>): Promise<string | undefined> {
    return this.#serialize(async () => {
      if (this.#closed) return "web UI: the transport is closed";
      if (changes.logger) this.#logger = changes.logger;
      if ("onError" in changes) this.#onError = changes.onError;
      if (changes.closeGraceMs !== undefined) this.#graceMs = changes.closeGraceMs;
      if (changes.limits) this.#table.configure({ ...this.#table.limits, ...changes.limits });
      if (changes.serverNames) {
        this.#serverNames = changes.serverNames;
        this.#served = undefined;
      }
      const main = this.#main;
      const redirect = this.#redirect;
      const current: Binding = {
        hostname: main?.configuredHostname ?? this.#desired.hostname,
        httpsPort: main?.configuredPort ?? this.#desired.httpsPort,
        uiProtocol: main?.protocol ?? this.#desired.uiProtocol,
        cert: main?.cert ?? this.#desired.cert,
        httpPort: redirect?.configuredPort ?? this.#desired.httpPort,
      };
      const want: Binding = {
        hostname: changes.hostname ?? current.hostname,
        httpsPort: changes.httpsPort ?? current.httpsPort,
        uiProtocol: changes.uiProtocol ?? current.uiProtocol,
        cert: changes.cert ?? current.cert,
        httpPort: changes.httpPort ?? current.httpPort,
      };
      const errors: string[] = [];
      const problem = bindingProblem(want);
      if (problem) errors.push(problem);
      else {
        this.#desired = want;
        this.#served = undefined;
        const host = bindAddress(want.hostname);
        if (
          !main || main.configuredHostname !== want.hostname || main.configuredPort !== want.httpsPort ||
          main.protocol !== want.uiProtocol || (want.uiProtocol === "https" && !samePem(main.cert, want.cert))
        ) {
          // An unchanged ephemeral port keeps its actual number.
          const port = main && want.httpsPort === 0 && main.configuredPort === 0
            ? main.listener.port
            : want.httpsPort;
          const error = await this.#rebindMain(want.hostname, host, port, want);
          if (error) errors.push(error);
        } else if (main.cert !== want.cert) {
          this.#main = { ...main, cert: want.cert };
        }
        if (
          !redirect || redirect.configuredHostname !== want.hostname ||
          redirect.configuredPort !== want.httpPort
        ) {
          const error = await this.#rebindRedirect(want.hostname, host, want.httpPort);
          if (error) errors.push(error);
        }
      }
      if (errors.length === 0) return undefined;
      const message = errors.join("; ");
      this.#logger.error(message);
      return message;
    });
  }

  /**
   * Serves `cert` from now on without a restart: new connections get the new
   * certificate; connections already open keep the old one until they close.
   * Throws (keeping the old listener) when the new pair is refused. With
   * uiProtocol = "http" the certificate is only stored for a later switch.
   */
  replaceCertificate(cert: TlsPem): Promise<void> {
    return this.#serialize(async () => {
      if (this.#closed) throw new Error("web UI: the transport is closed");
      const main = this.#main;
      if (!main || main.protocol !== "https") {
        this.#desired = { ...this.#desired, cert };
        if (main) this.#main = { ...main, cert };
        return;
      }
      const error = await this.#rebindMain(
        main.configuredHostname,
        main.listener.hostname,
        main.listener.port,
        {
          httpsPort: main.configuredPort,
          uiProtocol: "https",
          cert,
        },
      );
      if (error) throw new Error(error);
      this.#desired = { ...this.#desired, cert };
      const swap = this.#lastSwap!;
      this.#logger.info(`web UI: certificate replaced (${swap.method}, gap ${swap.gapMs.toFixed(2)} ms)`);
    });
  }

  /**
   * Replaces the UI listener by one on `hostname:port`. The same port: start the
   * new server first (reusePort); where that is impossible, stop the old one,
   * start the new one, and restore the old one if that fails. Another port:
   * probe, start, then stop the old one. Returns an error message or undefined.
   */
  async #rebindMain(
    configuredHostname: string,
    hostname: string,
    port: number,
    want: Pick<Binding, "httpsPort" | "uiProtocol" | "cert">,
  ): Promise<string | undefined> {
    const old = this.#main;
    const { uiProtocol: protocol, cert } = want;
    const install = (listener: Listener, swap: SwapReport) => {
      this.#main = { listener, configuredHostname, configuredPort: want.httpsPort, protocol, cert };
      this.#lastSwap = swap;
      if (protocol === "http" && old?.protocol !== "http") {
        this.#logger.warn("web UI served without TLS (uiProtocol = http)");
      }
    };
    if (!old || port === 0 || port !== old.listener.port) {
      try {
        probePort("UI", hostname, port);
        install(this.#serveMain(hostname, port, protocol, cert), { method: "overlap", gapMs: 0 });
      } catch (error) {
        return errorText(error);
      }
      if (old) await stopListener(old.listener, this.#graceMs, this.#logger);
      return undefined;
    }
    if (old.listener.reusePort && this.#reusePort && old.listener.hostname === hostname) {
      try {
        install(this.#serveMain(hostname, port, protocol, cert), { method: "overlap", gapMs: 0 });
        await stopListener(old.listener, this.#graceMs, this.#logger);
        return undefined;
      } catch (error) {
        if (!isAddrInUse(error)) return errorText(error); // e.g. a key that does not fit the certificate
        // reusePort is ignored by this OS: stop, then start.
      }
    }
    // Stop, then start. The listening socket goes away early in shutdown(), so while open
    // responses drain the new server is retried every millisecond instead of waiting.
    const startedAt = performance.now();
    let stopped = false;
    const stopping = stopListener(old.listener, this.#graceMs, this.#logger).finally(() => stopped = true);
    let failure: unknown;
    for (;;) {
      await settlesWithin(stopping, 1);
      try {
        const listener = this.#serveMain(hostname, port, protocol, cert);
        install(listener, { method: "restart", gapMs: performance.now() - startedAt });
        break;
      } catch (error) {
        if (!isAddrInUse(error) || stopped) {
          failure = error;
          break;
        }
      }
    }
    await stopping;
    if (failure === undefined) return undefined;
    try {
      this.#main = { ...old, listener: this.#serveMain(old.listener.hostname, port, old.protocol, old.cert) };
    } catch (restoreError) {
      this.#main = undefined;
      this.#logger.error(`web UI: could not restore the previous listener: ${errorText(restoreError)}`);
    }
    return errorText(failure);
  }

  /** Replaces the redirect listener; returns an error message or undefined. */
  async #rebindRedirect(
    configuredHostname: string,
    hostname: string,
    port: number,
  ): Promise<string | undefined> {
    const old = this.#redirect;
    if (old && port !== 0 && port === old.listener.port) {
      // Only the bind address changed: the old socket may cover the new address, so stop it first.
      await stopListener(old.listener, this.#graceMs, this.#logger);
      try {
        this.#redirect = {
          listener: this.#serveRedirect(hostname, port),
          configuredHostname,
          configuredPort: port,
        };
        return undefined;
      } catch (error) {
        try {
          this.#redirect = { ...old, listener: this.#serveRedirect(old.listener.hostname, port) };
        } catch {
          this.#redirect = undefined;
        }
        return errorText(error);
      }
    }
    try {
      probePort("HTTP redirect", hostname, port);
      this.#redirect = {
        listener: this.#serveRedirect(hostname, port),
        configuredHostname,
        configuredPort: port,
      };
    } catch (error) {
      return errorText(error);
    }
    if (old) await stopListener(old.listener, this.#graceMs, this.#logger);
    return undefined;
  }

  /**
   * Stops both listeners. Idle keep-alive connections are closed at once; open
   * responses get closeGraceMs (300 ms), then long-lived ones are cut and
   * pending handlers answered with 503; this never takes more than ~0.8 s.
   */
  close(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#closed) return;
      this.#closed = true;
      const listeners = [this.#main?.listener, this.#redirect?.listener].filter((l) => l !== undefined);
      this.#main = undefined;
      this.#redirect = undefined;
      await Promise.all(listeners.map((l) => stopListener(l, this.#graceMs, this.#logger)));
    });
  }
}

/** True when both are absent or hold the same PEM texts. */
function samePem(a: TlsPem | undefined, b: TlsPem | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.certPem === b.certPem && a.keyPem === b.keyPem);
}

/** Why a binding cannot be applied, or undefined. */
function bindingProblem(b: Binding): string | undefined {
  if (b.uiProtocol === "https" && !b.cert) return "web UI: uiProtocol is https but there is no certificate";
  if (b.httpPort !== 0 && b.httpPort === b.httpsPort) {
    return `web UI: httpPort and httpsPort are both ${b.httpPort}`;
  }
  return undefined;
}
