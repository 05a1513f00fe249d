/**
 * A named pipe planted in the data directory blocks the thread of Deno's file watcher (it opens the files an event
 * names). Closing the store must release it, or the agent's process never ends on SIGTERM (systemd then waits for
 * TimeoutStopSec during the very OS shutdown the agent started) and a test worker hangs the suite.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./fixtures/scripts/store_with_pipe.ts", import.meta.url));

Deno.test({
  name: "data directory: with a named pipe planted there, a process that closed its store still exits",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-config-pipe-" });
    try {
      const path = join(dir, "pcnsconfig.ini");
      await Deno.writeTextFile(
        path,
        "[NetworkManagementCard]\nusername = apc\nauthenticationPhrase = admin user phrase\n",
        { mode: 0o600 },
      );
      const started = Date.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", SCRIPT, path, join(dir, "planted.fifo")],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const out = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(text, /closed/);
      assert.equal(out.signal, null, `the process did not end by itself (killed after 15 s): ${text}`);
      assert.equal(out.code, 0, text);
      assert.ok(Date.now() - started < 15_000);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
