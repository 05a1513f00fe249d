/**
 * Issue 13 item 8: no clear text stays on disk or reaches the log. Password-like keys are recognised
 * anywhere (any case, any section, before the first section, `key: value` lines) and blanked in the ini
 * and its backup; their values, and the authentication phrase, never appear in the log, the events or
 * `config check`; the phrase itself stays usable as it is. Temporary files of killed writers are removed
 * at start.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadOrCreateCertificate } from "../src/web/certificate.ts";
import { configText, openStore, waitFor, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { cli } from "./fixtures/config/web.ts";

const PHRASE = "Our-Shared-Phrase-77";

/** The file of the issue: clear text in every place a person might put it. */
function strayText(): string {
  const base = configText({
    "NetworkManagementCard.authenticationPhrase": PHRASE,
    "NetworkManagementCard.ip_1": "10.0.0.9",
  });
  return "password = Secret-Before-1\n" +
    base.replace(
      "[NetworkManagementCard]",
      [
        "[NetworkManagementCard]",
        "Password = Secret-Case-2",
        "password: Secret-Colon-3",
        "passwd = Secret-Passwd-4",
        "PASSWORD=Secret-Upper-5",
        "AuthenticationPhrase: Secret-Phrase-6",
        "smtpPass = Secret-Smtp-7",
      ].join("\n"),
    ) +
    "\n[Other]\npassword = Secret-Other-8\nclient_secret = Secret-Client-9\n[Shutdown]\nadminPwd = Secret-Pwd-10\nbypass = keep-me\n";
}

/** Values under password-like keys: removed from disk. */
const SECRETS = [...strayText().matchAll(/Secret-[A-Za-z]+-\d+/g)].map((m) => m[0]).filter((s) =>
  s !== "Secret-Phrase-6"
);
/** A stray copy of a phrase-like key: kept on disk (it may be the only copy of a shared secret), never shown. */
const HIDDEN = ["Secret-Phrase-6", PHRASE];

Deno.test("secrets: clear text under password-like keys anywhere is removed from the ini and the backup, never logged", async () => {
  assert.equal(SECRETS.length, 9);
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, strayText());
    const { store, records, events } = await openStore(path);
    try {
      for (const file of [path, `${dir}/pcnsconfig_backup.ini`]) {
        const text = await Deno.readTextFile(file);
        for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} is gone from ${file}`);
        assert.match(text, /^bypass = keep-me$/m, "a key that only ends in 'pass' is not touched");
        assert.match(
          text,
          new RegExp(`^authenticationPhrase = ${PHRASE}$`, "m"),
          "the phrase stays as it is",
        );
        assert.match(text, /^Password =$/m, "the key is kept, its value removed");
        assert.match(text, /^password:$/m);
      }
      assert.equal(store.current.nmc.authenticationPhrase, PHRASE, "the phrase is usable as it is");
      const said = [
        ...records.map((r) => r.message),
        ...events.map((e) => `${e.note ?? ""} ${JSON.stringify(e.details ?? {})}`),
      ]
        .join("\n");
      for (const secret of [...SECRETS, ...HIDDEN]) {
        assert.ok(!said.includes(secret), `${secret} is not logged`);
      }
      assert.match(
        said,
        /:\d+: NetworkManagementCard\.Password .*clear text.*removed/,
        "each removal is reported by line",
      );
      assert.match(said, /"password:" \(value hidden\)/, "an invalid line with a secret is shown without it");

      const check = await cli(["config", "check", "-c", path]);
      for (const secret of [...SECRETS, ...HIDDEN]) assert.ok(!check.out.join("\n").includes(secret));
    } finally {
      await store.close();
    }
  });
});

Deno.test("secrets: clear text typed in while running is removed too, and the rejection does not echo it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const good = configText({ "NetworkManagementCard.authenticationPhrase": PHRASE });
    await writePrivate(path, good);
    const { store, records, events } = await openStore(path, 20);
    try {
      store.watch();
      await writePrivate(
        path,
        good.replace("[Shutdown]", "[Shutdown]\nsecret: Typed-In-Secret-1\nsettleDelay = nope"),
      );
      await waitFor(() => events.some((e) => e.id === "ConfigRejected"), 3000, "ConfigRejected");
      assert.ok(!(await Deno.readTextFile(path)).includes("Typed-In-Secret-1"), "removed from the file");
      const said = [...records.map((r) => r.message), ...events.map((e) => e.note ?? "")].join("\n");
      assert.ok(!said.includes("Typed-In-Secret-1"));
    } finally {
      await store.close();
    }
  });
});

Deno.test("secrets: temporary files left by killed writers are removed at start", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ "NetworkManagementCard.authenticationPhrase": PHRASE }));
    const left = [
      ".pcnsconfig.ini.tmp-4242-0a1b2c3d",
      ".pcnsconfig_backup.ini.tmp-4242-0a1b2c3d",
      ".pcnsconfig.ini.corrupt.tmp-4242-0a1b2c3d",
    ];
    for (const name of left) await writePrivate(join(dir, name), `authenticationPhrase = ${PHRASE}\n`);
    await writePrivate(join(dir, "unrelated.tmp-1"), "keep");
    const { store } = await openStore(path);
    await store.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    for (const name of left) assert.ok(!names.includes(name), `${name} removed`);
    assert.ok(names.includes("unrelated.tmp-1"));

    // The certificate writer's temporaries (the key!) go as well when the web UI loads its certificate.
    await writePrivate(join(dir, "ui-key.pem.tmp-4242-0a1b2c3d"), "-----BEGIN PRIVATE KEY-----\n");
    await writePrivate(join(dir, "ui-cert.pem.tmp-4242-0a1b2c3d"), "-----BEGIN CERTIFICATE-----\n");
    await loadOrCreateCertificate(dir, { certificateFile: "", keyFile: "" });
    const after = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!after.some((n) => n.includes(".pem.tmp-")), after.join(", "));
  });
});

Deno.test("secrets: no temporary file survives writers killed mid-write", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ "NetworkManagementCard.authenticationPhrase": PHRASE }));
    const writer = new URL("./fixtures/config/writer.ts", import.meta.url).pathname;
    for (let round = 0; round < 3; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", writer, path, String(round)],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "ready": it is writing in a loop now
      await new Promise((r) => setTimeout(r, 50 + 40 * round));
      child.kill("SIGKILL");
      reader.releaseLock();
      await child.stdout.cancel();
      await child.status;
    }
    const { store } = await openStore(path);
    await store.close();
    const temps = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-"));
    assert.deepEqual(temps, []);
  });
});
