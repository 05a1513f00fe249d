/**
 * E-mail notifications: one plain-text message per event, handed to an SMTP
 * server with nodemailer's SMTP client (STARTTLS required, implicit TLS, or
 * none; SMTP AUTH when a user is set), each attempt bounded by a timeout, with
 * retries after a doubling wait. The subject and body are built by the pure
 * {@linkcode emailSubject} and {@linkcode emailBody}; {@linkcode EmailNotifier}
 * only does the sending. The password never appears in a name, a result or a
 * log line (nodemailer's own logger is off).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type MailComposerType from "nodemailer/lib/mail-composer";
import type SMTPConnectionType from "nodemailer/lib/smtp-connection";
import type { EmailSettings } from "../config/types.ts";
import { type AgentEvent, EVENT_CATALOG } from "../events/types.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { describeMark, describeSeconds, notificationMark } from "./mark.ts";
import { errorText, type Notifier, type NotifyResult } from "./notifier.ts";
import { oneLine } from "./syslog.ts";
import { localHostname } from "./webhook.ts";

/** Settings of an {@linkcode EmailNotifier}: the `[Email]` section plus what tests inject. */
export interface EmailOptions {
  /** The `[Email]` settings (host, port, security, credentials, sender, recipients, timeout, retries). */
  readonly settings: EmailSettings;
  /** Wait before the first retry, in ms; doubles for each further retry (capped at 5 min). Default 5000. */
  readonly backoffMs?: number;
  /** Extra trusted CA certificates (PEM) for the server's certificate. */
  readonly ca?: string;
  /** Clock for the attempt timeout and the backoff waits. Default the system clock. */
  readonly clock?: Clock;
  /** Host name in the subject, the body and EHLO. Default `Deno.hostname()`. */
  readonly hostname?: string;
  /** Minutes east of UTC of the local time at `time` (default: the system's time zone). */
  readonly utcOffsetMinutes?: (time: number) => number;
  /** Loads the e-mail library (tests). Default nodemailer's, loaded once per process. */
  readonly library?: () => Promise<EmailLibrary>;
}

/**
 * nodemailer's composer and SMTP client (about 5 MiB): loaded only by an agent with `[Email]`, when it
 * starts or a reload sets it ({@linkcode EmailNotifier.prepare}), not with its first e-mail, which goes out
 * in a power event: the load holds up the whole agent for 40-130 ms (module loading runs on the event
 * loop), and as long as the files' disk does not answer. The CLI's `notify test` loads it with its e-mail.
 */
export interface EmailLibrary {
  readonly MailComposer: typeof MailComposerType;
  readonly SMTPConnection: typeof SMTPConnectionType;
}
let mailer: Promise<EmailLibrary> | undefined;
function loadMailer(): Promise<EmailLibrary> {
  mailer ??= Promise.all([
    import("nodemailer/lib/mail-composer"),
    import("nodemailer/lib/smtp-connection"),
  ]).then(([composer, smtp]) => ({ MailComposer: composer.default, SMTPConnection: smtp.default }));
  return mailer;
}

/** Whether this process has asked for nodemailer yet (tests: an agent without `[Email]` never does). */
export function emailLibraryRequested(): boolean {
  return mailer !== undefined;
}

const DEFAULT_BACKOFF_MS = 5000;
const MAX_BACKOFF_MS = 300_000;
const MAX_SUBJECT = 200;

/** `2026-01-01 13:00:05 +01:00`: local time with its UTC offset (`offsetMinutes` east of UTC). */
export function formatTimeWithOffset(time: number, offsetMinutes: number): string {
  const local = new Date(time + offsetMinutes * 60_000);
  const two = (n: number) => String(n).padStart(2, "0");
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())} ` +
    `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/** The system's offset from UTC at `time`, in minutes east. */
export function systemUtcOffset(time: number): number {
  return -new Date(time).getTimezoneOffset();
}

function catalogText(event: AgentEvent): string {
  return (EVENT_CATALOG as Record<string, { text: string }>)[event.id]?.text ?? event.id;
}

/**
 * The subject of the e-mail for `event`, one line of at most 200 characters:
 * `[pcns-agent] db1: PowerFailed - UPS on battery (NMC 10.0.0.5)`, with
 * `- still in effect after 5 min` on a delayed or repeated notification.
 */
export function emailSubject(event: AgentEvent, prefix: string, host: string): string {
  const mark = notificationMark(event);
  const ups = event.nmc ? ` (NMC ${event.nmc})` : "";
  const held = mark && mark.heldSeconds > 0
    ? ` - still in effect after ${describeSeconds(mark.heldSeconds)}`
    : "";
  const text = oneLine(
    `${prefix ? `${prefix} ` : ""}${host}: ${event.id} - ${catalogText(event)}${ups}${held}`,
  );
  return text.length > MAX_SUBJECT ? `${text.slice(0, MAX_SUBJECT - 3)}...` : text;
}

/** The plain-text body of the e-mail for `event`: what happened, on which UPS, when, on which host. */
export function emailBody(event: AgentEvent, host: string, offsetMinutes: number): string {
  const mark = notificationMark(event);
  const lines = [event.message, ""];
  const row = (label: string, value: string) => lines.push(`${`${label}:`.padEnd(10)} ${value}`);
  row("Event", event.id);
  row("Severity", event.severity);
  row("UPS", event.nmc ? `the UPS of NMC ${event.nmc}` : "(not about one UPS)");
  row("Time", `${formatTimeWithOffset(event.time, offsetMinutes)} (${new Date(event.time).toISOString()})`);
  row("Host", host);
  if (mark) row("Notice", describeMark(mark));
  const details = Object.entries(event.details ?? {}).filter(([key]) => key !== "notification");
  if (details.length > 0) {
    lines.push("", "Details:");
    for (const [key, value] of details) lines.push(`  ${key}: ${detailText(value)}`);
  }
  lines.push(
    "",
    `-- `,
    `Sent by pcns-agent on ${host}. Its event log has the whole history (pcns-agent events).`,
  );
  return lines.join("\n") + "\n";
}

function detailText(value: unknown): string {
  if (typeof value === "string") return oneLine(value);
  try {
    return oneLine(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "");
  } catch {
    return String(value);
  }
}

/** Wait before the retry that follows failed attempt `attempt` (1-based): base, 2x, 4x ... capped at 5 min. */
export function emailBackoff(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), Math.max(baseMs, MAX_BACKOFF_MS));
}

/** SMTP reply codes 5xx (except 421-style transient ones) are final: retrying would give the same answer. */
function isPermanent(error: unknown): boolean {
  const e = error as { responseCode?: number; code?: string };
  return (typeof e?.responseCode === "number" && e.responseCode >= 500 && e.responseCode < 600) ||
    e?.code === "EAUTH" || e?.code === "EENVELOPE";
}

type Attempt = { readonly ok: true } | {
  readonly ok: false;
  readonly final: boolean;
  readonly error: string;
};

/** Sends events as e-mails through an SMTP server. */
export class EmailNotifier implements Notifier {
  /** `email smtp://host:port (starttls) to 2 recipients` (no user or password). */
  readonly name: string;
  readonly #settings: EmailSettings;
  readonly #backoffMs: number;
  readonly #ca: string | undefined;
  readonly #clock: Clock;
  readonly #hostname: string;
  readonly #offset: (time: number) => number;
  readonly #loadLibrary: () => Promise<EmailLibrary>;
  #library: Promise<EmailLibrary> | undefined;

  /** Checks the settings; throws a clear Error when there is no host, sender or recipient, or a bad number. */
  constructor(options: EmailOptions) {
    const s = options.settings;
    if (!s.smtpHost) throw new Error("no SMTP server is set ([Email] smtpHost)");
    if (!s.from) throw new Error("no sender address is set ([Email] from)");
    if (s.to.length === 0) throw new Error("no recipient is set ([Email] to_1 ... to_10)");
    if (!Number.isInteger(s.smtpPort) || s.smtpPort < 1 || s.smtpPort > 65535) {
      throw new Error(`[Email] smtpPort must be 1-65535, got ${s.smtpPort}`);
    }
    if (!(s.timeout > 0)) {
      throw new Error(`[Email] timeout must be a positive number of seconds, got ${s.timeout}`);
    }
    if (!Number.isInteger(s.retries) || s.retries < 0) {
      throw new Error(`[Email] retries must be a whole number >= 0, got ${s.retries}`);
    }
    this.#settings = s;
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.#ca = options.ca;
    this.#clock = options.clock ?? systemClock;
    this.#hostname = options.hostname ?? localHostname();
    this.#offset = options.utcOffsetMinutes ?? systemUtcOffset;
    this.#loadLibrary = options.library ?? loadMailer;
    const host = s.smtpHost.includes(":") ? `[${s.smtpHost}]` : s.smtpHost;
    const count = s.to.length === 1 ? "1 recipient" : `${s.to.length} recipients`;
    this.name = `email smtp://${host}:${s.smtpPort} (${s.security}) to ${count}`;
  }

  /** Loads the e-mail library now (the agent's start, or a reload that sets `[Email]`), not in an event. */
  prepare(): void {
    this.#libraryLoaded().catch(() => {}); // a library that does not load is reported by the first e-mail
  }

  #libraryLoaded(): Promise<EmailLibrary> {
    this.#library ??= this.#loadLibrary();
    return this.#library;
  }

  /** Sends one e-mail for `event` to every recipient, retrying as configured; never throws. */
  async notify(event: AgentEvent): Promise<NotifyResult> {
    let message: Buffer;
    let lib: EmailLibrary;
    try {
      lib = await this.#libraryLoaded();
      message = await this.#compose(lib, event);
    } catch (error) {
      return { ok: false, attempts: 0, error: `cannot build the e-mail: ${this.#redact(errorText(error))}` };
    }
    const maxAttempts = this.#settings.retries + 1;
    let attempts = 0;
    for (;;) {
      attempts++;
      const outcome = await this.#attempt(lib, message);
      if (outcome.ok) return { ok: true, attempts };
      if (outcome.final) return { ok: false, attempts, error: `${outcome.error} (not retried)` };
      if (attempts >= maxAttempts) {
        const gaveUp = attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
        return { ok: false, attempts, error: `${outcome.error}${gaveUp}` };
      }
      await new Promise<void>((resolve) =>
        this.#clock.setTimeout(resolve, emailBackoff(attempts, this.#backoffMs))
      );
    }
  }

  /** The RFC 5322 message for `event`. */
  async #compose(lib: EmailLibrary, event: AgentEvent): Promise<Buffer> {
    const s = this.#settings;
    const mail = new lib.MailComposer({
      from: s.from,
      to: [...s.to],
      subject: emailSubject(event, s.subjectPrefix, this.#hostname),
      text: emailBody(event, this.#hostname, this.#offset(event.time)),
      date: new Date(this.#clock.now()),
      headers: { "Auto-Submitted": "auto-generated", "X-Pcns-Event": event.id },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    return await mail.compile().build();
  }

  /** One SMTP session (connect, STARTTLS, AUTH, MAIL/RCPT/DATA, QUIT), bounded by the timeout. */
  #attempt(lib: EmailLibrary, message: Buffer): Promise<Attempt> {
    const s = this.#settings;
    const timeoutMs = s.timeout * 1000;
    const connection = new lib.SMTPConnection({
      host: s.smtpHost,
      port: s.smtpPort,
      secure: s.security === "tls",
      requireTLS: s.security === "starttls",
      ignoreTLS: s.security === "none",
      name: this.#hostname,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      socketCloseTimeout: 0,
      logger: false,
      debug: false,
      tls: {
        rejectUnauthorized: !s.acceptCerts,
        ...(this.#ca ? { ca: this.#ca } : {}),
        minVersion: "TLSv1.2",
      },
    });
    return new Promise<Attempt>((resolve) => {
      let done = false;
      const finish = (outcome: Attempt) => {
        if (done) return;
        done = true;
        this.#clock.clearTimeout(timer);
        if (outcome.ok) connection.quit();
        else connection.close();
        resolve(outcome);
      };
      const fail = (error: unknown, stage: string) =>
        finish({ ok: false, final: isPermanent(error), error: this.#describe(error, stage) });
      const timer = this.#clock.setTimeout(
        () =>
          finish({ ok: false, final: false, error: `${this.#where()} did not finish within ${s.timeout} s` }),
        timeoutMs,
      );
      connection.on("error", (error: unknown) => fail(error, "connection"));
      connection.on("end", () => fail(new Error("the server closed the connection"), "connection"));
      try {
        connection.connect((error) => {
          if (error) return fail(error, "connection");
          const send = () =>
            connection.send(
              { from: s.from, to: [...s.to] },
              message,
              (error, info) => {
                if (error) return fail(error, "sending");
                const refused = info?.rejected ?? [];
                if (refused.length > 0 && refused.length === s.to.length) {
                  return finish({
                    ok: false,
                    final: true,
                    error: `every recipient was refused: ${refused.join(", ")}`,
                  });
                }
                finish({ ok: true });
              },
            );
          if (!s.user) return send();
          connection.login(
            { user: s.user, pass: s.password },
            (error) => (error ? fail(error, "login") : send()),
          );
        });
      } catch (error) {
        fail(error, "connection");
      }
    });
  }

  #where(): string {
    return this.name.slice("email ".length).replace(/ to \d+ recipients?$/, "");
  }

  /** A clear, secret-free message for a failed attempt. */
  #describe(error: unknown, stage: string): string {
    const e = error as { code?: string; responseCode?: number; response?: string };
    const where = this.#where();
    let text = errorText(error);
    if (e?.code === "EAUTH") text = `login as ${JSON.stringify(this.#settings.user)} refused: ${text}`;
    else if (e?.responseCode === 530 && !this.#settings.user) {
      text = `${text} (the server wants a login: set [Email] user and password)`;
    } else if (/STARTTLS/i.test(text) && this.#settings.security === "starttls") {
      text = `${text} (security = starttls requires it; use tls or none if the server has no STARTTLS)`;
    } else if (/certificate|self[- ]signed|unable to verify/i.test(text)) {
      text = `${text} (set [Email] acceptCerts = true to accept a self-signed certificate)`;
    }
    return this.#redact(`${stage} to ${where} failed: ${text}`);
  }

  /** Removes the password from a text, should a server or library ever echo it. */
  #redact(text: string): string {
    const pw = this.#settings.password;
    if (pw.length < 4) return text; // too short to find without mangling the text around it
    let out = text.split(pw).join("***");
    const b64 = btoa(
      String.fromCharCode(...new TextEncoder().encode(`\u0000${this.#settings.user}\u0000${pw}`)),
    );
    out = out.split(b64).join("***");
    return out;
  }
}
