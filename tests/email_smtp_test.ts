/**
 * E-mail notifications against a real SMTP server on loopback (npm smtp-server): STARTTLS with AUTH,
 * implicit TLS, plain; certificate checks; refused logins; a server without STARTTLS when it is required.
 */
import assert from "node:assert/strict";
import { EmailNotifier } from "../src/notify/email.ts";
import { type AgentEvent, makeEvent } from "../src/events/types.ts";
import { emailSettings, loopbackCertificate, startSmtpServer } from "./helpers/smtp.ts";

const ACCOUNT = { user: "pcns", pass: "s3cret-Sm7p-pass" };
const powerFailed: AgentEvent = makeEvent(
  { id: "PowerFailed", nmc: "10.0.0.5", details: { status: "10", batteryPercent: 97 } },
  Date.UTC(2026, 0, 1, 12, 0, 5),
);

/** Decodes the quoted-printable body of a raw message (enough for the tests' plain text). */
function body(raw: string): string {
  const text = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  return text.replace(/=\r\n/g, "").replace(
    /=([0-9A-F]{2})/g,
    (_, h) => String.fromCharCode(parseInt(h, 16)),
  );
}

function header(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ");
  return head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(
    name.length + 1,
  )
    .trim();
}

Deno.test("email: STARTTLS + AUTH to a verified server: one message to every recipient, readable subject and body", async () => {
  const server = await startSmtpServer({ mode: "starttls", account: ACCOUNT });
  try {
    const notifier = new EmailNotifier({
      settings: emailSettings(server.port, {
        user: ACCOUNT.user,
        password: ACCOUNT.pass,
        to: ["admin@example.com", "oncall@example.org"],
      }),
      ca: server.pem!.certPem,
      hostname: "db1",
      utcOffsetMinutes: () => 60,
    });
    assert.equal(notifier.name, "email smtp://127.0.0.1:" + server.port + " (starttls) to 2 recipients");
    const result = await notifier.notify(powerFailed);
    assert.deepEqual(result, { ok: true, attempts: 1 });
    assert.equal(server.received.length, 1);
    const mail = server.received[0];
    assert.equal(mail.secure, true, "upgraded with STARTTLS before anything else");
    assert.equal(mail.user, ACCOUNT.user);
    assert.equal(mail.from, "ups@example.com");
    assert.deepEqual(mail.to, ["admin@example.com", "oncall@example.org"]);
    assert.equal(
      header(mail.data, "Subject"),
      "[pcns-agent] db1: PowerFailed - UPS on battery (NMC 10.0.0.5)",
    );
    assert.equal(header(mail.data, "Auto-Submitted"), "auto-generated");
    const text = body(mail.data);
    assert.match(text, /^UPS on battery \(NMC 10\.0\.0\.5\)/);
    assert.match(text, /Event: +PowerFailed/);
    assert.match(text, /Severity: +critical/);
    assert.match(text, /UPS: +the UPS of NMC 10\.0\.0\.5/);
    assert.match(text, /Time: +2026-01-01 13:00:05 \+01:00 \(2026-01-01T12:00:05\.000Z\)/);
    assert.match(text, /Host: +db1/);
    assert.match(text, /batteryPercent: 97/);
    assert.ok(!mail.data.includes(ACCOUNT.pass), "the password is not in the message");
  } finally {
    await server.close();
  }
});

Deno.test("email: a self-signed certificate is refused unless acceptCerts; the error says how to accept it", async () => {
  const server = await startSmtpServer({ mode: "starttls", account: ACCOUNT });
  try {
    const settings = emailSettings(server.port, { user: ACCOUNT.user, password: ACCOUNT.pass });
    const refused = await new EmailNotifier({ settings }).notify(powerFailed);
    assert.equal(refused.ok, false);
    assert.match(refused.error!, /certificate/i);
    assert.match(refused.error!, /acceptCerts = true/);
    assert.deepEqual(server.logins, [], "no credentials were sent over the unverified connection");
    assert.equal(server.received.length, 0);
    const accepted = await new EmailNotifier({ settings: { ...settings, acceptCerts: true } }).notify(
      powerFailed,
    );
    assert.equal(accepted.ok, true, accepted.error);
    assert.equal(server.received.length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("email: implicit TLS (security = tls) and plain (security = none) servers", async () => {
  const pem = await loopbackCertificate();
  const tls = await startSmtpServer({ mode: "tls", account: ACCOUNT, pem });
  const plain = await startSmtpServer({ mode: "plain" });
  try {
    const overTls = await new EmailNotifier({
      settings: emailSettings(tls.port, { security: "tls", user: ACCOUNT.user, password: ACCOUNT.pass }),
      ca: pem.certPem,
    }).notify(powerFailed);
    assert.equal(overTls.ok, true, overTls.error);
    assert.equal(tls.received[0]?.secure, true);
    const overPlain = await new EmailNotifier({ settings: emailSettings(plain.port, { security: "none" }) })
      .notify(powerFailed);
    assert.equal(overPlain.ok, true, overPlain.error);
    assert.equal(plain.received[0]?.secure, false);
  } finally {
    await tls.close();
    await plain.close();
  }
});

Deno.test("email: security = starttls refuses a server that does not offer STARTTLS (the password is never sent in clear)", async () => {
  const plain = await startSmtpServer({ mode: "plain", account: ACCOUNT });
  try {
    const result = await new EmailNotifier({
      settings: emailSettings(plain.port, { user: ACCOUNT.user, password: ACCOUNT.pass, retries: 2 }),
      backoffMs: 1,
    }).notify(powerFailed);
    assert.equal(result.ok, false);
    assert.match(result.error!, /STARTTLS/);
    assert.deepEqual(plain.logins, []);
    assert.equal(plain.received.length, 0);
  } finally {
    await plain.close();
  }
});

Deno.test("email: a refused login is final (not retried) and the error never shows the password", async () => {
  const server = await startSmtpServer({ mode: "starttls", account: ACCOUNT });
  try {
    const wrong = "Wr0ng-but-secret-pass";
    const result = await new EmailNotifier({
      settings: emailSettings(server.port, {
        acceptCerts: true,
        user: ACCOUNT.user,
        password: wrong,
        retries: 3,
      }),
      backoffMs: 1,
    }).notify(powerFailed);
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 1, "an authentication failure is not retried");
    assert.match(result.error!, /login as "pcns" refused/);
    assert.match(result.error!, /not retried/);
    assert.ok(!result.error!.includes(wrong));
    assert.deepEqual(server.logins, [{ user: "pcns", ok: false }]);
  } finally {
    await server.close();
  }
});

Deno.test("email: settings without host, sender or recipient are refused with a clear message", () => {
  assert.throws(() => new EmailNotifier({ settings: emailSettings(25, { smtpHost: "" }) }), /smtpHost/);
  assert.throws(() => new EmailNotifier({ settings: emailSettings(25, { from: "" }) }), /\[Email\] from/);
  assert.throws(() => new EmailNotifier({ settings: emailSettings(25, { to: [] }) }), /to_1/);
  assert.throws(() => new EmailNotifier({ settings: emailSettings(0) }), /smtpPort must be 1-65535/);
});
