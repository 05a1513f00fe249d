/**
 * Issue 16: with `[SNMP]` on and a trapReceiver_N set, `pcns-agent drill` shows each SNMP trap the agent
 * would send, and each repeat, at its second, as it shows notifications; without a receiver, none.
 */
import assert from "node:assert/strict";
import { formatTimeline, runDrill } from "../src/drill/drill.ts";
import type { AgentConfig } from "../src/config/types.ts";
import { testConfig } from "./helpers/agent.ts";

const CARD = "10.0.0.5";

function withSnmp(config: AgentConfig, change: Partial<NonNullable<AgentConfig["snmp"]>> = {}): AgentConfig {
  return {
    ...config,
    snmp: {
      enabled: true,
      port: 0,
      listenAddresses: ["127.0.0.1"],
      nmc: "",
      communities: ["readers"],
      users: [],
      trapReceivers: ["192.0.2.50:162"],
      trapVersion: "v2c",
      trapCommunity: "trap-community",
      trapUser: "",
      trapRepeatInterval: 30,
      ...change,
    },
  };
}

Deno.test("drill: SNMP traps and their repeats at their second, with a trap receiver", async () => {
  const config = withSnmp(testConfig({ cards: [CARD] }));
  const result = await runDrill(config, {
    steps: ["normal", "power-failure", "restore"],
    stepSeconds: 70,
    tailSeconds: 60,
  });
  const traps = result.timeline.filter((e) => e.kind === "action" && e.text.includes("SNMP trap"))
    .map((e) => `${e.at} ${e.text}`);
  const to = `for NMC ${CARD} to 192.0.2.50:162 (v2c)`;
  const again = " again (repeated every 30 s while it holds)";
  assert.deepEqual(traps, [
    `70 would send SNMP trap upsTrapOnBattery ${to}`,
    `70 would send SNMP trap upsTrapAlarmEntryAdded (shutdownPending) ${to}`,
    `100 would send SNMP trap upsTrapOnBattery ${to}${again}`,
    `100 would send SNMP trap upsTrapAlarmEntryAdded (shutdownPending) ${to}${again}`,
    `130 would send SNMP trap upsTrapOnBattery ${to}${again}`,
    `130 would send SNMP trap upsTrapAlarmEntryAdded (shutdownPending) ${to}${again}`,
    `140 would send SNMP trap upsTrapAlarmEntryRemoved (onBattery) ${to}`,
    `140 would send SNMP trap upsTrapAlarmEntryRemoved (shutdownPending) ${to}`,
  ]);
  // The trap comes right after the event that raised it, as the terminal shows it.
  const lines = formatTimeline(result);
  const failed = lines.findIndex((l) => l.includes("PowerFailed:"));
  assert.match(
    lines[failed + 1] ?? "",
    /\+70\.0 s => would (send SNMP trap upsTrapOnBattery|notify PowerFailed)/,
  );
  assert.equal(result.osShutdownAt, undefined, "power came back before the 120 s delay");
});

Deno.test("drill: no SNMP trap without a trap receiver, or with SNMP off; an unusable trap user is called out", async () => {
  const base = testConfig({ cards: [CARD] });
  for (const config of [withSnmp(base, { trapReceivers: [] }), withSnmp(base, { enabled: false })]) {
    const result = await runDrill(config, { steps: ["normal", "power-failure"], stepSeconds: 10 });
    assert.equal(result.timeline.some((e) => e.text.includes("SNMP trap")), false);
    assert.equal(result.osShutdownAt, 10 + 120 + 70);
  }
  const v3 = await runDrill(withSnmp(base, { trapVersion: "v3", trapUser: "nobody" }), {
    steps: ["normal", "power-failure"],
    stepSeconds: 10,
  });
  assert.equal(v3.timeline.some((e) => e.text.includes("would send SNMP trap")), false);
  assert.match(
    v3.timeline.find((e) => e.kind === "warning")?.text ?? "",
    /\[SNMP\] trapUser = nobody is not a complete v3User_N: no SNMP trap will be sent/,
  );
});
