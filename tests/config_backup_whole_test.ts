/**
 * Issue 13 item 7: when pcnsconfig.ini is unreadable as a whole at start (not text, empty, without its
 * [NetworkManagementCard] section, mostly garbage, or cut off short of the backup), the backup is used as a
 * whole, loudly (a ConfigBackupUsed event and an error line naming the file and why); the damaged file is
 * kept aside. A file that is merely wrong in places still falls back value by value. A hot reload of such a
 * file is rejected.
 */
import assert from "node:assert/strict";
import {
  configText,
  messages,
  modeOf,
  openStore,
  waitFor,
  withTempDir,
  writePrivate,
} from "./fixtures/config/helpers.ts";

async function digest(bytes: Uint8Array): Promise<string> {
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes))),
    (b) => b.toString(16),
  ).join("");
}

const GOOD = {
  "NetworkManagementCard.ip_1": "10.0.0.7",
  "NetworkManagementCard.authenticationPhrase": "Site-Phrase-2024-x",
  "Networking.udpPort": "3111",
  "Shutdown.settleDelay": "42",
  "Events.event_PowerFailed_shutdownDelay": "300",
};

/** The corruptions a start must recognise, as functions of the good file's text. */
const CORRUPTIONS: Array<[string, (good: string) => Uint8Array | string, RegExp]> = [
  ["binary (NUL bytes)", (good) => new TextEncoder().encode(good.replaceAll("\n", "\0\n")), /NUL bytes/],
  ["random bytes", () => crypto.getRandomValues(new Uint8Array(4096)), /not text|NUL bytes|not UTF-8/],
  ["empty", () => "", /is empty/],
  ["larger than 4 MiB", (good) => good + `; ${"x".repeat(100)}\n`.repeat(50_000), /larger than 4 MiB/],
  ["blank and comments only", () => "; nothing here\n\n   \n", /no settings/],
  [
    "no [NetworkManagementCard] section",
    (good) => good.replace("[NetworkManagementCard]", ""),
    /no \[NetworkManagementCard\] section/,
  ],
  ["cut off mid-line", (good) => good.slice(0, good.indexOf("[Shutdown]") - 40), /cut off/],
  [
    "mostly garbage",
    (good) => good.split("\n").map((l, i) => (i % 3 === 0 ? l : `@@ ${l.replace("=", ":")}`)).join("\n"),
    /not \[section\] or key = value lines/,
  ],
];

Deno.test("backup as a whole: a start with an unreadable pcnsconfig.ini uses the whole backup, loudly", async () => {
  for (const [what, corrupt, reason] of CORRUPTIONS) {
    await withTempDir(async (dir) => {
      const path = `${dir}/pcnsconfig.ini`;
      const good = configText(GOOD);
      await writePrivate(path, good);
      await (await openStore(path)).store.close();
      const damaged = corrupt(good);
      if (typeof damaged === "string") await writePrivate(path, damaged);
      else await Deno.writeFile(path, damaged, { mode: 0o600 });

      const { store, records, events } = await openStore(path);
      try {
        for (const [key, value] of Object.entries(GOOD)) {
          assert.equal(store.values.get(key), value, `${what}: ${key} comes from the backup`);
        }
        const used = events.find((e) => e.id === "ConfigBackupUsed");
        assert.ok(used, `${what}: a ConfigBackupUsed event`);
        assert.match(used.note ?? "", new RegExp(`${path}.*unreadable as a whole`), what);
        assert.match(used.note ?? "", reason, what);
        assert.ok(
          messages(records, "error").some((m) => m.includes(path) && reason.test(m)),
          `${what}: an error line naming the file and why`,
        );
        assert.equal(await Deno.readTextFile(path), await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`));
        const kept = await Deno.readFile(`${path}.corrupt`);
        const bytes = typeof damaged === "string" ? new TextEncoder().encode(damaged) : damaged;
        // (Compared by length and digest: a diff of megabytes of bytes would eat the machine's memory.)
        assert.equal(kept.length, bytes.length, `${what}: the damaged file is kept`);
        assert.equal(await digest(kept), await digest(bytes), what);
        assert.equal(await modeOf(`${path}.corrupt`), 0o600, "the damaged copy may hold the phrase");
      } finally {
        await store.close();
      }
    });
  }
});

Deno.test("backup as a whole: a file wrong in places still falls back value by value; a Latin-1 comment is not damage", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(GOOD));
    await (await openStore(path)).store.close();
    const edited = configText({ ...GOOD, "Networking.udpPort": "not-a-port", "Shutdown.settleDelay": "50" });
    const latin1 = new Uint8Array([
      ...new TextEncoder().encode("; caf"),
      0xe9,
      0x0a,
      ...new TextEncoder().encode(edited),
    ]);
    await Deno.writeFile(path, latin1, { mode: 0o600 });
    const { store, events } = await openStore(path);
    try {
      assert.equal(store.values.get("Networking.udpPort"), "3111", "the bad value from the backup");
      assert.equal(store.values.get("Shutdown.settleDelay"), "50", "the edit is kept");
      assert.ok(!events.some((e) => e.id === "ConfigBackupUsed"));
    } finally {
      await store.close();
    }
  });
});

Deno.test("backup as a whole: a file that becomes unreadable while running is rejected, not applied", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const good = configText(GOOD);
    await writePrivate(path, good);
    const { store, events } = await openStore(path, 20);
    try {
      store.watch();
      // Cut off after the [NetworkManagementCard] section: username and phrase are there, the rest is not.
      await writePrivate(path, good.slice(0, good.indexOf("[Shutdown]") - 40));
      await waitFor(() => events.some((e) => e.id === "ConfigRejected"), 3000, "ConfigRejected");
      assert.match(events.find((e) => e.id === "ConfigRejected")!.note ?? "", /cut off/);
      assert.equal(store.values.get("Shutdown.settleDelay"), "42", "the running configuration stays");
    } finally {
      await store.close();
    }
  });
});
