/**
 * Where the configuration lives, and the names of its companion files.
 *
 * @module
 */

/** Name of the environment variable that overrides the configuration path. */
export const CONFIG_ENV = "PCNS_AGENT_CONFIG";

/**
 * The default configuration path for an OS and environment (pure):
 * `$PCNS_AGENT_CONFIG`, else `%ProgramData%\pcns-agent\pcnsconfig.ini` on Windows,
 * else `/etc/pcns-agent/pcnsconfig.ini`.
 */
export function configPathFor(os: string, env: (name: string) => string | undefined): string {
  const override = env(CONFIG_ENV);
  if (override) return override;
  if (os === "windows") {
    const programData = env("ProgramData") ?? env("PROGRAMDATA") ?? "C:\\ProgramData";
    return `${programData.replace(/[\\/]+$/, "")}\\pcns-agent\\pcnsconfig.ini`;
  }
  return "/etc/pcns-agent/pcnsconfig.ini";
}

/** The default configuration path of this process (see {@link configPathFor}). */
export function defaultConfigPath(): string {
  const env = (name: string): string | undefined => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no --allow-env: use the platform default
    }
  };
  return configPathFor(Deno.build.os, env);
}

function splitPath(path: string): { dir: string; base: string } {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return { dir: ".", base: path };
  return { dir: cut === 0 ? path.slice(0, 1) : path.slice(0, cut), base: path.slice(cut + 1) };
}

/** Directory holding the file (the agent's data directory). */
export function dirOf(path: string): string {
  return splitPath(path).dir;
}

/** File name part of a path. */
export function baseName(path: string): string {
  return splitPath(path).base;
}

/** `pcnsconfig.ini` -> `pcnsconfig_backup.ini` in the same directory. */
export function backupPathFor(path: string): string {
  const { base } = splitPath(path);
  const dot = base.lastIndexOf(".");
  const name = dot > 0 ? `${base.slice(0, dot)}_backup${base.slice(dot)}` : `${base}_backup`;
  return path.slice(0, path.length - base.length) + name;
}

/** The lock file serializing writers: `pcnsconfig.ini.lock` in the same directory. */
export function lockPathFor(path: string): string {
  return `${path}.lock`;
}

/** Where a file found unreadable as a whole at start is kept: `pcnsconfig.ini.corrupt` in the same directory. */
export function corruptPathFor(path: string): string {
  return `${path}.corrupt`;
}
