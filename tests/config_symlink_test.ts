/**
 * Issue 13 item 9: symbolic links in the data directory. A symlinked pcnsconfig.ini is read, but pcns-agent
 * never changes a mode through a link, never writes through one and never replaces one by a file: changes
 * are refused with an error naming the link and its target. A symlinked lock file is not truncated. A data
 * directory writable by the group or by others draws a warning. A named pipe created in the data directory
 * (which blocks Deno's file watcher) neither stops hot reload nor hangs the stop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../src/config/problems.ts";
import { ConfigStore } from "../src/config/store.ts";
import { memoryLogger } from "../src/log/logger.ts";
import {
  configText,
  messages,
  modeOf,
  openStore,
  waitFor,
  withTempDir,
  writePrivate,
} from "./fixtures/config/helpers.ts";
import { cli } from "./fixtures/config/web.ts";

const GOOD = { "NetworkManagementCard.ip_1": "10.0.0.7", "Shutdown.settleDelay": "42" };

Deno.test("symlink: a symlinked pcnsconfig.ini is read, never chmodded or written through, never replaced", async () => {
  await withTempDir(async (outside) => {
    await withTempDir(async (dir) => {
      const target = join(outside, "managed.ini");
      const text = configText(GOOD);
      await Deno.writeTextFile(target, text);
      await Deno.chmod(target, 0o644);
      const path = join(dir, "pcnsconfig.ini");
      await Deno.symlink(target, path);

      const { store, records, events } = await openStore(path);
      try {
        assert.equal(store.values.get("Shutdown.settleDelay"), "42", "read through the link");
        assert.equal(await modeOf(target), 0o644, "the target's mode is not changed");
        assert.ok(Deno.lstatSync(path).isSymlink, "the link stays a link");
        const warned = messages(records, "warn").join("\n");
        assert.match(warned, new RegExp(`${path} is a symbolic link to ${target}`));
        assert.match(warned, /mode 0644/, "the loose mode of the target is reported");
        assert.ok(events.some((e) => e.id === "ConfigWarning" && /symbolic link/.test(e.note ?? "")));

        await assert.rejects(
          store.set({ "Shutdown.settleDelay": "50" }),
          (e: unknown) =>
            e instanceof ConfigError && e.message.includes(`${path} is a symbolic link to ${target}`) &&
            /does not write through/.test(e.message),
        );
        assert.equal(await Deno.readTextFile(target), text, "the target is unchanged");
        assert.ok(Deno.lstatSync(path).isSymlink);
        assert.ok(Deno.lstatSync(join(dir, "pcnsconfig_backup.ini")).isFile, "the backup is a plain file");
      } finally {
        await store.close();
      }
      const set = await cli(["config", "set", "-c", path, "Shutdown.settleDelay=50"]);
      assert.equal(set.code, 1);
      assert.match(set.err.join("\n"), /symbolic link/);
      assert.equal(await Deno.readTextFile(target), text);
    });
  });
});

Deno.test("symlink: a dangling pcnsconfig.ini link is not replaced by a file; the backup is used", async () => {
  await withTempDir(async (outside) => {
    await withTempDir(async (dir) => {
      const path = join(dir, "pcnsconfig.ini");
      await writePrivate(path, configText(GOOD));
      await (await openStore(path)).store.close();
      await Deno.remove(path);
      const target = join(outside, "not-there.ini");
      await Deno.symlink(target, path);
      const { store, records } = await openStore(path);
      try {
        assert.equal(store.values.get("Shutdown.settleDelay"), "42");
        assert.ok(Deno.lstatSync(path).isSymlink, "still a link");
        assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound, "nothing created outside");
        assert.match(
          messages(records, "warn").join("\n"),
          /symbolic link to .*not-there\.ini.*does not exist/,
        );
      } finally {
        await store.close();
      }
    });
  });
});

Deno.test("symlink: a pcnsconfig.ini linked to /dev/zero is never read whole; the backup is used, the link stays", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await writePrivate(path, configText(GOOD));
    await (await openStore(path)).store.close();
    await Deno.remove(path);
    await Deno.symlink("/dev/zero", path);
    const { store, events } = await openStore(path);
    try {
      assert.equal(store.values.get("Shutdown.settleDelay"), "42");
      assert.match(events.find((e) => e.id === "ConfigBackupUsed")?.note ?? "", /character device/);
      assert.ok(Deno.lstatSync(path).isSymlink, "still a link");
    } finally {
      await store.close();
    }
  });
});

Deno.test("symlink: a symlinked lock file is not followed (its target is not truncated)", async () => {
  await withTempDir(async (outside) => {
    await withTempDir(async (dir) => {
      const precious = join(outside, "precious.txt");
      await Deno.writeTextFile(precious, "do not truncate me\n");
      const path = join(dir, "pcnsconfig.ini");
      await writePrivate(path, configText(GOOD));
      await Deno.symlink(precious, `${path}.lock`);
      const { store, records } = await openStore(path);
      try {
        await store.set({ "Shutdown.settleDelay": "43" });
        assert.equal(await Deno.readTextFile(precious), "do not truncate me\n");
        assert.ok(!Deno.lstatSync(`${path}.lock`).isSymlink, "replaced by a plain lock file");
        assert.match(messages(records, "warn").join("\n"), /lock file .* was a symbolic link/);
      } finally {
        await store.close();
      }
    });
  });
});

Deno.test("symlink: a data directory writable by the group or others draws a warning", async () => {
  for (const [mode, who] of [[0o777, "others"], [0o770, "its group"]] as const) {
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, mode);
      const path = join(dir, "pcnsconfig.ini");
      await writePrivate(path, configText(GOOD));
      const { store, events } = await openStore(path);
      await store.close();
      const warning = events.find((e) => e.id === "ConfigWarning" && e.note?.includes("data directory"));
      assert.ok(warning, `mode 0${mode.toString(8)}: a warning`);
      assert.match(
        warning.note ?? "",
        new RegExp(`${dir} is writable by ${who} \\(mode 0${mode.toString(8)}\\)`),
      );
      assert.match(warning.note ?? "", /chmod 700/);
      const check = await cli(["config", "check", "-c", path]);
      assert.match(check.out.join("\n"), /warning: .*data directory .*writable by/);
    });
  }
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await writePrivate(path, configText(GOOD));
    const { store, events } = await openStore(path);
    await store.close();
    assert.ok(!events.some((e) => e.note?.includes("data directory")), "no warning for 0700");
  });
});

Deno.test("data directory: a named pipe created there neither stops hot reload nor hangs the stop", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pcnsconfig.ini");
    await writePrivate(path, configText(GOOD));
    const { logger } = memoryLogger();
    const store = await ConfigStore.open(path, { logger, debounceMs: 20, pollMs: 200 });
    const fifo = join(dir, "planted.fifo");
    try {
      store.watch();
      assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
      await new Promise((r) => setTimeout(r, 100)); // Deno's watcher is now stuck opening the pipe
      await writePrivate(path, configText({ ...GOOD, "Shutdown.settleDelay": "55" }));
      await waitFor(
        () => store.values.get("Shutdown.settleDelay") === "55",
        3000,
        "the edit, seen by the poll",
      );
      const t0 = performance.now();
      await store.close();
      assert.ok(performance.now() - t0 < 2500, "the stop does not wait for the stuck watcher");
    } finally {
      await store.close();
    }
  });
});
