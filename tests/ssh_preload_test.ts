/**
 * An agent with an enabled SSH action loads the SSH library (ssh2) when it starts or when a reload enables
 * one, not with the action's first run, which comes in the shutdown: the load holds up the whole agent for
 * ~70 ms (module loading runs on the event loop; bench/NOTES.md, 8 December), and a dynamic import whose
 * files' disk does not answer holds it up until the disk does. A key file loaded it at start already (its
 * check parses the key); an action with a password only did not. Without an enabled action, or in a dry run
 * (the actions are only recorded), it is not loaded.
 *
 * Each case runs in a fresh process: the library, once asked for, stays for the process.
 */
import assert from "node:assert/strict";

/** Starts an agent in a fresh process with one SSH action; whether it asked for ssh2 before, at and after the start (or reload). */
async function sshLibraryAskedFor(o: { enabled: boolean; dryRun: boolean; reload?: boolean }) {
  const url = (path: string) => new URL(path, import.meta.url).href;
  const code = `
import { Agent } from "${url("../src/agent/agent.ts")}";
import { sshClientRequested } from "${url("../src/ssh/client.ts")}";
import { memoryLogger } from "${url("../src/log/logger.ts")}";
import { RecordingExecutor } from "${url("../src/shutdown/executor.ts")}";
import { testConfig } from "${url("./helpers/agent.ts")}";
const before = sshClientRequested();
const base = testConfig();
const action = {
  section: "SSHAction0", name: "nas", enabled: ${o.enabled}, host: "127.0.0.1", port: 22, user: "ops",
  keyFile: "", keyPassphrase: "", password: "secret", commandFile: "/dev/null", delay: 0, duration: 10,
  phase: "beforeShutdown", hostKeyFingerprint: "",
};
const config = { ...base, sshActions: [action] };
const dataDir = await Deno.makeTempDir({ prefix: "pcns-ssh-preload-" });
const agent = Agent.start({
  config: ${o.reload ? "base" : "config"},
  dataDir,
  logger: memoryLogger().logger,
  dryRun: ${o.dryRun},
  executor: new RecordingExecutor(),
  sshOnStart: false,
});
const atStart = sshClientRequested();
${o.reload ? "await agent.applyConfig(config);" : ""}
const afterReload = sshClientRequested();
await agent.stop();
await Deno.remove(dataDir, { recursive: true });
console.log(JSON.stringify({ before, atStart, afterReload }));
`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
}

Deno.test("an agent with an enabled SSH action (password only) asks for the SSH library as it starts", async () => {
  assert.deepEqual(await sshLibraryAskedFor({ enabled: true, dryRun: false }), {
    before: false,
    atStart: true,
    afterReload: true,
  });
});

Deno.test("a reload that enables an SSH action asks for the SSH library then", async () => {
  assert.deepEqual(await sshLibraryAskedFor({ enabled: true, dryRun: false, reload: true }), {
    before: false,
    atStart: false,
    afterReload: true,
  });
});

Deno.test("no enabled SSH action, or a dry run: the SSH library is not loaded", async () => {
  assert.deepEqual(await sshLibraryAskedFor({ enabled: false, dryRun: false }), {
    before: false,
    atStart: false,
    afterReload: false,
  });
  assert.deepEqual(await sshLibraryAskedFor({ enabled: true, dryRun: true }), {
    before: false,
    atStart: false,
    afterReload: false,
  });
});
