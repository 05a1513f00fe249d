/**
 * `[SSHAction0]` ... `[SSHAction9]` in pcnsconfig.ini: field-level errors for every bad value (unknown
 * phase, port range, duplicate name, fingerprint format, a missing key or command file), secrets masked,
 * the web UI/API rules, the fresh file; and `pcns-agent ssh test NAME` against the private sshd, pinning
 * the host key on first contact into the file through the config store.
 */
import assert from "node:assert/strict";
import { Command } from "commander";
import { evaluateConfig } from "../src/config/evaluate.ts";
import { maskConfig } from "../src/config/build.ts";
import { displayValue } from "../src/config/schema.ts";
import { remoteUpdateProblems } from "../src/config/remote.ts";
import { defaultConfigText } from "../src/config/template.ts";
import { ConfigError } from "../src/config/problems.ts";
import { registerSshCommands } from "../src/cli/ssh_commands.ts";
import type { CliIo } from "../src/cli/config_commands.ts";
import { CliError } from "../src/cli/errors.ts";
import { configText, openStore, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { freePort } from "./helpers/ports.ts";
import { sshdOrSkip, startSshd } from "./helpers/sshd.ts";

const skip = sshdOrSkip();

const GOOD = {
  "SSHAction0.name": "nas",
  "SSHAction0.enabled": "true",
  "SSHAction0.host": "192.0.2.10",
  "SSHAction0.user": "pcns",
  "SSHAction0.password": "s3cret-pw",
  "SSHAction0.commandFile": "/etc/pcns-agent/nas.txt",
};

function evaluate(changes: Record<string, string>, strict = true) {
  return evaluateConfig(configText(changes), { file: "f.ini", backupFile: "b.ini", strict });
}

function errorsOf(changes: Record<string, string>): Record<string, string> {
  const ev = evaluate(changes);
  return Object.fromEntries(ev.problems.filter((p) => p.level === "error").map((p) => [p.key, p.message]));
}

Deno.test("ssh config: a good action is built, typed, with its secrets masked everywhere", () => {
  const ev = evaluate({ ...GOOD, "SSHAction0.phase": "AFTERSHUTDOWN", "SSHAction0.hostKeyFingerprint": "" });
  assert.ok(ev.ok, JSON.stringify(ev.problems));
  const [a] = ev.config!.sshActions!;
  assert.equal(a.name, "nas");
  assert.equal(a.phase, "afterShutdown", "the phase word is canonical");
  assert.equal(a.port, 22);
  assert.equal(a.duration, 30);
  assert.equal(maskConfig(ev.config!).sshActions![0].password, "***");
  assert.equal(displayValue("SSHAction0.password", "s3cret-pw"), "***");
  assert.equal(displayValue("SSHAction0.keyPassphrase", "x"), "***");
  assert.ok(!JSON.stringify(maskConfig(ev.config!)).includes("s3cret-pw"));
  assert.equal(
    evaluate({}).config!.sshActions!.length,
    0,
    "the fresh file's empty [SSHAction0] is no action",
  );
});

Deno.test("ssh config: every bad value is an error naming its key", () => {
  const errors = errorsOf({
    ...GOOD,
    "SSHAction0.phase": "whenever",
    "SSHAction0.port": "70000",
    "SSHAction0.hostKeyFingerprint": "MD5:12:34",
    "SSHAction1.host": "bad host!",
    "SSHAction1.user": "-oProxyCommand=x",
    "SSHAction1.duration": "0",
    "SSHAction1.keyFile": "relative/key",
    "SSHAction1.hostKeyFingerprint": "SHA256:short",
  });
  assert.match(errors["SSHAction0.phase"], /must be one of beforeShutdown, afterShutdown, onStartup/);
  assert.match(errors["SSHAction0.port"], /must be 1-65535/);
  assert.match(errors["SSHAction0.hostKeyFingerprint"], /MD5 fingerprints are not accepted/);
  assert.match(errors["SSHAction1.host"], /must be an IPv4 address, an IPv6 address or a host name/);
  assert.match(errors["SSHAction1.user"], /must not start with "-"/);
  assert.match(errors["SSHAction1.duration"], /must be 1-3600/);
  assert.match(errors["SSHAction1.keyFile"], /must be an absolute path/);
  assert.match(errors["SSHAction1.hostKeyFingerprint"], /must be SHA256: followed by 43 base64 characters/);
});

Deno.test("ssh config: a duplicate name or a missing part is an error on reload, a disabled action at start", () => {
  const changes = {
    ...GOOD,
    "SSHAction3.name": "NAS",
    "SSHAction3.host": "192.0.2.11",
    "SSHAction4.enabled": "true",
    "SSHAction4.host": "192.0.2.12",
  };
  const errors = errorsOf(changes);
  assert.match(errors["SSHAction3.name"], /SSHAction3\.name = NAS is already the name of \[SSHAction0\]/);
  assert.match(errors["SSHAction4.user"], /enabled = true but user is empty/);
  assert.match(errors["SSHAction4.keyFile"], /neither keyFile nor password is set/);
  assert.match(errors["SSHAction4.commandFile"], /commandFile is empty/);
  const start = evaluate(changes, false);
  assert.ok(start.ok, "a start never fails on an SSH action");
  const built = start.config!.sshActions!;
  assert.deepEqual(built.map((a) => [a.section, a.enabled]), [
    ["SSHAction0", true],
    ["SSHAction3", false],
    ["SSHAction4", false],
  ]);
  assert.ok(
    start.problems.some((p) => p.key === "SSHAction4.user" && /disabled until this is fixed/.test(p.message)),
  );
});

Deno.test("ssh config: a missing key file or command file refuses the change, naming the key", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText());
    const { store } = await openStore(path);
    try {
      const refused = await store.set({
        ...GOOD,
        "SSHAction0.password": "",
        "SSHAction0.keyFile": `${dir}/no-such-key`,
        "SSHAction0.commandFile": `${dir}/no-such-commands`,
      }, { local: true }).then(() => undefined, (e) => e);
      assert.ok(refused instanceof ConfigError, String(refused));
      const byKey = Object.fromEntries(refused.problems.map((p) => [p.key, p.message]));
      assert.match(byKey["SSHAction0.keyFile"], /the key file does not exist/);
      assert.match(byKey["SSHAction0.commandFile"], /the command file does not exist/);
      await Deno.writeTextFile(`${dir}/key`, "not a key\n");
      await Deno.writeTextFile(`${dir}/cmds`, "# nothing\n\n");
      const again = await store.set({
        ...GOOD,
        "SSHAction0.keyFile": `${dir}/key`,
        "SSHAction0.commandFile": `${dir}/cmds`,
      }, { local: true }).then(() => undefined, (e) => e);
      const messages = (again as ConfigError).problems.map((p) => p.message).join("\n");
      assert.match(messages, /SSHAction0\.keyFile = .*: the key file not a private key ssh2 can read/);
      assert.match(messages, /SSHAction0\.commandFile = .*: the command file holds no command/);
      assert.ok(!(await Deno.readTextFile(path)).includes("192.0.2.10"), "nothing was written");
    } finally {
      await store.close();
    }
  });
});

Deno.test("ssh config: the web UI and the API may not change where or what an action runs (allowCommandEdits)", () => {
  const current = evaluate({ "WebUI.allowCommandEdits": "false" }).values;
  const refused = remoteUpdateProblems(
    {
      "SSHAction0.commandFile": "/tmp/evil",
      "SSHAction0.host": "203.0.113.9",
      "SSHAction0.hostKeyFingerprint": "",
      "SSHAction0.delay": "5",
    },
    current,
    "f.ini",
  ).map((p) => p.key);
  assert.deepEqual(refused, ["SSHAction0.commandFile", "SSHAction0.host"]);
});

Deno.test("ssh config: the fresh file has one commented [SSHAction0]; the others take the same keys", () => {
  const text = defaultConfigText();
  assert.ok(text.includes("[SSHAction0]"));
  assert.ok(!text.includes("[SSHAction1]"));
  assert.match(text, /; SSH actions: \[SSHAction0\] \.\.\. \[SSHAction9\]/);
  const ev = evaluate({ "SSHAction7.name": "far", "SSHAction7.host": "192.0.2.7" });
  assert.ok(ev.ok);
  assert.equal(ev.config!.sshActions![0].section, "SSHAction7");
  assert.ok(!ev.problems.some((p) => /unknown section/.test(p.message)));
  const unknown = evaluate({ "SSHAction10.host": "192.0.2.7" });
  assert.ok(unknown.problems.some((p) => /unknown section \[SSHAction10\]/.test(p.message)));
});

function fakeIo(out: string[], err: string[]): CliIo {
  return {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    isTerminal: () => false,
    ask: () => Promise.resolve(null),
    readLines: () => Promise.resolve([]),
  };
}

async function sshTest(args: string[], out: string[], err: string[]): Promise<unknown> {
  const program = new Command().exitOverride();
  registerSshCommands(program, fakeIo(out, err));
  return await program.parseAsync(["ssh", "test", ...args], { from: "user" }).then(() => undefined, (e) => e);
}

Deno.test({
  name:
    "ssh test NAME: prints what the remote side answered, pins the host key into the file, then refuses a change",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const path = `${sshd.dir}/pcnsconfig.ini`;
      await Deno.writeTextFile(`${sshd.dir}/cmds.txt`, "uptime\necho done\n");
      await writePrivate(
        path,
        configText({
          "SSHAction2.name": "nas",
          "SSHAction2.host": "127.0.0.1",
          "SSHAction2.port": String(sshd.port),
          "SSHAction2.user": sshd.user,
          "SSHAction2.keyFile": sshd.keys.ed25519,
          "SSHAction2.commandFile": `${sshd.dir}/cmds.txt`,
          "SSHAction2.duration": "10",
        }),
      );
      const out: string[] = [];
      const err: string[] = [];
      assert.equal(await sshTest(["nas", "--config", path], out, err), undefined, err.join("\n"));
      assert.ok(
        out.includes("$ uptime") && out.includes("ran: uptime") && out.includes("(exit 0)"),
        out.join("\n"),
      );
      assert.match(out.join("\n"), /disabled: the agent does not run it/);
      assert.match(out.join("\n"), /pinned on first contact; written to \[SSHAction2\] hostKeyFingerprint/);
      assert.ok((await Deno.readTextFile(path)).includes(`hostKeyFingerprint = ${sshd.fingerprint}`));
      assert.deepEqual(await sshd.recorded(), ["uptime", "echo done"]);

      // A different host key is refused: exit 1 and nothing sent.
      const text = await Deno.readTextFile(path);
      const other = "SHA256:" + "A".repeat(43);
      await writePrivate(path, text.replace(sshd.fingerprint, other));
      out.length = 0;
      const refused = await sshTest(["SSHAction2", "--config", path], out, err);
      assert.ok(refused instanceof CliError && refused.exitCode === 1, String(refused));
      assert.match(out.join("\n"), /does NOT match the pinned SHA256:A{43}/);
      assert.equal((await sshd.recorded()).length, 2);

      const unknown = await sshTest(["nope", "--config", path], out, err);
      assert.ok(unknown instanceof CliError);
      assert.match(unknown.message, /no SSH action named nope .*\(nas \[SSHAction2\]\)/);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh service: an onStartup action pins the host key on first contact into pcnsconfig.ini",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    const { startService } = await import("../src/agent/service.ts");
    const { memoryLogger } = await import("../src/log/logger.ts");
    try {
      const path = `${sshd.dir}/data/pcnsconfig.ini`;
      await Deno.mkdir(`${sshd.dir}/data`, { mode: 0o700 });
      await Deno.writeTextFile(`${sshd.dir}/boot.txt`, "start-vms\n");
      await writePrivate(
        path,
        configText({
          "Networking.udpPort": String(freePort("udp")),
          "Networking.udpListenAddresses": "127.0.0.1",
          "SSHAction0.name": "boot",
          "SSHAction0.enabled": "true",
          "SSHAction0.phase": "onStartup",
          "SSHAction0.host": "127.0.0.1",
          "SSHAction0.port": String(sshd.port),
          "SSHAction0.user": sshd.user,
          "SSHAction0.keyFile": sshd.keys.ed25519,
          "SSHAction0.commandFile": `${sshd.dir}/boot.txt`,
        }),
      );
      const { logger, records: logs } = memoryLogger();
      const service = await startService({
        configPath: path,
        logger,
        dryRun: false,
        register: false,
        hotReload: false,
      });
      try {
        const deadline = Date.now() + 8000;
        // The file is written before the backup and the in-memory swap: wait for the store, then read the file.
        while (
          Date.now() < deadline && service.store.get("SSHAction0.hostKeyFingerprint") !== sshd.fingerprint
        ) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(
          (await Deno.readTextFile(path)).includes(`hostKeyFingerprint = ${sshd.fingerprint}`),
          JSON.stringify(logs.map((r) => r.message)),
        );
        assert.equal(service.store.get("SSHAction0.hostKeyFingerprint"), sshd.fingerprint);
        for (let i = 0; i < 100 && (await sshd.recorded()).length === 0; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(await sshd.recorded(), ["start-vms"]);
      } finally {
        await service.stop();
      }
    } finally {
      await sshd.close();
    }
  },
});
