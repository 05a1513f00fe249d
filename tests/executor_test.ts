/**
 * The system executor is tested only with harmless commands given explicitly
 * (`true`, `false`, a missing program): no test names or reaches a real
 * shutdown command.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  NO_SHUTDOWN_ENV,
  shutdownCommands,
  splitCommandLine,
  SystemExecutor,
} from "../src/shutdown/executor.ts";

Deno.test("the OS shutdown command: platform defaults with a fallback, or the configured command line", () => {
  assert.equal(shutdownCommands("linux", "").length, 2, "Linux tries a second command if the first fails");
  assert.deepEqual(shutdownCommands("windows", "")[0].slice(1), ["/s", "/t", "0"]);
  assert.deepEqual(shutdownCommands("linux", `/usr/local/bin/my-off --reason "UPS battery"`), [
    ["/usr/local/bin/my-off", "--reason", "UPS battery"],
  ]);
  assert.deepEqual(splitCommandLine(`a 'b c' "d'e" f`), ["a", "b c", "d'e", "f"]);
  assert.throws(() => splitCommandLine(`a "b`), /unterminated " quote/);
});

Deno.test("the system executor tries the commands in order until one succeeds (harmless commands only)", async () => {
  const executor = new SystemExecutor(() => false);
  try {
    assert.equal(executor.reservedFds, 16, "descriptors held for the OS step");
    assert.deepEqual(await executor.shutdown([["false"], ["true"]]), {
      ok: true,
      command: ["true"],
      failures: ["false exited with code 1"],
    });
    assert.deepEqual(await executor.shutdown([["true"]]), { ok: true, command: ["true"] });
    const failed = await executor.shutdown([["false"], ["/nonexistent/pcns-test-program"]]);
    assert.equal(failed.ok, false);
    assert.match(failed.error!, /false exited with code 1; \/nonexistent\/pcns-test-program: /);
    const said = await executor.shutdown([["/bin/sh", "-c", "echo 'Failed to connect to bus' >&2; exit 1"]]);
    assert.match(said.error!, /exited with code 1: Failed to connect to bus$/);
    assert.equal(executor.reservedFds, 16, "the reserve is taken again after each start");
  } finally {
    executor.close();
  }
});

Deno.test("the system executor refuses to act under the guard the test task sets", async () => {
  const guarded = new SystemExecutor(() => true);
  const refused = await guarded.shutdown([["true"]]);
  guarded.close();
  assert.equal(refused.ok, false);
  assert.match(refused.error!, /refused: PCNS_AGENT_NO_SHUTDOWN is set/);
  if (Deno.env.get(NO_SHUTDOWN_ENV)) {
    const byEnv = new SystemExecutor();
    assert.equal((await byEnv.shutdown([["true"]])).ok, false, "the default guard reads the env");
    byEnv.close();
  }
});

/** Runs tests/fixtures/fdpressure/child.ts with at most 64 file descriptors. */
async function underFdPressure(mode: "hold" | "release") {
  const dir = await Deno.makeTempDir({ prefix: "pcns-fdpressure-" });
  const record = join(dir, "record.txt");
  const recorder = join(dir, "recorder.sh");
  await Deno.writeTextFile(recorder, `#!/bin/sh\necho "\${RECORD:-$1}" >> '${record}'\n`);
  await Deno.chmod(recorder, 0o755);
  try {
    const out = await new Deno.Command("prlimit", {
      args: ["--nofile=64", Deno.execPath(), "run", "-A", CHILD, recorder, mode],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    const recorded = await Deno.readTextFile(record).catch(() => "");
    return { result, recorded: recorded.split("\n").filter((l) => l !== "") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CHILD = fileURLToPath(new URL("./fixtures/fdpressure/child.ts", import.meta.url));

Deno.test("fd exhaustion (RLIMIT_NOFILE 64, every descriptor used): the OS step still runs", async () => {
  const { result, recorded } = await underFdPressure("hold");
  assert.match(result.exhaustion, /Too many open files|os error 24/, "the child did use up its descriptors");
  assert.equal(result.os.ok, true, `OS step: ${result.os.error}`);
  assert.ok(recorded.includes("os-step"), `recorded: ${recorded}`);
  // The command file could not start while the pressure lasted, and says why.
  assert.equal(result.commandFile.ok, false);
  assert.match(result.commandFile.error, /could not start .*Too many open files/);
});

Deno.test("fd exhaustion that ends while a command file waits to start: it starts (retried), then the OS step", async () => {
  const { result, recorded } = await underFdPressure("release");
  assert.equal(result.commandFile.ok, true, `command file: ${result.commandFile.error}`);
  assert.equal(result.os.ok, true, `OS step: ${result.os.error}`);
  assert.deepEqual(recorded, ["command-file", "os-step"]);
});

Deno.test("the OS step returns when its command exits, even if a background child keeps stderr open", async () => {
  const executor = new SystemExecutor(() => false);
  try {
    const t0 = Date.now();
    const result = await executor.shutdown([["/bin/sh", "-c", "sleep 4 & echo started >&2; exit 0"]]);
    assert.equal(result.ok, true);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  } finally {
    executor.close();
  }
});
