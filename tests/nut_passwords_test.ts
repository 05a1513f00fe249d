/** NUT password checks under a burst of logins (src/nut/passwords.ts). */
import assert from "node:assert/strict";
import { hashPassword } from "../src/config/credentials.ts";
import { NutPasswords } from "../src/nut/passwords.ts";
import { systemClock } from "../src/time/clock.ts";

Deno.test("nut passwords: 100 secondaries logging in at once with one credential cost one scrypt, not 100", async () => {
  // Found by the NUT benchmark: checks arriving in one read of many sockets each started their own scrypt
  // (100 logins took 1.9 s instead of 0.2 s, and each scrypt left 16 MiB in a thread's malloc arena: 370 MiB).
  const passwords = new NutPasswords(
    [{ name: "monuser", passwordHash: hashPassword("Secondary-pass-1") }],
    systemClock,
  );
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => passwords.check("monuser", "Secondary-pass-1", `127.0.0.${i + 1}`)),
  );
  assert.ok(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
  assert.equal(passwords.scryptRuns, 1);
  // A wrong password is still checked (and fails), remembered nowhere.
  const wrong = await passwords.check("monuser", "not-the-password", "127.0.0.200");
  assert.equal(wrong.ok, false);
  assert.equal(passwords.scryptRuns, 2);
});
