import assert from "node:assert/strict";
import {
  checkAuthenticationPhrase,
  checkPasswordPolicy,
  checkUsername,
  hashPassword,
  isPasswordHash,
  verifyPassword,
} from "../src/config/credentials.ts";
import { evaluateConfig, prepareUpdates } from "../src/config/evaluate.ts";
import { configText } from "./fixtures/config/helpers.ts";
import { backupPathFor, configPathFor, lockPathFor } from "../src/config/paths.ts";
import {
  CONFIG_EVENT_IDS,
  defaultValues,
  displayValue,
  isHost,
  keyDef,
  SCHEMA,
  UPCOMING_UPS_EVENT_IDS,
} from "../src/config/schema.ts";
import { maskConfig } from "../src/config/build.ts";
import { UPS_EVENT_IDS } from "../src/events/types.ts";
import { defaultConfigText, readmeConfigSection } from "../src/config/template.ts";

Deno.test("credentials: the password policy reports one message per unmet rule", () => {
  assert.deepEqual(checkPasswordPolicy("Good-Passw0rd", "apc"), []);
  assert.deepEqual(checkPasswordPolicy("  Good-Passw0rd  ", "apc"), [], "blanks around are stripped");
  const weak = checkPasswordPolicy("apc", "APC");
  assert.equal(weak.length, 5);
  assert.match(weak[0], /12 to 128 characters long \(is 3\)/);
  assert.match(weak.join("\n"), /upper-case letter/);
  assert.match(weak.join("\n"), /digit/);
  assert.match(weak.join("\n"), /special character/);
  assert.match(weak.join("\n"), /must not contain the user name/, "case-insensitive");
});

Deno.test("credentials: each policy rule can fail on its own", () => {
  const only = (pw: string, user = "admin") => checkPasswordPolicy(pw, user);
  assert.deepEqual(only("Short-1a"), ["must be 12 to 128 characters long (is 8)"]);
  assert.deepEqual(only("good-passw0rd"), ["must contain an upper-case letter (A-Z)"]);
  assert.deepEqual(only("GOOD-PASSW0RD"), ["must contain a lower-case letter (a-z)"]);
  assert.deepEqual(only("Good-Password"), ["must contain a digit (0-9)"]);
  assert.equal(only("GoodPassw0rdX")[0].startsWith("must contain a special character"), true);
  assert.match(only("Good Passw0rd-é")[0], /not allowed \(blank, "é"\)/);
  assert.deepEqual(only("My-ADMIN-passw0rd", "admin"), ["must not contain the user name"]);
  assert.equal(only("A-1a".repeat(33)).length, 1, "129+ characters are too long");
});

Deno.test("credentials: user name and authentication phrase rules", () => {
  assert.deepEqual(checkUsername("apc"), []);
  assert.deepEqual(checkUsername("a_!\"#$%&'()"), ["must be 1 to 10 characters long (is 11)"]);
  assert.match(checkUsername("bad user")[0], /not allowed \(blank\)/);
  assert.deepEqual(checkAuthenticationPhrase("admin user phrase"), []);
  assert.match(checkAuthenticationPhrase("short")[0], /15 to 32/);
  assert.match(checkAuthenticationPhrase("tab\there is not ok!")[0], /printable ASCII/);
});

Deno.test("credentials: hashPassword/verifyPassword use salted scrypt and reject wrong passwords", () => {
  const hash = hashPassword("Good-Passw0rd");
  assert.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{86}==$/);
  assert.equal(isPasswordHash(hash), true);
  assert.notEqual(hashPassword("Good-Passw0rd"), hash, "a fresh salt each time");
  assert.equal(verifyPassword("Good-Passw0rd", hash), true);
  assert.equal(verifyPassword("Good-Passw0rd!", hash), false);
  assert.equal(verifyPassword("Good-Passw0rd", "scrypt$16384$8$1$bad$bad"), false);
  assert.equal(
    isPasswordHash("scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA=="),
    false,
    "N must be 2^k",
  );
});

Deno.test("schema: addresses accept IPv4, IPv6 and host names only", () => {
  for (const ok of ["10.0.0.1", "::1", "fe80::1%eth0", "2001:db8::42", "nmc-a.example.net", "NMC1"]) {
    assert.equal(isHost(ok), true, ok);
  }
  for (const bad of ["999.1.1.1", "10.0.0", "nmc_a", "-nmc", "a..b", "1:2:3", "http://nmc"]) {
    assert.equal(isHost(bad), false, bad);
  }
});

Deno.test("schema: every key has a type, a default that passes its own check, and a description", () => {
  for (const d of SCHEMA) {
    assert.ok(d.type && d.description, d.name);
    assert.deepEqual(d.check(d.default), [], `default of ${d.name}`);
  }
  for (const id of [...UPS_EVENT_IDS, ...UPCOMING_UPS_EVENT_IDS]) {
    assert.ok(CONFIG_EVENT_IDS.includes(id), id);
    assert.ok(SCHEMA.some((d) => d.name === `Events.event_${id}_enableShutdown`), id);
  }
  assert.equal(new Set(CONFIG_EVENT_IDS).size, CONFIG_EVENT_IDS.length, "no duplicate ids");
  const d = defaultValues();
  assert.equal(d.get("Events.event_PowerFailed_shutdownDelay"), "120");
  assert.equal(d.get("Events.event_LowBattery_enableShutdown"), "true");
  assert.equal(d.get("Events.event_PowerRestored_enableShutdown"), "false");
  assert.equal(d.get("NetworkManagementCard.commLostTimeout"), "55");
});

Deno.test("schema: the default file is a valid configuration with the documented defaults", () => {
  const ev = evaluateConfig(defaultConfigText(), { file: "f.ini", backupFile: "b.ini", strict: true });
  assert.equal(ev.ok, true);
  assert.equal(ev.config!.nmc.username, "apc");
  assert.equal(ev.config!.nmc.authenticationPhrase, "admin user phrase");
  assert.equal(ev.config!.nmc.protocol, "https");
  assert.equal(ev.config!.nmc.port, 443);
  assert.deepEqual(ev.config!.nmc.cards, []);
  assert.equal(ev.config!.networking.udpPort, 3052);
  assert.equal(ev.config!.networking.httpsPort, 6547);
  assert.equal(ev.config!.shutdown.settleDelay, 70);
  assert.equal(ev.config!.eventLog.fileName, "EventLog.jsonl");
  assert.equal(ev.config!.events.PowerFailed.shutdownDelay, 120);
  assert.deepEqual(ev.problems.map((p) => p.message), [
    "f.ini:14: no NMC configured: set ip_1 (up to ip_9) in [NetworkManagementCard] to the address of the UPS's card",
  ]);
  for (const d of SCHEMA) assert.match(defaultConfigText(), new RegExp(`^${d.key} =`, "m"), d.name);
});

Deno.test("schema: values are normalized and typed (booleans, case, lists, cards in order)", () => {
  const text = defaultConfigText()
    .replace("acceptCerts = false", "acceptCerts = YES")
    .replace("protocol = https", "protocol = HTTP")
    .replace("ip_1 =", "ip_1 = 10.0.0.1")
    .replace("ip_3 =", "ip_3 = nmc-c")
    .replace("udpListenAddresses =", "udpListenAddresses = 127.0.0.1 , ::1");
  const ev = evaluateConfig(text, { file: "f", backupFile: "b", strict: true });
  assert.equal(ev.ok, true, ev.problems.map((p) => p.message).join("\n"));
  assert.equal(ev.config!.nmc.acceptCerts, true);
  assert.equal(ev.config!.nmc.protocol, "http");
  assert.deepEqual(ev.config!.nmc.cards, ["10.0.0.1", "nmc-c"]);
  assert.deepEqual(ev.config!.networking.udpListenAddresses, ["127.0.0.1", "::1"]);
});

Deno.test("schema: config-set updates are checked per key with clear messages", () => {
  const current = defaultValues();
  const r = prepareUpdates(
    {
      "Networking.udpPort": "70000",
      "NetworkManagementCard.port": "1000",
      "Networking.udpPrt": "1",
      "Shutdown.turnOffUps": "maybe",
      "Events.event_PowerFailed_commandFilePath": "relative/path.sh",
      "NetworkManagementCard.password": "weakpass",
      "EventLog.maxSizeKiB": "2048",
    },
    current,
    "cfg.ini",
  );
  assert.deepEqual(r.problems.map((p) => p.message), [
    'cfg.ini: invalid value for Networking.udpPort = "70000": must be 1-65535',
    'cfg.ini: invalid value for NetworkManagementCard.port = "1000": must be 80, 443 or 5000-32768',
    "cfg.ini: unknown key Networking.udpPrt: did you mean Networking.udpPort?",
    'cfg.ini: invalid value for Shutdown.turnOffUps = "maybe": must be true or false',
    'cfg.ini: invalid value for Events.event_PowerFailed_commandFilePath = "relative/path.sh": ' +
    "must be an absolute path (or empty for none)",
    "cfg.ini: NetworkManagementCard.password does not meet the password policy: must be 12 to 128 characters " +
    "long (is 8); must contain an upper-case letter (A-Z); must contain a digit (0-9); must contain a special " +
    "character (one of _!\"#$%&'()*+,-./:;<=>?@^`{|}[]~)",
  ]);
  assert.deepEqual(r.changes, [["EventLog", "maxSizeKiB", "2048"]]);
});

Deno.test("paths: default locations, backup and lock names", () => {
  const none = () => undefined;
  assert.equal(configPathFor("linux", none), "/etc/pcns-agent/pcnsconfig.ini");
  assert.equal(configPathFor("darwin", none), "/etc/pcns-agent/pcnsconfig.ini");
  assert.equal(
    configPathFor("windows", (n) => (n === "ProgramData" ? "D:\\PD\\" : undefined)),
    "D:\\PD\\pcns-agent\\pcnsconfig.ini",
  );
  assert.equal(
    configPathFor("linux", (n) => (n === "PCNS_AGENT_CONFIG" ? "/x/y.ini" : undefined)),
    "/x/y.ini",
  );
  assert.equal(backupPathFor("/a/b/pcnsconfig.ini"), "/a/b/pcnsconfig_backup.ini");
  assert.equal(backupPathFor("C:\\a\\pcnsconfig.ini"), "C:\\a\\pcnsconfig_backup.ini");
  assert.equal(lockPathFor("/a/pcnsconfig.ini"), "/a/pcnsconfig.ini.lock");
});

/** Markdown reduced to its content: headings, table rows as trimmed cells, paragraphs as single lines. */
function markdownBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length > 0) blocks.push(paragraph.join(" ").replace(/\s+/g, " "));
    paragraph = [];
  };
  for (const raw of markdown.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("|") || line.startsWith("#")) flush();
    if (line === "" || /^\|(\s*:?-+:?\s*\|)+$/.test(line)) continue;
    if (line.startsWith("|")) blocks.push(line.split(/(?<!\\)\|/).map((c) => c.trim()).join("|"));
    else if (line.startsWith("#")) blocks.push(line);
    else paragraph.push(line);
  }
  flush();
  return blocks;
}

Deno.test("README: the config-keys section matches the schema", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const m = /<!-- config-keys:start -->\n([\s\S]*?)\n<!-- config-keys:end -->/.exec(readme);
  assert.ok(m, "README has the config-keys markers");
  assert.deepEqual(
    markdownBlocks(m[1]),
    markdownBlocks(readmeConfigSection()),
    "regenerate it: deno run -A src/config/template.ts --write-readme",
  );
  for (const d of SCHEMA.filter((d) => !d.key.startsWith("event_") && !/^ip_[2-9]$/.test(d.key))) {
    assert.ok(m[1].includes(`\`${d.key}`), `README documents ${d.name}`);
  }
});

Deno.test("schema: notification, runtime and advanced-mode keys are checked and typed", () => {
  const text = configText({
    "Notifications.webhookUrl": "https://bot:s3cret@hooks.example.net/pcns",
    "Notifications.syslog": "[2001:db8::5]:514",
    "Notifications.webhookRetries": "0",
    "Events.runtimeThreshold": "12",
    "NetworkManagementCard.redundantUps": "2",
    "Shutdown.osShutdownDuration": "90",
  });
  const ev = evaluateConfig(text, { file: "f", backupFile: "b", strict: true });
  assert.equal(ev.ok, true, ev.problems.map((p) => p.message).join("\n"));
  const { email: _email, ...notifications } = ev.config!.notifications; // [Email]: tests/email_config_test.ts
  assert.deepEqual(notifications, {
    webhookUrl: "https://bot:s3cret@hooks.example.net/pcns",
    webhookTimeout: 5,
    webhookRetries: 0,
    syslog: "[2001:db8::5]:514",
  });
  assert.equal(ev.config!.runtimeThreshold, 12);
  assert.equal(ev.config!.nmc.redundantUps, 2);
  assert.equal(ev.config!.shutdown.osShutdownDuration, 90);
  assert.equal(maskConfig(ev.config!).notifications.webhookUrl, "https://***@hooks.example.net/pcns");
  assert.equal(displayValue("Notifications.webhookUrl", "https://bot:s3cret@h/x"), "https://***@h/x");
  for (const syslog of ["", "local", "logs.example.net", "10.0.0.9:5514", "::1", "[::1]"]) {
    assert.deepEqual(keyDef("Notifications.syslog")!.check(syslog), [], syslog);
  }
  for (const bad of ["logs:99999", "[nope]:514", "udp://x", "a b"]) {
    assert.equal(keyDef("Notifications.syslog")!.check(bad).length, 1, bad);
  }
  assert.deepEqual(keyDef("Notifications.webhookUrl")!.check("ftp://x/y"), [
    "must start with http:// or https://",
  ]);
  assert.deepEqual(keyDef("Notifications.webhookUrl")!.check("not a url"), [
    "must not contain blanks or control characters",
  ]);
});
