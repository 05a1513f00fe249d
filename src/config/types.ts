/**
 * The typed configuration every module receives. It is produced only by the
 * config store (src/config/) from pcnsconfig.ini and pushed to subscribers;
 * no other module reads the file. Field names are the ini key names.
 *
 * @module
 */
import type { SshActionSettings } from "./schema_ssh.ts";
import type { UpsSetupSettings } from "./schema_setups.ts";

/** How several NMCs combine (PCNS UPS configuration types). */
export type UpsMode = "single" | "redundant" | "parallel" | "advanced";

/** `[NetworkManagementCard]`: the cards and the credentials shared with them. */
export interface NmcSettings {
  /** PowerChute user name (also the web UI login), 1-10 characters. */
  readonly username: string;
  /** Web UI password as a salted scrypt hash (`scrypt$N$r$p$salt$hash`), or "" when none is set yet. */
  readonly password: string;
  /** Shared secret for the packets' MD5 (15-32 printable ASCII characters). */
  readonly authenticationPhrase: string;
  /** Protocol used to talk to the cards. */
  readonly protocol: "http" | "https";
  /** TCP port of the cards' web server (80, 443 or 5000-32768). */
  readonly port: number;
  /** Accept a card certificate that is not trusted (self-signed). */
  readonly acceptCerts: boolean;
  /** How several UPSs combine. */
  readonly mode: UpsMode;
  /** Card addresses from ip_1 ... ip_9, in order, empty ones left out. */
  readonly cards: readonly string[];
  /** Address of this host to register with the cards ("" = the interface that routes to the card). */
  readonly localHostAddress: string;
  /** Register this host with the cards at start and on changes (PCNS silent install REGISTER_WITH_NMC). */
  readonly registerWithNmc: boolean;
  /** Seconds without an accepted status packet before communication counts as lost. */
  readonly commLostTimeout: number;
  /** Advanced mode (N+x): the number x of redundant UPSs; x+1 critical UPSs shut the host down. */
  readonly redundantUps: number;
}

/** `[Networking]`: the agent's own listeners. */
export interface NetworkingSettings {
  /** UDP port the cards send to. */
  readonly udpPort: number;
  /** Addresses the UDP listener binds, comma separated in the file ("" = every address, IPv4 and IPv6). */
  readonly udpListenAddresses: readonly string[];
  /** Accept status packets only from the configured card addresses (false behind NAT). */
  readonly requireCardSource: boolean;
  /** Plain HTTP port (redirects to the HTTPS port). */
  readonly httpPort: number;
  /** Web UI port (TLS unless uiProtocol = http). */
  readonly httpsPort: number;
  /** Web UI protocol. */
  readonly uiProtocol: "http" | "https";
  /** Address the web UI binds ("" = every address). */
  readonly uiListenAddress: string;
}

/** `[Shutdown]`: the shutdown sequence. */
export interface ShutdownSettings {
  /** Command file run before the OS shuts down ("" = none). */
  readonly shutdownCommandFile: string;
  /** Seconds to wait for the shutdown command file. */
  readonly shutdownCommandFileDuration: number;
  /** Turn the UPS off through the NMC during the shutdown sequence. */
  readonly turnOffUps: boolean;
  /** Seconds between the last step and the OS shutdown (PCNS fixes 70). */
  readonly settleDelay: number;
  /** OS shutdown command ("" = the platform default). */
  readonly osShutdownCommand: string;
  /** Seconds the OS needs to shut down (counted in the runtime checks and the time negotiated with the NMC). */
  readonly osShutdownDuration: number;
}

/** `[Notifications]`: where notification actions go. */
export interface NotificationSettings {
  /** URL that receives each notified event as a JSON POST ("" = no webhook). */
  readonly webhookUrl: string;
  /** Seconds one webhook attempt may take. */
  readonly webhookTimeout: number;
  /** Retries after a failed webhook attempt. */
  readonly webhookRetries: number;
  /** Syslog target: "" (off), "local" (/dev/log, the journal) or host[:port] (UDP). */
  readonly syslog: string;
  /** `[Email]` (always set by the loader; absent in a hand-built config = no e-mail). */
  readonly email?: EmailSettings;
}

/** How the connection to the SMTP server is protected. */
export type EmailSecurity = "starttls" | "tls" | "none";

/** `[Email]`: notification e-mails through an SMTP server. */
export interface EmailSettings {
  /** SMTP server ("" = no e-mail). */
  readonly smtpHost: string;
  /** SMTP port (the default by security when the file leaves it empty: 587, 465 or 25). */
  readonly smtpPort: number;
  /** starttls (upgrade required), tls (implicit TLS) or none. */
  readonly security: EmailSecurity;
  /** Accept an untrusted (self-signed) server certificate. */
  readonly acceptCerts: boolean;
  /** SMTP AUTH user ("" = no login). */
  readonly user: string;
  /** SMTP AUTH password (a secret: never log or show it). */
  readonly password: string;
  /** Sender address. */
  readonly from: string;
  /** Recipients from to_1 ... to_10, in order, empty ones left out. */
  readonly to: readonly string[];
  /** Put before every subject. */
  readonly subjectPrefix: string;
  /** Seconds one delivery attempt may take. */
  readonly timeout: number;
  /** Retries after a failed attempt. */
  readonly retries: number;
}

/** Actions configured for one event (`event_<Id>_<property>` keys). */
export interface EventActions {
  /** Write the event to the event log. */
  readonly enableLogging: boolean;
  /** Send a notification. */
  readonly enableNotification: boolean;
  /** Run a command file. */
  readonly enableCommandFile: boolean;
  /** The command file to run. */
  readonly commandFilePath: string;
  /** Seconds to wait before running the command file. */
  readonly commandFileDelay: number;
  /** Seconds the command file may run. */
  readonly commandFileDuration: number;
  /** Shut the host down. */
  readonly enableShutdown: boolean;
  /** Seconds to wait before shutting down. */
  readonly shutdownDelay: number;
  /** Seconds the event must hold before its notification is sent (0 or absent = at once). */
  readonly notificationDelay?: number;
  /** Seconds between repeated notifications while the event holds (0 or absent = once). */
  readonly notificationRepeat?: number;
}

/** `[EventLog]`: the JSON-lines event log in the data directory. */
export interface EventLogSettings {
  /** File name of the event log, relative to the data directory. */
  readonly fileName: string;
  /** Size in KiB at which the log is rotated (one old generation is kept). */
  readonly maxSizeKiB: number;
}

/** `[WebUI]`: certificate, sessions and lockout of the web UI. */
export interface WebUiSettings {
  /** PEM certificate file ("" = the self-signed one generated in the data directory). */
  readonly certificateFile: string;
  /** PEM private key file for certificateFile. */
  readonly keyFile: string;
  /** Minutes of inactivity after which a session ends. */
  readonly sessionIdleTimeout: number;
  /** Minutes after which a session ends in any case. */
  readonly sessionLifetime: number;
  /** Failed logins of one user name from one address before that pair is locked out. */
  readonly lockoutThreshold: number;
  /** Minutes of the first lockout; each further failure doubles it. */
  readonly lockoutDuration: number;
  /** Serve /metrics without authentication. */
  readonly metricsWithoutLogin: boolean;
  // Connection limits (always set by the loader; optional so hand-built configs may leave the defaults).
  /** Web UI connections open at once over both ports (default 256). */
  readonly maxConnections?: number;
  /** Web UI connections open at once from one address (default 32). */
  readonly maxConnectionsPerAddress?: number;
  /** Seconds a TLS handshake may take (default 10). */
  readonly handshakeTimeout?: number;
  /** Seconds to the end of the first request's headers (default 10). */
  readonly headerTimeout?: number;
  /** Seconds an idle keep-alive connection is kept (default 30). */
  readonly keepAliveTimeout?: number;
}

/** `[NUT]`: the NUT server for stock NUT clients (upsc, upsmon secondaries, dashboards). */
export interface NutSettings {
  /** Serve NUT (RFC 9271) on `port`. */
  readonly enabled: boolean;
  /** TCP port (3493). */
  readonly port: number;
  /** Addresses to bind, comma separated in the file ("" = every address). */
  readonly listenAddresses: readonly string[];
  /** Users that may log in as secondaries (from user_N / password_N; the password as an scrypt hash). */
  readonly users: readonly { readonly name: string; readonly passwordHash: string }[];
  /** The UPS of each card, as NUT names it: `nmcN` for ip_N, or upsName_N. */
  readonly ups: readonly { readonly name: string; readonly card: string }[];
  /** Seconds the shutdown waits for logged-in secondaries to log out before the OS step. */
  readonly hostSyncTimeout: number;
  /** Connections open at once. */
  readonly maxConnections: number;
  /** Connections open at once from one address. */
  readonly maxConnectionsPerAddress: number;
  /** Seconds a connection may stay silent. */
  readonly idleTimeout: number;
}

/** `[NIS]`: apcupsd's network information server for apcaccess and apcupsd readers. */
export interface NisSettings {
  /** Serve NIS on `port`. */
  readonly enabled: boolean;
  /** TCP port (3551). */
  readonly port: number;
  /** Addresses to bind ("" = every address). */
  readonly listenAddresses: readonly string[];
  /** The card whose UPS is served (its address or its NUT name; "" = the first). */
  readonly nmc: string;
}

/** `[SNMP] v3AuthProtocol_N`: HMAC-SHA-256 (default), HMAC-SHA-1 or HMAC-SHA-512. */
export type SnmpAuthProtocol = "sha256" | "sha" | "sha512";

/** `[SNMP] v3PrivProtocol_N`: AES-128 (CFB, RFC 3826) or none (authNoPriv). */
export type SnmpPrivProtocol = "aes" | "none";

/** One complete SNMPv3 user (read-only). */
export interface SnmpUser {
  /** User name. */
  readonly name: string;
  /** Authentication protocol. */
  readonly authProtocol: SnmpAuthProtocol;
  /** Authentication passphrase (a secret: never log or show it). */
  readonly authPassphrase: string;
  /** Privacy protocol. */
  readonly privProtocol: SnmpPrivProtocol;
  /** Privacy passphrase ("" with privProtocol none; a secret). */
  readonly privPassphrase: string;
}

/** `[SNMP]`: the SNMP agent (UPS-MIB, RFC 1628) and its traps. */
export interface SnmpSettings {
  /** Serve SNMP on `port`. */
  readonly enabled: boolean;
  /** UDP port (161; 0 = ephemeral, for tests). */
  readonly port: number;
  /** Addresses to bind ("" = every address). */
  readonly listenAddresses: readonly string[];
  /** The card whose UPS is served (its address or its NUT name; "" = the first). */
  readonly nmc: string;
  /** Read-only v1/v2c communities (secrets). */
  readonly communities: readonly string[];
  /** Complete read-only v3 users. */
  readonly users: readonly SnmpUser[];
  /** Trap receivers, host[:port]. */
  readonly trapReceivers: readonly string[];
  /** Trap version. */
  readonly trapVersion: "v2c" | "v3";
  /** Community of v2c traps (a secret). */
  readonly trapCommunity: string;
  /** The user of v3 traps (one of `users`). */
  readonly trapUser: string;
  /** Seconds between repeats while a trap's condition holds (0 = once). */
  readonly trapRepeatInterval: number;
}

/** The whole configuration. */
export interface AgentConfig {
  /** `[NetworkManagementCard]`. */
  readonly nmc: NmcSettings;
  /** `[Networking]`. */
  readonly networking: NetworkingSettings;
  /** `[Shutdown]`. */
  readonly shutdown: ShutdownSettings;
  /** `[Events]`, by event id. */
  readonly events: Readonly<Record<string, EventActions>>;
  /** `[EventLog]`. */
  readonly eventLog: EventLogSettings;
  /** `[Notifications]`. */
  readonly notifications: NotificationSettings;
  /** `[Events] runtimeThreshold`: minutes of runtime below which RuntimeBelowThreshold is raised (0 = off). */
  readonly runtimeThreshold: number;
  /** `[WebUI]`. */
  readonly webUi: WebUiSettings;
  /** `[NUT]` (always set by the loader; absent in a hand-built config = off). */
  readonly nut?: NutSettings;
  /** `[NIS]` (always set by the loader; absent in a hand-built config = off). */
  readonly nis?: NisSettings;
  /** `[SNMP]` (always set by the loader; absent in a hand-built config = off). */
  readonly snmp?: SnmpSettings;
  /** `[SSHAction0]` ... `[SSHAction9]`: the sections that name a host or a name (absent = none). */
  readonly sshActions?: readonly SshActionSettings[];
  /** `[advanced_ups_setup_1]` ... `[advanced_ups_setup_9]` without a fatal problem (used with mode = advanced). */
  readonly upsSetups?: readonly UpsSetupSettings[];
}
