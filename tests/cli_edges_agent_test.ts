/**
 * CLI rough edges (issue 15 item 9) that need a running agent or the demo:
 * the start-up log (a usable web UI URL, each warning once), `status --url`
 * against the self-signed UI without `--ca`, `check --password-file`, and
 * the demo's forged packet being rejected in front of the user.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import {
  collectText,
  killQuietly,
  mainCommand,
  PASSWORD,
  runMain,
  writeAgentConfig,
} from "./fixtures/service/agent.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

Deno.test("a running agent: usable URL and each warning once at start; status --url without --ca explains the certificate; check --password-file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cli-edges-agent-" });
  const { path, ports } = await writeAgentConfig(dir, { password: PASSWORD });
  await Deno.chmod(path, 0o644); // a warning at start (the file holds the authentication phrase)
  const passwordFile = join(dir, "password");
  await Deno.writeTextFile(passwordFile, PASSWORD + "\n", { mode: 0o600 });
  const agent = mainCommand(["run", "--dry-run", "--config", path], {
    denoFlags: [...AGENT_UNSTABLE_FLAGS, ...AGENT_V8_FLAGS, ...AGENT_PERMISSIONS],
    stdout: "null",
  }).spawn();
  const log = collectText(agent.stderr);
  try {
    await waitUntilAsync(
      () => Promise.resolve(/web UI on /.test(log.text()) && /MonitoringStarted/.test(log.text())),
      "the web UI start-up line",
      15_000,
    );
    await new Promise((r) => setTimeout(r, 300)); // anything printed right after start
    const text = log.text();
    assert.match(text, new RegExp(`web UI on https://127\\.0\\.0\\.1:${ports.https}/ `), text);
    assert.match(text, new RegExp(`\\(http://127\\.0\\.0\\.1:${ports.http}/ redirects\\)`));
    assert.doesNotMatch(text, /https?:\/\/:\d/, "no URL without a host");
    const modeWarnings = text.split("\n").filter((l) => l.includes("had mode 0644"));
    assert.equal(modeWarnings.length, 1, modeWarnings.join("\n"));
    const fingerprint = /certificate SHA-256 ([0-9A-F:]{95})/.exec(text)?.[1];
    assert.ok(fingerprint, text);

    // --url without --ca (and no configuration to find ui-cert.pem in): the self-signed UI is not trusted.
    const untrusted = await runMain([
      "status",
      "--url",
      `https://127.0.0.1:${ports.https}`,
      "--user",
      "apc",
      "--password-file",
      passwordFile,
      "--config",
      join(dir, "missing.ini"),
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr,
      /^pcns-agent: status: the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted/,
    );
    assert.ok(untrusted.stderr.includes(`SHA-256 ${fingerprint}`), untrusted.stderr);
    assert.match(untrusted.stderr, /--ca <file>/);
    assert.doesNotMatch(untrusted.stderr, /rustls|invalid peer certificate|UnknownIssuer/);
    assert.equal(untrusted.stderr.trim().split("\n").length, 1);

    // check asks the running agent with --password-file (no PCNS_AGENT_PASSWORD in the environment).
    const check = await runMain([
      "check",
      "--config",
      path,
      "--password-file",
      passwordFile,
      "--json",
      "--timeout",
      "2",
    ]);
    const report = JSON.parse(check.stdout);
    assert.match(report[0].listed.detail, /^running agent: /, check.stdout);
    const wrongUrl = await runMain(["check", "--config", path, "--url", "ftp://x"]);
    assert.equal(wrongUrl.code, 2);
    assert.match(wrongUrl.stderr, /--url: "ftp:\/\/x" must be http\(s\)/);
  } finally {
    killQuietly(agent);
    await agent.status;
    await log.done;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo: the forged packet is shown rejected, with its reason, and changes nothing", async () => {
  const child = mainCommand(["demo", "--step", "0.25"]).spawn();
  const out = collectText(child.stdout);
  const err = collectText(child.stderr);
  const timer = setTimeout(() => killQuietly(child), 25_000);
  try {
    const status = await child.status;
    await out.done;
    await err.done;
    assert.equal(status.code, 0, err.text());
    const lines = out.text().split("\n");
    const forged = lines.findIndex((l) => l.includes("scenario: forged packet"));
    assert.ok(forged > 0, out.text());
    const rejected = lines[forged + 1] ?? "";
    assert.match(rejected, /REJECTED bad-md5 .*packet rejected from 127\.0\.0\.1:\d+: /, out.text());
    assert.match(lines[forged + 2] ?? "", /changed nothing/);
    assert.match(lines[forged + 3] ?? "", /scenario: power-failure/, "nothing happened in between");
  } finally {
    clearTimeout(timer);
  }
});
