/**
 * Version information, embedded at build time (deno.json is imported, not
 * read at run time, so the compiled binary knows its version). The commit
 * comes from PCNS_AGENT_COMMIT, which build.ts embeds into the binary
 * (`deno compile --env-file`); from a checkout it is "dev".
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The agent's version. */
export const VERSION: string = denoJson.version;

/** Name of the environment variable carrying the commit (embedded by build.ts). */
export const COMMIT_ENV = "PCNS_AGENT_COMMIT";

/** `pcns-agent <version> (commit <c>, deno <v>)` (pure). */
export function formatVersion(version: string, commit: string, deno: string): string {
  return `pcns-agent ${version} (commit ${commit}, deno ${deno})`;
}

/** This program's version line: the commit from PCNS_AGENT_COMMIT, else "dev". */
export function versionText(): string {
  let commit: string | undefined;
  try {
    commit = Deno.env.get(COMMIT_ENV);
  } catch {
    commit = undefined; // no env permission
  }
  return formatVersion(VERSION, commit || "dev", Deno.version.deno);
}
