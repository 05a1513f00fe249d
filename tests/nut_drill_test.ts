/** The drill with the NUT server on: it shows FSD being set and the wait for the secondaries, and opens no port. */
import assert from "node:assert/strict";
import { formatTimeline, runDrill } from "../src/drill/drill.ts";
import { testConfig } from "./helpers/agent.ts";
import { withNut } from "./helpers/nut.ts";

Deno.test("drill: low battery with [NUT] on sets FSD, waits hostSyncTimeout for the secondaries, then the settle delay", async () => {
  const base = testConfig();
  const config = withNut({ ...base, shutdown: { ...base.shutdown, settleDelay: 5 } }, {
    hostSyncTimeout: 20,
    port: 1,
  });
  const result = await runDrill(config, { steps: ["normal", "low-battery"], stepSeconds: 10 });
  const lines = formatTimeline(result);
  const text = lines.join("\n");
  assert.match(text, /\+10\.0 s => would set FSD on nmc1: stock upsmon secondaries shut down/);
  assert.match(text, /NutForcedShutdown: .*FSD set on nmc1; 1 NUT secondary logged in/);
  assert.match(text, /\+30\.0 s {4}HostSyncTimedOut: .*1 still logged in after 20 s/);
  assert.equal(result.osShutdownAt, 35, `FSD at 10 s, 20 s wait, 5 s settle delay:\n${text}`);
});
