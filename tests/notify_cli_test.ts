/**
 * `pcns-agent notify test` as a user runs it (a real process, loopback only): a test message through
 * every configured channel (a real SMTP server with STARTTLS and AUTH, a webhook, remote syslog), per
 * channel ok or the error, and the exit code.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./helpers/ports.ts";
import { startSmtpServer } from "./helpers/smtp.ts";
import { CARD } from "./helpers/packets.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const ACCOUNT = { user: "pcns", pass: "Cli-Smtp-Secret-77" };

async function runCli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
    signal: AbortSignal.timeout(25_000),
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function writeConfig(dir: string, lines: string[]): Promise<string> {
  const path = join(dir, "pcnsconfig.ini");
  await Deno.writeTextFile(
    path,
    [
      "[NetworkManagementCard]",
      `username = ${CARD.username}`,
      `authenticationPhrase = ${CARD.authenticationPhrase}`,
      `ip_1 = ${CARD.address}`,
      ...lines,
      "",
    ].join("\n"),
  );
  return path;
}

function emailLines(port: number): string[] {
  return [
    "[Email]",
    "smtpHost = 127.0.0.1",
    `smtpPort = ${port}`,
    "security = starttls",
    "acceptCerts = true",
    `user = ${ACCOUNT.user}`,
    `password = ${ACCOUNT.pass}`,
    "from = ups@example.com",
    "to_1 = admin@example.com",
    "subjectPrefix = [UPS]",
  ];
}

Deno.test("notify test: e-mail, webhook and syslog each get the test message; ok per channel, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-notify-cli-" });
  const smtp = await startSmtpServer({ mode: "starttls", account: ACCOUNT });
  const posts: string[] = [];
  const web = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    posts.push(await request.text());
    return new Response("ok");
  });
  const syslog = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const config = await writeConfig(dir, [
      "[Notifications]",
      `webhookUrl = http://127.0.0.1:${web.addr.port}/hook/token-123`,
      `syslog = 127.0.0.1:${(syslog.addr as Deno.NetAddr).port}`,
      ...emailLines(smtp.port),
    ]);
    const datagram = syslog.receive();
    const r = await runCli(["notify", "test", "--config", config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split("\n");
    assert.match(
      lines[0],
      new RegExp(`^ok +email smtp://127\\.0\\.0\\.1:${smtp.port} \\(starttls\\) to 1 recipient$`),
    );
    assert.match(lines[1], new RegExp(`^ok +webhook http://127\\.0\\.0\\.1:${web.addr.port}/\\.\\.\\.$`));
    assert.match(lines[2], /^ok +syslog udp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(lines[3], /^- +snmp: SNMP traps are not configured/);
    assert.equal(smtp.received.length, 1);
    assert.match(
      smtp.received[0].data,
      /Subject: \[UPS\] .*: NotificationTest - Test notification from pcns-agent/,
    );
    assert.equal(smtp.received[0].user, ACCOUNT.user);
    assert.equal(JSON.parse(posts[0]).id, "NotificationTest");
    const [bytes] = await Promise.race([
      datagram,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no syslog datagram")), 5000)),
    ]);
    assert.match(new TextDecoder().decode(bytes), /pcns-agent \d+ NotificationTest - Test notification/);
    assert.ok(!(r.stdout + r.stderr).includes(ACCOUNT.pass), "the SMTP password is never printed");
    assert.ok(!(r.stdout + r.stderr).includes("token-123"), "nor the webhook's token");
  } finally {
    syslog.close();
    await web.shutdown();
    await smtp.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify test --channel email: an unreachable SMTP server is FAILED with the reason, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-notify-cli-" });
  try {
    const config = await writeConfig(dir, emailLines(freePort()));
    const r = await runCli(["notify", "test", "--channel", "email", "--config", config]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(
      r.stdout,
      /^FAILED +email smtp:\/\/127\.0\.0\.1:\d+ \(starttls\) to 1 recipient: connection to .*ECONNREFUSED/,
    );
    assert.match(r.stderr, /1 of 1 channel\(s\) failed/);
    assert.ok(!(r.stdout + r.stderr).includes(ACCOUNT.pass));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify test --channel snmp: a v2c test trap (upsTrapTestCompleted) reaches the trap receiver", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-notify-cli-" });
  const receiver = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (receiver.addr as Deno.NetAddr).port;
    const config = await writeConfig(dir, [
      "[SNMP]",
      `trapReceiver_1 = 127.0.0.1:${port}`,
      "trapCommunity = traps-only",
    ]);
    const trap = receiver.receive();
    const r = await runCli(["notify", "test", "--channel", "snmp", "--config", config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^ok +snmp v2c traps to 127\.0\.0\.1:${port}$`, "m"));
    const [bytes] = await Promise.race([
      trap,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no trap datagram")), 5000)),
    ]);
    const text = new TextDecoder("latin1").decode(bytes);
    assert.ok(text.includes("traps-only"), "sent with the trap community");
    assert.ok(text.includes("pcns-agent notification test"), "the test trap's text");
  } finally {
    receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify test: an unconfigured channel, no channel at all, an unknown channel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-notify-cli-" });
  try {
    const config = await writeConfig(dir, []);
    const webhook = await runCli(["notify", "test", "--channel", "webhook", "--config", config]);
    assert.equal(webhook.code, 1);
    assert.match(webhook.stdout, /webhook: not configured \(\[Notifications\] webhookUrl is empty\)/);
    const snmp = await runCli(["notify", "test", "--channel", "snmp", "--config", config]);
    assert.equal(snmp.code, 1);
    assert.match(snmp.stdout, /snmp: SNMP traps are not configured/);
    const none = await runCli(["notify", "test", "--config", config]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no notification channel is configured/);
    const bogus = await runCli(["notify", "test", "--channel", "pager", "--config", config]);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /--channel: "pager" is not a channel \(use email, webhook, syslog, snmp\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
