/**
 * Human words for the UI: event names ("UPS on battery" for PowerFailed),
 * labels of config keys ("Settle delay" for `[Shutdown] settleDelay`), and a
 * fallback that turns any key a later section adds into words, so a new
 * schema section shows up readable without touching this file. Pure.
 *
 * @module
 */
import { EVENT_CATALOG } from "../events/types.ts";

/** Short names of the events, as an admin reads them in a table (PowerChute's wording where it has one). */
const EVENT_NAMES: Readonly<Record<string, string>> = {
  PowerFailed: "UPS on battery",
  PowerRestored: "Utility power restored",
  LowBattery: "Low battery",
  LowBatteryCleared: "Low battery cleared",
  UpsTurnOffInitiated: "UPS turn-off initiated",
  CommunicationLost: "Communication lost",
  CommunicationEstablished: "Communication established",
  Overload: "UPS overload",
  OverloadCleared: "UPS overload cleared",
  ReplaceBattery: "Battery needs replacing",
  BatteryDischarged: "Battery discharged",
  BatteryChargeInRange: "Battery charge in range",
  RuntimeBelowThreshold: "Runtime below threshold",
  RuntimeAboveThreshold: "Runtime above threshold",
  RuntimeExceeded: "Available runtime exceeded",
  RuntimeSufficient: "Available runtime sufficient",
  SelfTestStarted: "Self-test started",
  SelfTestEnded: "Self-test ended",
  BatteryLowOnLine: "Battery low while on line",
  BatteryLowOnLineCleared: "Battery low while on line cleared",
  BatteryDisconnected: "Battery disconnected",
  BatteryConnected: "Battery connected",
  MultipleCriticalEvents: "Multiple critical events",
  ShutdownStarting: "Shutdown starting",
  ShutdownCancelled: "Pending shutdown cancelled",
};

/** Splits `camelCase` / `ip_1` into lower-case words: "session idle timeout", "ip 1". */
export function keyWords(key: string): string {
  return key
    .replace(/_/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .trim();
}

/** Words shown in capitals wherever a key is turned into words. */
const ACRONYMS = new Set([
  "nmc",
  "ups",
  "ip",
  "udp",
  "tcp",
  "url",
  "smtp",
  "snmp",
  "ssh",
  "tls",
  "nut",
  "nis",
  "os",
  "http",
  "https",
  "ui",
  "id",
  "v2c",
  "v3",
]);

/** "session idle timeout" -> "Session idle timeout"; acronyms in capitals ("Nmc" -> "NMC"). */
const capital = (text: string) => {
  const words = text.split(" ").map((w) => (ACRONYMS.has(w) ? w.toUpperCase() : w));
  const joined = words.join(" ");
  return joined.charAt(0).toUpperCase() + joined.slice(1);
};

/** The human name of an event id (short table name; the catalogue text for the others; the id if unknown). */
export function eventName(id: string): string {
  const known = EVENT_NAMES[id];
  if (known) return known;
  const info = (EVENT_CATALOG as Record<string, { text: string }>)[id];
  if (info) return info.text.split(/[:(]/)[0].trim();
  return capital(keyWords(id));
}

/** Labels of known keys by `Section.key`; other keys get {@link keyLabel}'s fallback. */
const KEY_LABELS: Readonly<Record<string, string>> = {
  "NetworkManagementCard.username": "PowerChute user name",
  "NetworkManagementCard.authenticationPhrase": "Authentication phrase",
  "NetworkManagementCard.protocol": "Protocol to the card",
  "NetworkManagementCard.port": "Card web server port",
  "NetworkManagementCard.acceptCerts": "Accept the card's self-signed certificate",
  "NetworkManagementCard.mode": "UPS configuration",
  "NetworkManagementCard.redundantUps": "Redundant UPSs (advanced N+x: x)",
  "NetworkManagementCard.localHostAddress": "This host's address (as the cards see it)",
  "NetworkManagementCard.registerWithNmc": "Register this host with the cards",
  "NetworkManagementCard.commLostTimeout": "Communication lost after (s)",
  "Networking.udpPort": "UDP port for status packets",
  "Networking.requireCardSource": "Only accept packets from the card addresses",
  "Networking.udpListenAddresses": "UDP listen addresses",
  "Networking.httpPort": "HTTP port (redirects)",
  "Networking.httpsPort": "Web UI port",
  "Networking.uiProtocol": "Web UI protocol",
  "Networking.uiListenAddress": "Web UI listen address",
  "Shutdown.shutdownCommandFile": "Shutdown command file",
  "Shutdown.shutdownCommandFileDuration": "Command file may run for (s)",
  "Shutdown.turnOffUps": "Turn the UPS off",
  "Shutdown.settleDelay": "Settle delay before the OS shutdown (s)",
  "Shutdown.osShutdownCommand": "OS shutdown command",
  "Shutdown.osShutdownDuration": "Time the OS needs to shut down (s)",
  "Events.runtimeThreshold": "Runtime threshold (min)",
  "EventLog.fileName": "Event log file",
  "EventLog.maxSizeKiB": "Rotate the event log at (KiB)",
  "Notifications.webhookUrl": "Webhook URL",
  "Notifications.webhookTimeout": "Webhook timeout (s)",
  "Notifications.webhookRetries": "Webhook retries",
  "Notifications.syslog": "Syslog target",
  "WebUI.certificateFile": "Certificate file",
  "WebUI.keyFile": "Private key file",
  "WebUI.sessionIdleTimeout": "Log out after inactivity (min)",
  "WebUI.sessionLifetime": "Longest session (min)",
  "WebUI.lockoutThreshold": "Failed logins before a lockout",
  "WebUI.lockoutDuration": "First lockout (min)",
  "WebUI.metricsWithoutLogin": "Serve /metrics without login",
  "WebUI.allowCommandEdits": "Allow command edits from the web UI",
  "WebUI.maxConnections": "Connections at once",
  "WebUI.maxConnectionsPerAddress": "Connections at once per address",
  "WebUI.handshakeTimeout": "TLS handshake timeout (s)",
  "WebUI.headerTimeout": "Request header timeout (s)",
  "WebUI.keepAliveTimeout": "Idle keep-alive timeout (s)",
  "NUT.enabled": "Serve NUT",
  "NUT.port": "NUT port",
  "NUT.listenAddress": "NUT listen addresses",
  "NUT.hostSyncTimeout": "Wait for NUT secondaries (s)",
  "NUT.maxConnections": "NUT connections at once",
  "NUT.maxConnectionsPerAddress": "NUT connections per address",
  "NUT.idleTimeout": "NUT idle timeout (s)",
  "NIS.enabled": "Serve apcupsd NIS",
  "NIS.port": "NIS port",
  "NIS.listenAddress": "NIS listen addresses",
  "NIS.nmc": "UPS served over NIS",
};

/** Numbered keys (`ip_N`): the column label, and the title of their table. */
const BASE_LABELS: Readonly<Record<string, readonly [string, string]>> = {
  "NetworkManagementCard.ip": ["Card address", "Network Management Cards"],
  "NUT.user": ["User", "NUT users"],
  "NUT.password": ["Password", "NUT users"],
  "NUT.upsName": ["NUT UPS name", "NUT UPS names (per card)"],
};

/** The title of a table of numbered keys (their words when unknown). */
export function groupTitle(section: string, bases: readonly string[]): string {
  const known = BASE_LABELS[`${section}.${bases[0]}`]?.[1];
  if (known) return known;
  return bases.length > 2
    ? `Entries (${bases.map(keyWords).join(", ")})`
    : capital(bases.map(keyWords).join(" and "));
}

/** Labels of the per-event properties (`event_<Id>_<prop>`). */
const EVENT_PROPERTY_LABELS: Readonly<Record<string, string>> = {
  enableLogging: "Log",
  enableNotification: "Notify",
  notificationDelay: "Notify after (s)",
  notificationRepeat: "Repeat the notification every (s, 0 = once)",
  enableCommandFile: "Command file",
  commandFilePath: "Command file path",
  commandFileDelay: "Run the command file after (s)",
  commandFileDuration: "Command file may run for (s)",
  enableShutdown: "Shut down",
  shutdownDelay: "Shut down after (s)",
};

/** The label of a per-event property (its words when it is new). */
export function eventPropertyLabel(prop: string): string {
  return EVENT_PROPERTY_LABELS[prop] ?? capital(keyWords(prop));
}

/** The human label of a config key (`Section.key`); unknown keys are turned into words. */
export function keyLabel(name: string): string {
  const known = KEY_LABELS[name];
  if (known) return known;
  const [section, key = ""] = name.split(".", 2);
  const event = /^event_([A-Za-z]+)_([A-Za-z]+)$/.exec(key);
  if (section === "Events" && event) return `${eventName(event[1])}: ${eventPropertyLabel(event[2])}`;
  const numbered = /^(.*)_(\d+)$/.exec(key);
  if (numbered) {
    const base = BASE_LABELS[`${section}.${numbered[1]}`]?.[0] ?? capital(keyWords(numbered[1]));
    return `${base} ${numbered[2]}`;
  }
  return capital(keyWords(key));
}

/** How the ini names a key, as the secondary hint: `[Shutdown] settleDelay`. */
export function iniName(name: string): string {
  const dot = name.indexOf(".");
  return dot < 0 ? name : `[${name.slice(0, dot)}] ${name.slice(dot + 1)}`;
}

/**
 * A section name as a page title: "NetworkManagementCard" -> "Network management card", "NUT" stays,
 * "SSHAction0" -> "SSH action 0" (acronyms kept).
 */
export function sectionTitle(section: string): string {
  if (/^[A-Z]+$/.test(section)) return section;
  if (section.includes("_")) return capital(section.split("_").filter(Boolean).join(" ").toLowerCase());
  const words = section
    .replace(/([A-Za-z])(\d+)$/, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .split(" ")
    .map((w, i) => (/^[A-Z0-9]+$/.test(w) ? w : i === 0 ? w : w.toLowerCase()));
  return words.join(" ");
}

/** Words for the values of enumerated keys, by `Section.key` (other values show as they are). */
const OPTION_LABELS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "NetworkManagementCard.mode": {
    single: "Single UPS",
    redundant: "Redundant (each UPS can carry the load alone)",
    parallel: "Parallel (the UPSs share the load)",
    advanced: "Advanced (N+x redundant UPSs)",
  },
  "NetworkManagementCard.protocol": { http: "HTTP", https: "HTTPS" },
  "Networking.uiProtocol": { http: "HTTP (unencrypted)", https: "HTTPS" },
};

/** The words for the options of an enumerated key, if it has any. */
export function optionLabels(name: string): Readonly<Record<string, string>> | undefined {
  return OPTION_LABELS[name];
}
