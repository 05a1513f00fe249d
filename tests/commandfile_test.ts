import assert from "node:assert/strict";
import { checkCommandFile, commandFileProblem } from "../src/actions/commandcheck.ts";
import { eventEnvironment, OutputBuffer, runCommandFile, upperSnake } from "../src/actions/commandfile.ts";
import { makeEvent } from "../src/events/types.ts";
import { fakeClock } from "./helpers/clock.ts";

const unix = Deno.build.os !== "windows";

/** A temp dir with `name` written as an executable (755) script. */
async function script(dir: string, name: string, body: string, mode = 0o755): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, body);
  await Deno.chmod(path, mode);
  return path;
}

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cmd-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** True if `pid` is still a live (non-zombie) process (Linux /proc). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

const event = makeEvent({
  id: "PowerFailed",
  nmc: "10.0.0.5",
  note: "input 0 V",
  details: { runtimeRemaining: 1200, onBattery: true, "load-pct": 42, nested: { no: 1 }, nothing: null },
}, Date.UTC(2026, 10, 21, 12, 0, 0, 250));

Deno.test("eventEnvironment: PCNS_ variables for the event, scalar details and extras", () => {
  const env = eventEnvironment(event, { PCNS_COMMAND_DELAY: "3" });
  assert.deepEqual(env, {
    PCNS_RUNTIME_REMAINING: "1200",
    PCNS_ON_BATTERY: "true",
    PCNS_LOAD_PCT: "42",
    PCNS_EVENT_ID: "PowerFailed",
    PCNS_EVENT_SEVERITY: "critical",
    PCNS_EVENT_MESSAGE: "UPS on battery (NMC 10.0.0.5): input 0 V",
    PCNS_EVENT_TIME: "2026-11-21T12:00:00.250Z",
    PCNS_NMC: "10.0.0.5",
    PCNS_COMMAND_DELAY: "3",
  });
  // Fixed names win over a clashing detail; no NMC gives an empty PCNS_NMC.
  const plain = eventEnvironment(makeEvent({ id: "ConfigReloaded", details: { eventId: "x" } }, 0));
  assert.equal(plain.PCNS_EVENT_ID, "ConfigReloaded");
  assert.equal(plain.PCNS_NMC, "");
  assert.equal(upperSnake("HTTPStatus"), "HTTP_STATUS");
  assert.equal(upperSnake("battery.voltage"), "BATTERY_VOLTAGE");
  assert.equal(upperSnake("outlet2Off"), "OUTLET2_OFF");
});

Deno.test("OutputBuffer keeps the start and the end around a truncation marker", () => {
  const small = new OutputBuffer(100);
  small.push(new TextEncoder().encode("hello\n"));
  small.push(new TextEncoder().encode("world\n"));
  assert.equal(small.text(), "hello\nworld\n");

  const big = new OutputBuffer(10);
  for (const part of ["0123456789", "abcdefghij", "ABCDEFGHIJ"]) big.push(new TextEncoder().encode(part));
  assert.equal(big.total, 30);
  assert.equal(big.text(), "01234\n[... 20 bytes truncated]\nFGHIJ");

  // Multi-byte characters are not cut in half at the marker.
  const utf8 = new OutputBuffer(8);
  utf8.push(new TextEncoder().encode("ééééééééé")); // 18 bytes
  const text = utf8.text();
  assert.ok(!text.includes("\uFFFD"), text);
  assert.match(text, /^éé\n\[\.\.\. 10 bytes truncated\]\néé$/);
});

Deno.test("runCommandFile: success, with output and the event environment visible", async () => {
  await withTempDir(async (dir) => {
    const path = await script(
      dir,
      "ok.sh",
      '#!/bin/sh\necho "id=$PCNS_EVENT_ID nmc=$PCNS_NMC runtime=$PCNS_RUNTIME_REMAINING"\n' +
        'echo "to stderr" >&2\necho "home set: ${HOME:+yes}"\nread x || echo "stdin closed"\n',
    );
    const result = await runCommandFile({ path, env: eventEnvironment(event), timeoutMs: 5000 });
    assert.equal(result.ok, true, result.error);
    assert.equal(result.exitCode, 0);
    assert.equal(result.signal, null);
    assert.equal(result.timedOut, false);
    assert.equal(result.error, undefined);
    assert.match(result.output, /id=PowerFailed nmc=10\.0\.0\.5 runtime=1200\n/);
    assert.match(result.output, /to stderr\n/);
    assert.match(result.output, /home set: yes\n/); // added to, not replacing, the agent's environment
    assert.match(result.output, /stdin closed\n/);
    assert.ok(result.durationMs >= 0 && result.durationMs < 5000);
  });
});

Deno.test("runCommandFile: a non-zero exit is reported", async () => {
  await withTempDir(async (dir) => {
    const path = await script(dir, "fail.sh", "#!/bin/sh\necho 'disk not mounted' >&2\nexit 3\n");
    const result = await runCommandFile({ path, env: {}, timeoutMs: 5000 });
    assert.equal(result.ok, false);
    assert.equal(result.exitCode, 3);
    assert.equal(result.timedOut, false);
    assert.equal(result.error, "exited with code 3");
    assert.equal(result.output, "disk not mounted\n");
  });
});

Deno.test({
  name: "runCommandFile: a hanging command is killed at the timeout, with its children",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const pidFile = `${dir}/sleep.pid`;
      const path = await script(
        dir,
        "hang.sh",
        `#!/bin/sh\necho started\nsleep 30 &\necho $! > ${pidFile}\nwait\n`,
      );
      const t0 = performance.now();
      // 1 s leaves a loaded CI machine time to start the script and write the pid file.
      const result = await runCommandFile({ path, env: {}, timeoutMs: 1000 });
      const elapsed = performance.now() - t0;
      assert.equal(result.timedOut, true);
      assert.equal(result.ok, false);
      assert.equal(result.exitCode, null);
      assert.equal(result.signal, "SIGTERM");
      assert.equal(result.error, "did not finish within 1 s and was killed");
      assert.equal(result.output, "started\n");
      assert.ok(elapsed >= 990 && elapsed < 1000 + 2500, `took ${elapsed} ms`);
      const sleepPid = Number(await Deno.readTextFile(pidFile));
      if (Deno.build.os === "linux") {
        // The group got SIGTERM; give the orphaned sleep a moment to be reaped, but far less than its 30 s.
        const deadline = Date.now() + 2000;
        while (alive(sleepPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(alive(sleepPid), false, "the grandchild sleep was killed");
      }
    });
  },
});

Deno.test({
  name: "runCommandFile: the time limit runs on the injected clock",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = await script(dir, "hang.sh", "#!/bin/sh\nsleep 30\n");
      const { fake, clock } = fakeClock();
      const pending = runCommandFile({ path, env: {}, timeoutMs: 60_000, clock });
      await new Promise((resolve) => setTimeout(resolve, 50)); // let it start for real
      fake.tick(60_000);
      const result = await pending;
      assert.equal(result.timedOut, true);
      assert.equal(result.durationMs, 60_000);
      assert.equal(result.error, "did not finish within 60 s and was killed");
      assert.equal(fake.countTimers(), 0);
    });
  },
});

Deno.test({
  name: "runCommandFile: a command ignoring SIGTERM gets SIGKILL after the grace time",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = await script(dir, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\nsleep 30\n");
      const t0 = performance.now();
      const result = await runCommandFile({ path, env: {}, timeoutMs: 200, killGraceMs: 300 });
      const elapsed = performance.now() - t0;
      assert.equal(result.timedOut, true);
      assert.equal(result.signal, "SIGKILL");
      assert.equal(result.error, "did not finish within 0.2 s and was killed");
      assert.ok(elapsed >= 480 && elapsed < 2000, `took ${elapsed} ms`);
    });
  },
});

Deno.test({
  name: "runCommandFile: a background child holding the output pipes does not hang the runner",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const pidFile = `${dir}/bg.pid`;
      const path = await script(dir, "bg.sh", `#!/bin/sh\nsleep 20 &\necho $! > ${pidFile}\necho done\n`);
      const t0 = performance.now();
      const result = await runCommandFile({ path, env: {}, timeoutMs: 5000 });
      const elapsed = performance.now() - t0;
      try {
        assert.equal(result.ok, true, result.error);
        assert.equal(result.output, "done\n");
        assert.ok(elapsed < 1500, `took ${elapsed} ms`);
      } finally {
        Deno.kill(Number(await Deno.readTextFile(pidFile)), "SIGKILL");
      }
    });
  },
});

Deno.test("runCommandFile: huge output is truncated with a marker", async () => {
  await withTempDir(async (dir) => {
    const path = await script(dir, "loud.sh", "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' a\necho END\n");
    const result = await runCommandFile({ path, env: {}, timeoutMs: 5000, maxOutputBytes: 1000 });
    assert.equal(result.ok, true, result.error);
    assert.ok(result.output.startsWith("a".repeat(500) + "\n[... 199004 bytes truncated]\n"), result.output);
    assert.ok(result.output.endsWith("a".repeat(496) + "END\n"));
    assert.ok(result.output.length < 1100);
  });
});

Deno.test("runCommandFile: start failures are reported, not thrown", async () => {
  await withTempDir(async (dir) => {
    const missing = await runCommandFile({ path: `${dir}/nope.sh`, env: {}, timeoutMs: 1000 });
    assert.equal(missing.ok, false);
    assert.equal(missing.exitCode, null);
    assert.equal(missing.error, `could not start ${dir}/nope.sh: file not found`);
    const badLimit = await runCommandFile({ path: `${dir}/nope.sh`, env: {}, timeoutMs: -1 });
    assert.equal(badLimit.error, "not started: the time limit must be 0 or more milliseconds, got -1");

    if (unix) {
      const notExec = await script(dir, "plain.sh", "#!/bin/sh\necho hi\n", 0o644);
      const denied = await runCommandFile({ path: notExec, env: {}, timeoutMs: 1000 });
      assert.equal(denied.ok, false);
      assert.match(denied.error ?? "", /permission denied/);
    }
  });
});

Deno.test({
  name: "runCommandFile: timeoutMs 0 starts the command and returns at once",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const marker = `${dir}/ran`;
      const path = await script(dir, "later.sh", `#!/bin/sh\nsleep 0.3\ntouch ${marker}\nexit 4\n`);
      const t0 = performance.now();
      const result = await runCommandFile({ path, env: {}, timeoutMs: 0 });
      assert.ok(performance.now() - t0 < 250);
      assert.equal(result.ok, true);
      assert.equal(result.exitCode, null);
      assert.equal(result.timedOut, false);
      assert.ok(result.completion);
      const done = await result.completion;
      assert.equal(done.exitCode, 4);
      assert.equal(done.error, "exited with code 4");
      assert.ok((await Deno.stat(marker)).isFile);
    });
  },
});

Deno.test({
  name: "checkCommandFile: one clear message for each bad case",
  ignore: !unix,
  fn: async () => {
    await withTempDir(async (dir) => {
      const good = await script(dir, "good.sh", "#!/bin/sh\n");
      const plain = await script(dir, "plain.sh", "#!/bin/sh\n", 0o644);
      const groupOnly = await script(dir, "group.sh", "#!/bin/sh\n", 0o610);
      await Deno.mkdir(`${dir}/sub`);
      assert.equal(checkCommandFile(good), undefined);
      assert.equal(checkCommandFile(groupOnly), undefined);
      assert.equal(checkCommandFile(""), "command file path is empty");
      assert.equal(checkCommandFile("  "), "command file path is empty");
      assert.equal(
        checkCommandFile("scripts/shutdown.sh"),
        'command file "scripts/shutdown.sh" is not an absolute path (give the full path)',
      );
      assert.equal(checkCommandFile(`${dir}/missing.sh`), `command file "${dir}/missing.sh" does not exist`);
      assert.equal(checkCommandFile(`${dir}/sub`), `command file "${dir}/sub" is a directory, not a file`);
      assert.equal(checkCommandFile(plain), `command file "${plain}" is not executable (chmod +x it)`);
    });
  },
});

Deno.test("commandFileProblem: Windows paths and extensions", () => {
  const file = { kind: "file", mode: null } as const;
  assert.equal(commandFileProblem("C:\\pcns\\user_files\\off.bat", file, "windows"), undefined);
  assert.equal(commandFileProblem("C:\\pcns\\off.PS1", file, "windows"), undefined);
  assert.equal(
    commandFileProblem("off.cmd", file, "windows"),
    'command file "off.cmd" is not an absolute path (give the full path)',
  );
  assert.equal(
    commandFileProblem("C:\\pcns\\notes.txt", file, "windows"),
    'command file "C:\\pcns\\notes.txt" is not a program Windows can run (use .exe, .bat, .cmd, .ps1)',
  );
  assert.equal(
    commandFileProblem("/opt/x.sh", { kind: "other", mode: 0o755 }, "linux"),
    'command file "/opt/x.sh" is not a regular file',
  );
});
