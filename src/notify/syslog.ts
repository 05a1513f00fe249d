/**
 * Syslog notifications: one RFC 5424 line per event, sent either to the local
 * syslog socket (a unix datagram socket, `/dev/log` by default) or over UDP to
 * a remote collector (RFC 5426, one message per datagram). The line is built
 * by the pure {@linkcode formatSyslogLine}; {@linkcode SyslogNotifier} only
 * does the sending.
 *
 * @module
 */
import type { AgentEvent, Severity } from "../events/types.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { errorText, type Notifier, type NotifyResult } from "./notifier.ts";
import { localHostname } from "./webhook.ts";

/** syslog facility codes (RFC 5424 §6.2.1). */
export const SYSLOG_FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/** A facility name. */
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/** syslog severity for each event severity: crit(2), warning(4), info(6). */
export const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = { critical: 2, warning: 4, info: 6 };

/** Default local socket. */
export const DEFAULT_SYSLOG_SOCKET = "/dev/log";
/** Default remote port (RFC 5426). */
export const DEFAULT_SYSLOG_PORT = 514;
/** Default longest line, in bytes (RFC 5426 says receivers SHOULD take 2048). */
export const DEFAULT_SYSLOG_MAX_BYTES = 2048;

/** Header fields of a syslog line. */
export interface SyslogFormatOptions {
  /** Facility. Default `daemon`. */
  readonly facility?: SyslogFacility;
  /** APP-NAME. Default `pcns-agent`. */
  readonly appName?: string;
  /** HOSTNAME. Default `-` (nil) in {@linkcode formatSyslogLine}; the notifier passes the host name. */
  readonly hostname?: string;
  /** PROCID. Default `-`; the notifier passes the agent's pid. */
  readonly procId?: string | number;
  /** Longest line in bytes; the message is cut (on a character boundary) to fit. Default 2048. */
  readonly maxBytes?: number;
}

/** The PRI value: facility * 8 + severity. */
export function syslogPriority(severity: Severity, facility: SyslogFacility = "daemon"): number {
  return SYSLOG_FACILITIES[facility] * 8 + SYSLOG_SEVERITY[severity];
}

/**
 * One RFC 5424 line for `event`, without a trailing newline:
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, with the event id as
 * MSGID, no structured data, and the event message (control characters turned
 * into spaces) as MSG.
 */
export function formatSyslogLine(event: AgentEvent, options: SyslogFormatOptions = {}): string {
  return composeLine(event, options.facility ?? "daemon", originFields(options), options.maxBytes);
}

/** HOSTNAME APP-NAME PROCID: the fields that are the same in every line of one sender. */
function originFields(options: SyslogFormatOptions): string {
  const procId = options.procId === undefined ? undefined : String(options.procId);
  return `${headerField(options.hostname, 255)} ${headerField(options.appName ?? "pcns-agent", 48)} ${
    headerField(procId, 128)
  }`;
}

/** The line for `event` from the sender's formatted {@link originFields}. */
function composeLine(
  event: AgentEvent,
  facility: SyslogFacility,
  origin: string,
  maxBytes = DEFAULT_SYSLOG_MAX_BYTES,
): string {
  const time = Number.isFinite(event.time) ? new Date(event.time).toISOString() : "-";
  const header = `<${syslogPriority(event.severity, facility)}>1 ${time} ${origin} ${
    headerField(event.id, 32)
  } -`;
  const message = oneLine(event.message);
  return truncateUtf8(message ? `${header} ${message}` : header, maxBytes);
}

/** A run of control characters or line separators, with the one space that may stand before it. */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const CONTROL_RUN = /( ?)[\x00-\x1f\x7f\x85\u2028\u2029]+/g;

/** `text` on one line: control characters and line separators become spaces (runs collapsed), trimmed. */
export function oneLine(text: string): string {
  return text.replace(CONTROL_RUN, " ").trim();
}

/** A header field: printable US-ASCII only (others become `_`), at most `max` chars, `-` when empty. */
export function headerField(value: string | undefined, max: number): string {
  if (!value) return "-";
  return value.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
}

const UTF8 = new TextEncoder();

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // a UTF-16 code unit is at most 3 UTF-8 bytes
  const bytes = UTF8.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** Where syslog lines go: the local socket, or a remote collector over UDP. */
export type SyslogTarget = "local" | { readonly host: string; readonly port?: number };

/** Settings of a {@linkcode SyslogNotifier}. */
export interface SyslogOptions extends Omit<SyslogFormatOptions, "procId"> {
  /** `"local"` (unix datagram socket) or `{ host, port }` (UDP, port default 514). */
  readonly target: SyslogTarget;
  /** The local socket. Default `/dev/log`. */
  readonly socketPath?: string;
  /** Limit for one send, in ms (a stalled local syslog daemon must not hang us). Default 2000. */
  readonly timeoutMs?: number;
  /** Clock for the send timeout. Default the system clock. */
  readonly clock?: Clock;
}

/** Sends events as RFC 5424 syslog lines. */
export class SyslogNotifier implements Notifier {
  /** `syslog /dev/log` or `syslog udp://host:port`. */
  readonly name: string;
  readonly #facility: SyslogFacility;
  /** HOSTNAME APP-NAME PROCID, formatted once. */
  readonly #origin: string;
  readonly #maxBytes: number;
  readonly #address: Deno.Addr;
  readonly #bindHost: string | undefined;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #conn: Deno.DatagramConn | undefined;

  /** Checks the settings; throws a clear Error on an unknown facility or a bad host/port. */
  constructor(options: SyslogOptions) {
    const facility = options.facility ?? "daemon";
    if (!Object.hasOwn(SYSLOG_FACILITIES, facility)) {
      throw new Error(
        `unknown syslog facility "${facility}" (use one of ${Object.keys(SYSLOG_FACILITIES).join(", ")})`,
      );
    }
    this.#facility = facility;
    this.#origin = originFields({
      hostname: options.hostname ?? localHostname(),
      appName: options.appName ?? "pcns-agent",
      procId: Deno.pid,
    });
    this.#maxBytes = options.maxBytes ?? DEFAULT_SYSLOG_MAX_BYTES;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new Error(`syslog timeoutMs must be a positive number of milliseconds, got ${this.#timeoutMs}`);
    }
    this.#clock = options.clock ?? systemClock;
    const target = options.target;
    if (target === "local") {
      const path = options.socketPath ?? DEFAULT_SYSLOG_SOCKET;
      if (!path) throw new Error("syslog socket path is empty");
      this.#address = { transport: "unixpacket", path };
      this.#bindHost = undefined;
      this.name = `syslog ${path}`;
    } else {
      const host = target.host?.trim() ?? "";
      if (!host) throw new Error("syslog host is empty");
      const port = target.port ?? DEFAULT_SYSLOG_PORT;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`syslog port must be 1-65535, got ${port}`);
      }
      const bare = host.replace(/^\[(.*)\]$/, "$1");
      const v6 = bare.includes(":");
      this.#address = { transport: "udp", hostname: bare, port };
      this.#bindHost = v6 ? "::" : "0.0.0.0";
      this.name = `syslog udp://${v6 ? `[${bare}]` : bare}:${port}`;
    }
  }

  /** Sends one line for `event`; never throws. UDP gives no delivery receipt: ok means "sent". */
  async notify(event: AgentEvent): Promise<NotifyResult> {
    const line = UTF8.encode(composeLine(event, this.#facility, this.#origin, this.#maxBytes));
    try {
      await this.#send(line);
      return { ok: true, attempts: 1 };
    } catch (error) {
      return { ok: false, attempts: 1, error: this.#describe(error) };
    }
  }

  /**
   * Opens the socket now (when the agent starts or its notification settings change), so the first event's
   * line neither opens it nor waits for the socket's first readiness (a new socket's first send is made only
   * after the event loop's next turn, i.e. after all the rest of that packet's work). A socket that cannot be
   * opened is left to the first send, which reports why.
   */
  prepare(): void {
    try {
      this.#socket();
    } catch {
      // reported by the first send
    }
  }

  /**
   * Sends one datagram (bounded by the timeout) from the notifier's socket, opened at the first send (or by
   * {@linkcode prepare}) and kept: a new socket per line cost ~15 % of the packet -> notification path. A send
   * that fails or times out closes it; the next send opens a new one.
   */
  async #send(data: Uint8Array): Promise<void> {
    const conn = this.#socket();
    let timer: unknown;
    const sending = conn.send(data, this.#address);
    sending.catch(() => {}); // it rejects when the timeout closes the socket
    try {
      await Promise.race([
        sending,
        new Promise<never>((_, reject) => {
          timer = this.#clock.setTimeout(
            () => reject(new Error(`sending took longer than ${this.#timeoutMs} ms`)),
            this.#timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      this.#closeSocket(conn);
      throw error;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /** The open socket, opened if there is none. */
  #socket(): Deno.DatagramConn {
    return this.#conn ??= this.#address.transport === "unixpacket"
      ? Deno.listenDatagram({ transport: "unixpacket" })
      : Deno.listenDatagram({ transport: "udp", hostname: this.#bindHost!, port: 0 });
  }

  /** Closes the socket (it is opened again by the next send). */
  close(): void {
    if (this.#conn) this.#closeSocket(this.#conn);
  }

  #closeSocket(conn: Deno.DatagramConn): void {
    if (this.#conn === conn) this.#conn = undefined;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }

  /** A clear message for a send failure. */
  #describe(error: unknown): string {
    const where = this.name.slice("syslog ".length);
    if (this.#address.transport === "unixpacket") {
      if (error instanceof Deno.errors.NotFound) {
        return `syslog socket ${where} does not exist (is a syslog daemon or journald running?)`;
      }
      if (error instanceof Deno.errors.ConnectionRefused) {
        return `nothing is listening on syslog socket ${where}`;
      }
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      return `no permission to send to ${where}: ${errorText(error)}`;
    }
    return `cannot send to ${where}: ${errorText(error)}`;
  }
}
