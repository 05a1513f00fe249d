import assert from "node:assert/strict";
import { verifyPassword } from "../src/config/credentials.ts";
import type { ConfigChange } from "../src/config/store.ts";
import type { AgentConfig } from "../src/config/types.ts";
import {
  configText,
  lineOf,
  messages,
  modeOf,
  type Opened,
  openStore,
  sleep,
  waitFor,
  withTempDir,
  writePrivate,
} from "./fixtures/config/helpers.ts";

const BASE = { "NetworkManagementCard.ip_1": "10.0.0.1" };

/** Opens a watching store on a valid file and records subscriber calls with their time. */
async function watching(
  dir: string,
): Promise<Opened & { path: string; calls: { at: number; config: AgentConfig; change: ConfigChange }[] }> {
  const path = `${dir}/pcnsconfig.ini`;
  await writePrivate(path, configText(BASE));
  const opened = await openStore(path);
  const calls: { at: number; config: AgentConfig; change: ConfigChange }[] = [];
  opened.store.subscribe((config, change) => calls.push({ at: performance.now(), config, change }));
  opened.store.watch();
  await sleep(50); // let the watcher start
  return { ...opened, path, calls };
}

Deno.test("reload: a valid edit takes effect in under 1 s and is a ConfigReloaded event with masked secrets", async () => {
  await withTempDir(async (dir) => {
    const { store, events, path, calls } = await watching(dir);
    try {
      const edited = configText({
        ...BASE,
        "Networking.udpPort": "3999",
        "NetworkManagementCard.authenticationPhrase": "a brand new phrase",
      });
      const start = performance.now();
      await Deno.writeTextFile(path, edited); // in place, as `echo >` or many editors do
      await waitFor(() => calls.length > 0, 2000, "the subscriber");
      const elapsed = calls[0].at - start;
      assert.ok(elapsed < 1000, `in effect after ${elapsed.toFixed(0)} ms`);
      assert.equal(calls[0].config.networking.udpPort, 3999);
      assert.equal(store.current.networking.udpPort, 3999);
      assert.equal(store.current.nmc.authenticationPhrase, "a brand new phrase");
      assert.deepEqual(calls[0].change.changed, [
        "NetworkManagementCard.authenticationPhrase",
        "Networking.udpPort",
      ]);
      assert.deepEqual(calls[0].change.details, [
        { key: "NetworkManagementCard.authenticationPhrase", before: "***", after: "***" },
        { key: "Networking.udpPort", before: "3052", after: "3999" },
      ]);
      const reloaded = events.filter((e) => e.id === "ConfigReloaded");
      assert.equal(reloaded.length, 1, "one reload per save");
      assert.deepEqual(reloaded[0].details?.changed, [
        "NetworkManagementCard.authenticationPhrase",
        "Networking.udpPort",
      ]);
      assert.ok(!JSON.stringify(events).includes("a brand new phrase"), "the phrase never appears in events");
      assert.ok(events.some((e) => e.id === "CredentialsChanged"));
      assert.equal(
        await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`),
        edited,
        "backup follows a good reload",
      );
      console.log(`    valid edit in effect after ${elapsed.toFixed(0)} ms`);
    } finally {
      await store.close();
    }
  });
});

Deno.test("reload: an invalid edit is rejected as a whole; the running config stays (ConfigRejected)", async () => {
  await withTempDir(async (dir) => {
    const { store, events, records, path, calls } = await watching(dir);
    try {
      const bad = configText({ ...BASE, "Networking.udpPort": "abc", "Networking.httpPort": "8080" });
      await Deno.writeTextFile(path, bad);
      await waitFor(() => events.some((e) => e.id === "ConfigRejected"), 2000, "ConfigRejected");
      const expected = `${path}:${lineOf(bad, "udpPort")}: invalid value for Networking.udpPort = "abc": ` +
        "must be a whole number (1-65535)";
      assert.deepEqual(messages(records, "error"), [`config: ${expected}`]);
      const rejected = events.find((e) => e.id === "ConfigRejected")!;
      assert.deepEqual(rejected.details?.problems, [expected]);
      assert.deepEqual(rejected.details?.keys, ["Networking.udpPort"]);
      assert.equal(store.current.networking.udpPort, 3052);
      assert.equal(
        store.current.networking.httpPort,
        3052,
        "the valid part of the edit is not applied either",
      );
      assert.equal(calls.length, 0);
      assert.equal(
        await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`),
        configText(BASE),
        "backup untouched",
      );

      // Fixing the file applies it.
      await Deno.writeTextFile(
        path,
        configText({ ...BASE, "Networking.udpPort": "3998", "Networking.httpPort": "8080" }),
      );
      await waitFor(() => calls.length > 0, 2000, "the fixed edit");
      assert.equal(store.current.networking.udpPort, 3998);
      assert.equal(store.current.networking.httpPort, 8080);
    } finally {
      await store.close();
    }
  });
});

Deno.test("reload: delete keeps the running config (warning); re-creating the file reloads it", async () => {
  await withTempDir(async (dir) => {
    const { store, records, path, calls } = await watching(dir);
    try {
      await Deno.remove(path);
      await waitFor(
        () => messages(records, "warn").some((m) => m.includes("was deleted")),
        2000,
        "delete warning",
      );
      assert.ok(
        messages(records, "warn").includes(`config: ${path} was deleted; keeping the running configuration`),
      );
      assert.equal(store.current.nmc.cards[0], "10.0.0.1");
      await Deno.writeTextFile(path, configText({ ...BASE, "Shutdown.settleDelay": "30" })); // default umask: 0644
      await waitFor(() => calls.length > 0, 2000, "the re-created file");
      assert.equal(store.current.shutdown.settleDelay, 30);
      assert.equal(await modeOf(path), 0o600, "a re-created file is put back to 0600");
    } finally {
      await store.close();
    }
  });
});

Deno.test("reload: a rename over the file (editor / sed -i style save) reloads it", async () => {
  await withTempDir(async (dir) => {
    const { store, path, calls } = await watching(dir);
    try {
      const tmp = `${dir}/.pcnsconfig.ini.swp`;
      await writePrivate(tmp, configText({ ...BASE, "Networking.uiProtocol": "http" }));
      await Deno.rename(tmp, path);
      await waitFor(() => calls.length === 1, 2000, "the rename-over");
      assert.equal(store.current.networking.uiProtocol, "http");

      // vim with backupcopy=no: rename the original away, write a new file, delete the old one.
      await Deno.rename(path, `${path}~`);
      await writePrivate(
        path,
        configText({ ...BASE, "Networking.uiProtocol": "http", "EventLog.maxSizeKiB": "64" }),
      );
      await Deno.remove(`${path}~`);
      await waitFor(() => calls.length === 2, 2000, "the vim-style save");
      assert.equal(store.current.eventLog.maxSizeKiB, 64);
    } finally {
      await store.close();
    }
  });
});

Deno.test("reload: touch and the store's own writes do not cause a reload", async () => {
  await withTempDir(async (dir) => {
    const { store, events, path, calls } = await watching(dir);
    try {
      await Deno.utime(path, new Date(), new Date());
      await store.set({ "Networking.udpPort": "3111" });
      await sleep(600);
      const reloads = events.filter((e) => e.id === "ConfigReloaded");
      assert.deepEqual(reloads.map((e) => e.details?.source), ["set"], "only the set itself");
      assert.equal(calls.length, 1);
    } finally {
      await store.close();
    }
  });
});

Deno.test("reload: a clear-text password typed in while running is hashed and removed from disk", async () => {
  await withTempDir(async (dir) => {
    const { store, events, path, calls } = await watching(dir);
    try {
      await Deno.writeTextFile(
        path,
        configText({ ...BASE, "NetworkManagementCard.password": "Reset-Me-2024!" }),
      );
      await waitFor(() => calls.length > 0, 2000, "the password reload");
      assert.ok(verifyPassword("Reset-Me-2024!", store.current.nmc.password));
      for (const file of [path, `${dir}/pcnsconfig_backup.ini`]) {
        const text = await Deno.readTextFile(file);
        assert.ok(!text.includes("Reset-Me-2024!"), file);
        assert.match(text, /^password = scrypt\$/m);
      }
      assert.deepEqual(calls[0].change.details, [{
        key: "NetworkManagementCard.password",
        before: "",
        after: "***",
      }]);
      assert.ok(events.some((e) => e.id === "CredentialsChanged"));
      await sleep(400);
      assert.equal(
        events.filter((e) => e.id === "ConfigReloaded").length,
        1,
        "our rewrite does not reload again",
      );
    } finally {
      await store.close();
    }
  });
});
