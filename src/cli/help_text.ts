/**
 * Help texts shared by the commands, so that every `--config` says where the
 * default comes from and every command that talks to the agent documents the
 * same connection options and environment variables.
 *
 * @module
 */
import { CONFIG_ENV, configPathFor } from "../config/paths.ts";
import { NO_SHUTDOWN_ENV } from "../shutdown/executor.ts";

/** The platform's configuration path when PCNS_AGENT_CONFIG is not set (pure over the OS). */
export function platformConfigPath(): string {
  return configPathFor(Deno.build.os, (name) => (name === CONFIG_ENV ? undefined : safeEnv(name)));
}

function safeEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** `--config` help: what the file is for, and the default ($PCNS_AGENT_CONFIG, else the platform path). */
export function configFlagHelp(purpose = "configuration file"): string {
  return `${purpose} (default: $${CONFIG_ENV} if set, else ${platformConfigPath()})`;
}

/** The "Environment:" block of `run --help`. */
export function runEnvironmentHelp(): string {
  return [
    "",
    "Environment:",
    `  ${CONFIG_ENV}       configuration file when --config is not given`,
    `  ${NO_SHUTDOWN_ENV}  when set (non-empty), the OS shutdown command is refused (a guard for tests)`,
    "  NOTIFY_SOCKET, WATCHDOG_USEC  set by systemd (Type=notify, WatchdogSec=)",
  ].join("\n");
}

/** The "Environment:" block of the commands that talk to the running agent. */
export function agentEnvironmentHelp(passwordEnv: string, tokenEnv: string): string {
  return [
    "",
    "Environment:",
    `  ${CONFIG_ENV}    configuration file when --config is not given`,
    `  ${tokenEnv}     API token when --token-file is not given`,
    `  ${passwordEnv}  admin password when neither --password-file nor a token is given`,
  ].join("\n");
}
