/** The agent as a separate process, for the tests that break its surroundings (disks, pipes, signals). */
import { fileURLToPath } from "node:url";

/** main.ts of this checkout. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/**
 * `pcns-agent run --config <config> --dry-run` as a child process, with PCNS_AGENT_NO_SHUTDOWN set: it can
 * never shut anything down. Its stderr (the system log) is piped unless `stderr` says otherwise.
 */
export function spawnDryRunAgent(
  config: string,
  options: { readonly stderr?: "piped" | "null"; readonly cwd?: string } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "--config", config, "--dry-run"],
    cwd: options.cwd,
    stdout: "null",
    stderr: options.stderr ?? "piped",
    stdin: "null",
    env: { NO_COLOR: "1", PCNS_AGENT_NO_SHUTDOWN: "1" },
  }).spawn();
}

/** Everything `stream` has said so far, as text (`text()`), and its end (`done`). */
export function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  let text = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return { text: () => text, done };
}

/**
 * Runs `code` in another Deno process (`deno eval`, no config, with the unstable UDP API) with `args` as its
 * `Deno.args`; throws unless it exits 0. Returns what it printed. Stderr goes to the test's own.
 */
export async function evalInProcess(code: string, args: readonly string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--unstable-net", code, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (out.code !== 0) throw new Error(`the sender process failed (exit ${out.code})`);
  return new TextDecoder().decode(out.stdout);
}
