/**
 * The configuration store's public surface: open a {@link ConfigStore} on
 * pcnsconfig.ini and consume its typed {@link AgentConfig}.
 *
 * @module
 */
export type * from "./types.ts";
export {
  type ConfigChange,
  type ConfigListener,
  ConfigStore,
  type ConfigStoreOptions,
  inspectConfig,
} from "./store.ts";
export type { KeyChange, ReloadResult } from "./store.ts";
export { ConfigError, type ConfigProblem } from "./problems.ts";
export { checkPasswordPolicy, hashPassword, verifyPassword } from "./credentials.ts";
export { backupPathFor, defaultConfigPath } from "./paths.ts";
export { maskConfig } from "./build.ts";
export { SCHEMA } from "./schema.ts";
