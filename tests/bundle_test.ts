/**
 * The bundle build.ts compiles (`deno bundle` of main.ts, ssh2 left as an npm import) is the agent: the
 * same `--version`, a `run --dry-run` that follows a card and serves the web API from its lazily loaded
 * pages chunk, and `ssh test` through the external ssh2 package.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bundle, DENO_CONFIG } from "../build.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import {
  collectText,
  feedUntil,
  killQuietly,
  mainCommand,
  PASSWORD,
  runMain,
  waitForAgentPort,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";
import { configText, writePrivate } from "./fixtures/config/helpers.ts";
import { sshdOrSkip, startSshd } from "./helpers/sshd.ts";

const skipSsh = sshdOrSkip();

/** Bundles main.ts into a temporary directory; the entry point and a cleanup. */
async function bundled(): Promise<{ main: string; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bundle-" });
  const result = await bundle(join(dir, "out"));
  assert.ok(result.ok, result.ok ? "" : result.error);
  return { main: join(dir, "out", "main.js"), remove: () => Deno.remove(dir, { recursive: true }) };
}

/** Flags to run the bundle with: the agent's permissions and deno.json (ssh2 resolves through its imports). */
const BUNDLE_FLAGS = [
  `--config=${DENO_CONFIG}`,
  ...AGENT_UNSTABLE_FLAGS,
  ...AGENT_V8_FLAGS,
  ...AGENT_PERMISSIONS,
];

Deno.test("bundle: the agent from one bundle", async (t) => {
  const b = await bundled(); // bundled once (~2 s) for both steps
  try {
    await t.step(
      "--version as main.ts; run --dry-run follows a card and answers the web API",
      () => runAgent(b.main),
    );
    await t.step({
      name: "ssh test runs an SSH action through the ssh2 package left outside the bundle",
      ignore: skipSsh !== undefined,
      fn: () => sshTest(b.main),
    });
  } finally {
    await b.remove();
  }
});

/** The bundle at `main` answers --version like main.ts, follows a card and serves the web API. */
async function runAgent(main: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-bundle-run-" });
  try {
    const fromSource = await runMain(["--version"]);
    const fromBundle = await runMain(["--version"], { main: main, denoFlags: BUNDLE_FLAGS });
    assert.equal(fromBundle.code, 0, fromBundle.stderr);
    assert.equal(fromBundle.stdout, fromSource.stdout);

    const { path, ports } = await writeAgentConfig(dir, { password: PASSWORD });
    const agent = mainCommand(["run", "--dry-run", "--config", path], {
      main: main,
      denoFlags: BUNDLE_FLAGS,
      stdout: "null",
    }).spawn();
    const log = collectText(agent.stderr);
    try {
      await waitForAgentPort(agent, log, ports.https);
      await feedUntil(dir, ports.udp, "CommunicationEstablished");
      // `status` (from source) asks the bundle's web API over TLS: served by the pages chunk.
      const status = await runMain(["status", "--json", "--config", path], {
        env: { PCNS_AGENT_PASSWORD: PASSWORD },
      });
      assert.equal(status.code, 0, status.stderr + log.text());
      const parsed = JSON.parse(status.stdout);
      assert.ok(parsed.packets.accepted >= 1, status.stdout);
      assert.equal(parsed.ups[0].card, "127.0.0.1", status.stdout);
      assert.ok(parsed.ups[0].lastStatusAt !== undefined, status.stdout);
    } finally {
      agent.kill("SIGTERM");
      const guard = setTimeout(() => killQuietly(agent), 10_000);
      const stopped = await agent.status;
      clearTimeout(guard);
      await log.done;
      assert.equal(stopped.code, 0, log.text());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The bundle at `main` runs `ssh test` against a private sshd (ssh2 resolved through deno.json). */
async function sshTest(main: string): Promise<void> {
  const sshd = await startSshd();
  try {
    const path = `${sshd.dir}/pcnsconfig.ini`;
    await Deno.writeTextFile(`${sshd.dir}/cmds.txt`, "echo from-bundle\n");
    await writePrivate(
      path,
      configText({
        "SSHAction1.name": "nas",
        "SSHAction1.host": "127.0.0.1",
        "SSHAction1.port": String(sshd.port),
        "SSHAction1.user": sshd.user,
        "SSHAction1.keyFile": sshd.keys.ed25519,
        "SSHAction1.commandFile": `${sshd.dir}/cmds.txt`,
        "SSHAction1.duration": "10",
      }),
    );
    const ran = await runMain(["ssh", "test", "nas", "--config", path], {
      main: main,
      denoFlags: BUNDLE_FLAGS,
    });
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.match(ran.stdout, /ran: echo from-bundle/);
    assert.deepEqual(await sshd.recorded(), ["echo from-bundle"]);
  } finally {
    await sshd.close();
  }
}
