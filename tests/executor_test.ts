/**
 * The system executor is tested only with harmless commands given explicitly
 * (`true`, `false`, a missing program): no test names or reaches a real
 * shutdown command.
 */
import assert from "node:assert/strict";
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
  assert.deepEqual(await executor.shutdown([["false"], ["true"]]), { ok: true, command: ["true"] });
  const failed = await executor.shutdown([["false"], ["/nonexistent/pcns-test-program"]]);
  assert.equal(failed.ok, false);
  assert.match(failed.error!, /false exited with code 1; \/nonexistent\/pcns-test-program: /);
});

Deno.test("the system executor refuses to act under the guard the test task sets", async () => {
  const guarded = new SystemExecutor(() => true);
  const refused = await guarded.shutdown([["true"]]);
  assert.equal(refused.ok, false);
  assert.match(refused.error!, /refused: PCNS_AGENT_NO_SHUTDOWN is set/);
  if (Deno.env.get(NO_SHUTDOWN_ENV)) {
    assert.equal(
      (await new SystemExecutor().shutdown([["true"]])).ok,
      false,
      "the default guard reads the env",
    );
  }
});
