import assert from "node:assert/strict";
import { runCommandFile, spawnProblem } from "../src/actions/commandfile.ts";
import {
  execFormat,
  mayExecute,
  sessionLaunch,
  setsidExecFailed,
  setsidPath,
} from "../src/actions/launch.ts";

const linuxWithSetsid = Deno.build.os === "linux" && setsidPath() !== null;
const bytes = (text: string) => new TextEncoder().encode(text);

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-launch-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function script(dir: string, name: string, body: string, mode = 0o755): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, body);
  await Deno.chmod(path, mode);
  return path;
}

/** True if `pid` is a live (non-zombie) process (Linux /proc). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** What starting `path` the old way (Deno's `detached`) reports, or undefined if it starts. */
async function oldWayProblem(path: string): Promise<string | undefined> {
  try {
    const child = new Deno.Command(path, { stdin: "null", stdout: "null", stderr: "null", detached: true })
      .spawn();
    await child.status;
    return undefined;
  } catch (error) {
    return spawnProblem(path, error);
  }
}

Deno.test("execFormat: ELF, #! scripts with an absolute interpreter, anything else unknown", () => {
  assert.deepEqual(execFormat(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1])), { kind: "elf" });
  assert.deepEqual(execFormat(bytes("#!/bin/sh\necho\n")), { kind: "script", interpreter: "/bin/sh" });
  assert.deepEqual(execFormat(bytes("#! /usr/bin/env bash -e\n")), {
    kind: "script",
    interpreter: "/usr/bin/env",
  });
  assert.deepEqual(execFormat(bytes("#!/bin/sh\r\n")), { kind: "script", interpreter: "/bin/sh" });
  assert.deepEqual(execFormat(bytes("#!sh\n")), { kind: "unknown" });
  assert.deepEqual(execFormat(bytes("#!/bin/sh")), { kind: "unknown" }, "no end of line within the buffer");
  assert.deepEqual(execFormat(bytes("echo no hash bang\n")), { kind: "unknown" });
  assert.deepEqual(execFormat(new Uint8Array()), { kind: "unknown" });
});

Deno.test("mayExecute: true only when the permission bits certainly allow it", () => {
  const file = (mode: number) => ({ mode, uid: 1000, gid: 100 });
  assert.equal(mayExecute(file(0o644), 0, 0), false, "root needs one x bit");
  assert.equal(mayExecute(file(0o700), 0, 0), true);
  assert.equal(mayExecute(file(0o744), 1000, 5), true, "owner");
  assert.equal(mayExecute(file(0o655), 1000, 100), false, "the owner bits decide for the owner");
  assert.equal(mayExecute(file(0o650), 2000, 100), true, "group");
  assert.equal(mayExecute(file(0o645), 2000, 100), false, "the group bits decide for the group");
  assert.equal(mayExecute(file(0o751), 2000, 7), true, "other, whatever the supplementary groups");
  assert.equal(mayExecute(file(0o701), 2000, 7), false, "might be in the group, which may not");
});

Deno.test("setsidExecFailed: only setsid's own failure to exec the file", () => {
  const path = "/opt/x.sh";
  assert.equal(setsidExecFailed(126, `setsid: failed to execute ${path}: Text file busy\n`, path), true);
  assert.equal(
    setsidExecFailed(127, `setsid: failed to execute ${path}: No such file or directory\n`, path),
    true,
  );
  assert.equal(setsidExecFailed(1, `setsid: failed to execute ${path}: x\n`, path), false);
  assert.equal(setsidExecFailed(127, "sh: foo: not found\n", path), false);
  assert.equal(setsidExecFailed(126, `mine\nsetsid: failed to execute ${path}\n`, path), false);
});

Deno.test({
  name: "sessionLaunch: setsid only for files that will certainly exec, else the old detached way",
  ignore: !linuxWithSetsid,
  fn: async () => {
    await withTempDir(async (dir) => {
      const good = await script(dir, "good.sh", "#!/bin/sh\necho hi\n");
      assert.deepEqual(await sessionLaunch(good, []), {
        program: setsidPath(),
        args: [good],
        detached: false,
        viaSetsid: true,
        unanswered: false,
      });
      assert.equal((await sessionLaunch(good, [], false)).viaSetsid, false);
      const doubtful = [
        `${dir}/missing.sh`,
        await script(dir, "plain.sh", "#!/bin/sh\n", 0o644),
        await script(dir, "nohash.sh", "echo hi\n"),
        await script(dir, "nointerp.sh", `#!${dir}/no-such-shell\n`),
        await script(dir, "scriptinterp.sh", `#!${good}\n`),
        dir,
      ];
      for (const path of doubtful) {
        assert.deepEqual(await sessionLaunch(path, []), {
          program: path,
          args: [],
          detached: true,
          viaSetsid: false,
          unanswered: false,
        });
      }
    });
  },
});

Deno.test({
  name: "runCommandFile: a file that cannot start is reported as the old detached start reports it",
  ignore: !linuxWithSetsid,
  fn: async () => {
    await withTempDir(async (dir) => {
      const files = [
        `${dir}/missing.sh`,
        await script(dir, "plain.sh", "#!/bin/sh\necho hi\n", 0o644),
        await script(dir, "nointerp.sh", `#!${dir}/no-such-shell\n`),
        dir,
      ];
      // Deno's detached start (fork + execvp) runs a file without #! through /bin/sh, and still does.
      const noHash = await script(dir, "nohash.sh", "echo hi\n");
      assert.equal(await oldWayProblem(noHash), undefined);
      assert.equal((await runCommandFile({ path: noHash, env: {}, timeoutMs: 5000 })).output, "hi\n");
      for (const path of files) {
        const expected = await oldWayProblem(path);
        assert.ok(expected, `${path} does not start the old way`);
        const result = await runCommandFile({ path, env: {}, timeoutMs: 5000 });
        assert.equal(result.error, expected, path);
        assert.equal(result.exitCode, null);
        assert.equal(result.output, "");
      }
    });
  },
});

Deno.test({
  name: "runCommandFile: when setsid cannot exec a file it looked fine for, the old report still comes",
  ignore: !linuxWithSetsid,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = await script(dir, "busy.sh", "#!/bin/sh\necho ran\n");
      assert.equal((await sessionLaunch(path, [])).viaSetsid, true);
      // Open for writing: exec fails with ETXTBSY, which no look beforehand can see.
      const writer = await Deno.open(path, { write: true });
      try {
        const expected = await oldWayProblem(path);
        assert.match(expected ?? "", /text file busy/i);
        const result = await runCommandFile({ path, env: {}, timeoutMs: 5000 });
        assert.equal(result.error, expected);
        assert.equal(result.exitCode, null);
        assert.equal(result.output, "");
      } finally {
        writer.close();
      }
    });
  },
});

Deno.test({
  name:
    "runCommandFile: a setsid-started script runs in its own session and its grandchild is killed at the limit",
  ignore: !linuxWithSetsid,
  fn: async () => {
    await withTempDir(async (dir) => {
      const pidFile = `${dir}/sleep.pid`;
      const path = await script(
        dir,
        "hang.sh",
        // Field 6 of /proc/self/stat is the session id; sh's $$ is the script's pid.
        `#!/bin/sh\nset -- $(cat /proc/$$/stat)\necho "pid $$ session $6 env $PCNS_EVENT_ID"\n` +
          `sh -c 'sleep 30 & echo $! > ${pidFile}; wait' &\nwait\n`,
      );
      assert.equal((await sessionLaunch(path, [])).viaSetsid, true);
      const t0 = performance.now();
      const result = await runCommandFile({ path, env: { PCNS_EVENT_ID: "LowBattery" }, timeoutMs: 1000 });
      const elapsed = performance.now() - t0;
      assert.equal(result.timedOut, true);
      assert.equal(result.signal, "SIGTERM");
      assert.equal(result.error, "did not finish within 1 s and was killed");
      const [, pid, session, id] = result.output.match(/^pid (\d+) session (\d+) env (\S+)\n$/) ?? [];
      assert.equal(session, pid, `its own session: ${result.output}`);
      assert.equal(id, "LowBattery");
      assert.ok(elapsed >= 990 && elapsed < 1000 + 2500, `took ${elapsed} ms`);
      const sleepPid = Number(await Deno.readTextFile(pidFile));
      const deadline = Date.now() + 2000;
      while (alive(sleepPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(alive(sleepPid), false, "the grandchild sleep was killed");
    });
  },
});

Deno.test({
  name: "runCommandFile: exit codes and signals of a setsid-started script are its own",
  ignore: !linuxWithSetsid,
  fn: async () => {
    await withTempDir(async (dir) => {
      const exits = await script(dir, "exit.sh", "#!/bin/sh\necho out\necho err >&2\nexit 127\n");
      const killed = await script(dir, "kill.sh", "#!/bin/sh\nkill -USR1 $$\n");
      const a = await runCommandFile({ path: exits, env: {}, timeoutMs: 5000 });
      assert.equal(a.exitCode, 127);
      assert.equal(a.error, "exited with code 127");
      assert.match(a.output, /out\n/);
      const b = await runCommandFile({ path: killed, env: {}, timeoutMs: 5000 });
      assert.equal(b.signal, "SIGUSR1");
      assert.equal(b.error, "was killed by signal SIGUSR1");
    });
  },
});

/** The pids of this process's children (Linux: /proc/self/task/<tid>/children, read synchronously). */
function children(): Set<number> {
  const pids = new Set<number>();
  for (const task of Deno.readDirSync("/proc/self/task")) {
    const text = Deno.readTextFileSync(`/proc/self/task/${task.name}/children`).trim();
    for (const pid of text ? text.split(/\s+/) : []) pids.add(Number(pid));
  }
  return pids;
}

/** Whether the kernel lists a thread's children (CONFIG_PROC_CHILDREN). */
function childrenListed(): boolean {
  try {
    Deno.statSync(`/proc/self/task/${Deno.pid}/children`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "runCommandFile: a file looked at before is started before the call returns (no wait for the event loop)",
  ignore: !linuxWithSetsid || !childrenListed(),
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = await script(dir, "onbattery.sh", "#!/bin/sh\nsleep 0.3\n");
      assert.equal(
        (await runCommandFile({ path, env: {}, timeoutMs: 5000 })).ok,
        true,
        "the first run looks",
      );
      // An event's command file starts within the event's own turn: what else the packet causes comes after.
      const before = children();
      const running = runCommandFile({ path, env: {}, timeoutMs: 5000 });
      const started = [...children()].filter((pid) => !before.has(pid));
      assert.equal(started.length, 1, "started by the time the call returns");
      const stat = Deno.readTextFileSync(`/proc/${started[0]}/stat`);
      assert.equal((await running).ok, true);
      assert.match(
        stat,
        /^\d+ \((setsid|sh|onbattery\.sh)\) /,
        "that child is the command file (or setsid execing it)",
      );
    });
  },
});
