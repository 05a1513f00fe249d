/**
 * The agent never reads files beside its source at run time, so `deno run
 * main.ts` and the compiled binary behave the same: a copy of the sources in
 * an unrelated directory, run from yet another directory with the binary's
 * permissions and the original checkout denied, prints its version and runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readEventLog } from "../src/events/eventlog.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import {
  collectText,
  feedUntil,
  killQuietly,
  mainCommand,
  REPO,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";

const SOURCES = ["main.ts", "src", "ui", "deno.json", "deno.lock"];

async function copyTree(from: string, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (info.isFile) {
    await Deno.copyFile(from, to);
    return;
  }
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) await copyTree(join(from, entry.name), join(to, entry.name));
}

Deno.test("portable: a copy of the sources elsewhere runs with the binary's permissions and no access to the checkout", async () => {
  const base = await Deno.makeTempDir({ prefix: "pcns-portable-" });
  const copy = join(base, "copy");
  const cwd = join(base, "elsewhere");
  const data = join(base, "data");
  await Deno.mkdir(cwd);
  await Deno.mkdir(data);
  await Deno.mkdir(copy);
  const checkout = REPO.replace(/\/$/, "");
  assert.ok(!copy.startsWith(checkout + "/"), "the copy must not be inside the checkout");
  // As compiled: managed npm from Deno's cache (no node_modules), the binary's permissions, the checkout denied.
  const denoFlags = [
    "--node-modules-dir=none",
    "--cached-only",
    "--frozen",
    ...AGENT_UNSTABLE_FLAGS,
    ...AGENT_V8_FLAGS,
    ...AGENT_PERMISSIONS,
    `--deny-read=${checkout}`,
    `--deny-write=${checkout}`,
  ];
  const main = join(copy, "main.ts");
  try {
    for (const name of SOURCES) await copyTree(join(REPO, name), join(copy, name));
    // The deny flag really works (else the test below would prove nothing).
    const probeFile = join(base, "probe.ts");
    await Deno.writeTextFile(
      probeFile,
      `await Deno.readTextFile(${JSON.stringify(join(checkout, "deno.json"))});`,
    );
    const probe = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-read", `--deny-read=${checkout}`, probeFile],
      cwd,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(probe.code, 1);
    assert.match(new TextDecoder().decode(probe.stderr), /NotCapable|PermissionDenied|Requires read access/);

    // Every local module of the copy's graph is in the copy.
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--node-modules-dir=none", main],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
    const modules: { specifier: string; local?: string }[] = JSON.parse(new TextDecoder().decode(info.stdout))
      .modules;
    const local = modules.filter((m) => m.specifier.startsWith("file:"));
    assert.ok(local.length > 50, `only ${local.length} local modules`);
    for (const m of local) assert.ok(m.local?.startsWith(copy + "/"), `${m.specifier} is outside the copy`);

    const version = await mainCommand(["--version"], { main, cwd, denoFlags }).output();
    assert.equal(version.code, 0, new TextDecoder().decode(version.stderr));
    assert.match(
      new TextDecoder().decode(version.stdout),
      /^pcns-agent \d+\.\d+\.\d+ \(commit \S+, deno \d+\.\d+\.\d+\)\n$/,
    );

    const { path, ports } = await writeAgentConfig(data);
    const child = mainCommand(["run", "--dry-run", "--no-web", "--config", path], {
      main,
      cwd,
      denoFlags,
      stdout: "null",
    }).spawn();
    const stderr = collectText(child.stderr);
    try {
      await feedUntil(data, ports.udp);
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await stderr.done;
      assert.doesNotMatch(stderr.text(), /NotCapable|PermissionDenied|Requires .* access/);
      const ids = (await readEventLog(join(data, "EventLog.jsonl"))).map((r) => r.id);
      assert.ok(ids.includes("CommunicationEstablished"));
      assert.equal(ids.at(-1), "MonitoringStopped");
    } finally {
      killQuietly(child);
      await stderr.done.catch(() => {});
    }
    // Nothing was created beside the sources or in the working directory.
    assert.deepEqual([...Deno.readDirSync(cwd)], []);
    assert.deepEqual([...Deno.readDirSync(copy)].map((e) => e.name).sort(), [...SOURCES].sort());
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
