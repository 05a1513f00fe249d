/**
 * The typed schema of pcnsconfig.ini: every known key with its type, default,
 * allowed range and a one-line description, in file order ({@link SCHEMA}), the
 * lookups on it and the key and section suggestions for typos. The building
 * blocks are in `keydefs.ts`, the sections with many keys in `schema_*.ts`, the
 * conversion into the typed `AgentConfig` in `build.ts`.
 *
 * All functions here are pure.
 *
 * @module
 */
import { type EventId, SHUTDOWN_ROLES, UPS_EVENT_IDS } from "../events/types.ts";
import { checkAuthenticationPhrase, checkUsername } from "./credentials.ts";
import {
  absolutePathCheck,
  boolDef,
  booleanCheck,
  commandCheck,
  def,
  enumDef,
  fileNameCheck,
  hostCheck,
  hostListCheck,
  intDef,
  integerCheck,
  type KeyDef,
  maskUrl,
  MAX_CARDS,
  normalizeBoolean,
  normalizeInteger,
  normalizeList,
  passwordCheck,
  syslogCheck,
  thenCheck,
  webhookUrlCheck,
} from "./keydefs.ts";
import { emailDefs } from "./schema_email.ts";
import { networkServerDefs } from "./schema_nut.ts";
import { snmpDefs } from "./schema_snmp.ts";
import { SSH_SECTIONS, sshDefs } from "./schema_ssh.ts";
import { SETUP_SECTIONS, setupDefs } from "./schema_setups.ts";
import { isHost, isHostName, isIPv4, isIPv6 } from "./hosts.ts";
import { editDistance } from "../text/suggest.ts";

export { isHost, isHostName, isIPv4, isIPv6 };

/** The sections pcns-agent reads. */
export const SECTIONS = [
  "NetworkManagementCard",
  "Networking",
  "Shutdown",
  "Events",
  "EventLog",
  "Notifications",
  "Email",
  "WebUI",
  "NUT",
  "NIS",
  "SNMP",
  ...SSH_SECTIONS,
  ...SETUP_SECTIONS,
] as const;

/** A section pcns-agent reads. */
export type SectionName = typeof SECTIONS[number];

/** UPS event ids the next issue adds to the catalogue; their keys are accepted now. */
export const UPCOMING_UPS_EVENT_IDS = [
  "BatteryDischarged",
  "RuntimeBelowThreshold",
  "RuntimeExceeded",
  "MultipleCriticalEvents",
  "ShutdownStarting",
  "ShutdownCancelled",
] as const;

/** Every event id that has `event_<Id>_<property>` keys in `[Events]`. */
export const CONFIG_EVENT_IDS: readonly string[] = [
  ...new Set<string>([...UPS_EVENT_IDS, ...UPCOMING_UPS_EVENT_IDS]),
];

/** Events whose `enableShutdown` defaults to true. */
export const SHUTDOWN_EVENT_IDS: readonly string[] = ["PowerFailed", "LowBattery", "UpsTurnOffInitiated"];

/** Default `shutdownDelay` per event id (others 0). */
export const DEFAULT_SHUTDOWN_DELAYS: Readonly<Record<string, number>> = { PowerFailed: 120 };

const NMC: SectionName = "NetworkManagementCard";
const NET: SectionName = "Networking";
const SHUT: SectionName = "Shutdown";
const EVT: SectionName = "Events";
const LOG: SectionName = "EventLog";

/** Per-event property definitions (`event_<Id>_<property>`). */
export const EVENT_PROPERTIES = [
  { prop: "enableLogging", kind: "boolean", description: "write the event to the event log" },
  { prop: "enableNotification", kind: "boolean", description: "send a notification for the event" },
  {
    prop: "notificationDelay",
    kind: "seconds",
    description: "seconds the event must hold before it is notified (cleared sooner: nothing is sent)",
  },
  {
    prop: "notificationRepeat",
    kind: "seconds",
    description: "repeat the notification every N seconds until the event clears (0 = once)",
  },
  { prop: "enableCommandFile", kind: "boolean", description: "run commandFilePath when the event occurs" },
  { prop: "commandFilePath", kind: "path", description: "absolute path of the command file (empty = none)" },
  {
    prop: "commandFileDelay",
    kind: "seconds",
    description: "seconds to wait before running the command file",
  },
  { prop: "commandFileDuration", kind: "seconds", description: "seconds the command file may run" },
  { prop: "enableShutdown", kind: "boolean", description: "shut the host down when the event occurs" },
  { prop: "shutdownDelay", kind: "seconds", description: "seconds to wait before shutting down" },
] as const;

/** Longest per-event delay or duration, in seconds (one day). */
export const MAX_EVENT_SECONDS = 86400;

/** Default file text of one event property for one event id. */
export function eventDefault(id: string, prop: typeof EVENT_PROPERTIES[number]["prop"]): string {
  switch (prop) {
    case "enableLogging":
      return "true";
    case "enableShutdown":
      return String(SHUTDOWN_EVENT_IDS.includes(id));
    case "shutdownDelay":
      return String(DEFAULT_SHUTDOWN_DELAYS[id] ?? 0);
    case "commandFilePath":
      return "";
    case "commandFileDelay":
    case "commandFileDuration":
    case "notificationDelay":
    case "notificationRepeat":
      return "0";
    default:
      return "false";
  }
}

/** The events that can shut the host down, for messages. */
const SHUTDOWN_CAPABLE = Object.keys(SHUTDOWN_ROLES).filter((id) => SHUTDOWN_ROLES[id as EventId] !== "fixed")
  .join(", ");

/**
 * The shutdown keys of one event, per its role (SHUTDOWN_ROLES): `always` events refuse
 * `enableShutdown = false`, events that cannot shut down refuse `true` and a delay, `fixed` ones say
 * that the value is not used. Undefined: an ordinary key.
 */
function shutdownKeyDef(id: string, prop: string, key: string, dflt: string): KeyDef | undefined {
  const role = SHUTDOWN_ROLES[id as EventId];
  if (role === "optional" || (prop !== "enableShutdown" && prop !== "shutdownDelay")) return undefined;
  if (prop === "enableShutdown") {
    const isTrue = (v: string) => normalizeBoolean(v) === "true";
    if (role === "always") {
      return def({
        ...boolDef(EVT, key, true, ""),
        description:
          `${id}: always true: ${id} always shuts the host down (as in PCNS), it cannot be disabled`,
        check: thenCheck(
          booleanCheck,
          (v) =>
            isTrue(v)
              ? []
              : [`${id} always shuts the host down (as in PCNS): its shutdown cannot be disabled`],
        ),
      });
    }
    if (role === "fixed") {
      return def({
        ...boolDef(EVT, key, dflt === "true", ""),
        description: `${id}: not used: ${id} always shuts the host down after a fixed 10 s (as in PCNS)`,
      });
    }
    return def({
      ...boolDef(EVT, key, false, ""),
      description: `${id}: not used: ${id} cannot shut the host down (must be false)`,
      check: thenCheck(
        booleanCheck,
        (v) => isTrue(v) ? [`${id} cannot shut the host down (only ${SHUTDOWN_CAPABLE} can)`] : [],
      ),
    });
  }
  const delay = intDef(EVT, key, Number(dflt), 0, MAX_EVENT_SECONDS, "");
  if (role === "always") return { ...delay, description: `${id}: seconds to wait before shutting down` };
  if (role === "fixed") {
    return { ...delay, description: `${id}: not used: the ${id} delay is fixed at 10 s (as in PCNS)` };
  }
  return {
    ...delay,
    description: `${id}: not used: ${id} cannot shut the host down (must be 0)`,
    check: thenCheck(
      delay.check,
      (v) => (Number(v) === 0 ? [] : [`${id} cannot shut the host down: must be 0`]),
    ),
  };
}

function eventDefs(): KeyDef[] {
  return CONFIG_EVENT_IDS.flatMap((id) =>
    EVENT_PROPERTIES.map(({ prop, kind, description }) => {
      const key = `event_${id}_${prop}`;
      const text = `${id}: ${description}`;
      const dflt = eventDefault(id, prop);
      const shutdownKey = shutdownKeyDef(id, prop, key, dflt);
      if (shutdownKey) return shutdownKey;
      if (kind === "boolean") return boolDef(EVT, key, dflt === "true", text);
      if (kind === "seconds") return intDef(EVT, key, Number(dflt), 0, MAX_EVENT_SECONDS, text);
      return def({
        section: EVT,
        key,
        type: "absolute path",
        default: dflt,
        description: text,
        check: absolutePathCheck,
      });
    })
  );
}

/** Every key pcns-agent reads, in file order. */
export const SCHEMA: readonly KeyDef[] = [
  def({
    section: NMC,
    key: "username",
    type: "1-10 characters",
    default: "apc",
    description: "PowerChute user name, the same as on the NMC (also the web UI login)",
    required: true,
    check: (v) => (v === "" ? ["must not be empty"] : checkUsername(v)),
  }),
  def({
    section: NMC,
    key: "password",
    type: "scrypt hash",
    default: "",
    description:
      "web UI password as a scrypt hash; type a clear-text password here to reset it (hashed on load)",
    secret: true,
    check: passwordCheck,
  }),
  def({
    section: NMC,
    key: "authenticationPhrase",
    type: "15-32 printable ASCII",
    default: "admin user phrase",
    description: "authentication phrase shared with the NMC (signs the status packets)",
    required: true,
    secret: true,
    check: (v) => (v === "" ? ["must not be empty"] : checkAuthenticationPhrase(v)),
  }),
  enumDef(NMC, "protocol", ["http", "https"], "https", "protocol used to talk to the NMC web server"),
  def({
    section: NMC,
    key: "port",
    type: "80, 443 or 5000-32768",
    default: "443",
    description: "TCP port of the NMC web server",
    check: integerCheck(
      80,
      32768,
      (n) => n === 80 || n === 443 || (n >= 5000 && n <= 32768),
      "80, 443 or 5000-32768",
    ),
    normalize: normalizeInteger,
  }),
  boolDef(NMC, "acceptCerts", false, "accept an untrusted (e.g. the NMC's self-signed) certificate"),
  enumDef(NMC, "mode", ["single", "redundant", "parallel", "advanced"], "single", "how several UPSs combine"),
  ...Array.from({ length: MAX_CARDS }, (_, i) =>
    def({
      section: NMC,
      key: `ip_${i + 1}`,
      type: "IPv4, IPv6 or host name",
      default: "",
      description: `address of NMC ${i + 1} (empty = none)`,
      check: hostCheck(true),
    })),
  def({
    section: NMC,
    key: "localHostAddress",
    type: "IPv4, IPv6 or host name",
    default: "",
    description:
      "address of this host registered with the NMCs (empty = the interface that routes to the card)",
    check: hostCheck(true),
  }),
  boolDef(
    NMC,
    "registerWithNmc",
    true,
    "register this host with every NMC at start and on changes, and answer their shutdown-time negotiation",
  ),
  intDef(
    NMC,
    "commLostTimeout",
    55,
    30,
    600,
    "seconds without a valid status packet before communication is lost",
  ),
  intDef(
    NMC,
    "redundantUps",
    1,
    0,
    MAX_CARDS - 1,
    "advanced mode (N+x): x, the number of redundant UPSs; critical events on x+1 UPSs shut the host down",
  ),
  intDef(NET, "udpPort", 3052, 1, 65535, "UDP port the NMCs send status packets to"),
  boolDef(
    NET,
    "requireCardSource",
    true,
    "accept status packets only from the configured NMC addresses (datagrams from any other source address " +
      "are dropped before they are read); set false when a NAT changes the cards' source address",
  ),
  def({
    section: NET,
    key: "udpListenAddresses",
    type: "comma-separated addresses",
    default: "",
    description: "addresses the UDP listener binds (empty = every address, IPv4 and IPv6)",
    check: hostListCheck,
    normalize: normalizeList,
  }),
  intDef(NET, "httpPort", 3052, 1, 65535, "plain HTTP port of the web UI (redirects to httpsPort)"),
  intDef(NET, "httpsPort", 6547, 1, 65535, "web UI port (TLS unless uiProtocol = http)"),
  enumDef(NET, "uiProtocol", ["https", "http"], "https", "web UI protocol"),
  def({
    section: NET,
    key: "uiListenAddress",
    type: "IPv4, IPv6 or host name",
    default: "",
    description: "address the web UI binds (empty = every address)",
    check: hostCheck(true),
  }),
  def({
    section: SHUT,
    key: "shutdownCommandFile",
    type: "absolute path",
    default: "",
    description: "command file run before the OS shuts down (empty = none)",
    check: absolutePathCheck,
  }),
  intDef(SHUT, "shutdownCommandFileDuration", 0, 0, 3600, "seconds to wait for the shutdown command file"),
  boolDef(SHUT, "turnOffUps", false, "turn the UPS off through the NMC during the shutdown sequence"),
  intDef(SHUT, "settleDelay", 70, 0, 600, "seconds between the last step and the OS shutdown"),
  def({
    section: SHUT,
    key: "osShutdownCommand",
    type: "command line",
    default: "",
    description: "OS shutdown command (empty = the platform default)",
    check: commandCheck,
  }),
  intDef(
    SHUT,
    "osShutdownDuration",
    50,
    0,
    3600,
    "seconds the OS needs to shut down (counted in the runtime checks and the time negotiated with the NMC)",
  ),
  intDef(
    EVT,
    "runtimeThreshold",
    0,
    0,
    1440,
    "minutes of runtime below which RuntimeBelowThreshold is raised (0 = off)",
  ),
  ...eventDefs(),
  def({
    section: LOG,
    key: "fileName",
    type: "file name",
    default: "EventLog.jsonl",
    description: "event log file, relative to the data directory",
    check: fileNameCheck,
  }),
  intDef(LOG, "maxSizeKiB", 1024, 16, 1048576, "size in KiB at which the event log is rotated"),
  def({
    section: "Notifications",
    key: "webhookUrl",
    type: "http(s) URL",
    default: "",
    description: "URL that receives each notified event as a JSON POST (empty = no webhook)",
    check: webhookUrlCheck,
    display: maskUrl,
  }),
  intDef("Notifications", "webhookTimeout", 5, 1, 300, "seconds one webhook attempt may take"),
  intDef("Notifications", "webhookRetries", 3, 0, 10, "retries after a failed webhook attempt"),
  def({
    section: "Notifications",
    key: "syslog",
    type: "empty, local or host[:port]",
    default: "",
    description: "syslog target: empty (off), local (/dev/log, the journal) or host[:port] over UDP",
    check: syslogCheck,
  }),
  ...emailDefs(),
  def({
    section: "WebUI",
    key: "certificateFile",
    type: "absolute path",
    default: "",
    description: "PEM certificate of the web UI (empty = a self-signed one generated in the data directory)",
    check: absolutePathCheck,
  }),
  def({
    section: "WebUI",
    key: "keyFile",
    type: "absolute path",
    default: "",
    description: "PEM private key for certificateFile",
    check: absolutePathCheck,
  }),
  intDef(
    "WebUI",
    "sessionIdleTimeout",
    15,
    1,
    1440,
    "minutes of inactivity after which a login session ends",
  ),
  intDef("WebUI", "sessionLifetime", 720, 5, 10080, "minutes after which a login session ends in any case"),
  intDef(
    "WebUI",
    "lockoutThreshold",
    5,
    1,
    100,
    "failed logins of one user name from one address before that pair is locked out",
  ),
  intDef(
    "WebUI",
    "lockoutDuration",
    15,
    1,
    1440,
    "minutes of the first lockout (doubling after each new failure)",
  ),
  boolDef("WebUI", "metricsWithoutLogin", false, "serve /metrics without authentication"),
  {
    ...boolDef(
      "WebUI",
      "allowCommandEdits",
      true,
      "let the web UI and the API change the commands the agent runs (event command files, " +
        "shutdownCommandFile, osShutdownCommand); false = only in this file. Absent = true; a fresh file has false",
    ),
    template: "false",
  },
  intDef(
    "WebUI",
    "maxConnections",
    256,
    8,
    10000,
    "web UI connections open at once, both ports (never more than a quarter of the open-file limit)",
  ),
  intDef(
    "WebUI",
    "maxConnectionsPerAddress",
    32,
    1,
    10000,
    "web UI connections open at once from one address",
  ),
  intDef("WebUI", "handshakeTimeout", 10, 1, 300, "seconds a TLS handshake may take"),
  intDef(
    "WebUI",
    "headerTimeout",
    10,
    1,
    300,
    "seconds from connecting to the end of the first request's headers",
  ),
  intDef("WebUI", "keepAliveTimeout", 30, 1, 3600, "seconds an idle keep-alive connection is kept open"),
  ...networkServerDefs(),
  ...snmpDefs(),
  ...sshDefs(),
  ...setupDefs(),
];

/** Schema keys by `Section.key`. */
export const KEYS: ReadonlyMap<string, KeyDef> = new Map(SCHEMA.map((d) => [d.name, d]));

/** The schema key for `Section.key`, if known. */
export function keyDef(name: string): KeyDef | undefined {
  return KEYS.get(name);
}

/** Effective values by `Section.key` (canonical file text), as produced by the loader. */
export type ConfigValues = ReadonlyMap<string, string>;

/** Every key's default value. */
export function defaultValues(): Map<string, string> {
  return new Map(SCHEMA.map((d) => [d.name, d.default]));
}

/** The text shown for a value: `***` for a non-empty secret, credentials masked in URLs, else the value. */
export function displayValue(name: string, value: string): string {
  const d = keyDef(name);
  if (d?.secret && value !== "") return "***";
  return d?.display ? d.display(value) : value;
}

/** Names of keys whose canonical values differ between two value sets, in schema order. */
export function changedKeys(before: ConfigValues, after: ConfigValues): string[] {
  return SCHEMA.map((d) => d.name).filter((name) => before.get(name) !== after.get(name));
}

/** The closest known key of `section` to `key` (case-insensitive, a prefix, or up to 2 edits), if any. */
export function suggestKey(section: string, key: string): string | undefined {
  const candidates = SCHEMA.filter((d) => d.section === section).map((d) => d.key);
  const lower = key.toLowerCase();
  const exact = candidates.find((c) => c.toLowerCase() === lower) ??
    (lower.length >= 4 ? candidates.find((c) => c.toLowerCase().startsWith(lower)) : undefined);
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** The closest known section name (case-insensitive or up to 2 edits), if any. */
export function suggestSection(section: string): string | undefined {
  const lower = section.toLowerCase();
  return SECTIONS.find((s) => s.toLowerCase() === lower) ??
    SECTIONS.find((s) => editDistance(lower, s.toLowerCase()) <= 2);
}
