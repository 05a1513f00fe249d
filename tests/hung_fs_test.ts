/**
 * The whole data directory stops answering while the agent runs: a FUSE file system nobody serves is mounted
 * over it (tests/helpers/hungfs.ts), so every look at a file there (the state files, the event log, the
 * configuration, the web UI's certificate, a command file kept beside them) blocks in the kernel, as on a
 * hard-mounted NFS share whose server lost its power first. The agent must go on hearing the card, run the
 * shutdown to its OS step, keep its web UI answering, and still stop on SIGTERM.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXEC_LOOK_TIMEOUT_MS, sessionLaunch, setsidPath } from "../src/actions/launch.ts";
import { ConfigWatcher } from "../src/config/watcher.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { loopbackIni, startTestAgent, testConfig } from "./helpers/agent.ts";
import { hangDirectory } from "./helpers/hungfs.ts";
import { statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { collect, spawnDryRunAgent } from "./helpers/process.ts";
import { waitUntilAsync } from "./helpers/wait.ts";

const ON_LINE = 0x08, ON_BATTERY = 0x10, LOW_BATTERY = 0x50;

/** The HTTP port's redirect, within `ms` (false: no answer). */
async function webAnswers(port: number, ms: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      redirect: "manual",
      signal: AbortSignal.timeout(ms),
    });
    await response.body?.cancel();
    return response.status >= 300 && response.status < 400;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "a data directory that stops answering (real hung mount): packets, a command file kept there, the OS step, the web UI and the stop all go on",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pcns-hung-dir-" });
    const udp = freePort("udp");
    const script = join(dir, "onbattery.sh");
    await Deno.writeTextFile(script, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const config = join(dir, "pcnsconfig.ini");
    const ini = loopbackIni(udp, [
      "[Shutdown]",
      "settleDelay = 1",
      "[Events]",
      "event_PowerFailed_enableCommandFile = true",
      `event_PowerFailed_commandFilePath = ${script}`,
      "event_PowerFailed_commandFileDuration = 3",
    ]);
    const http = Number(/^httpPort = (\d+)$/m.exec(ini)?.[1]);
    await Deno.writeTextFile(config, ini);
    const child = spawnDryRunAgent(config, { cwd: "/" });
    const journal = collect(child.stderr);
    const said = (pattern: RegExp) => Promise.resolve(pattern.test(journal.text()));
    const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    let su = 2_000;
    const send = (status: number) =>
      sender.send(statusPacket({ sr: 5, su: su++, status }), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: udp,
      });
    let hung: ReturnType<typeof hangDirectory> | undefined;
    let exit: Deno.CommandStatus | undefined;
    try {
      await waitUntilAsync(
        async () => {
          await send(ON_LINE);
          return await said(/CommunicationEstablished:/) && await webAnswers(http, 1000);
        },
        "the agent to hear the card and its web UI to answer",
        30_000,
      );
      hung = hangDirectory(dir);
      if (typeof hung === "string") {
        console.warn(`skipped: ${hung}`);
        return;
      }
      // From now on nothing under the data directory answers. The card reports an outage.
      await send(ON_BATTERY);
      await waitUntilAsync(() => said(/PowerFailed:/), "the outage", 5_000);
      await waitUntilAsync(
        () => said(/CommandFile(TimedOut|Failed):.*onbattery\.sh/),
        "the command file's end (it cannot start from a disk that does not answer)",
        15_000,
      );
      const sentAt = performance.now();
      await send(LOW_BATTERY);
      await waitUntilAsync(() => said(/OsShutdown:/), "the OS shutdown step (dry run)", 10_000);
      const seconds = (performance.now() - sentAt) / 1000;
      assert.ok(seconds < 4, `low battery -> OS step took ${seconds.toFixed(1)} s (settle delay 1 s)`);
      await waitUntilAsync(() => said(/DataDiskStalled:/), "the stall report", 15_000);
      // The web UI's certificate poll (every 30 s) looks at the data directory too: the UI must still answer
      // after it, and the card still be heard.
      for (const until = performance.now() + 32_000; performance.now() < until;) {
        await send(LOW_BATTERY);
        await new Promise((r) => setTimeout(r, 2_000));
      }
      assert.ok(await webAnswers(http, 3000), "the web UI answers after the certificate poll");
      await send(ON_LINE);
      await waitUntilAsync(() => said(/PowerRestored:/), "power back heard", 5_000);
      const stopAt = performance.now();
      child.kill("SIGTERM");
      exit = await Promise.race([
        child.status,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000)),
      ]);
      assert.ok(exit, `SIGTERM did not end the agent within 15 s: ${journal.text().slice(-1500)}`);
      const stopSeconds = (performance.now() - stopAt) / 1000;
      assert.ok(stopSeconds < 12, `the stop took ${stopSeconds.toFixed(1)} s`);
    } finally {
      if (!exit) {
        child.kill("SIGKILL");
        await child.status;
      }
      if (typeof hung === "object") await hung.release();
      sender.close();
      await journal.done;
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(exit?.code, 0, journal.text().slice(-3000));
  },
});

/** Threads of this process (Linux). */
function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? NaN);
}

Deno.test({
  name:
    "the configuration poll on a data directory that stops answering: one look at a time, not one stuck thread per poll",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pcns-hung-poll-" });
    const path = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(path, "[Networking]\n");
    const { logger } = memoryLogger();
    const watcher = new ConfigWatcher({
      path,
      dataDir: dir,
      logger,
      debounceMs: 10,
      pollMs: 10,
      onChange: () => {},
    });
    watcher.start();
    const hung = hangDirectory(dir);
    try {
      if (typeof hung === "string") {
        console.warn(`skipped: ${hung}`);
        return;
      }
      const before = threads();
      await new Promise((r) => setTimeout(r, 1500)); // some 150 polls
      const grown = threads() - before;
      assert.ok(grown < 10, `${grown} more threads after 1.5 s of polls every 10 ms on a hung disk`);
    } finally {
      const closing = watcher.close();
      if (typeof hung === "object") await hung.release();
      await closing;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a reload while the command files' disk does not answer: applied within its bound, the unchecked file said and kept, the event loop free",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const scripts = await Deno.makeTempDir({ prefix: "pcns-hung-scripts-" });
    const script = join(scripts, "onbattery.sh");
    await Deno.writeTextFile(script, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const base = testConfig();
    const config = {
      ...base,
      events: {
        ...base.events,
        PowerFailed: { ...base.events.PowerFailed, enableCommandFile: true, commandFilePath: script },
      },
    };
    const t = await startTestAgent(config);
    const hung = hangDirectory(scripts);
    try {
      if (typeof hung === "string") {
        console.warn(`skipped: ${hung}`);
        return;
      }
      // A timer every 50 ms: the event loop must keep turning while the reload waits for the disk.
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 50);
      const started = performance.now();
      try {
        await t.agent.applyConfig({ ...config, shutdown: { ...config.shutdown, settleDelay: 5 } });
      } finally {
        clearInterval(ticker);
      }
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 3, `the reload took ${seconds.toFixed(1)} s`);
      assert.ok(ticks >= Math.floor(seconds * 20) - 3, `${ticks} ticks of 50 ms in ${seconds.toFixed(1)} s`);
      const warning = t.events.find((e) => e.id === "ConfigWarning" && e.message.includes(script));
      assert.match(
        warning?.message ?? "",
        /could not be checked: its disk did not answer within 1 s; it stays enabled/,
      );
      assert.equal(
        t.events.some((e) => e.id === "ConfigWarning" && /disabled/.test(e.message)),
        false,
        "not disabled for a disk that does not answer",
      );
    } finally {
      if (typeof hung === "object") await hung.release();
      await t.close();
      await Deno.remove(scripts, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a command file on a disk that does not answer, never looked at before: 'unanswered' within its bound, started through setsid",
  ignore: Deno.build.os !== "linux" || setsidPath() === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pcns-hung-look-" });
    const hung = hangDirectory(dir);
    try {
      if (typeof hung === "string") {
        console.warn(`skipped: ${hung}`);
        return;
      }
      const started = performance.now();
      const launch = await sessionLaunch(join(dir, "storage-down.sh"), []);
      const ms = performance.now() - started;
      assert.ok(ms < EXEC_LOOK_TIMEOUT_MS + 300, `the look took ${ms.toFixed(0)} ms`);
      assert.deepEqual(launch, {
        program: setsidPath(),
        args: [join(dir, "storage-down.sh")],
        detached: false,
        viaSetsid: true,
        unanswered: true,
      });
    } finally {
      if (typeof hung === "object") await hung.release();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
