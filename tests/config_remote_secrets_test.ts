/**
 * An outside admin (web UI, API) cannot redirect a stored secret: the SMTP password, the SNMP trap community or an
 * SSH action's password goes to a new destination only when it is typed again in the same change.
 */
import assert from "node:assert/strict";
import { remoteUpdateProblems } from "../src/config/remote.ts";
import { defaultValues } from "../src/config/schema.ts";

const stored = () => {
  const values = defaultValues();
  values.set("Email.smtpHost", "mail.example.org");
  values.set("Email.password", "Smtp-Secret-1234");
  values.set("SNMP.trapReceiver_1", "192.0.2.50");
  values.set("SNMP.trapCommunity", "trap-secret-99");
  values.set("SSHAction0.host", "192.0.2.10");
  values.set("SSHAction0.password", "Ssh-Secret-5678");
  return values;
};
const refusedKeys = (updates: Record<string, string>, current = stored()) =>
  remoteUpdateProblems(updates, current, "pcnsconfig.ini").map((p) => p.key);

Deno.test("remote: a new SMTP server, trap receiver or SSH host without the secret typed again is refused", () => {
  assert.deepEqual(refusedKeys({ "Email.smtpHost": "attacker.example" }), ["Email.smtpHost"]);
  assert.deepEqual(
    refusedKeys({ "Email.security": "none" }),
    ["Email.security"],
    "sent in clear from now on",
  );
  assert.deepEqual(refusedKeys({ "Email.acceptCerts": "true" }), ["Email.acceptCerts"], "any certificate");
  assert.deepEqual(refusedKeys({ "SNMP.trapReceiver_2": "203.0.113.7" }), ["SNMP.trapReceiver_2"]);
  assert.deepEqual(refusedKeys({ "SSHAction0.host": "203.0.113.9" }), ["SSHAction0.host"]);
  const [problem] = remoteUpdateProblems({ "Email.smtpHost": "attacker.example" }, stored(), "f.ini");
  assert.match(
    problem.message,
    /changing where the stored Email\.password is sent needs Email\.password typed again/,
  );
  assert.ok(!problem.message.includes("Smtp-Secret-1234"), "the secret is never in the message");
});

Deno.test("remote: with the secret typed again, with nothing stored, or with the same value, the change passes", () => {
  assert.deepEqual(
    refusedKeys({ "Email.smtpHost": "mail2.example.org", "Email.password": "New-Smtp-Secret-1" }),
    [],
  );
  assert.deepEqual(refusedKeys({ "Email.smtpHost": "mail.example.org" }), [], "same host: no change");
  assert.deepEqual(refusedKeys({ "Email.security": "tls" }), [], "still encrypted, same server");
  assert.deepEqual(refusedKeys({ "Email.smtpPort": "99999" }), [], "an invalid port gets its own message");
  const empty = stored();
  empty.set("Email.password", "");
  assert.deepEqual(refusedKeys({ "Email.smtpHost": "mail2.example.org" }, empty), [], "no stored password");
  assert.deepEqual(refusedKeys({ "Email.to_1": "ops@example.org", "SNMP.community_1": "public-ro-1" }), []);
});
