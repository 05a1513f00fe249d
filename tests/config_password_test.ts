/**
 * Issue 13 item 4: a password change through the API needs the current password and obeys the policy;
 * the API never takes a ready-made hash nor an empty password (no silent return to setup); the ini path
 * refuses scrypt hashes weaker than the ones the agent writes.
 */
import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import { hashPassword, verifyPassword } from "../src/config/credentials.ts";
import { ConfigError } from "../src/config/problems.ts";
import {
  configText,
  messages,
  openStore,
  waitFor,
  withTempDir,
  writePrivate,
} from "./fixtures/config/helpers.ts";
import { ADMIN_PASSWORD, cli, withWebService } from "./fixtures/config/web.ts";

const NEW_PASSWORD = "Brand-New-Passw0rd!";
const PASSWORD_KEY = "NetworkManagementCard.password";

/** A well-formed scrypt hash of `password` with weak parameters (as an attacker would send). */
function weakHash(password: string, n = 2, r = 1, p = 1): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 64, { N: n, r, p });
  return `scrypt$${n}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

Deno.test("password via API: a change needs the right current password; a wrong one counts as a failed login", async () => {
  await withWebService(async (w) => {
    const before = await Deno.readTextFile(w.configPath);
    const missing = await w.api("PUT", "/api/v1/config", { [PASSWORD_KEY]: NEW_PASSWORD });
    assert.equal(missing.status, 400);
    assert.match((await missing.json()).errors.currentPassword, /current password is required/);

    const wrong = await w.api("PUT", "/api/v1/config", {
      [PASSWORD_KEY]: NEW_PASSWORD,
      currentPassword: "Not-The-Passw0rd!",
    });
    assert.equal(wrong.status, 400);
    assert.match((await wrong.json()).errors.currentPassword, /current password is incorrect/);
    assert.equal(await Deno.readTextFile(w.configPath), before, "nothing written");
    const events = await w.api("GET", "/api/v1/events?id=LoginFailed");
    const failed = (await events.json()).records as { message: string }[];
    assert.ok(failed.some((r) => /password change/.test(r.message)), JSON.stringify(failed));

    const ok = await w.api("PUT", "/api/v1/config", {
      [PASSWORD_KEY]: NEW_PASSWORD,
      currentPassword: ADMIN_PASSWORD,
    });
    assert.equal(ok.status, 200, JSON.stringify(await ok.clone().json()));
    assert.deepEqual((await ok.json()).changed, [PASSWORD_KEY]);
    assert.ok(verifyPassword(NEW_PASSWORD, w.service.store.current.nmc.password));
    const old = await w.api("GET", "/api/v1/status");
    assert.equal(old.status, 401, "the old password no longer works");
    await old.body?.cancel();
    const fresh = await w.api("GET", "/api/v1/status", undefined, NEW_PASSWORD);
    assert.equal(fresh.status, 200);
    await fresh.body?.cancel();
  });
});

Deno.test("password via API: a hash (strong or weak), an empty value and a weak password are refused", async () => {
  await withWebService(async (w) => {
    const before = await Deno.readTextFile(w.configPath);
    const cases: Array<[string, RegExp]> = [
      [weakHash(NEW_PASSWORD), /looks like a stored scrypt hash/],
      [hashPassword(NEW_PASSWORD), /looks like a stored scrypt hash/],
      ["SCRYPT$16384$8$1$abc$def", /looks like a stored scrypt hash/],
      ["", /must not be empty/],
      ["   ", /must not be empty/],
      ["short", /must be 12 to 128 characters long/],
    ];
    for (const [value, message] of cases) {
      const response = await w.api("PUT", "/api/v1/config", {
        [PASSWORD_KEY]: value,
        currentPassword: ADMIN_PASSWORD,
      });
      const answer = await response.json();
      assert.equal(response.status, 400, `${JSON.stringify(value)}: ${JSON.stringify(answer)}`);
      assert.match(answer.errors[PASSWORD_KEY], message, JSON.stringify(value));
    }
    assert.equal(await Deno.readTextFile(w.configPath), before, "nothing written");
    const status = await w.api("GET", "/api/v1/status");
    assert.equal(status.status, 200, "not back in first-run setup; the password still works");
    await status.body?.cancel();
  });
});

Deno.test("password in the ini: a weak scrypt hash is refused at load (the backup's stays) and by config check", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const strong = hashPassword(NEW_PASSWORD);
    await writePrivate(path, configText({ [PASSWORD_KEY]: strong }));
    await (await openStore(path)).store.close();
    await writePrivate(path, configText({ [PASSWORD_KEY]: weakHash("Weak-But-Policy-1!") }));
    const { store, records } = await openStore(path);
    try {
      assert.equal(store.current.nmc.password, strong, "the backup's strong hash is used");
      assert.ok(
        messages(records, "warn").some((m) =>
          /weak scrypt hash \(N=2, r=1, p=1\).*N=16384, r=8, p=1/.test(m) && m.includes(PASSWORD_KEY)
        ),
        messages(records, "warn").join("\n"),
      );
    } finally {
      await store.close();
    }
    const check = await cli(["config", "check", "-c", path]);
    assert.equal(check.code, 1);
    assert.match(check.out.join("\n"), /error: .*password = \*\*\*: is a weak scrypt hash \(N=2, r=1, p=1\)/);
  });
});

Deno.test("password in the ini: a weak hash typed in while running is rejected, the running password stays", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const strong = hashPassword(NEW_PASSWORD);
    await writePrivate(path, configText({ [PASSWORD_KEY]: strong }));
    const { store, events } = await openStore(path, 20);
    try {
      store.watch();
      await writePrivate(path, configText({ [PASSWORD_KEY]: weakHash("x", 1024, 8, 1) }));
      await waitFor(() => events.some((e) => e.id === "ConfigRejected"), 3000, "ConfigRejected");
      const rejected = events.find((e) => e.id === "ConfigRejected")!;
      assert.match(rejected.note ?? "", /weak scrypt hash \(N=1024, r=8, p=1\)/);
      assert.equal(store.current.nmc.password, strong);
    } finally {
      await store.close();
    }
  });
});

Deno.test("password on the host: config set still takes a strong hash and refuses a weak one", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({}));
    const strong = hashPassword(NEW_PASSWORD);
    const ok = await cli(["config", "set", "-c", path, `${PASSWORD_KEY}=${strong}`]);
    assert.equal(ok.code, 0, ok.err.join("\n"));
    const weak = await cli(["config", "set", "-c", path, `${PASSWORD_KEY}=${weakHash("x")}`]);
    assert.equal(weak.code, 1);
    assert.match(weak.err.join("\n"), /weak scrypt hash/);
    const { store } = await openStore(path);
    try {
      assert.equal(store.current.nmc.password, strong);
      // The store's own API refuses a hash unless the change comes from this host.
      await assert.rejects(store.set({ [PASSWORD_KEY]: strong }), (e: unknown) => e instanceof ConfigError);
    } finally {
      await store.close();
    }
  });
});
