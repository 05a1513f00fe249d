/**
 * A real SMTP server on loopback for the e-mail tests (npm smtp-server): STARTTLS, implicit TLS or plain,
 * with AUTH PLAIN/LOGIN checked against one user, recording every accepted message; plus a "stalled"
 * server that accepts TCP connections and never says a word.
 */
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import type { EmailSettings } from "../../src/config/types.ts";
import { generateSelfSigned, type PemPair } from "../../src/web/certificate.ts";

/** One message the server accepted. */
export interface ReceivedMail {
  /** MAIL FROM. */
  readonly from: string;
  /** RCPT TO, in order. */
  readonly to: string[];
  /** The raw message (headers and body). */
  readonly data: string;
  /** The user logged in, if any. */
  readonly user?: string;
  /** The session was encrypted (STARTTLS or implicit TLS). */
  readonly secure: boolean;
}

/** How the test server behaves. */
export interface TestSmtpOptions {
  /** starttls (offers STARTTLS), tls (implicit TLS), plain (no TLS offered). Default starttls. */
  readonly mode?: "starttls" | "tls" | "plain";
  /** The one account AUTH accepts; undefined = no AUTH offered. */
  readonly account?: { readonly user: string; readonly pass: string };
  /** A certificate (default: a fresh self-signed one for 127.0.0.1/localhost). */
  readonly pem?: PemPair;
  /** Delay before DATA is acknowledged, in ms (a slow server). */
  readonly dataDelayMs?: number;
  /** Port to listen on (default 0: an ephemeral one). */
  readonly port?: number;
}

/** A self-signed certificate for 127.0.0.1 and localhost. */
export function loopbackCertificate(): Promise<PemPair> {
  return generateSelfSigned({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
}

/** Starts an SMTP server on 127.0.0.1 (ephemeral port); `close()` stops it. */
export async function startSmtpServer(options: TestSmtpOptions = {}) {
  const mode = options.mode ?? "starttls";
  const pem = mode === "plain" ? undefined : options.pem ?? await loopbackCertificate();
  const received: ReceivedMail[] = [];
  const logins: { user: string; ok: boolean }[] = [];
  let sessions = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const config: SMTPServerOptions = {
    secure: mode === "tls",
    ...(pem ? { key: pem.keyPem, cert: pem.certPem } : {}),
    disabledCommands: [...(mode === "plain" ? ["STARTTLS"] : []), ...(options.account ? [] : ["AUTH"])],
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: !options.account,
    logger: false,
    onConnect(_session, callback) {
      sessions++;
      callback();
    },
    onAuth(auth, _session, callback) {
      const ok = auth.username === options.account?.user && auth.password === options.account?.pass;
      logins.push({ user: auth.username ?? "", ok });
      if (!ok) return callback(new Error("Invalid username or password"));
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      let data = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (data += chunk));
      stream.on("end", () => {
        const accept = () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            data,
            user: session.user as string | undefined,
            secure: session.secure,
          });
          callback();
        };
        if (!options.dataDelayMs) return accept();
        const timer = setTimeout(() => {
          timers.delete(timer);
          accept();
        }, options.dataDelayMs);
        timers.add(timer);
      });
    },
  };
  const server = new SMTPServer(config);
  server.on("error", () => {}); // a client dropping mid-session is expected in the failure tests
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    pem,
    received,
    logins,
    get sessions() {
      return sessions;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers (no greeting); counts them. */
export function startStalledServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let accepted = 0;
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        open.add(conn);
        // Read (and drop) what the client sends, to notice when it gives up; never answer.
        (async () => {
          const buf = new Uint8Array(1024);
          try {
            while ((await conn.read(buf)) !== null) { /* ignored */ }
          } catch {
            // reset by the client
          }
          open.delete(conn);
        })();
      }
    } catch {
      // closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    /** Connections still open (not given up by the client). */
    get open() {
      return open.size;
    },
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await loop;
    },
  };
}

/** `[Email]` settings for a test server on 127.0.0.1. */
export function emailSettings(port: number, change: Partial<EmailSettings> = {}): EmailSettings {
  return {
    smtpHost: "127.0.0.1",
    smtpPort: port,
    security: "starttls",
    acceptCerts: false,
    user: "",
    password: "",
    from: "ups@example.com",
    to: ["admin@example.com"],
    subjectPrefix: "[pcns-agent]",
    timeout: 5,
    retries: 0,
    ...change,
  };
}
