/**
 * The `[Email]` keys: field-level errors for bad values (addresses, port, security word), the port by
 * security, incomplete settings called out, the password kept for SMTP but masked everywhere it is shown.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { evaluateConfig, prepareUpdates } from "../src/config/evaluate.ts";
import { maskConfig } from "../src/config/build.ts";
import { defaultValues, displayValue } from "../src/config/schema.ts";
import { emailAddressProblems, isEmailAddress } from "../src/config/schema_email.ts";
import { defaultConfigText } from "../src/config/template.ts";
import { ConfigError } from "../src/config/problems.ts";
import { configText, lineOf, openStore, withTempDir } from "./fixtures/config/helpers.ts";

const FILE = "/etc/pcns/pcnsconfig.ini";
const evaluate = (text: string, strict = true) =>
  evaluateConfig(text, { file: FILE, backupFile: `${FILE}.bak`, strict });

Deno.test("email addresses: what is accepted and what is refused, with the reason", () => {
  for (
    const ok of [
      "a@b.c",
      "first.last+tag@sub.example.org",
      "ups@[127.0.0.1]",
      "ops@localhost",
      "x@[IPv6:::1]",
    ]
  ) {
    assert.deepEqual(emailAddressProblems(ok), [], ok);
  }
  const bad: Record<string, RegExp> = {
    "admin": /no "@"/,
    "admin@": /domain after "@"/,
    "@example.com": /part before "@"/,
    "a b@example.com": /no blanks/,
    "a@b..c": /domain/,
    "a@-b.com": /domain/,
    "Ops <ops@example.com>": /no blanks/,
    "ops@10.0.0.1": /domain/,
    ".ops@example.com": /part before/,
    "o..ps@example.com": /part before/,
    "ops@example.com\u0000": /control/,
  };
  for (const [value, why] of Object.entries(bad)) {
    const problems = emailAddressProblems(value);
    assert.equal(problems.length, 1, value);
    assert.match(problems[0], why, value);
    assert.match(problems[0], /an e-mail address such as ups@example\.com/);
  }
  assert.equal(isEmailAddress(`${"a".repeat(65)}@example.com`), false, "local part over 64 characters");
});

Deno.test("[Email] in the file: each bad value is an error naming the key, its line and the reason", () => {
  const text = configText({
    "Email.smtpHost": "mail..example.com",
    "Email.smtpPort": "70000",
    "Email.security": "ssl",
    "Email.from": "ups",
    "Email.to_3": "ops@@example.com",
    "Email.timeout": "0",
    "Email.retries": "11",
  });
  const ev = evaluate(text);
  assert.equal(ev.ok, false);
  const byKey = new Map(ev.problems.filter((p) => p.level === "error").map((p) => [p.key, p]));
  const expect: Record<string, RegExp> = {
    "Email.smtpHost": /IPv4 address, an IPv6 address or a host name/,
    "Email.smtpPort": /must be 1-65535 \(or empty: 587 for starttls, 465 for tls, 25 for none\)/,
    "Email.security": /must be one of starttls, tls, none/,
    "Email.from": /e-mail address/,
    "Email.to_3": /e-mail address/,
    "Email.timeout": /must be 1-300/,
    "Email.retries": /must be 0-10/,
  };
  for (const [key, why] of Object.entries(expect)) {
    const p = byKey.get(key);
    assert.ok(p, `an error for ${key}`);
    assert.match(p.message, why, key);
    assert.equal(p.line, lineOf(text, `${key.slice("Email.".length)} =`), `${key} points at its line`);
  }
  // At start (lenient) the same file runs, with the defaults for the bad values (warnings).
  const lenient = evaluate(text, false);
  assert.equal(lenient.ok, true);
  assert.equal(lenient.config!.notifications.email!.security, "starttls");
});

Deno.test("[Email] smtpPort: empty means 587 (starttls), 465 (tls) or 25 (none); a number is kept", () => {
  const port = (changes: Record<string, string>) =>
    evaluate(configText(changes)).config!.notifications.email!.smtpPort;
  assert.equal(port({}), 587);
  assert.equal(port({ "Email.security": "TLS" }), 465, "the security word in any case");
  assert.equal(port({ "Email.security": "none" }), 25);
  assert.equal(port({ "Email.security": "tls", "Email.smtpPort": "2465" }), 2465);
  const fresh = evaluate(defaultConfigText());
  assert.equal(fresh.ok, true);
  assert.equal(fresh.config!.notifications.email!.smtpHost, "", "a fresh file sends no e-mail");
  assert.match(defaultConfigText(), /\n\[Email\]\n; SMTP server that sends the notification e-mails/);
});

Deno.test("[Email] incomplete settings are warned about by key: no sender, no recipient, a user without password", () => {
  const ev = evaluate(configText({ "Email.smtpHost": "mail.example.com", "Email.user": "ups" }));
  assert.equal(ev.ok, true, "a warning, not an error: the agent still starts");
  const warnings = ev.problems.filter((p) => p.level === "warning" && p.key?.startsWith("Email."));
  assert.deepEqual(warnings.map((p) => p.key), ["Email.from", "Email.to_1", "Email.password"]);
  assert.match(warnings[1].message, /smtpHost is set but no recipient is: set to_1 \(up to to_10\)/);
  const complete = evaluate(configText({
    "Email.smtpHost": "mail.example.com",
    "Email.from": "ups@example.com",
    "Email.to_1": "ops@example.com",
  }));
  assert.deepEqual(complete.problems.filter((p) => p.key?.startsWith("Email.")), []);
});

Deno.test("[Email] updates (web UI, API, config set): field errors per key, nothing half applied", () => {
  const { problems, changes } = prepareUpdates(
    {
      "Email.to_1": "not an address",
      "Email.smtpPort": "0",
      "Email.security": "starttls",
      "Email.to_2": "a@b.c",
    },
    defaultValues(),
    FILE,
  );
  assert.deepEqual(problems.map((p) => p.key), ["Email.to_1", "Email.smtpPort"]);
  assert.match(
    problems[0].message,
    /invalid value for Email\.to_1 = "not an address": must be an e-mail address/,
  );
  assert.equal(changes.length, 2, "the good ones are prepared; the store applies none while any is bad");
});

Deno.test("[Email] password: kept in clear for SMTP AUTH, masked in config show, the API and change messages", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    const secret = "Smtp-Secret-In-File-9";
    await Deno.writeTextFile(
      path,
      configText({
        "Email.smtpHost": "127.0.0.1",
        "Email.from": "ups@example.com",
        "Email.to_1": "ops@example.com",
        "Email.user": "ups",
        "Email.password": secret,
      }),
    );
    const { store, records, events } = await openStore(path);
    try {
      assert.equal(store.current.notifications.email!.password, secret, "the SMTP server needs it as it is");
      assert.ok((await Deno.readTextFile(path)).includes(secret), "not hashed (unlike the web UI password)");
      assert.equal(maskConfig(store.current).notifications.email!.password, "***");
      assert.equal(displayValue("Email.password", secret), "***");
      await store.set({ "Email.password": "Another-Secret-22" }, { local: true });
      await assert.rejects(
        store.set({ "Email.password": "bad\u0007bell" }, { local: true }),
        (e: unknown) =>
          e instanceof ConfigError && !e.message.includes("bell") &&
          /Email\.password/.test(JSON.stringify(e.problems)),
      );
      const said = JSON.stringify([records, events]);
      assert.ok(
        !said.includes(secret) && !said.includes("Another-Secret-22") && !said.includes("bell"),
        said,
      );
    } finally {
      await store.close();
    }
  });
});
