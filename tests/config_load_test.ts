import assert from "node:assert/strict";
import { verifyPassword } from "../src/config/credentials.ts";
import { ConfigError } from "../src/config/problems.ts";
import { defaultConfigText } from "../src/config/template.ts";
import {
  configText,
  lineOf,
  messages,
  modeOf,
  openFailure,
  openStore,
  withTempDir,
  writePrivate,
} from "./fixtures/config/helpers.ts";

const GOOD_PASSWORD = "Correct-Horse-9";

Deno.test("load: no config and no backup writes a commented default file (0600) and says so", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/sub/pcnsconfig.ini`;
    const { store, records, events } = await openStore(path);
    await store.close();
    assert.equal(await Deno.readTextFile(path), defaultConfigText());
    assert.equal(await Deno.readTextFile(`${dir}/sub/pcnsconfig_backup.ini`), defaultConfigText());
    assert.equal(await modeOf(path), 0o600);
    assert.equal(store.current.nmc.username, "apc");
    assert.equal(store.current.nmc.authenticationPhrase, "admin user phrase");
    assert.deepEqual(store.current.nmc.cards, []);
    assert.ok(
      messages(records, "warn").some((m) =>
        m.includes(`${path} was not found and there is no backup: wrote a default configuration`)
      ),
    );
    assert.ok(messages(records, "warn").some((m) => m.includes("no NMC configured")));
    assert.ok(
      events.some((e) => e.id === "ConfigWarning" && e.note?.includes("wrote a default configuration")),
    );
  });
});

Deno.test("load: no config but a backup restores the file from the backup (logged)", async () => {
  await withTempDir(async (dir) => {
    const backup = configText({ "Networking.udpPort": "4000", "NetworkManagementCard.ip_1": "10.1.1.1" });
    await writePrivate(`${dir}/pcnsconfig_backup.ini`, backup);
    const { store, records } = await openStore(`${dir}/pcnsconfig.ini`);
    await store.close();
    assert.equal(await Deno.readTextFile(`${dir}/pcnsconfig.ini`), backup);
    assert.equal(store.current.networking.udpPort, 4000);
    assert.deepEqual(store.current.nmc.cards, ["10.1.1.1"]);
    assert.ok(
      messages(records, "warn").some((m) => m.includes("was not found; restored it from the backup")),
    );
  });
});

Deno.test("load: an invalid value falls back to the backup value; the warning names file, line, key, value", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const backupPath = `${dir}/pcnsconfig_backup.ini`;
    await writePrivate(
      backupPath,
      configText({ "Networking.udpPort": "4000", "NetworkManagementCard.ip_1": "nmc" }),
    );
    const text = configText({ "Networking.udpPort": "abc", "NetworkManagementCard.ip_1": "nmc" });
    await writePrivate(path, text);
    const { store, records, events } = await openStore(path);
    await store.close();
    const expected = `${path}:${lineOf(text, "udpPort")}: invalid value for Networking.udpPort = "abc": ` +
      `must be a whole number (1-65535); using "4000" from the backup ${backupPath}`;
    assert.deepEqual(messages(records, "warn"), [`config: ${expected}`]);
    assert.deepEqual(events.map((e) => [e.id, e.note]), [["ConfigWarning", expected]]);
    assert.equal(store.current.networking.udpPort, 4000);
    assert.equal(await Deno.readTextFile(path), text, "the file itself is left as the user wrote it");
    const backup = await Deno.readTextFile(backupPath);
    assert.equal(backup, configText({ "Networking.udpPort": "4000", "NetworkManagementCard.ip_1": "nmc" }));
  });
});

Deno.test("load: an invalid value with no backup value falls back to the default, with a warning", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = configText({
      "NetworkManagementCard.commLostTimeout": "5",
      "NetworkManagementCard.ip_1": "nmc",
    });
    await writePrivate(path, text);
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.nmc.commLostTimeout, 55);
    assert.deepEqual(messages(records, "warn"), [
      `config: ${path}:${lineOf(text, "commLostTimeout")}: invalid value for ` +
      `NetworkManagementCard.commLostTimeout = "5": must be 30-600; using the default "55"`,
    ]);
  });
});

Deno.test("load: missing/invalid required values with no fallback are a fatal ConfigError listing all", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = configText({ "NetworkManagementCard.authenticationPhrase": "too short" }).replace(
      /^username = apc\n/m,
      "",
    );
    await writePrivate(path, text);
    const { error, records } = await openFailure(path);
    assert.ok(error instanceof ConfigError);
    const errors = error.problems.filter((p) => p.level === "error").map((p) => p.message);
    assert.deepEqual(errors, [
      `${path}:${
        lineOf(text, "[NetworkManagementCard]")
      }: missing required key NetworkManagementCard.username ` +
      `(add "username = ..." to [NetworkManagementCard]); the backup ${dir}/pcnsconfig_backup.ini has no usable ` +
      `value either`,
      `${path}:${lineOf(text, "authenticationPhrase")}: invalid value for ` +
      `NetworkManagementCard.authenticationPhrase = ***: must be 15 to 32 characters long (is 9); the backup ` +
      `${dir}/pcnsconfig_backup.ini has no usable value either`,
    ]);
    assert.match(
      error.message,
      /^cannot load .*: 2 error\(s\)\n {2}error: .*username.*\n {2}error: .*authenticationPhrase/,
    );
    assert.ok(!error.message.includes("too short"), "the secret is not shown");
    assert.equal(messages(records, "error").length, 2);
    await assert.rejects(
      Deno.stat(`${dir}/pcnsconfig_backup.ini`),
      Deno.errors.NotFound,
      "no backup of a bad file",
    );
  });
});

Deno.test("load: a missing required value is taken from the backup with a warning", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(
      `${dir}/pcnsconfig_backup.ini`,
      configText({ "NetworkManagementCard.username": "ops" }),
    );
    await writePrivate(path, configText().replace(/^username = apc\n/m, ""));
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.nmc.username, "ops");
    assert.ok(
      messages(records, "warn").some((m) =>
        m.includes(
          'missing required key NetworkManagementCard.username (add "username = ..." to ' +
            '[NetworkManagementCard]); using "ops" from the backup',
        )
      ),
    );
    assert.match(
      await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`),
      /^username = ops$/m,
      "backup is complete",
    );
  });
});

Deno.test("load: duplicate key - the first value wins, with a warning naming both lines", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = await Deno.readTextFile(new URL("./fixtures/config/vendor_like.ini", import.meta.url));
    await writePrivate(path, text);
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.networking.udpPort, 3052);
    assert.ok(
      messages(records, "warn").includes(
        `config: ${path}:19: duplicate key Networking.udpPort (first defined on line 17); the first value is used, ` +
          `this one is ignored`,
      ),
    );
    // The rest of the vendor-style file is understood.
    assert.deepEqual(store.current.nmc.cards, ["192.168.10.21", "nmc-b.example.net"]);
    assert.equal(store.current.nmc.mode, "redundant");
    assert.equal(store.current.nmc.acceptCerts, true);
    assert.equal(store.current.events.PowerFailed.enableCommandFile, true);
    assert.equal(store.current.events.PowerFailed.commandFileDelay, 3);
    assert.equal(store.current.eventLog.maxSizeKiB, 2048);
    assert.ok(
      messages(records, "warn").includes(
        `config: ${path}:27: unknown key SNMP.SNMP_PORT (ignored)`, // PCNS's own key; [SNMP] is read now
      ),
    );
  });
});

Deno.test("load: unknown keys/sections and lines outside a section are warnings with line numbers", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = "stray = 1\n" + configText({ "NetworkManagementCard.ip_1": "nmc" }) +
      "\n[Networking]\nudpport = 1\n[Netwrking]\nx = 1\nthis line is junk\n";
    await writePrivate(path, text);
    const { store, records } = await openStore(path);
    await store.close();
    const warns = messages(records, "warn");
    const at = (prefix: string, from = 0) => {
      const lines = text.split("\n");
      return lines.findIndex((l, i) => i >= from && l.startsWith(prefix)) + 1;
    };
    const second = at("[Networking]", at("[Networking]"));
    assert.deepEqual(warns, [
      `config: ${path}:1: "stray" is outside any section (ignored)`,
      `config: ${path}:${second}: duplicate section [Networking] (first defined on line ${
        at("[Networking]")
      }); its keys are merged, earlier values win`,
      `config: ${path}:${at("this line")}: not a "[section]", "key = value" or comment line (ignored): ` +
      `"this line is junk"`,
      `config: ${path}:${at("udpport")}: unknown key Networking.udpport (ignored); did you mean udpPort?`,
      `config: ${path}:${
        at("[Netwrking]")
      }: unknown section [Netwrking] (not used by pcns-agent, ignored); ` +
      `did you mean [Networking]?`,
    ]);
    assert.equal(store.current.networking.udpPort, 3052);
  });
});

Deno.test("load: a clear-text password is hashed; the clear text is gone from the file and the backup", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = "\uFEFF" +
      configText({ "NetworkManagementCard.password": GOOD_PASSWORD }).replaceAll("\n", "\r\n");
    await writePrivate(path, text);
    const { store, records, events } = await openStore(path);
    await store.close();
    const onDisk = await Deno.readTextFile(path);
    const backup = await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`);
    for (const file of [onDisk, backup]) {
      assert.ok(!file.includes(GOOD_PASSWORD), "no clear text on disk");
      assert.match(file, /\r\npassword = scrypt\$16384\$8\$1\$[^$]+\$[^$\r]+\r\n/);
    }
    assert.equal(onDisk, text.replace(GOOD_PASSWORD, store.current.nmc.password), "only the value changed");
    assert.ok(verifyPassword(GOOD_PASSWORD, store.current.nmc.password));
    assert.ok(events.some((e) => e.id === "CredentialsChanged"));
    assert.ok(
      messages(records, "warn").some((m) => m.includes("clear-text password") && m.includes("salted hash")),
    );
    assert.ok(
      !JSON.stringify(records).includes(GOOD_PASSWORD) && !JSON.stringify(events).includes(GOOD_PASSWORD),
    );
  });
});

Deno.test("load: a weak clear-text password is rejected with each rule listed and removed from disk", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const previous = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A".repeat(86) + "==";
    await writePrivate(
      `${dir}/pcnsconfig_backup.ini`,
      configText({ "NetworkManagementCard.password": previous }),
    );
    const text = configText({ "NetworkManagementCard.password": "apcpassword" });
    await writePrivate(path, text);
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.nmc.password, previous, "the previous hash stays");
    assert.deepEqual(messages(records, "warn"), [
      `config: ${path}:${
        lineOf(text, "password")
      }: the clear-text NetworkManagementCard.password does not meet the ` +
      "password policy: must be 12 to 128 characters long (is 11); must contain an upper-case letter (A-Z); " +
      "must contain a digit (0-9); must contain a special character (one of _!\"#$%&'()*+,-./:;<=>?@^`{|}[]~); " +
      "must not contain the user name; it was removed from the file and the previous password is kept",
      `config: ${path}:${
        lineOf(text, "[NetworkManagementCard]")
      }: no NMC configured: set ip_1 (up to ip_9) in ` +
      "[NetworkManagementCard] to the address of the UPS's card",
    ]);
    for (const file of [path, `${dir}/pcnsconfig_backup.ini`]) {
      const content = await Deno.readTextFile(file);
      assert.ok(!content.includes("apcpassword"), `${file} has no clear text`);
      assert.match(content, new RegExp(`^password = ${previous.replaceAll("$", "\\$")}$`, "m"));
    }
  });
});

Deno.test("load: a clear-text password on an ignored duplicate line is removed from disk too", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text = configText({ "NetworkManagementCard.ip_1": "nmc" }).replace(
      /^password =$/m,
      "password =\npassword = Second-Secret-42",
    );
    await writePrivate(path, text);
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.nmc.password, "", "the first (empty) value counts");
    const onDisk = await Deno.readTextFile(path);
    assert.ok(!onDisk.includes("Second-Secret-42"));
    assert.equal(onDisk, text.replace("password = Second-Secret-42", "password ="));
    assert.ok(
      messages(records, "warn").includes(
        `config: ${path}:${
          lineOf(text, "password = Second")
        }: a second NetworkManagementCard.password in clear ` +
          "text was ignored (the first one counts) and removed from the file",
      ),
    );
  });
});

Deno.test("load: a weak clear-text password with no previous hash leaves the password empty", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ "NetworkManagementCard.password": "weak" }));
    const { store, records } = await openStore(path);
    await store.close();
    assert.equal(store.current.nmc.password, "");
    assert.match(await Deno.readTextFile(path), /^password =$/m);
    assert.ok(
      messages(records, "warn").some((m) =>
        m.endsWith("it was removed from the file and no password is set")
      ),
    );
  });
});

Deno.test("load: a file readable by others is set to 0600 with a warning; writes keep 0600", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await Deno.writeTextFile(path, configText({ "NetworkManagementCard.ip_1": "nmc" }), { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    const { store, records } = await openStore(path);
    assert.equal(await modeOf(path), 0o600);
    assert.equal(await modeOf(`${dir}/pcnsconfig_backup.ini`), 0o600);
    assert.deepEqual(messages(records, "warn"), [
      `config: ${path} had mode 0644 (readable by others); set it to 0600 because it holds the authentication phrase`,
    ]);
    await store.set({ "Networking.udpPort": "3100" });
    await store.close();
    assert.equal(await modeOf(path), 0o600);
    assert.equal(await modeOf(`${dir}/pcnsconfig_backup.ini`), 0o600);
  });
});

Deno.test("set: bad updates are rejected per key and nothing is written", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const { store } = await openStore(path);
    const before = await Deno.readFile(path);
    const backupBefore = await Deno.readFile(`${dir}/pcnsconfig_backup.ini`);
    const error = await store.set({
      "Networking.udpPort": "99999",
      "Networking.httpPort": "3053",
      "Foo.bar": "1",
    })
      .then(() => undefined, (e) => e);
    await store.close();
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems.map((p) => p.message), [
      `${path}: invalid value for Networking.udpPort = "99999": must be 1-65535`,
      `${path}: unknown key Foo.bar: no section [Foo]`,
    ]);
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(await Deno.readFile(`${dir}/pcnsconfig_backup.ini`), backupBefore);
    assert.equal(
      store.current.networking.httpPort,
      3052,
      "valid updates of a rejected set are not applied either",
    );
  });
});

Deno.test("set: changes only the values, keeps comments and order, updates the backup and tells subscribers", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const text =
      "; my notes\r\n[Networking]\r\n# port for the cards\r\nudpPort = 3052\r\n\r\n[NetworkManagementCard]\r\n" +
      "username = apc\r\nauthenticationPhrase = admin user phrase\r\nip_1 = nmc\r\n";
    await writePrivate(path, text);
    const { store, events } = await openStore(path);
    const seen: string[][] = [];
    store.subscribe((config, change) => seen.push([String(config.networking.udpPort), ...change.changed]));
    const change = await store.set({
      "Networking.udpPort": "3100",
      "Shutdown.turnOffUps": "YES",
      "NetworkManagementCard.authenticationPhrase": "a new shared phrase",
    });
    await store.close();
    assert.deepEqual(change.changed, [
      "NetworkManagementCard.authenticationPhrase",
      "Networking.udpPort",
      "Shutdown.turnOffUps",
    ]);
    assert.deepEqual(change.details[0], {
      key: "NetworkManagementCard.authenticationPhrase",
      before: "***",
      after: "***",
    });
    assert.deepEqual(seen, [["3100", ...change.changed]]);
    const expected = text.replace("udpPort = 3052", "udpPort = 3100").replace(
      "admin user phrase",
      "a new shared phrase",
    ) + "\r\n[Shutdown]\r\nturnOffUps = true\r\n";
    assert.equal(await Deno.readTextFile(path), expected);
    assert.equal(await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`), expected);
    assert.equal(store.get("Networking.udpPort"), "3100");
    assert.throws(() => store.get("Networking.nope"), /unknown key Networking.nope/);
    const reloaded = events.find((e) => e.id === "ConfigReloaded");
    assert.deepEqual(reloaded?.details?.changed, change.changed);
    assert.ok(!JSON.stringify(events).includes("a new shared phrase"), "secrets are masked in events");
    assert.ok(events.some((e) => e.id === "CredentialsChanged"));
  });
});

Deno.test("set: refused (nothing written) while the file has other invalid values", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const { store } = await openStore(path);
    const broken = configText({ "Shutdown.settleDelay": "soon" });
    await writePrivate(path, broken);
    await assert.rejects(
      store.set({ "Networking.udpPort": "3100" }),
      (e: unknown) =>
        e instanceof ConfigError && /has other errors/.test(e.message) &&
        e.problems[0].message.includes(`invalid value for Shutdown.settleDelay = "soon"`),
    );
    await store.close();
    assert.equal(await Deno.readTextFile(path), broken);
  });
});
