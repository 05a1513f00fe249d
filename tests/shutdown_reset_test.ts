/**
 * Resetting the shutdown engine after a sequence that left the host up:
 * `POST /api/v1/shutdown/reset` (authenticated, CSRF-checked like every POST)
 * and `pcns-agent shutdown reset` against a running service; `status` says
 * what happened instead of `shutdown: done` forever.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startService } from "../src/agent/service.ts";
import { basicAuthorization, formatStatus } from "../src/cli/agent_commands.ts";
import type { AgentEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import type { OsShutdownExecutor } from "../src/shutdown/executor.ts";
import { PASSWORD, runMain } from "./fixtures/service/agent.ts";
import { nextEvent, waitUntil } from "./helpers/agent.ts";
import { CARD, statusPacket } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";

Deno.test("item 3: status tells a finished sequence apart and how to reset it", () => {
  const lines = formatStatus({
    udp: [],
    ups: [],
    packets: {},
    dryRun: false,
    shutdown: {
      phase: "done",
      step: "",
      countdowns: [],
      outcome: {
        result: "shut-down",
        at: Date.parse("2026-01-01T00:00:00Z"),
        note: "ran: systemctl poweroff",
      },
    },
  }, "https://127.0.0.1:6547");
  const line = lines.find((l) => l.startsWith("shutdown:"));
  assert.match(
    line ?? "",
    /^shutdown: done \(OS shutdown ran at 2026-01-01T00:00:00\.000Z.*pcns-agent shutdown reset/,
  );
});

Deno.test({
  name: "item 3: POST /api/v1/shutdown/reset and `pcns-agent shutdown reset` re-arm a running agent",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pcns-shutdown-reset-" });
    const https = freePort();
    const configPath = join(dir, "pcnsconfig.ini");
    await Deno.writeTextFile(
      configPath,
      [
        "[NetworkManagementCard]",
        `username = ${CARD.username}`,
        `password = ${PASSWORD}`,
        `authenticationPhrase = ${CARD.authenticationPhrase}`,
        `ip_1 = ${CARD.address}`,
        "registerWithNmc = false",
        "[Networking]",
        `udpPort = ${freePort("udp")}`,
        "udpListenAddresses = 127.0.0.1",
        `httpPort = ${freePort()}`,
        `httpsPort = ${https}`,
        "uiListenAddress = 127.0.0.1",
        "[Shutdown]",
        "settleDelay = 1",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    // Not a dry run, but the OS step only records: a "real" sequence that leaves the host up.
    const calls: number[] = [];
    const executor: OsShutdownExecutor = {
      dryRun: false,
      shutdown: (commands) => {
        calls.push(Date.now());
        return Promise.resolve({ ok: true, command: commands[0] ?? [] });
      },
    };
    const service = await startService({
      configPath,
      logger: memoryLogger().logger,
      dryRun: false,
      executor,
      webUi: true,
      register: false,
      hotReload: false,
    });
    const agent = service.agent;
    const events: AgentEvent[] = [];
    agent.bus.subscribe((e) => events.push(e));
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(dir, "ui-cert.pem"))] });
    const url = `https://127.0.0.1:${https}/api/v1/shutdown/reset`;
    const auth = { authorization: basicAuthorization(CARD.username, PASSWORD) };
    const passwordFile = join(dir, "password");
    await Deno.writeTextFile(passwordFile, PASSWORD + "\n", { mode: 0o600 });
    try {
      const down = nextEvent(agent.bus, "OsShutdown");
      agent.receive(statusPacket({ su: 10, status: 0x08 }));
      agent.receive(statusPacket({ su: 11, status: 0x50 }));
      await waitUntil(() => agent.status().shutdown.phase === "running", "the sequence");
      const busy = await fetch(url, { method: "POST", headers: auth, client });
      assert.equal(busy.status, 409, "refused while the sequence runs");
      assert.match((await busy.json()).error, /running/);
      await down;
      agent.receive(statusPacket({ su: 12, status: 0x08 })); // power back: still "done" (the OS was shut down)
      assert.equal(agent.status().shutdown.phase, "done");

      const anonymous = await fetch(url, { method: "POST", client });
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const foreign = await fetch(url, {
        method: "POST",
        headers: { ...auth, origin: "https://evil.example" },
        client,
      });
      assert.equal(foreign.status, 403, "the CSRF/Origin check applies");
      await foreign.body?.cancel();
      assert.equal(agent.status().shutdown.phase, "done");

      const cli = await runMain([
        "shutdown",
        "reset",
        "--config",
        configPath,
        "--password-file",
        passwordFile,
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /re-armed/);
      assert.equal(agent.status().shutdown.phase, "idle");
      assert.match(events.find((e) => e.id === "ShutdownRearmed")?.message ?? "", /apc/);

      const again = await fetch(url, { method: "POST", headers: auth, client });
      assert.equal(again.status, 200);
      assert.match((await again.json()).message, /nothing to reset/);
      assert.equal(calls.length, 1);
    } finally {
      client.close();
      await service.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
