/** `[NUT]` and `[NIS]` in pcnsconfig.ini: defaults, names, and the clear-text password hashed on load. */
import assert from "node:assert/strict";
import { totalShutdownSeconds } from "../src/agent/wiring.ts";
import { verifyPassword } from "../src/config/credentials.ts";
import { evaluateConfig } from "../src/config/evaluate.ts";
import { planSequence } from "../src/shutdown/sequencer.ts";
import { sequenceSettings } from "../src/agent/wiring.ts";

const BASE = `[NetworkManagementCard]
username = apc
authenticationPhrase = admin user phrase
ip_2 = 10.0.0.46
ip_3 = 10.0.0.47
`;

const evaluate = (text: string, strict = false) =>
  evaluateConfig(text, { file: "pcnsconfig.ini", backupFile: "pcnsconfig_backup.ini", strict });

Deno.test("[NUT] and [NIS] are off by default; UPS names follow ip_N (nmc2, nmc3) unless renamed", () => {
  const plain = evaluate(BASE);
  assert.ok(plain.ok, plain.problems.map((p) => p.message).join("\n"));
  assert.equal(plain.config!.nut!.enabled, false);
  assert.equal(plain.config!.nis!.enabled, false);
  assert.equal(plain.config!.nut!.port, 3493);
  assert.equal(plain.config!.nis!.port, 3551);
  assert.deepEqual(plain.config!.nut!.ups, [{ name: "nmc2", card: "10.0.0.46" }, {
    name: "nmc3",
    card: "10.0.0.47",
  }]);
  const renamed = evaluate(
    `${BASE}[NUT]\nenabled = true\nupsName_3 = rack-b\n[NIS]\nenabled = true\nnmc = rack-b\n`,
  );
  assert.deepEqual(renamed.config!.nut!.ups.map((u) => u.name), ["nmc2", "rack-b"]);
  assert.equal(renamed.config!.nis!.nmc, "rack-b");
  const bad = evaluate(`${BASE}[NUT]\nupsName_1 = nmc2\nuser_1 = bad name\n`, true);
  assert.equal(bad.ok, false);
  assert.ok(bad.problems.some((p) => /NUT\.upsName_1/.test(p.message) && /default names/.test(p.message)));
  assert.ok(bad.problems.some((p) => /NUT\.user_1/.test(p.message)));
});

Deno.test("a clear-text [NUT] password is hashed on load and never stays in the file", () => {
  const ev = evaluate(`${BASE}[NUT]\nenabled = true\nuser_1 = monuser\npassword_1 = Secondary-pass-1\n`);
  assert.ok(ev.ok, ev.problems.map((p) => p.message).join("\n"));
  assert.ok(!ev.text.includes("Secondary-pass-1"), "the clear text is gone from the file");
  assert.match(ev.text, /password_1 = scrypt\$/);
  const [user] = ev.config!.nut!.users;
  assert.equal(user.name, "monuser");
  assert.ok(verifyPassword("Secondary-pass-1", user.passwordHash));
  const again = evaluate(ev.text);
  assert.equal(again.config!.nut!.users[0].passwordHash, user.passwordHash, "a hash stays as it is");
  const weak = evaluate(`${BASE}[NUT]\nuser_1 = monuser\npassword_1 = secret\n`);
  assert.ok(!weak.text.includes("= secret"), "a weak clear-text password is removed too");
  assert.ok(weak.problems.some((p) => /NUT\.password_1 does not meet the password policy/.test(p.message)));
  assert.equal(weak.config!.nut!.users[0].passwordHash, "", "that user cannot log in");
});

Deno.test("with [NUT] on, the shutdown plan and the time registered with the card include hostSyncTimeout", () => {
  const off = evaluate(BASE).config!;
  const on = evaluate(`${BASE}[NUT]\nenabled = true\nhostSyncTimeout = 30\n`).config!;
  assert.equal(totalShutdownSeconds(on) - totalShutdownSeconds(off), 30);
  const plan = planSequence(sequenceSettings(on)).map((s) => `+${s.atSeconds} ${s.what}`);
  assert.deepEqual(plan.slice(0, 3), [
    "+0 set FSD (forced shutdown) for the NUT secondaries of the UPS",
    "+0 wait for the logged-in NUT secondaries to log out (at most 30 s)",
    "+30 wait the settle delay of 70 s",
  ]);
  assert.match(plan[3], /^\+100 shut down the OS/);
});
