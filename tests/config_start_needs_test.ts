/**
 * Issue 13 item 2: a change is checked for what the next start will need (certificate files that are
 * readable regular files of bounded size with a key the TLS stack and browsers accept, a writable
 * event-log directory) before it is accepted, by the API, the Certificate page, `config check` and the
 * start itself; and nothing a value does to the web UI or the event log stops the UDP path at start.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tls from "node:tls";
import { startService } from "../src/agent/service.ts";
import { readEventLog } from "../src/events/eventlog.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { installCertificate } from "../src/web/certificate.ts";
import { certificateInfo, checkKeyPair } from "../src/web/pem.ts";
import { nextEvent, waitUntil } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { configText, withTempDir, writePrivate } from "./fixtures/config/helpers.ts";
import { attach, cli, fixturePair, serviceIni, withWebService } from "./fixtures/config/web.ts";

/** SHA-256 fingerprint of the certificate a fresh TLS connection to `port` is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on("error", reject);
  });
}

/** A simulated card sending to `udp`; resolves once the agent has established communication with it. */
async function provesMonitoring(
  service: { agent: { bus: import("../src/events/bus.ts").EventBus } },
  udp: number,
) {
  const sim = new NmcSimulator({
    address: CARD.address,
    username: CARD.username,
    authenticationPhrase: CARD.authenticationPhrase,
    targets: [{ hostname: "127.0.0.1", port: udp }],
    statusIntervalMs: 60_000,
    configIntervalMs: 60_000,
  });
  try {
    const established = nextEvent(service.agent.bus, "CommunicationEstablished");
    await sim.start();
    await established;
  } finally {
    sim.close();
  }
}

Deno.test("start needs: PUT /api/v1/config refuses certificate files the next start could not read; nothing is written", async () => {
  await withWebService(async (w) => {
    const before = await Deno.readTextFile(w.configPath);
    const big = join(w.dir, "big.pem");
    await Deno.writeFile(big, new Uint8Array(2 * 1024 * 1024).fill(0x41));
    // Opening a pipe for reading would block until a writer comes. (Not in the watched data directory:
    // Deno's file watcher itself blocks on a new pipe there, see config_symlink_test.ts.)
    const pipes = await Deno.makeTempDir({ prefix: "pcns-config-fifo-" });
    const fifo = join(pipes, "fifo.pem");
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ "WebUI.certificateFile": w.dir, "WebUI.keyFile": w.dir }, "WebUI.certificateFile", /is a directory/],
      [
        { "WebUI.certificateFile": "/dev/zero", "WebUI.keyFile": "/dev/zero" },
        "WebUI.certificateFile",
        /\/dev\/zero.*not a regular file/,
      ],
      [{ "WebUI.certificateFile": big, "WebUI.keyFile": big }, "WebUI.certificateFile", /larger than 1 MiB/],
      [{ "WebUI.certificateFile": fifo, "WebUI.keyFile": fifo }, "WebUI.certificateFile", /named pipe/],
      [
        { "WebUI.certificateFile": join(w.dir, "nope.pem"), "WebUI.keyFile": join(w.dir, "nope.pem") },
        "WebUI.certificateFile",
        /does not exist/,
      ],
      [
        { "WebUI.certificateFile": (await fixturePair("rsa2048")).certPath },
        "WebUI.keyFile",
        /keyFile is empty/,
      ],
    ];
    for (const [body, key, message] of cases) {
      const response = await w.api("PUT", "/api/v1/config", body);
      const answer = await response.json();
      assert.equal(
        response.status,
        400,
        `${JSON.stringify(body)} must be refused, got ${JSON.stringify(answer)}`,
      );
      assert.match(answer.errors?.[key] ?? "", message, JSON.stringify(answer));
    }
    assert.equal(await Deno.readTextFile(w.configPath), before, "nothing was written");
    const status = await w.api("GET", "/api/v1/status");
    assert.equal(status.status, 200, "the UI still answers");
    await status.body?.cancel();
    await Deno.remove(pipes, { recursive: true });
  });
});

Deno.test("start needs: PUT /api/v1/config refuses keys the TLS stack or browsers refuse, and a mismatched pair", async () => {
  await withWebService(async (w) => {
    const rsa2048 = await fixturePair("rsa2048");
    const p384 = await fixturePair("p384");
    for (
      const [name, reason] of [["rsa1024", /RSA 1024 bits/], ["p521", /P-521/], [
        "ed25519",
        /Ed25519/,
      ]] as const
    ) {
      const pair = await fixturePair(name);
      const response = await w.api("PUT", "/api/v1/config", {
        "WebUI.certificateFile": pair.certPath,
        "WebUI.keyFile": pair.keyPath,
      });
      const answer = await response.json();
      assert.equal(response.status, 400, `${name}: ${JSON.stringify(answer)}`);
      assert.match(answer.errors["WebUI.keyFile"], reason);
      assert.match(answer.errors["WebUI.keyFile"], /RSA of at least 2048 bits or an EC P-256\/P-384 key/);
    }
    const mismatched = await w.api("PUT", "/api/v1/config", {
      "WebUI.certificateFile": rsa2048.certPath,
      "WebUI.keyFile": p384.keyPath,
    });
    assert.equal(mismatched.status, 400);
    assert.match((await mismatched.json()).errors["WebUI.keyFile"], /does not match/);

    const good = await w.api("PUT", "/api/v1/config", {
      "WebUI.certificateFile": p384.certPath,
      "WebUI.keyFile": p384.keyPath,
    });
    assert.equal(good.status, 200, JSON.stringify(await good.json()));
    await w.service.web!.settled();
    assert.equal(await servedFingerprint(w.ports.https), certificateInfo(p384.cert).fingerprintSha256);
  });
});

Deno.test("start needs: PUT /api/v1/config refuses an event log in a missing directory or on a directory", async () => {
  await withWebService(async (w) => {
    const before = await Deno.readTextFile(w.configPath);
    await Deno.mkdir(join(w.dir, "EventLog.dir"));
    const cases: Array<[string, RegExp]> = [
      ["no-such-dir/EventLog.jsonl", /directory .*no-such-dir does not exist/],
      ["EventLog.dir", /is a directory/],
    ];
    for (const [fileName, message] of cases) {
      const response = await w.api("PUT", "/api/v1/config", { "EventLog.fileName": fileName });
      const answer = await response.json();
      assert.equal(response.status, 400, JSON.stringify(answer));
      assert.match(answer.errors["EventLog.fileName"], message);
    }
    assert.equal(await Deno.readTextFile(w.configPath), before);
    await Deno.mkdir(join(w.dir, "logs"));
    const good = await w.api("PUT", "/api/v1/config", { "EventLog.fileName": "logs/EventLog.jsonl" });
    assert.equal(good.status, 200);
    await good.body?.cancel();
  });
});

Deno.test("start needs: the Certificate page refuses an RSA-1024 (and P-521, Ed25519) upload; the next start still listens", async () => {
  await withWebService(async (w) => {
    const servedBefore = await servedFingerprint(w.ports.https);
    const generated = await Deno.readTextFile(join(w.dir, "ui-cert.pem"));
    for (const name of ["rsa1024", "p521", "ed25519"]) {
      const pair = await fixturePair(name);
      const response = await w.form("/certificate", { certificate: pair.cert, key: pair.key });
      const page = await response.text();
      assert.equal(response.status, 400, `${name} must be refused, not "Saved"`);
      assert.match(page, /RSA of at least 2048 bits or an EC P-256\/P-384 key/);
      assert.equal(await Deno.readTextFile(join(w.dir, "ui-cert.pem")), generated, "nothing installed");
    }
    assert.equal(await servedFingerprint(w.ports.https), servedBefore);

    const rsa2048 = await fixturePair("rsa2048");
    const saved = await w.form("/certificate", { certificate: rsa2048.cert, key: rsa2048.key });
    assert.equal(saved.status, 303);
    await saved.body?.cancel();
    await w.service.web!.settled();
    await w.stop();
    // The next start serves the uploaded pair.
    const { logger, records } = memoryLogger();
    const again = await startService({
      configPath: w.configPath,
      logger,
      dryRun: true,
      webUi: true,
      register: false,
    });
    const second = attach(again, w.dir, w.configPath, w.ports, records);
    try {
      assert.equal(await servedFingerprint(w.ports.https), certificateInfo(rsa2048.cert).fingerprintSha256);
    } finally {
      await second.stop();
    }
  });
});

Deno.test("start needs: a certificate and an event log that cannot be used, written into the ini, do not stop the agent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-config-start-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const ports = { udp: freePort("udp"), http: freePort(), https: freePort() };
  await writePrivate(
    configPath,
    serviceIni(ports, {
      WebUI: [`certificateFile = ${dir}`, `keyFile = ${dir}`],
      EventLog: ["fileName = missing-dir/EventLog.jsonl"],
    }),
  );
  const { logger, records } = memoryLogger();
  const service = await startService({ configPath, logger, dryRun: true, webUi: true, register: false });
  try {
    const warnings = records.filter((r) => r.level !== "info").map((r) => r.message).join("\n");
    assert.match(warnings, /WebUI\.certificateFile .*is a directory.*generated/);
    assert.match(warnings, /EventLog\.fileName .*missing-dir does not exist.*EventLog\.jsonl/);
    assert.ok(service.web, "the web UI runs");
    assert.equal(
      await servedFingerprint(ports.https),
      certificateInfo(await Deno.readTextFile(join(dir, "ui-cert.pem"))).fingerprintSha256,
      "the generated certificate is served",
    );
    await provesMonitoring(service, ports.udp);
    assert.ok(await service.agent.eventLogWritten(5000));
    const log = await readEventLog(join(dir, "EventLog.jsonl"));
    assert.ok(log.some((r) => r.id === "CommunicationEstablished"), "events go to the default event log");
    assert.ok(log.some((r) => r.id === "ConfigWarning" && /WebUI\.certificateFile/.test(r.message ?? "")));
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start needs: a certificate at /dev/zero in the ini is never read whole; the agent starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-config-start-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const ports = { udp: freePort("udp"), http: freePort(), https: freePort() };
  await writePrivate(
    configPath,
    serviceIni(ports, { WebUI: ["certificateFile = /dev/zero", "keyFile = /dev/zero"] }),
  );
  const { logger, records } = memoryLogger();
  const service = await startService({ configPath, logger, dryRun: true, webUi: true, register: false });
  try {
    assert.match(records.map((r) => r.message).join("\n"), /\/dev\/zero.*not a regular file/);
    assert.ok(service.web);
    await provesMonitoring(service, ports.udp);
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start needs: a web UI that cannot listen at start does not stop monitoring; it starts once the port is changed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-config-start-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const busy = (blocker.addr as Deno.NetAddr).port;
  const ports = { udp: freePort("udp"), http: freePort(), https: busy };
  await writePrivate(configPath, serviceIni(ports));
  const { logger } = memoryLogger();
  const service = await startService({ configPath, logger, dryRun: true, webUi: true, register: false });
  try {
    assert.equal(service.web, undefined, "no web UI");
    await provesMonitoring(service, ports.udp);
    assert.ok(await service.agent.eventLogWritten(5000));
    const log = await readEventLog(join(dir, "EventLog.jsonl"));
    const failed = log.find((r) => r.id === "ListenerFailed");
    assert.ok(failed, "a ListenerFailed event");
    assert.match(failed.message ?? "", new RegExp(`web UI.*port ${busy}`));

    const free = freePort();
    await Deno.writeTextFile(
      configPath,
      (await Deno.readTextFile(configPath)).replace(`httpsPort = ${busy}`, `httpsPort = ${free}`),
    );
    await waitUntil(() => service.web?.httpsPort === free, "the web UI to start on the new port");
    assert.equal(typeof await servedFingerprint(free), "string");
  } finally {
    blocker.close();
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start needs: config check reports what the next start would refuse, with the key and the reason", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pcnsconfig.ini`;
    const rsa1024 = await fixturePair("rsa1024");
    await writePrivate(
      path,
      configText({
        "NetworkManagementCard.ip_1": "10.0.0.1",
        "WebUI.certificateFile": rsa1024.certPath,
        "WebUI.keyFile": rsa1024.keyPath,
        "EventLog.fileName": "gone/EventLog.jsonl",
      }),
    );
    const run = await cli(["config", "check", "-c", path]);
    assert.equal(run.code, 1);
    const out = run.out.join("\n");
    assert.match(out, /error: .*WebUI\.keyFile = .*rsa1024-key\.pem: .*RSA 1024 bits/);
    assert.match(out, /error: .*EventLog\.fileName = gone\/EventLog\.jsonl: .*gone does not exist/);

    await writePrivate(
      path,
      configText({
        "NetworkManagementCard.ip_1": "10.0.0.1",
        "WebUI.certificateFile": "/dev/zero",
        "WebUI.keyFile": "/dev/zero",
      }),
    );
    const zero = await cli(["config", "check", "-c", path]);
    assert.equal(zero.code, 1);
    assert.match(zero.out.join("\n"), /WebUI\.certificateFile = \/dev\/zero: .*not a regular file/);
  });
});

Deno.test("start needs: the certificate checks refuse keys the TLS stack or browsers refuse", async () => {
  for (
    const [name, reason] of [["rsa1024", /RSA 1024 bits/], ["p521", /P-521/], ["ed25519", /Ed25519/]] as const
  ) {
    const pair = await fixturePair(name);
    assert.match((await checkKeyPair(pair.cert, pair.key)) ?? "accepted", reason, name);
    await withTempDir(async (dir) => {
      await assert.rejects(installCertificate(dir, pair.cert, pair.key), reason);
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
    });
  }
  for (const name of ["rsa2048", "p384"]) {
    const pair = await fixturePair(name);
    assert.equal(await checkKeyPair(pair.cert, pair.key), undefined, name);
  }
});
