/**
 * The conversion of checked, canonical pcnsconfig.ini values into the typed {@link AgentConfig} every
 * module uses ({@link buildConfig}), and its copy with secrets masked ({@link maskConfig}). The sections
 * with their own modules convert and mask themselves (`schema_email.ts`, `schema_snmp.ts`, ...).
 *
 * All functions here are pure.
 *
 * @module
 */
import { maskUrl, MAX_CARDS, splitList } from "./keydefs.ts";
import { CONFIG_EVENT_IDS, type ConfigValues } from "./schema.ts";
import { buildEmailSettings, maskEmailSettings } from "./schema_email.ts";
import { MAX_NUT_USERS } from "./schema_nut.ts";
import { buildSnmpSettings, maskSnmpSettings } from "./schema_snmp.ts";
import { buildSshActions, maskSshActions } from "./schema_ssh.ts";
import { buildUpsSetups } from "./schema_setups.ts";
import type { AgentConfig, EventActions, UpsMode } from "./types.ts";

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
