/**
 * Version information, embedded at build time (deno.json is imported, not
 * read at run time, so the compiled binary knows its version).
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The agent's version. */
export const VERSION: string = denoJson.version;

/** `pcns-agent <version> (commit <c>, deno <v>)`. */
export function versionText(): string {
  const commit = Deno.env.get("PCNS_AGENT_COMMIT") ?? "dev";
  return `pcns-agent ${VERSION} (commit ${commit}, deno ${Deno.version.deno})`;
}
