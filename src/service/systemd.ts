/**
 * The systemd unit of the agent (pure text generation): `Type=notify` (the
 * agent sends READY=1 once it listens), optional watchdog,
 * `Restart=on-failure`, and a hardened sandbox: no new privileges, a
 * read-only file system except the configuration directory, a private /tmp,
 * and only the capabilities an OS shutdown needs (plus binding ports below
 * 1024 when one is configured).
 *
 * @module
 */

/** Name of the unit file. */
export const UNIT_NAME = "pcns-agent.service";
/** Where `service install` writes the unit by default. */
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";

/** What the unit is made of. */
export interface UnitOptions {
  /** The command line: an absolute executable and its arguments. */
  readonly execStart: readonly string[];
  /** The configuration directory (absolute): the only place the agent writes. */
  readonly dataDir: string;
  /** Run as this user (default: root). */
  readonly user?: string;
  /** Seconds without a WATCHDOG=1 ping before systemd restarts the agent (0 = no watchdog). */
  readonly watchdogSec: number;
  /** A configured port is below 1024: keep CAP_NET_BIND_SERVICE. */
  readonly lowPorts: boolean;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One word of a unit setting (pure): unquoted when it only has safe
 * characters, else double-quoted with `\` and `"` escaped; `%` becomes `%%`
 * (specifiers) and, when `exec` is set, `$` becomes `$$` (no variable
 * expansion in ExecStart=).
 */
export function unitWord(value: string, exec = false): string {
  let word = SAFE_WORD.test(value) ? value : `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  word = word.replace(/%/g, "%%");
  return exec ? word.replace(/\$/g, "$$$$") : word;
}

/** Capabilities the agent keeps (pure): CAP_SYS_BOOT, and CAP_NET_BIND_SERVICE for ports below 1024. */
export function unitCapabilities(lowPorts: boolean): string[] {
  return lowPorts ? ["CAP_SYS_BOOT", "CAP_NET_BIND_SERVICE"] : ["CAP_SYS_BOOT"];
}

/** The unit file text (pure). */
export function systemdUnit(options: UnitOptions): string {
  if (options.execStart.length === 0 || !options.execStart[0].startsWith("/")) {
    throw new Error(`the executable must be an absolute path, got "${options.execStart[0] ?? ""}"`);
  }
  if (!options.dataDir.startsWith("/")) {
    throw new Error(`the configuration directory must be an absolute path, got "${options.dataDir}"`);
  }
  const caps = unitCapabilities(options.lowPorts).join(" ");
  const lines = [
    "# pcns-agent: PowerChute Network Shutdown compatible UPS shutdown agent.",
    "# Written by `pcns-agent service install`; change it with `systemctl edit pcns-agent`.",
    "[Unit]",
    "Description=pcns-agent UPS shutdown agent (PowerChute Network Shutdown compatible)",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=notify",
    "NotifyAccess=main",
    `ExecStart=${options.execStart.map((a) => unitWord(a, true)).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=5",
    // The agent stops within 2 s; leave room for a slow event log flush.
    "TimeoutStopSec=15",
    ...(options.watchdogSec > 0 ? [`WatchdogSec=${options.watchdogSec}`] : []),
    ...(options.user ? [`User=${options.user}`] : []),
    "SyslogIdentifier=pcns-agent",
    "# Hardening: the agent only writes its configuration directory.",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${unitWord(options.dataDir)}`,
    "PrivateTmp=yes",
    `CapabilityBoundingSet=${caps}`,
    `AmbientCapabilities=${caps}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** True if any of the ports needs CAP_NET_BIND_SERVICE (pure). */
export function needsLowPorts(ports: readonly number[]): boolean {
  return ports.some((p) => p > 0 && p < 1024);
}

/** A user name systemd accepts in User= (pure). */
export function isValidUnixUser(user: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(user) || /^\d+$/.test(user);
}
