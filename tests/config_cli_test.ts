import assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { type CliIo, parseAssignments, registerConfigCommands } from "../src/cli/config_commands.ts";
import { CliError } from "../src/cli/errors.ts";
import { verifyPassword } from "../src/config/credentials.ts";
import { configText, lineOf, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { withoutDenoNotices } from "./helpers/deno_notices.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SET_CLI = new URL("./fixtures/config/set_cli.ts", import.meta.url).pathname;
const BASE = { "NetworkManagementCard.ip_1": "10.0.0.1" };

interface Run {
  code: number | undefined;
  out: string[];
  err: string[];
  asked: [string, boolean][];
}

/** Runs the config commands in-process with a fake terminal. */
async function cli(
  args: string[],
  terminal: { tty?: boolean; lines?: string[]; answers?: string[]; globalConfig?: boolean } = {},
): Promise<Run> {
  const run: Run = { code: undefined, out: [], err: [], asked: [] };
  const answers = [...(terminal.answers ?? [])];
  const io: CliIo = {
    out: (l) => run.out.push(l),
    err: (l) => run.err.push(l),
    isTerminal: () => terminal.tty === true,
    ask: (q, hidden) => {
      run.asked.push([q, hidden]);
      return Promise.resolve(answers.shift() ?? null);
    },
    readLines: () => Promise.resolve(terminal.lines ?? []),
  };
  const program = new Command("pcns-agent").exitOverride();
  if (terminal.globalConfig) program.option("--config <path>", "global config path");
  registerConfigCommands(program, io);
  try {
    await program.parseAsync(args, { from: "user" });
    run.code = 0;
  } catch (error) {
    // As main.ts does: a CliError is one `pcns-agent: ` line and its exit code.
    if (error instanceof CommanderError) {
      run.code = 2;
    } else if (error instanceof CliError) {
      run.code = error.exitCode;
      run.err.push(`pcns-agent: ${error.message}`);
    } else {
      throw error;
    }
  }
  return run;
}

Deno.test("cli: config check prints each problem with its line; exit 0 on warnings only, 1 on errors", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const warnOnly = configText(BASE) + "[Paging]\nPAGER_PORT = 161\n"; // a section pcns-agent does not read
    await writePrivate(path, warnOnly);
    const ok = await cli(["config", "check", "-c", path]);
    assert.equal(ok.code, 0);
    assert.deepEqual(ok.out, [
      `warning: ${path}:${
        lineOf(warnOnly, "[Paging]")
      }: unknown section [Paging] (not used by pcns-agent, ignored)`,
      `${path}: 0 error(s), 1 warning(s)`,
    ]);

    const bad = configText({ ...BASE, "Networking.httpsPort": "0x10" });
    await writePrivate(path, bad);
    const failed = await cli(["config", "check", "--config", path]);
    assert.equal(failed.code, 1);
    assert.deepEqual(failed.out, [
      `error: ${path}:${lineOf(bad, "httpsPort")}: invalid value for Networking.httpsPort = "0x10": ` +
      "must be a whole number (1-65535)",
    ]);
    assert.deepEqual(failed.err, [`pcns-agent: ${path}: 1 error(s), 0 warning(s)`]);
    assert.equal(await Deno.readTextFile(path), bad, "check never writes");

    await writePrivate(path, configText(BASE));
    assert.deepEqual((await cli(["config", "check", "-c", path])).out, [`${path}: OK`]);

    const missing = await cli(["config", "check", "-c", `${dir}/nope.ini`]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.err[0],
      /^pcns-agent: .*nope\.ini not found; the agent would write a default configuration/,
    );
  });
});

Deno.test("cli: config get prints effective values; secrets masked unless --reveal; unknown key exit 1", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ ...BASE, "Networking.udpPort": "3060" }));
    assert.deepEqual((await cli(["config", "get", "Networking.udpPort", "-c", path])).out, ["3060"]);
    assert.deepEqual(
      (await cli(["config", "get", "Shutdown.settleDelay", "-c", path])).out,
      ["70"],
      "defaults too",
    );
    assert.deepEqual(
      (await cli(["config", "get", "NetworkManagementCard.authenticationPhrase", "-c", path])).out,
      [
        "***",
      ],
    );
    assert.deepEqual(
      (await cli(["config", "get", "--reveal", "NetworkManagementCard.authenticationPhrase", "-c", path]))
        .out,
      ["admin user phrase"],
    );
    const unknown = await cli(["config", "get", "Networking.udpport", "-c", path]);
    assert.deepEqual([unknown.code, unknown.err], [1, [
      "pcns-agent: unknown key Networking.udpport: did you mean Networking.udpPort?",
    ]]);
  });
});

Deno.test("cli: config set validates and writes; bad value exit 1 naming the key; usage errors exit 2", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const ok = await cli([
      "config",
      "set",
      "-c",
      path,
      "Networking.udpPort=3070",
      "NetworkManagementCard.acceptCerts=yes",
    ]);
    assert.deepEqual([ok.code, ok.out, ok.err], [0, [
      "Networking.udpPort = 3070",
      "NetworkManagementCard.acceptCerts = true",
    ], []]);
    assert.equal(
      await Deno.readTextFile(path),
      configText({ ...BASE, "Networking.udpPort": "3070", "NetworkManagementCard.acceptCerts": "true" }),
    );

    const before = await Deno.readTextFile(path);
    const bad = await cli(["config", "set", "-c", path, "Networking.udpPort=abc"]);
    assert.deepEqual([bad.code, bad.err], [1, [
      `pcns-agent: ${path}: invalid value for Networking.udpPort = "abc": must be a whole number (1-65535)`,
    ]]);
    const noEq = await cli(["config", "set", "-c", path, "Networking.udpPort"]);
    assert.deepEqual([noEq.code, noEq.err], [2, [
      'pcns-agent: config set: expected <section.key>=<value>, got "Networking.udpPort" (no "=")',
    ]]);
    const none = await cli(["config", "set", "-c", path]);
    assert.equal(none.code, 2);
    const unknown = await cli(["config", "set", "-c", path, "Shutdown.turnOff=true"]);
    assert.deepEqual([unknown.code, unknown.err], [1, [
      `pcns-agent: ${path}: unknown key Shutdown.turnOff: did you mean Shutdown.turnOffUps?`,
    ]]);
    assert.equal(await Deno.readTextFile(path), before, "nothing written by failed sets");
    assert.deepEqual(parseAssignments(["A.b=c=d", "X.y="]), { "A.b": "c=d", "X.y": "" });
  });
});

Deno.test("cli: a root-level --config option is honoured", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ ...BASE, "Networking.udpPort": "3071" }));
    const run = await cli(["--config", path, "config", "get", "Networking.udpPort"], { globalConfig: true });
    assert.deepEqual(run.out, ["3071"]);
  });
});

Deno.test("cli: config show masks secrets, as text and as JSON", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText({ ...BASE, "NetworkManagementCard.password": "Hidden-Secret-1" }));
    const text = await cli(["config", "show", "-c", path]);
    assert.equal(text.code, 0);
    assert.ok(text.out.includes("[Networking]") && text.out.includes("udpPort = 3052"));
    assert.ok(text.out.includes("password = ***") && text.out.includes("authenticationPhrase = ***"));
    const json = await cli(["config", "show", "--json", "-c", path]);
    const config = JSON.parse(json.out.join("\n"));
    assert.equal(config.nmc.authenticationPhrase, "***");
    assert.equal(config.nmc.password, "***");
    assert.deepEqual(config.nmc.cards, ["10.0.0.1"]);
    assert.ok(
      !json.out.join("").includes("admin user phrase") && !json.out.join("").includes("Hidden-Secret-1"),
    );
  });
});

Deno.test("cli: passwd from stdin lines enforces the policy (one message per rule) and stores a hash", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const weak = await cli(["passwd", "-c", path], { lines: ["", "apc-pass"] });
    assert.equal(weak.code, 1);
    assert.deepEqual(weak.err, [
      "pcns-agent: passwd: password must be 12 to 128 characters long (is 8)",
      "pcns-agent: passwd: password must contain an upper-case letter (A-Z)",
      "pcns-agent: passwd: password must contain a digit (0-9)",
      "pcns-agent: passwd: password must not contain the user name",
      "pcns-agent: passwd: 4 rule(s) not met; nothing changed",
    ]);
    const differ = await cli(["passwd", "-c", path], { lines: ["ops", "Good-Passw0rd", "Good-Passw0rd!"] });
    assert.deepEqual([differ.code, differ.err], [1, ["pcns-agent: passwd: the two passwords differ"]]);
    const badUser = await cli(["passwd", "-c", path], { lines: ["bad user", "Good-Passw0rd"] });
    assert.equal(badUser.code, 1);
    assert.match(badUser.err[0], /user name contains characters that are not allowed \(blank\)/);
    assert.doesNotMatch(await Deno.readTextFile(path), /^password = scrypt/m, "nothing written so far");

    const good = await cli(["passwd", "-c", path], { lines: ["ops", "Good-Passw0rd", "Good-Passw0rd"] });
    assert.deepEqual([good.code, good.out], [0, [`password changed for user ops in ${path}`]]);
    const text = await Deno.readTextFile(path);
    assert.match(text, /^username = ops$/m);
    const hash = /^password = (.*)$/m.exec(text)![1];
    assert.ok(verifyPassword("Good-Passw0rd", hash));
    assert.ok(!text.includes("Good-Passw0rd"));
  });
});

Deno.test("cli: passwd on a terminal prompts, with the password hidden", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const run = await cli(["passwd", "-c", path], {
      tty: true,
      answers: ["", "Term-Passw0rd", "Term-Passw0rd"],
    });
    assert.equal(run.code, 0);
    assert.deepEqual(run.asked, [["User name [apc]: ", false], ["New password: ", true], [
      "Retype new password: ",
      true,
    ]]);
    assert.ok(verifyPassword("Term-Passw0rd", /^password = (.*)$/m.exec(await Deno.readTextFile(path))![1]));
    const aborted = await cli(["passwd", "-c", path], { tty: true, answers: ["apc"] });
    assert.deepEqual([aborted.code, aborted.err], [1, ["pcns-agent: passwd: aborted"]]);
  });
});

Deno.test("cli: as a real process, exit codes are 0, 1 and 2 and errors are one stderr line", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    await writePrivate(path, configText(BASE));
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SET_CLI, ...args],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: out.code, stdout: text(out.stdout), stderr: withoutDenoNotices(text(out.stderr)) };
    };
    assert.deepEqual(await run("config", "set", "-c", path, "Networking.udpPort=3080"), {
      code: 0,
      stdout: "Networking.udpPort = 3080\n",
      stderr: "",
    });
    assert.deepEqual(await run("config", "set", "-c", path, "Networking.udpPort=-1"), {
      code: 1,
      stdout: "",
      stderr:
        `pcns-agent: ${path}: invalid value for Networking.udpPort = "-1": must be a whole number (1-65535)\n`,
    });
    const usage = await run("config", "set", "-c", path, "udpPort");
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr.split("\n").length, 2, "one line");
    assert.deepEqual(await run("config", "get", "-c", path, "Networking.udpPort"), {
      code: 0,
      stdout: "3080\n",
      stderr: "",
    });
  });
});
