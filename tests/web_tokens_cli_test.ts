/**
 * `pcns-agent token create|list|revoke` on the data directory (no agent needed), and `status` / `events`
 * with a token instead of the admin password against a real `run` child: a revoked token stops working
 * without a restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatTokenLine } from "../src/cli/token_commands.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import {
  collectText,
  killQuietly,
  mainCommand,
  PASSWORD,
  runMain,
  waitForAgentPort,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";

Deno.test("token CLI: create shows the token once, list never does, revoke removes it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-token-cli-" });
  try {
    const { path } = await writeAgentConfig(dir, { password: PASSWORD });
    const created = await runMain(["token", "create", "--name", "monitoring", "--read-only", "-c", path]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^pcns_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.stdout, `${token}\n`, "stdout carries the token alone");
    assert.match(created.stderr, /created read-only token "monitoring" \(id [a-z0-9]{8}\).*shown only now/);
    const file = join(dir, "api-tokens.json");
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.ok(!(await Deno.readTextFile(file)).includes(token), "the file holds only the hash");

    const list = await runMain(["token", "list", "-c", path]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^monitoring\s+[a-z0-9]{8}\s+read-only\s+\d{4}-\d\d-\d\dT/m);
    assert.ok(!list.stdout.includes(token.slice(15)));
    const json = JSON.parse((await runMain(["token", "list", "--json", "-c", path])).stdout);
    assert.deepEqual(Object.keys(json[0]).sort(), ["created", "id", "name", "readOnly"]);

    const again = await runMain(["token", "create", "--name", "monitoring", "-c", path]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a token named "monitoring" exists already/);
    const badName = await runMain(["token", "create", "--name", "bad name!", "-c", path]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /--name: "bad name!" must be 1-64 characters/);

    const revoked = await runMain(["token", "revoke", "monitoring", "-c", path]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await runMain(["token", "list", "-c", path])).stdout, "");
    const unknown = await runMain(["token", "revoke", "monitoring", "-c", path]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no token named "monitoring"/);
    const missing = await runMain(["token", "list", "-c", join(dir, "nowhere", "pcnsconfig.ini")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /data directory .*nowhere does not exist/);
    assert.equal(
      formatTokenLine({
        id: "abcd1234",
        name: "m",
        readOnly: false,
        sha256: "0".repeat(64),
        created: "2026-01-01T00:00:00.000Z",
      }),
      "m                     abcd1234  full       2026-01-01T00:00:00.000Z",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token CLI: status and events use a token (file or env) instead of the password; revoked = refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-token-agent-" });
  const { path, ports } = await writeAgentConfig(dir, { password: PASSWORD });
  const agent = mainCommand(["run", "--dry-run", "--config", path], {
    denoFlags: [...AGENT_UNSTABLE_FLAGS, ...AGENT_V8_FLAGS, ...AGENT_PERMISSIONS],
    stdout: "null",
  }).spawn();
  const agentLog = collectText(agent.stderr);
  try {
    const created = await runMain(["token", "create", "--name", "monitoring", "--read-only", "-c", path]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    const tokenFile = join(dir, "token");
    await Deno.writeTextFile(tokenFile, `${token}\n`, { mode: 0o600 });
    await waitForAgentPort(agent, agentLog, ports.https);
    // No password anywhere: the token alone.
    const env = { PCNS_AGENT_TOKEN: token };
    const status = await runMain(["status", "--json", "--config", path], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).dryRun, true);
    const events = await runMain(["events", "--json", "--config", path, "--token-file", tokenFile]);
    assert.equal(events.code, 0, events.stderr);
    assert.ok(JSON.parse(events.stdout).some((r: { id: string }) => r.id === "MonitoringStarted"));
    // Revoked while the agent runs: refused at once.
    assert.equal((await runMain(["token", "revoke", "monitoring", "-c", path])).code, 0);
    const refused = await runMain(["status", "--config", path], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused the API token \(HTTP 401/);
    const none = await runMain(["status", "--config", path]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no credentials: give --token-file/);
  } catch (error) {
    console.error(agentLog.text().slice(-3000));
    throw error;
  } finally {
    killQuietly(agent);
    await agent.status;
    await agentLog.done;
    await Deno.remove(dir, { recursive: true });
  }
});
