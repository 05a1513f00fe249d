/** `pcns-agent status --get` (one value by its NUT name, from the API's status answer) and the NUT line of `status`. */
import assert from "node:assert/strict";
import { formatStatus } from "../src/cli/agent_commands.ts";
import { decodeStatusByte } from "../src/nmc/status.ts";
import { lookupVariable } from "../src/nut/variables.ts";
import { applyStatus, initialUpsState } from "../src/ups/state.ts";

const ups = (card: string, byte: number) =>
  applyStatus(initialUpsState(card), {
    flags: decodeStatusByte(byte),
    batteryPercent: 87,
    runtimeMinutes: 12,
  }, 0)
    .state;

const status = JSON.parse(JSON.stringify({
  upsNames: [{ name: "nmc1", card: "10.0.0.45" }, { name: "rack-b", card: "10.0.0.46" }],
  ups: [ups("10.0.0.45", 0x08), ups("10.0.0.46", 0x50), initialUpsState("10.0.0.47")],
  nut: {
    listening: [{ hostname: "0.0.0.0", port: 3493 }],
    fsd: ["rack-b"],
    clients: [{
      ups: "rack-b",
      card: "10.0.0.46",
      address: "10.0.0.7",
      user: "monuser",
      since: "",
      tls: true,
    }],
  },
}));

Deno.test("status --get: NUT names and units, --ups by NUT name, upsc's errors", () => {
  assert.deepEqual(lookupVariable(status, "battery.charge"), { value: "87.0" });
  assert.deepEqual(lookupVariable(status, "battery.runtime", "nmc1"), { value: "720" });
  assert.deepEqual(lookupVariable(status, "ups.status", "RACK-B"), { value: "FSD OB LB" });
  assert.deepEqual(lookupVariable(status, "no.such", "nmc1"), {
    error: "Variable not supported by UPS: no.such",
  });
  assert.deepEqual(lookupVariable(status, "ups.status", "nmc9"), {
    error: "Unknown UPS nmc9 (known: nmc1, rack-b)",
  });
  const stale = { ...status, upsNames: [{ name: "nmc3", card: "10.0.0.47" }] };
  assert.deepEqual(lookupVariable(stale, "battery.charge"), { error: "Data stale" });
  assert.deepEqual(lookupVariable({ ...stale, nut: { fsd: ["nmc3"] } }, "ups.status"), { value: "FSD" });
});

Deno.test("status shows the NUT server, its logged-in secondaries and FSD", () => {
  const lines = formatStatus(status, "https://127.0.0.1:6547");
  assert.ok(
    lines.includes(
      "NUT: 0.0.0.0:3493, 1 secondary logged in: monuser@10.0.0.7 on rack-b (TLS); FSD set on rack-b",
    ),
    lines.join("\n"),
  );
});
