/**
 * The typed schema of pcnsconfig.ini: every known key with its type, default,
 * allowed range and a one-line description, the per-value checks, and the
 * conversion of checked values into the {@link AgentConfig} every module uses.
 *
 * All functions here are pure.
 *
 * @module
 */
import { type EventId, SHUTDOWN_ROLES, UPS_EVENT_IDS } from "../events/types.ts";
import {
  checkAuthenticationPhrase,
  checkUsername,
  looksLikePasswordHash,
  passwordHashProblem,
} from "./credentials.ts";
import { buildEmailSettings, emailDefs, maskEmailSettings } from "./schema_email.ts";
import { buildSnmpSettings, maskSnmpSettings, snmpDefs } from "./schema_snmp.ts";
import { buildSshActions, maskSshActions, SSH_SECTIONS, sshDefs } from "./schema_ssh.ts";
import { buildUpsSetups, SETUP_SECTIONS, setupDefs } from "./schema_setups.ts";
import type { AgentConfig, EventActions, UpsMode } from "./types.ts";
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

/** One key of the schema. */
export interface KeyDef {
  /** Section the key lives in. */
  readonly section: SectionName;
  /** Key name as written in the file (case-sensitive). */
  readonly key: string;
  /** `Section.key`, the name used by `config get/set` and in change lists. */
  readonly name: string;
  /** Type and allowed range, as shown in messages and the README. */
  readonly type: string;
  /** Default value (file text). */
  readonly default: string;
  /** One-line description. */
  readonly description: string;
  /** Must be present with a valid value (no schema default is used). */
  readonly required?: boolean;
  /** Masked as `***` wherever values are shown. */
  readonly secret?: boolean;
  /** Problems with a value (empty list = valid); the value is already trimmed. */
  readonly check: (value: string) => string[];
  /** Canonical file text of a valid value (e.g. `TRUE` -> `true`). */
  readonly normalize: (value: string) => string;
  /** How a non-secret value that may embed credentials is shown (default: as is). */
  readonly display?: (value: string) => string;
  /** The value written into a fresh file, when it differs from `default` (the value of an absent key). */
  readonly template?: string;
  /** A password: clear text typed in the file is hashed when the file is loaded (as the UI password). */
  readonly hashOnLoad?: boolean;
}

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

/** Number of `ip_N` keys. */
export const MAX_CARDS = 9;

/** Number of `[NUT] user_N` / `password_N` pairs. */
export const MAX_NUT_USERS = 10;

// ---- value checks -------------------------------------------------------------------------------

const identity = (v: string) => v;

function integerCheck(min: number, max: number, extra?: (n: number) => boolean, range?: string) {
  const describe = range ?? `${min}-${max}`;
  return (value: string): string[] => {
    if (!/^\+?[0-9]+$/.test(value)) return [`must be a whole number (${describe})`];
    const n = Number(value);
    if (extra ? !extra(n) : n < min || n > max) return [`must be ${describe}`];
    return [];
  };
}

const normalizeInteger = (v: string) => String(Number(v));

const TRUE_WORDS = ["true", "yes", "1"];
const FALSE_WORDS = ["false", "no", "0"];

function booleanCheck(value: string): string[] {
  const v = value.toLowerCase();
  return TRUE_WORDS.includes(v) || FALSE_WORDS.includes(v) ? [] : ["must be true or false"];
}

const normalizeBoolean = (v: string) => String(TRUE_WORDS.includes(v.toLowerCase()));

function enumCheck(values: readonly string[]) {
  return (value: string): string[] =>
    values.includes(value.toLowerCase()) ? [] : [`must be one of ${values.join(", ")}`];
}

const normalizeEnum = (v: string) => v.toLowerCase();

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const HOST_RANGE = "an IPv4 address, an IPv6 address or a host name";

function hostCheck(allowEmpty: boolean) {
  return (value: string): string[] => {
    if (value === "") return allowEmpty ? [] : [`must not be empty (${HOST_RANGE})`];
    return isHost(value) ? [] : [`must be ${HOST_RANGE}`];
  };
}

/** Splits a comma-separated address list ("" = empty list). */
export function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function hostListCheck(value: string): string[] {
  const bad = splitList(value).filter((h) => !isHost(h));
  return bad.length > 0
    ? [`${bad.map((b) => JSON.stringify(b)).join(", ")}: must each be ${HOST_RANGE}`]
    : [];
}

const normalizeList = (v: string) => splitList(v).join(",");

/** True for an absolute path on Linux/macOS (`/...`) or Windows (`C:\...`, `\\server\...`). */
export function isAbsolutePath(value: string): boolean {
  return value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value) || value.startsWith("\\\\");
}

function absolutePathCheck(value: string): string[] {
  if (value === "") return [];
  if (CONTROL.test(value)) return ["must not contain control characters"];
  return isAbsolutePath(value) ? [] : ["must be an absolute path (or empty for none)"];
}

function commandCheck(value: string): string[] {
  return CONTROL.test(value) ? ["must not contain control characters"] : [];
}

function fileNameCheck(value: string): string[] {
  if (value === "") return ["must not be empty"];
  if (CONTROL.test(value)) return ["must not contain control characters"];
  return value.split(/[\\/]/).includes("..")
    ? ['must not contain ".." (it is relative to the data directory)']
    : [];
}

/** True for `host`, `host:port`, `[IPv6]`, `[IPv6]:port` or a bare IPv6 address. */
export function isHostPort(value: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(value);
  const portOk = (p: string | undefined) =>
    p === undefined || (/^[0-9]{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  if (bracketed) return isIPv6(bracketed[1]) && portOk(bracketed[2]);
  if (isIPv6(value)) return true;
  const colon = value.lastIndexOf(":");
  if (colon < 0) return isHost(value);
  return isHost(value.slice(0, colon)) && portOk(value.slice(colon + 1));
}

function syslogCheck(value: string): string[] {
  if (value === "" || value === "local" || isHostPort(value)) return [];
  return ['must be empty (off), "local" (/dev/log, the journal) or host[:port] for UDP'];
}

function webhookUrlCheck(value: string): string[] {
  if (value === "") return [];
  if (/\s/.test(value) || CONTROL.test(value)) return ["must not contain blanks or control characters"];
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return ["must start with http:// or https://"];
    if (url.hostname === "") return ["must name a host"];
    return [];
  } catch {
    return ["must be an http:// or https:// URL"];
  }
}

/** A URL with any `user:password@` part masked, for display. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.username === "" && url.password === "") return value;
    url.username = "***";
    url.password = "";
    return url.toString();
  } catch {
    return value;
  }
}

function passwordCheck(value: string): string[] {
  // Clear text is handled by the loader (hashed or rejected); here only a stored value is judged.
  if (value === "") return [];
  if (looksLikePasswordHash(value)) {
    const problem = passwordHashProblem(value);
    return problem ? [problem] : [];
  }
  return ["must be a scrypt hash (a clear-text password is hashed when the file is loaded)"];
}

// ---- the schema ---------------------------------------------------------------------------------

type Def = Omit<KeyDef, "name" | "normalize"> & { normalize?: (v: string) => string };

function def(d: Def): KeyDef {
  return { ...d, name: `${d.section}.${d.key}`, normalize: d.normalize ?? identity };
}

function intDef(
  section: SectionName,
  key: string,
  dflt: number,
  min: number,
  max: number,
  description: string,
) {
  return def({
    section,
    key,
    type: `integer ${min}-${max}`,
    default: String(dflt),
    description,
    check: integerCheck(min, max),
    normalize: normalizeInteger,
  });
}

function boolDef(section: SectionName, key: string, dflt: boolean, description: string) {
  return def({
    section,
    key,
    type: "boolean",
    default: String(dflt),
    description,
    check: booleanCheck,
    normalize: normalizeBoolean,
  });
}

function enumDef(
  section: SectionName,
  key: string,
  values: readonly string[],
  dflt: string,
  description: string,
) {
  return def({
    section,
    key,
    type: values.join("|"),
    default: dflt,
    description,
    check: enumCheck(values),
    normalize: normalizeEnum,
  });
}

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
  const extra = (check: (v: string) => string[], more: (v: string) => string[]) => (v: string) => {
    const problems = check(v);
    return problems.length > 0 ? problems : more(v);
  };
  if (prop === "enableShutdown") {
    const isTrue = (v: string) => normalizeBoolean(v) === "true";
    if (role === "always") {
      return def({
        ...boolDef(EVT, key, true, ""),
        description:
          `${id}: always true: ${id} always shuts the host down (as in PCNS), it cannot be disabled`,
        check: extra(
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
      check: extra(
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
    check: extra(delay.check, (v) => (Number(v) === 0 ? [] : [`${id} cannot shut the host down: must be 0`])),
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

/** A NUT name: 1-32 letters, digits, `_`, `-` or `.`. */
function nutNameCheck(what: string, reserved?: RegExp) {
  return (value: string): string[] => {
    if (value === "") return [];
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(value)) return [`must be 1-32 letters, digits, _, - or . (a ${what})`];
    return reserved?.test(value) ? ["nmc1 ... nmc9 are the default names: choose another"] : [];
  };
}

/** The `[NUT]` and `[NIS]` keys (the servers for stock NUT and apcupsd clients). */
function networkServerDefs(): KeyDef[] {
  const listen = (section: SectionName) =>
    def({
      section,
      key: "listenAddress",
      type: "comma-separated addresses",
      default: "",
      description: "addresses to listen on (empty = every address, IPv4 and IPv6)",
      check: hostListCheck,
      normalize: normalizeList,
    });
  return [
    boolDef("NUT", "enabled", false, "serve NUT (RFC 9271) to stock NUT clients: upsc, upsmon secondaries"),
    intDef("NUT", "port", 3493, 1, 65535, "TCP port of the NUT server"),
    listen("NUT"),
    ...Array.from({ length: MAX_NUT_USERS }, (_, i) => [
      def({
        section: "NUT",
        key: `user_${i + 1}`,
        type: "NUT user name",
        default: "",
        description: `user name ${i + 1} a NUT secondary logs in with (empty = none)`,
        check: nutNameCheck("user name"),
      }),
      def({
        section: "NUT",
        key: `password_${i + 1}`,
        type: "scrypt hash",
        default: "",
        description: `password of user_${i + 1}; type it in clear text, it is hashed on load`,
        secret: true,
        hashOnLoad: true,
        check: passwordCheck,
      }),
    ]).flat(),
    ...Array.from({ length: MAX_CARDS }, (_, i) =>
      def({
        section: "NUT",
        key: `upsName_${i + 1}`,
        type: "NUT UPS name",
        default: "",
        description: `the NUT name of the UPS of ip_${i + 1} (empty = nmc${i + 1})`,
        check: nutNameCheck("UPS name", /^nmc[1-9]$/i),
      })),
    intDef(
      "NUT",
      "hostSyncTimeout",
      15,
      0,
      3600,
      "seconds the shutdown waits for logged-in NUT secondaries to log out before the OS step (as HOSTSYNC)",
    ),
    intDef("NUT", "maxConnections", 256, 8, 10000, "NUT connections open at once"),
    intDef("NUT", "maxConnectionsPerAddress", 32, 1, 10000, "NUT connections open at once from one address"),
    intDef("NUT", "idleTimeout", 60, 1, 3600, "seconds a NUT connection may stay silent (upsd: 60)"),
    boolDef("NIS", "enabled", false, "serve apcupsd's NIS (apcaccess, Home Assistant's apcupsd integration)"),
    intDef("NIS", "port", 3551, 1, 65535, "TCP port of the NIS server"),
    listen("NIS"),
    def({
      section: "NIS",
      key: "nmc",
      type: "NMC address or NUT UPS name",
      default: "",
      description: "the card whose UPS is served: an ip_N address or its NUT name (empty = the first)",
      check: (
        v,
      ) => (v === "" || isHost(v) || /^[A-Za-z0-9_.-]{1,32}$/.test(v)
        ? []
        : ["must be an ip_N address or a UPS name"]),
    }),
  ];
}

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

/** Builds the typed configuration from a complete set of checked, canonical values. */
export function buildConfig(values: ConfigValues): AgentConfig {
  const str = (name: string): string => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`internal: no value for ${name}`);
    return v;
  };
  const int = (name: string) => Number(str(name));
  const bool = (name: string) => str(name) === "true";
  const events: Record<string, EventActions> = {};
  for (const id of CONFIG_EVENT_IDS) {
    const e = (prop: string) => `Events.event_${id}_${prop}`;
    events[id] = {
      enableLogging: bool(e("enableLogging")),
      enableNotification: bool(e("enableNotification")),
      notificationDelay: int(e("notificationDelay")),
      notificationRepeat: int(e("notificationRepeat")),
      enableCommandFile: bool(e("enableCommandFile")),
      commandFilePath: str(e("commandFilePath")),
      commandFileDelay: int(e("commandFileDelay")),
      commandFileDuration: int(e("commandFileDuration")),
      enableShutdown: bool(e("enableShutdown")),
      shutdownDelay: int(e("shutdownDelay")),
    };
  }
  const cards: string[] = [];
  for (let i = 1; i <= MAX_CARDS; i++) {
    const ip = str(`NetworkManagementCard.ip_${i}`);
    if (ip !== "") cards.push(ip);
  }
  return {
    nmc: {
      username: str("NetworkManagementCard.username"),
      password: str("NetworkManagementCard.password"),
      authenticationPhrase: str("NetworkManagementCard.authenticationPhrase"),
      protocol: str("NetworkManagementCard.protocol") as "http" | "https",
      port: int("NetworkManagementCard.port"),
      acceptCerts: bool("NetworkManagementCard.acceptCerts"),
      mode: str("NetworkManagementCard.mode") as UpsMode,
      cards,
      localHostAddress: str("NetworkManagementCard.localHostAddress"),
      registerWithNmc: bool("NetworkManagementCard.registerWithNmc"),
      commLostTimeout: int("NetworkManagementCard.commLostTimeout"),
      redundantUps: int("NetworkManagementCard.redundantUps"),
    },
    networking: {
      udpPort: int("Networking.udpPort"),
      udpListenAddresses: splitList(str("Networking.udpListenAddresses")),
      requireCardSource: bool("Networking.requireCardSource"),
      httpPort: int("Networking.httpPort"),
      httpsPort: int("Networking.httpsPort"),
      uiProtocol: str("Networking.uiProtocol") as "http" | "https",
      uiListenAddress: str("Networking.uiListenAddress"),
    },
    shutdown: {
      shutdownCommandFile: str("Shutdown.shutdownCommandFile"),
      shutdownCommandFileDuration: int("Shutdown.shutdownCommandFileDuration"),
      turnOffUps: bool("Shutdown.turnOffUps"),
      settleDelay: int("Shutdown.settleDelay"),
      osShutdownCommand: str("Shutdown.osShutdownCommand"),
      osShutdownDuration: int("Shutdown.osShutdownDuration"),
    },
    events,
    eventLog: {
      fileName: str("EventLog.fileName"),
      maxSizeKiB: int("EventLog.maxSizeKiB"),
    },
    notifications: {
      webhookUrl: str("Notifications.webhookUrl"),
      webhookTimeout: int("Notifications.webhookTimeout"),
      webhookRetries: int("Notifications.webhookRetries"),
      syslog: str("Notifications.syslog"),
      email: buildEmailSettings(str),
    },
    runtimeThreshold: int("Events.runtimeThreshold"),
    webUi: {
      certificateFile: str("WebUI.certificateFile"),
      keyFile: str("WebUI.keyFile"),
      sessionIdleTimeout: int("WebUI.sessionIdleTimeout"),
      sessionLifetime: int("WebUI.sessionLifetime"),
      lockoutThreshold: int("WebUI.lockoutThreshold"),
      lockoutDuration: int("WebUI.lockoutDuration"),
      metricsWithoutLogin: bool("WebUI.metricsWithoutLogin"),
      maxConnections: int("WebUI.maxConnections"),
      maxConnectionsPerAddress: int("WebUI.maxConnectionsPerAddress"),
      handshakeTimeout: int("WebUI.handshakeTimeout"),
      headerTimeout: int("WebUI.headerTimeout"),
      keepAliveTimeout: int("WebUI.keepAliveTimeout"),
    },
    nut: {
      enabled: bool("NUT.enabled"),
      port: int("NUT.port"),
      listenAddresses: splitList(str("NUT.listenAddress")),
      users: Array.from({ length: MAX_NUT_USERS }, (_, i) => ({
        name: str(`NUT.user_${i + 1}`),
        passwordHash: str(`NUT.password_${i + 1}`),
      })).filter((u) => u.name !== ""),
      ups: Array.from({ length: MAX_CARDS }, (_, i) => ({
        name: str(`NUT.upsName_${i + 1}`) || `nmc${i + 1}`,
        card: str(`NetworkManagementCard.ip_${i + 1}`),
      })).filter((u) => u.card !== ""),
      hostSyncTimeout: int("NUT.hostSyncTimeout"),
      maxConnections: int("NUT.maxConnections"),
      maxConnectionsPerAddress: int("NUT.maxConnectionsPerAddress"),
      idleTimeout: int("NUT.idleTimeout"),
    },
    nis: {
      enabled: bool("NIS.enabled"),
      port: int("NIS.port"),
      listenAddresses: splitList(str("NIS.listenAddress")),
      nmc: str("NIS.nmc"),
    },
    snmp: buildSnmpSettings(str),
    sshActions: buildSshActions(str),
    upsSetups: buildUpsSetups(str),
  };
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

/** A copy of the configuration with secrets replaced by `***` (for `config show --json`, logs, the UI). */
export function maskConfig(config: AgentConfig): AgentConfig {
  const mask = (v: string) => (v === "" ? "" : "***");
  return {
    ...config,
    nmc: {
      ...config.nmc,
      password: mask(config.nmc.password),
      authenticationPhrase: mask(config.nmc.authenticationPhrase),
    },
    notifications: {
      ...config.notifications,
      webhookUrl: maskUrl(config.notifications.webhookUrl),
      ...(config.notifications.email ? { email: maskEmailSettings(config.notifications.email) } : {}),
    },
    ...(config.snmp ? { snmp: maskSnmpSettings(config.snmp) } : {}),
    ...(config.sshActions ? { sshActions: maskSshActions(config.sshActions) } : {}),
    ...(config.nut
      ? {
        nut: {
          ...config.nut,
          users: config.nut.users.map((u) => ({ ...u, passwordHash: mask(u.passwordHash) })),
        },
      }
      : {}),
  };
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
