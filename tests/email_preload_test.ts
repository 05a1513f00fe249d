/**
 * An agent with `[Email]` loads the e-mail library (nodemailer, ~5 MiB) when it starts or when a reload
 * turns e-mail on, not with its first e-mail: loading it holds up the whole agent for 40-130 ms (module
 * loading and evaluation run on the event loop; bench/NOTES.md, 8 December), and a dynamic import whose
 * files' disk does not answer holds it up until the disk does. The first e-mail goes out in a power event,
 * beside the actions and the shutdown's timers. An agent without `[Email]` never loads it.
 *
 * The first test must run before anything in this process asked for the library (tests of a file run in
 * order, in their own process): it checks that first.
 */
import assert from "node:assert/strict";
import { type EmailLibrary, emailLibraryRequested, EmailNotifier } from "../src/notify/email.ts";
import { makeEvent } from "../src/events/types.ts";
import { startTestAgent, testConfig, waitUntil } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";
import { emailSettings } from "./helpers/smtp.ts";

Deno.test("an agent loads the e-mail library at start only when [Email] is set, and at a reload that sets it", async () => {
  assert.equal(emailLibraryRequested(), false, "nothing in this test process asked for nodemailer yet");
  const base = testConfig();
  const withoutEmail = await startTestAgent(base);
  try {
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(emailLibraryRequested(), false, "an agent without [Email] does not load nodemailer");
    // A reload that adds [Email]: loaded then, before any event.
    await withoutEmail.agent.applyConfig({
      ...base,
      notifications: { ...base.notifications, email: emailSettings(freePort(), { security: "none" }) },
    });
    await waitUntil(() => emailLibraryRequested(), "the e-mail library asked for at the reload", 2000);
  } finally {
    await withoutEmail.close();
  }
});

/** A fresh process (nothing loaded yet) that starts an agent with `[Email]` and tells what it asked for. */
const START_WITH_EMAIL = (url: (path: string) => string) => `
import { Agent } from "${url("../src/agent/agent.ts")}";
import { emailLibraryRequested } from "${url("../src/notify/email.ts")}";
import { memoryLogger } from "${url("../src/log/logger.ts")}";
import { testConfig } from "${url("./helpers/agent.ts")}";
import { emailSettings } from "${url("./helpers/smtp.ts")}";
const before = emailLibraryRequested();
const base = testConfig();
const dataDir = await Deno.makeTempDir({ prefix: "pcns-email-preload-" });
const agent = Agent.start({
  config: { ...base, notifications: { ...base.notifications, email: emailSettings(25, { security: "none" }) } },
  dataDir,
  logger: memoryLogger().logger,
  dryRun: true,
});
const atStart = emailLibraryRequested();
await agent.stop();
await Deno.remove(dataDir, { recursive: true });
console.log(JSON.stringify({ before, atStart }));
`;

Deno.test("an agent started with [Email] asks for the e-mail library as it starts", async () => {
  const code = START_WITH_EMAIL((path) => new URL(path, import.meta.url).href);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!), {
    before: false,
    atStart: true,
  });
});

Deno.test("EmailNotifier.prepare loads the library once; the first e-mail uses what prepare loaded", async () => {
  let loads = 0;
  const library = (): Promise<EmailLibrary> => {
    loads++;
    return Promise.reject(new Error("library not here (test)"));
  };
  const notifier = new EmailNotifier({
    settings: emailSettings(freePort(), { security: "none", retries: 0 }),
    library,
  });
  assert.equal(loads, 0, "constructing the notifier loads nothing");
  notifier.prepare();
  notifier.prepare();
  assert.equal(loads, 1, "prepare starts the load once");
  const result = await notifier.notify(makeEvent({ id: "PowerFailed", nmc: CARD.address }, Date.now()));
  assert.equal(result.ok, false);
  assert.match(result.error ?? "", /cannot build the e-mail: library not here \(test\)/);
  assert.equal(loads, 1, "the e-mail did not load it again");
});
