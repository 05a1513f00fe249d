/** The command line as a user runs it: real processes, loopback only, always --dry-run. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readEventLog } from "../src/events/eventlog.ts";
import { judgePacket } from "../src/nmc/gate.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { CARD } from "./helpers/packets.ts";
import { waitUntilAsync } from "./helpers/wait.ts";
import { freePort } from "./helpers/ports.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

function agentCommand(args: string[], stdout: "piped" | "null" = "piped") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout,
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
  });
}

async function runCli(args: string[]) {
  const out = await agentCommand(args).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function writeConfig(dir: string, port: number): Promise<string> {
  const path = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    path,
    [
      "[NetworkManagementCard]",
      `username = ${CARD.username}`,
      `authenticationPhrase = ${CARD.authenticationPhrase}`,
      `ip_1 = ${CARD.address}`,
      "[Networking]",
      `udpPort = ${port}`,
      "udpListenAddresses = 127.0.0.1",
      // The web UI of `run` on free loopback ports, never the real 3052/6547.
      `httpPort = ${freePort()}`,
      `httpsPort = ${freePort()}`,
      "uiListenAddress = 127.0.0.1",
      "",
    ].join("\n"),
  );
  return path;
}

Deno.test("--version prints version, commit and Deno version", async () => {
  const r = await runCli(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^pcns-agent \d+\.\d+\.\d+ \(commit \S+, deno \d+\.\d+\.\d+\)\n$/);
});

Deno.test("usage errors exit 2 with a one-line message naming the problem", async () => {
  const unknown = await runCli(["run", "--bogus"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  const badFormat = await runCli([
    "run",
    "--log-format",
    "xml",
    "--dry-run",
    "--config",
    "/nonexistent/x.ini",
  ]);
  assert.equal(badFormat.code, 2);
  assert.equal(badFormat.stderr.trim(), `pcns-agent: --log-format: "xml" must be text or json`);
  const badStep = await runCli(["drill", "--step", "soon"]);
  assert.equal(badStep.code, 2);
  assert.match(badStep.stderr, /--step: "soon" is not a number of seconds/);
});

Deno.test("run --dry-run: receives the card, logs events, and stops cleanly on SIGTERM within 2 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cli-run-" });
  const port = freePort("udp");
  const config = await writeConfig(dir, port);
  const child = agentCommand(["run", "--config", config, "--dry-run"], "null").spawn();
  const sim = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [{ hostname: "127.0.0.1", port }],
  });
  const logPath = join(dir, "EventLog.jsonl");
  try {
    await waitUntilAsync(
      async () => {
        await sim.sendStatus();
        return (await readEventLog(logPath)).some((r) => r.id === "CommunicationEstablished");
      },
      "the agent to hear the card",
      15_000,
    );
    sim.update({ flags: { onBattery: true } });
    await sim.sendStatus();
    await waitUntilAsync(
      async () => (await readEventLog(logPath)).some((r) => r.id === "ShutdownPending"),
      "the on-battery countdown",
    );
    const stopAsked = Date.now();
    child.kill("SIGTERM");
    const status = await child.status;
    const took = Date.now() - stopAsked;
    assert.equal(status.code, 0);
    assert.ok(took < 2000, `stopped in ${took} ms`);
    const log = await readEventLog(logPath);
    // The test wrote the file with mode 0644: the agent tightens it to 0600 and says so.
    assert.match(log.find((r) => r.id === "ConfigWarning")?.message ?? "", /0?644.*0600|0600/);
    assert.equal((await Deno.stat(config)).mode! & 0o777, 0o600);
    // Registration with the card (no registration side in this test's NMC) may log at any moment.
    const ids = log.map((r) => r.id).filter((id) => id !== "ConfigWarning" && !id.startsWith("Registration"));
    assert.deepEqual(ids.slice(0, 4), [
      "MonitoringStarted",
      "CommunicationEstablished",
      "PowerFailed",
      "ShutdownPending",
    ]);
    assert.equal(ids.at(-1), "MonitoringStopped");
    const stderr = new TextDecoder().decode(
      (await child.output().catch(() => ({ stderr: new Uint8Array() }))).stderr,
    );
    assert.doesNotMatch(stderr, /would run/);
  } finally {
    sim.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // already stopped
    }
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nmc-sim sends signed packets an agent with the same credentials accepts", async () => {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (socket.addr as Deno.NetAddr).port;
  const child = agentCommand([
    "nmc-sim",
    "--target",
    `127.0.0.1:${port}`,
    "--status-interval",
    "0.05",
    "--count",
    "3",
    "--scenario",
    "power-failure",
    "--step",
    "0.05",
  ]).spawn();
  try {
    const kinds: string[] = [];
    let last: { sr: number; su: number } | undefined;
    const settings = { username: "apc", authenticationPhrase: "admin user phrase", cards: ["127.0.0.1"] };
    while (kinds.filter((k) => k === "MASTATUS").length < 3) {
      const [data] = await socket.receive();
      const verdict = judgePacket(data, settings, () => last);
      assert.ok(verdict.accepted, JSON.stringify(verdict));
      last = verdict.packet.counters;
      kinds.push(verdict.packet.kind);
    }
    assert.ok(kinds.includes("MACONFIG"));
    const out = await child.output();
    assert.equal(out.code, 0);
    assert.match(new TextDecoder().decode(out.stdout), /step: power-failure/);
  } finally {
    socket.close();
  }
});

Deno.test("drill on a config file prints the timeline and the result line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cli-drill-" });
  try {
    const config = await writeConfig(dir, freePort("udp"));
    const r = await runCli(["drill", "--config", config, "--step", "10"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\+10\.0 s >> scenario: power-failure/);
    assert.match(r.stdout, /result: the OS would be shut down at \+200\.0 s/);
    const missing = await runCli(["drill", "--config", join(dir, "nope.ini")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.ini: no such configuration file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nmc-sim --web-port serves the card's turn-off flow: the agent's kill-power client is accepted", async () => {
  const { turnOffUps } = await import("../src/nmc/killpower.ts");
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const child = agentCommand([
    "nmc-sim",
    "--target",
    `127.0.0.1:${(socket.addr as Deno.NetAddr).port}`,
    "--web-port",
    "0",
  ]).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`nmc-sim ended before printing ${pattern}: ${text}`);
      text += value;
    }
    return pattern.exec(text)!;
  };
  try {
    const port = Number((await readUntil(/card web side on http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
    const result = await turnOffUps({
      card: "127.0.0.1",
      protocol: "http",
      port,
      acceptCerts: false,
      username: "apc",
      authenticationPhrase: "admin user phrase",
    });
    assert.equal(result.ok, true, result.error);
    assert.equal(result.confirmed, true);
    await readUntil(/turn-off command accepted/);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0);
  } finally {
    socket.close();
    await lines.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // stopped
    }
  }
});
