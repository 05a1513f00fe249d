/**
 * SSH actions against Debian's OpenSSH server on loopback (tests/helpers/sshd.ts): the right key (Ed25519,
 * and RSA with a passphrase) runs each line and the remote side records exactly those lines; a wrong key,
 * a wrong host key fingerprint, an unreachable port, a failing line and a remote that hangs each end as
 * their own event within the action's duration.
 */
import nodeAssert from "node:assert/strict";
import type { SshActionSettings } from "../src/config/schema_ssh.ts";
import type { EventDraft } from "../src/events/types.ts";
import { SshActionRunner } from "../src/ssh/actions.ts";
import { checkPrivateKey, fingerprintOf } from "../src/ssh/client.ts";
import { systemClock } from "../src/time/clock.ts";
import { RSA_PASSPHRASE, type Sshd, sshdOrSkip, startSshd } from "./helpers/sshd.ts";

const skip = sshdOrSkip();
const assert: (value: unknown, message?: string) => asserts value = nodeAssert.ok;
const assertEquals = (actual: unknown, expected: unknown): void =>
  nodeAssert.deepStrictEqual(actual, expected);
const assertMatch = (text: string, re: RegExp): void => nodeAssert.match(text, re);

/** An action against the test server. */
export function testAction(
  sshd: Sshd,
  commandFile: string,
  more: Partial<SshActionSettings> = {},
): SshActionSettings {
  return {
    section: "SSHAction0",
    name: "nas",
    enabled: true,
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    keyFile: sshd.keys.ed25519,
    keyPassphrase: "",
    password: "",
    commandFile,
    delay: 0,
    duration: 10,
    phase: "beforeShutdown",
    hostKeyFingerprint: sshd.fingerprint,
    ...more,
  };
}

function runner(events: EventDraft[], pin?: (section: string, fp: string) => Promise<void>) {
  return new SshActionRunner({
    clock: systemClock,
    emit: (d) => events.push(d),
    actions: () => [],
    dryRun: false,
    ...(pin ? { pin } : {}),
  });
}

async function commandFile(sshd: Sshd, name: string, lines: string[]): Promise<string> {
  const path = `${sshd.dir}/${name}.txt`;
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

Deno.test({
  name: "ssh: the right key runs each line once, in order, and the remote side records exactly those",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "ok", ["# a comment", "sync", "", "echo bye; stop-the-nas-test"]);
      const events: EventDraft[] = [];
      const outcome = await runner(events).runAction(testAction(sshd, file));
      assert(outcome.ok, outcome.error);
      assertEquals(await sshd.recorded(), ["sync", "echo bye; stop-the-nas-test"]);
      assertEquals(outcome.commands.map((c) => [c.exitCode, c.output]), [[0, "ran: sync\n"], [
        0,
        "ran: echo bye; stop-the-nas-test\n",
      ]]);
      assertEquals(outcome.fingerprint, sshd.fingerprint);
      assertEquals(events.map((e) => e.id), ["SshActionSucceeded"]);
      assertMatch(events[0].note!, /nas on .*@127\.0\.0\.1:\d+: 2 commands ran/);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: an RSA key with its passphrase works; a wrong passphrase fails before connecting",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "rsa", ["uptime"]);
      const events: EventDraft[] = [];
      const ok = await runner(events).runAction(
        testAction(sshd, file, { keyFile: sshd.keys.rsa, keyPassphrase: RSA_PASSPHRASE }),
      );
      assert(ok.ok, ok.error);
      const bad = await runner(events).runAction(
        testAction(sshd, file, { keyFile: sshd.keys.rsa, keyPassphrase: "not it" }),
      );
      assert(!bad.ok);
      assertMatch(bad.error!, /passphrase is wrong/);
      assertEquals(bad.commands.length, 0);
      assertEquals(await sshd.recorded(), ["uptime"]);
      assertEquals(events.map((e) => e.id), ["SshActionSucceeded", "SshActionFailed"]);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: a key the server does not know fails authentication and nothing is recorded",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "x", ["stop-the-nas-test"]);
      const events: EventDraft[] = [];
      const outcome = await runner(events).runAction(testAction(sshd, file, { keyFile: sshd.keys.stranger }));
      assert(!outcome.ok && !outcome.timedOut && !outcome.hostKeyMismatch);
      assertMatch(outcome.error!, /authentication as .* failed: the server refused the key/);
      assertEquals(events.map((e) => e.id), ["SshActionFailed"]);
      assertEquals(await sshd.recorded(), []);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: a host key that is not the pinned one is refused before anything is sent (SshHostKeyMismatch)",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "x", ["stop-the-nas-test"]);
      const events: EventDraft[] = [];
      const other = fingerprintOf(new TextEncoder().encode("another host's key"));
      const outcome = await runner(events).runAction(testAction(sshd, file, { hostKeyFingerprint: other }));
      assert(!outcome.ok && outcome.hostKeyMismatch);
      assertEquals(events.map((e) => e.id), ["SshHostKeyMismatch"]);
      assertMatch(
        events[0].note!,
        new RegExp(`${escape(sshd.fingerprint)} \\(ssh-ed25519\\).*does not match`),
      );
      assertEquals(await sshd.recorded(), []);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: with no fingerprint the first contact pins the host key; the pin then holds in this process",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "x", ["true"]);
      const events: EventDraft[] = [];
      const pins: string[] = [];
      const r = runner(events, (section, fp) => {
        pins.push(`${section}=${fp}`);
        return Promise.resolve();
      });
      const first = await r.runAction(testAction(sshd, file, { hostKeyFingerprint: "" }));
      assert(first.ok, first.error);
      assertEquals(first.pinned, sshd.fingerprint);
      assertEquals(pins, [`SSHAction0=${sshd.fingerprint}`]);
      assertEquals(events.map((e) => e.id), ["SshHostKeyPinned", "SshActionSucceeded"]);
      const second = await r.runAction(testAction(sshd, file, { hostKeyFingerprint: "" }));
      assert(second.ok && second.pinned === undefined);
      assertEquals(pins.length, 1);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: a line that fails stops the action there (the next lines are not sent)",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "f", ["one", "fail", "three"]);
      const events: EventDraft[] = [];
      const outcome = await runner(events).runAction(testAction(sshd, file));
      assert(!outcome.ok);
      assertEquals(outcome.error, "line 2 (fail) exited with 3");
      assertEquals(await sshd.recorded(), ["one", "fail"]);
      assertMatch(outcome.commands[1].output, /failing on purpose/);
      assertEquals(events.map((e) => e.id), ["SshActionFailed"]);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test({
  name: "ssh: a remote command that hangs is cut off at the action's duration (SshActionTimedOut)",
  ignore: skip !== undefined,
  fn: async () => {
    const sshd = await startSshd();
    try {
      const file = await commandFile(sshd, "h", ["first", "hang", "never"]);
      const events: EventDraft[] = [];
      const started = Date.now();
      const outcome = await runner(events).runAction(testAction(sshd, file, { duration: 2 }));
      const took = Date.now() - started;
      assert(outcome.timedOut, outcome.error);
      assert(took >= 1900 && took < 3000, `took ${took} ms`);
      assertMatch(outcome.error!, /within its duration of 2 s \(cut off while running line 2: hang\)/);
      assertEquals(await sshd.recorded(), ["first", "hang"]);
      assertEquals(events.map((e) => e.id), ["SshActionTimedOut"]);
    } finally {
      await sshd.close();
    }
  },
});

Deno.test("ssh: an unreachable port fails at once; a server that never speaks is cut off at the duration", async () => {
  const dir = await Deno.makeTempDir();
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })().catch(() => {});
  try {
    const file = `${dir}/c.txt`;
    await Deno.writeTextFile(file, "true\n");
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const events: EventDraft[] = [];
    const base = {
      section: "SSHAction1" as const,
      name: "switch",
      enabled: true,
      host: "127.0.0.1",
      user: "nobody",
      keyFile: "",
      keyPassphrase: "",
      password: "secret-pw",
      commandFile: file,
      delay: 0,
      duration: 2,
      phase: "afterShutdown" as const,
      hostKeyFingerprint: "",
    };
    let started = Date.now();
    const refused = await runner(events).runAction({ ...base, port: closedPort });
    assert(!refused.ok && !refused.timedOut);
    assertMatch(refused.error!, /connection refused by 127\.0\.0\.1:\d+/);
    assert(Date.now() - started < 1500);
    started = Date.now();
    const mute = await runner(events).runAction({ ...base, port: (silent.addr as Deno.NetAddr).port });
    const took = Date.now() - started;
    assert(mute.timedOut, mute.error);
    assert(took >= 1900 && took < 3000, `took ${took} ms`);
    assertEquals(events.map((e) => e.id), ["SshActionFailed", "SshActionTimedOut"]);
    assert(!JSON.stringify(events).includes("secret-pw"), "the password is never in an event");
  } finally {
    silent.close();
    for (const c of held) c.close();
    await accepting;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ssh: key checks name what is wrong (encrypted without passphrase, not a key)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/k`;
    const made = await new Deno.Command("ssh-keygen", {
      args: ["-q", "-t", "ed25519", "-N", "pp-secret", "-f", key],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    if (made?.success) {
      const text = await Deno.readTextFile(key);
      assertEquals(await checkPrivateKey(text, ""), { error: "the key is encrypted: set keyPassphrase" });
      assertEquals(await checkPrivateKey(text, "pp-secret"), { type: "ssh-ed25519" });
    }
    const bad = await checkPrivateKey("hello", "");
    assert("error" in bad);
    assertMatch(bad.error, /not a private key ssh2 can read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
