/**
 * The suite's own guard: a test that waits forever fails by name after its deadline, and the tests after it run,
 * instead of stalling `deno task test` until CI gives up.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { testDefinition } from "./helpers/deadline.ts";

Deno.test("deadline: a test that waits forever fails by name; the rest of the file still runs", async () => {
  const fixture = fromFileUrl(new URL("./fixtures/hanging/waits_forever.ts", import.meta.url));
  const preload = fromFileUrl(new URL("./helpers/deadline.ts", import.meta.url));
  const started = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", `--preload=${preload}`, fixture],
    env: { PCNS_TEST_DEADLINE_S: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.success, false, text);
  assert.match(text, /test "waits on a socket nobody connects to" did not finish within 1 s/);
  assert.match(text, /the next test still runs \.\.\. ok/);
  assert.match(text, /1 passed \| 1 failed/);
  assert.ok(Date.now() - started < 30_000);
});

Deno.test("deadline: every call form of Deno.test keeps its name, options and function", () => {
  const fn = () => {};
  assert.deepEqual(testDefinition(["a", fn]), { name: "a", fn });
  assert.deepEqual(testDefinition(["b", { sanitizeOps: false }, fn]), { name: "b", sanitizeOps: false, fn });
  assert.deepEqual(testDefinition([{ name: "c", fn }]), { name: "c", fn });
  assert.deepEqual(testDefinition([{ ignore: true }, fn]), { ignore: true, name: "fn", fn });
  function named() {}
  assert.equal(testDefinition([named]).name, "named");
});
