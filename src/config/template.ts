/**
 * Text generated from the schema: the commented default pcnsconfig.ini written
 * on a fresh start, and the README's key table.
 *
 * @module
 */
import { EVENT_CATALOG } from "../events/types.ts";
import {
  CONFIG_EVENT_IDS,
  DEFAULT_SHUTDOWN_DELAYS,
  EVENT_PROPERTIES,
  MAX_EVENT_SECONDS,
  SCHEMA,
  SECTIONS,
  SHUTDOWN_EVENT_IDS,
} from "./schema.ts";
import type { KeyDef } from "./keydefs.ts";
import { isRepeatedSshSection } from "./schema_ssh.ts";
import { isRepeatedSetupSection } from "./schema_setups.ts";

/** Descriptions of event ids that are not in the event catalogue yet. */
const UPCOMING_EVENT_TEXT: Readonly<Record<string, string>> = {
  BatteryDischarged: "UPS battery discharged",
  RuntimeBelowThreshold: "UPS runtime below the configured threshold",
  RuntimeExceeded: "time on battery exceeded the configured limit",
  MultipleCriticalEvents: "critical events on several UPSs",
  ShutdownStarting: "the shutdown sequence is starting",
  ShutdownCancelled: "the shutdown sequence was cancelled",
};

/** One-line description of an event id. */
export function eventText(id: string): string {
  const info = (EVENT_CATALOG as Record<string, { text: string }>)[id];
  return info?.text ?? UPCOMING_EVENT_TEXT[id] ?? id;
}

/** `key = value` as a fresh file has it (the template value where the schema sets one). */
function keyLine(d: KeyDef): string {
  const value = d.template ?? d.default;
  return value === "" ? `${d.key} =` : `${d.key} = ${value}`;
}

function keyComment(d: KeyDef): string {
  const dflt = d.required ? "required" : d.default === "" ? "default: empty" : `default: ${d.default}`;
  return `; ${d.description} (${d.type}; ${dflt})`;
}

const HEADER = [
  "; pcns-agent configuration, compatible with PowerChute Network Shutdown's pcnsconfig.ini.",
  ";",
  "; Written with default values because no configuration was found. Edit and save: a valid change",
  "; takes effect within a second without a restart; an invalid edit is rejected as a whole and logged",
  "; (the running configuration stays). `pcns-agent config check` lists problems with line numbers.",
  ";",
  "; Format: [Section] headers, `key = value` lines (the value is everything after the first `=`),",
  "; whole-line comments starting with ; or #. Booleans are true/false, times are whole seconds.",
  "; To reset the web UI password, type it in clear text after `password =`: it is checked against",
  "; the password policy and replaced by a salted hash as soon as the file is read.",
  "; The authentication phrase is kept in clear text (the NMC signs with it), so this file is kept",
  "; readable by its owner only (mode 0600). pcnsconfig_backup.ini is the last known-good copy.",
];

/** The commented default configuration file (fresh start; username `apc`, NMC factory phrase, no NMC). */
export function defaultConfigText(eol = "\n"): string {
  const lines = [...HEADER];
  for (const section of SECTIONS) {
    // One SSH action section as the example; [SSHAction1] ... [SSHAction9] take the same keys.
    if (isRepeatedSshSection(section)) continue;
    if (section === "SSHAction0") {
      lines.push("", "; SSH actions: [SSHAction0] ... [SSHAction9], same keys (see the README)");
    }
    if (isRepeatedSetupSection(section)) continue;
    if (section === "advanced_ups_setup_1") {
      lines.push(
        "",
        "; Advanced UPS setups (mode = advanced): [advanced_ups_setup_1] ... _9, same keys (README)",
      );
    }
    lines.push("", `[${section}]`);
    const defs = SCHEMA.filter((d) => d.section === section);
    if (section !== "Events") {
      for (const d of defs) {
        if (d.key === "ip_1") {
          lines.push("; addresses of NMC 1 to 9, used in order (IPv4, IPv6 or host name; empty = none)");
        } else if (!/^ip_[2-9]$/.test(d.key)) lines.push(keyComment(d));
        lines.push(keyLine(d));
      }
      continue;
    }
    for (const d of defs.filter((d) => !d.key.startsWith("event_"))) {
      lines.push(keyComment(d), d.default === "" ? `${d.key} =` : `${d.key} = ${d.default}`);
    }
    lines.push("; Actions per UPS event, as event_<EventId>_<property>. Properties:");
    for (const p of EVENT_PROPERTIES) {
      const type = p.kind === "seconds"
        ? `seconds 0-${MAX_EVENT_SECONDS}`
        : p.kind === "path"
        ? "absolute path"
        : "boolean";
      lines.push(`;   ${p.prop} (${type}): ${p.description}`);
    }
    for (const id of CONFIG_EVENT_IDS) {
      lines.push(`; ${id}: ${eventText(id)}`);
      for (const d of defs.filter((d) => d.key.startsWith(`event_${id}_`))) {
        lines.push(d.default === "" ? `${d.key} =` : `${d.key} = ${d.default}`);
      }
    }
  }
  return lines.join(eol) + eol;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function code(text: string): string {
  return text === "" ? "(empty)" : `\`${text}\``;
}

/** The README text between the config-keys markers: the key table and how the store behaves. */
export function readmeConfigSection(): string {
  const rows: string[] = [
    "| Section | Key | Type / range | Default | Description |",
    "|---|---|---|---|---|",
  ];
  const firstEventKey = SCHEMA.find((d) => d.key.startsWith("event_"))?.name;
  const eventRows = () => {
    for (const p of EVENT_PROPERTIES) {
      const type = p.kind === "seconds"
        ? `integer 0-${MAX_EVENT_SECONDS}`
        : p.kind === "path"
        ? "absolute path"
        : "boolean";
      const sample = CONFIG_EVENT_IDS.find((id) => id !== "PowerFailed") ?? "PowerFailed";
      const dflt = p.prop === "enableShutdown"
        ? `\`true\` for ${SHUTDOWN_EVENT_IDS.join(", ")}; else \`false\``
        : p.prop === "shutdownDelay"
        ? `${
          Object.entries(DEFAULT_SHUTDOWN_DELAYS).map(([id, s]) => `\`${s}\` for ${id}`).join(", ")
        }; else \`0\``
        : code(SCHEMA.find((d) => d.key === `event_${sample}_${p.prop}`)!.default);
      rows.push(`| Events | \`event_<EventId>_${p.prop}\` | ${type} | ${dflt} | ${cell(p.description)} |`);
    }
  };
  for (const d of SCHEMA) {
    if (isRepeatedSshSection(d.section) || isRepeatedSetupSection(d.section)) continue;
    if (d.key.startsWith("event_")) {
      if (d.name === firstEventKey) eventRows();
      continue;
    }
    const dflt = d.required
      ? `required (fresh file: ${code(d.default)})`
      : d.template !== undefined
      ? `${code(d.default)} (fresh file: ${code(d.template)})`
      : code(d.default);
    const key = /^ip_[2-9]$/.test(d.key) ? undefined : d.key === "ip_1" ? "ip_1 ... ip_9" : d.key;
    if (key === undefined) continue;
    const description = d.key === "ip_1"
      ? "addresses of NMC 1 to 9 (empty = none; cards are used in order)"
      : d.description;
    const section = d.section === "SSHAction0"
      ? "SSHAction0 ... SSHAction9"
      : d.section === "advanced_ups_setup_1"
      ? "advanced_ups_setup_1 ... _9"
      : d.section;
    rows.push(`| ${section} | \`${key}\` | ${cell(d.type)} | ${dflt} | ${cell(description)} |`);
  }
  const ids = CONFIG_EVENT_IDS.map((id) => `\`${id}\``).join(", ");
  return [
    "## Configuration (pcnsconfig.ini)",
    "",
    "The agent reads one PCNS-style INI file: `/etc/pcns-agent/pcnsconfig.ini` on Linux and macOS,",
    "`%ProgramData%\\pcns-agent\\pcnsconfig.ini` on Windows, or the path in `PCNS_AGENT_CONFIG` or `--config`.",
    "Comments (whole lines starting with `;` or `#`), blank lines, key order, the BOM and the line endings are kept",
    "when the agent or `pcns-agent config set` changes a value. A value is everything after the first `=`, trimmed",
    "(no inline comments). Booleans accept `true`/`false` (also `yes`/`no`, `1`/`0`); times are whole seconds.",
    "",
    ...rows,
    "",
    `\`<EventId>\` is one of ${ids}.`,
    "",
    "**Hot reload.** The agent watches the file's directory, so edits saved in place, by `sed -i`, by editors that",
    "write a new file and rename it, or by deleting and recreating the file all take effect within a second, without",
    "a restart. An edit with any invalid value is rejected as a whole: the running configuration stays, and the",
    "problem (file, line, key, value) is logged as a `ConfigRejected` event. Unknown keys and sections, duplicate",
    "keys (the first value wins, as in PCNS) and lines outside a section are warnings. A deleted file keeps the",
    "running configuration. Every applied reload is a `ConfigReloaded` event listing the changed keys (secrets as",
    "`***`). `pcns-agent config check` prints every problem with its line number.",
    "",
    "**Backup fallback.** After every successful load or change the agent writes `pcnsconfig_backup.ini` next to",
    "the file: the last known-good copy. At start an invalid value is replaced by the backup's value, or by the",
    "default when the backup has none, with a warning naming the file, line, key, bad value and the value used.",
    "`username` and `authenticationPhrase` have no default: if they are missing or invalid and the backup cannot",
    "supply them, the agent refuses to start and lists every problem. With no file but a backup, the file is",
    "restored from the backup; with neither, a commented default file is written (user `apc`, phrase",
    "`admin user phrase`, the NMC factory values, and no NMC address). Changes are written atomically (temporary",
    "file, fsync, rename) under a lock (`pcnsconfig.ini.lock`), so concurrent writers never lose an update;",
    "temporary files of a killed writer (they may hold the phrase) are removed at the next start.",
    "",
    '**A file unreadable as a whole** is not read value by value (that would run on defaults, e.g. "no NMC',
    'configured"): at start the backup is used as a whole, the damaged file is kept as `pcnsconfig.ini.corrupt`',
    "(mode 0600), `pcnsconfig.ini` is restored from the backup, and an error line plus a `ConfigBackupUsed` event",
    "name the file and the reason; a hot reload of such a file is rejected. The file is unreadable as a whole when",
    "it is not a regular file or is larger than 4 MiB; holds NUL bytes (binary, or UTF-16); is not text (more",
    "than 1 character in 16 is a control character or not UTF-8; a stray Latin-1 letter in a comment is fine); is",
    "empty or has only blank lines and comments; has more lines that are neither `[section]`, `key = value`,",
    "comment nor blank than lines that are; has no `[NetworkManagementCard]` section; or was cut off (it ends in",
    "the middle of a line and lacks sections the backup has). Without a backup the file is read as it is, with an",
    "error line.",
    "",
    "**What the next start needs is checked before a change is accepted**, by the web UI, the API, `config set`,",
    "a hot reload and `config check` alike: `[WebUI] certificateFile`/`keyFile` must both be set (or neither),",
    "be readable regular files of at most 1 MiB (never a device such as `/dev/zero`), hold a certificate and its",
    "matching key, unexpired, of a kind both the TLS stack and browsers accept (RSA of at least 2048 bits, or EC",
    "P-256/P-384; not RSA-1024, RSA-PSS, P-521 or Ed25519), and a TLS listener must open with them; the",
    "`[EventLog] fileName` directory must exist and be writable, and an existing log be a plain file (not a",
    "directory, a device or a symbolic link); `udpListenAddresses` and `uiListenAddress` must be addresses of",
    "this host. A value written into the file by hand that fails these checks does not stop the start: the",
    "certificate falls back to the generated one, the event log to `EventLog.jsonl`, the UDP listener to every",
    "address, each with a warning; a web UI that still cannot listen is a `ListenerFailed` event, monitoring and",
    "shutdown go on, and the web UI is tried again after the next configuration change.",
    "",
    "**File mode 0600.** The authentication phrase must stay in clear text because the NMC signs its packets with",
    "it (MD5), so the agent keeps `pcnsconfig.ini` and its backup readable by their owner only: every write sets",
    "mode 0600, and a looser mode found at load or reload is tightened with a warning. A data directory that its",
    "group or others can write draws a warning at start (`chmod 700`): whoever can write there can replace the",
    "file and make the agent run commands as its user.",
    "",
    "**Symbolic links.** A `pcnsconfig.ini` that is a symbolic link is read through the link, but pcns-agent never",
    "writes through it, never replaces it by a file and never changes a mode through it: with a link the file is",
    "read-only for the agent. Changes from the web UI, the API, `config set` and `passwd` are refused with an",
    "error naming the link and its target, and what the agent would rewrite by itself (a clear-text password's",
    "hash, a file restored from the backup) is not written (warned once); the target's mode is only reported.",
    "Edit the target itself, or replace the link by the file. A dangling link is not replaced either: the backup",
    "is used. A lock file that is a link is replaced by a plain file (its target is never created or truncated);",
    "a backup that is a link is not updated. Edits of the target are picked up by hot reload within 5 s (a poll",
    "of the file backs the directory watcher up; it also covers a named pipe planted in the data directory,",
    "which stalls Deno's watcher, and file systems without change events).",
    "",
    "**Clear text elsewhere.** Lines the agent does not read are checked for passwords too: a password-like key",
    "(`password`, `passwd`, `passphrase`, `passcode`, `secret` anywhere in the name, in any case, or `pass`,",
    "`pwd`, `pw` as its last word, such as `Password`, `smtpPass`; not `bypass`) in another section, before the",
    "first section, repeated, or written `password: X`, keeps its key but loses its clear-text value, in the file",
    "and the backup, with a warning naming the line (never the value). Values of secret-like keys (those and",
    "`phrase`, `token`, `api_key`, `private_key`, `credential`) are never quoted in a message, an event or",
    "`config check`; the authentication phrase is kept as it is (it is usable only so) but never shown.",
    "",
    "**Password reset.** As with PCNS, type the new web UI password in clear text into `[NetworkManagementCard]`",
    "`password = ...` (or run `pcns-agent passwd`). It must be 12-128 characters with an upper-case letter, a",
    "lower-case letter, a digit and a special character, and must not contain the user name. When the file is",
    "read (at start or on hot reload) the clear text is replaced in the file by a salted scrypt hash",
    "(`scrypt$16384$8$1$<salt>$<hash>`) and a `CredentialsChanged` event is logged; the clear text never stays on",
    "disk, not even in the backup. A clear-text password that fails the policy is removed as well, the previous",
    "password stays, and each unmet rule is reported. A hash weaker than the ones the agent writes (N below",
    "16384, r below 8, a salt under 16 bytes or a key under 32 bytes) is refused like an invalid value: at start",
    "the backup's password is used, a hot reload is rejected, `config check` reports it. Through the web UI and",
    'the API a new password must be sent in clear text with the current one (`"currentPassword"` in the',
    "`PUT /api/v1/config` body): a ready-made hash (anything starting `scrypt$`) and an empty password are",
    "refused there; `config set` and `passwd` on the host may still set a (strong) hash or an empty password.",
  ].join("\n");
}

/** Replaces the text between `<!-- config-keys:start -->` and `<!-- config-keys:end -->` with `section`. */
export function replaceReadmeSection(readme: string, section: string): string {
  const start = "<!-- config-keys:start -->";
  const end = "<!-- config-keys:end -->";
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README has no ${start} ... ${end} markers`);
  return `${readme.slice(0, a + start.length)}\n\n${section.trim()}\n\n${readme.slice(b)}`;
}

/** Formats markdown with `deno fmt` (line width 110, as in deno.json). */
async function formatMarkdown(markdown: string): Promise<string> {
  const tmp = await Deno.makeTempFile({ suffix: ".md" });
  try {
    await Deno.writeTextFile(tmp, markdown);
    const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", "--line-width=110", tmp] })
      .output();
    if (!fmt.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(fmt.stderr)}`);
    return await Deno.readTextFile(tmp);
  } finally {
    await Deno.remove(tmp);
  }
}

// `deno run -A src/config/template.ts --write-readme` regenerates the README's key table.
if (import.meta.main && Deno.args[0] === "--write-readme") {
  const url = new URL("../../README.md", import.meta.url);
  const section = await formatMarkdown(readmeConfigSection() + "\n");
  await Deno.writeTextFile(url, replaceReadmeSection(await Deno.readTextFile(url), section));
}
