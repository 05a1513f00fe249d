import assert from "node:assert/strict";
import { evaluateConfig } from "../src/config/evaluate.ts";
import { tempPrefix } from "../src/config/fs.ts";
import { SCHEMA } from "../src/config/schema.ts";
import { configText, openStore, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { withoutDenoNotices } from "./helpers/deno_notices.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SET_CLI = new URL("./fixtures/config/set_cli.ts", import.meta.url).pathname;
const WRITER = new URL("./fixtures/config/writer.ts", import.meta.url).pathname;
const BASE = { "NetworkManagementCard.ip_1": "10.0.0.1", "NetworkManagementCard.mode": "advanced" };

/** Real command files (config set refuses a missing one, as config check does), removed when the file ends. */
const COMMANDS = Deno.makeTempDirSync({ prefix: "pcns-concurrency-cmds-" });
for (let i = 0; i < 600; i++) {
  Deno.writeTextFileSync(`${COMMANDS}/cmd-${i}.sh`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
}
globalThis.addEventListener("unload", () => Deno.removeSync(COMMANDS, { recursive: true }));

/** A valid, non-default value for key `name`, distinct per `i` (within the key's range). */
function valueFor(name: string, i: number): string {
  if (/(commandFilePath|shutdownCommandFile)$/.test(name)) return `${COMMANDS}/cmd-${i}.sh`;
  if (/(commandFileDelay|commandFileDuration|shutdownDelay)$/.test(name)) return String(1000 + i);
  if (/\.ip_\d$/.test(name)) return `nmc-${i}.example`;
  if (/\.(udpPort|httpPort|httpsPort)$/.test(name)) return String(10000 + i);
  if (name === "Shutdown.osShutdownCommand") return `/usr/local/bin/site-power-off-test --tag=${i}`;
  if (name === "EventLog.maxSizeKiB") return String(100 + i);
  throw new Error(`no test values for ${name}`);
}

/** Keys with a large value space, so a lost update cannot go unnoticed (and that take such values at all). */
const POOL = SCHEMA.filter((d) => {
  try {
    return d.name !== "NetworkManagementCard.ip_1" && d.check(valueFor(d.name, 0)).length === 0 &&
      d.check(valueFor(d.name, 499)).length === 0;
  } catch {
    return false;
  }
}).map((d) => d.name);

/** Values of a file evaluated strictly (throws when it is not a complete, valid file). */
function parseStrict(text: string, file: string): ReadonlyMap<string, string> {
  const ev = evaluateConfig(text, { file, backupFile: "none", strict: true });
  assert.ok(ev.ok, `${file} is valid: ${ev.problems.map((p) => p.message).join("; ")}`);
  return ev.values;
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

Deno.test("concurrency: 200 concurrent in-process set() calls are all applied, in call order", async () => {
  assert.ok(POOL.length >= 60, `enough keys (${POOL.length})`);
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const { store, events } = await openStore(path);
    const expected = new Map<string, string>();
    const calls = Array.from({ length: 200 }, (_, i) => {
      const key = POOL[i % POOL.length];
      expected.set(key, valueFor(key, i)); // the last call for a key wins
      return store.set({ [key]: valueFor(key, i) }, { local: true });
    });
    await Promise.all(calls);
    await store.close();
    const onDisk = parseStrict(await Deno.readTextFile(path), path);
    for (const [key, value] of expected) {
      assert.equal(onDisk.get(key), value, key);
      assert.equal(store.get(key), value, key);
    }
    assert.equal(events.filter((e) => e.id === "ConfigReloaded").length, 200);
    assert.deepEqual(parseStrict(await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`), "backup"), onDisk);
  });
});

Deno.test("concurrency: 200 `config set` processes plus a watching in-process writer lose no update", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const own = POOL.slice(-6); // keys only the in-process store writes
    const shared = POOL.slice(0, -6); // keys the processes write
    const written = new Map<string, Set<string>>();
    const { store } = await openStore(path);
    store.watch();
    const started = performance.now();
    const inProcess = (async () => {
      for (let round = 0; round < 5; round++) {
        for (const key of own) await store.set({ [key]: valueFor(key, 500 + round) }, { local: true });
      }
    })().then(() => undefined, (error: unknown) => error);
    const results = await pool(200, 20, async (i) => {
      const key = shared[i % shared.length];
      const value = valueFor(key, i);
      if (!written.has(key)) written.set(key, new Set());
      written.get(key)!.add(value);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SET_CLI, "config", "set", "-c", path, `${key}=${value}`],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      return { code: out.code, stderr: withoutDenoNotices(new TextDecoder().decode(out.stderr)) };
    });
    assert.equal(await inProcess, undefined, "the in-process writer never failed");
    const seconds = (performance.now() - started) / 1000;
    await store.close();
    for (const [i, r] of results.entries()) assert.deepEqual(r, { code: 0, stderr: "" }, `process ${i}`);
    const onDisk = parseStrict(await Deno.readTextFile(path), path);
    for (const [key, values] of written) {
      assert.ok(
        values.has(onDisk.get(key)!),
        `${key} = ${onDisk.get(key)} is one of the values written to it`,
      );
    }
    for (const key of shared.slice(200 % shared.length)) {
      // Written by exactly one process (when 200 does not divide evenly): must be exact.
      if (written.get(key)!.size === 1) assert.equal(onDisk.get(key), [...written.get(key)!][0], key);
    }
    for (const key of own) assert.equal(onDisk.get(key), valueFor(key, 504), key);
    console.log(`    200 processes (20 at a time) + 30 in-process sets: ${seconds.toFixed(1)} s`);
  });
});

Deno.test("concurrency: a writer killed with SIGKILL mid-write leaves the old or the new file, never a torn one", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const padding = Array.from(
      { length: 30000 },
      (_, i) => `; padding ${String(i).padStart(6, "0")} ${"x".repeat(60)}`,
    );
    const base = configText(BASE) + padding.join("\n") + "\n";
    await writePrivate(path, base);
    const complete = (text: string, file: string) => {
      const value = parseStrict(text, file).get("Shutdown.osShutdownCommand")!;
      assert.match(
        value,
        /^(|\/usr\/local\/bin\/site-power-off-test --round=\d+ --n=\d+)$/,
        `${file}: a value from a complete write`,
      );
      assert.equal(
        text,
        configText({ "Shutdown.osShutdownCommand": value }, base),
        `${file} is a complete version`,
      );
      return value;
    };
    let tempsSeen = 0;
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", WRITER, path, String(round)],
        cwd: ROOT,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      assert.equal(first.value?.trim(), "ready", "writer started");
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 250));
      child.kill("SIGKILL");
      const status = await child.status;
      await reader.cancel();
      assert.equal(status.signal, "SIGKILL");
      seen.add(complete(await Deno.readTextFile(path), path));
      complete(await Deno.readTextFile(`${dir}/pcnsconfig_backup.ini`), "backup");
      for await (const e of Deno.readDir(dir)) if (e.name.startsWith(tempPrefix(path))) tempsSeen++;
    }
    assert.ok(seen.size >= 2, "the writers made progress");
    // The next open cleans up temporary files left by killed writers.
    const { store } = await openStore(path);
    await store.close();
    const left = [];
    for await (const e of Deno.readDir(dir)) if (e.name.startsWith(tempPrefix(path))) left.push(e.name);
    assert.deepEqual(left, []);
    console.log(`    6 kills; ${tempsSeen} interrupted temporary file(s) found and cleaned up`);
  });
});
