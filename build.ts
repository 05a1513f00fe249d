/**
 * `deno task build [--target T[,T...]]`: compiles main.ts into single binaries
 * in dist/ with a SHA256SUMS file.
 *
 * `deno compile` needs the `denort` runtime for each target. It is taken from
 * DENORT_BIN (host target only), else Deno's download cache
 * (`<DENO_DIR>/dl/release/v<version>/denort-<target>.zip`), else Deno's
 * download server. When none can be had, the module graph is still checked
 * with a compile dry run (DENORT_BIN = this deno; its output is deleted, as
 * it would be the deno CLI, not the agent) and the build exits 2 with a clear
 * message. A built binary for the host is run with --version and must
 * answer as pcns-agent, never as deno.
 *
 * @module
 */
import { join } from "node:path";

/** Targets we ship. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-pc-windows-msvc",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** Permissions the agent needs, narrowed (no FFI, no arbitrary --allow-all). */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

const DIST = "dist";

/** Where the runtime base for a target comes from, or why there is none. */
export type RuntimeBase =
  | { readonly kind: "env"; readonly path: string }
  | { readonly kind: "cache"; readonly path: string }
  | { readonly kind: "download"; readonly url: string }
  | { readonly kind: "none"; readonly why: string };

/** Output file name for a target. */
export function outputName(target: string): string {
  return `pcns-agent-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** Parses `--target a,b` / `--target=a` (default: the host); throws on an unknown target. */
export function parseTargets(args: readonly string[], host: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--target") values.push(args[++i] ?? "");
    else if (arg.startsWith("--target=")) values.push(arg.slice(9));
    else throw new Error(`unknown argument "${arg}" (usage: build.ts [--target T[,T...]|all])`);
  }
  const targets = values.flatMap((v) => v.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  if (targets.includes("all")) return [...TARGETS];
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target "${t}" (known: ${TARGETS.join(", ")})`);
    }
  }
  return targets.length ? targets : [host];
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

async function findBase(target: string, host: string, cacheDir: string): Promise<RuntimeBase> {
  const env = Deno.env.get("DENORT_BIN");
  if (env && target === host) return { kind: "env", path: env };
  const cached = join(cacheDir, "dl", "release", `v${Deno.version.deno}`, `denort-${target}.zip`);
  try {
    if ((await Deno.stat(cached)).isFile) return { kind: "cache", path: cached };
  } catch {
    // not cached
  }
  const url = `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`;
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    if (res.ok) return { kind: "download", url };
    return { kind: "none", why: `${url} answered HTTP ${res.status}` };
  } catch (error) {
    return {
      kind: "none",
      why: `no DENORT_BIN, nothing in ${cached}, and ${url} unreachable (${(error as Error).message})`,
    };
  }
}

function compileArgs(target: string, output: string): string[] {
  return [
    "compile",
    "--frozen",
    "--unstable-net",
    "--unstable-raw-imports",
    ...PERMISSIONS,
    "--target",
    target,
    "--output",
    output,
    "main.ts",
  ];
}

async function compile(target: string, output: string, env: Record<string, string> = {}): Promise<boolean> {
  const status = await new Deno.Command(Deno.execPath(), { args: compileArgs(target, output), env }).spawn()
    .status;
  return status.success;
}

/** Compiles with DENORT_BIN = this deno to validate the module graph and embedding; deletes the output. */
async function graphDryRun(host: string): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-build-check-" });
  try {
    return await compile(host, join(dir, "graph-check"), { DENORT_BIN: Deno.execPath() });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function main(args: string[]): Promise<number> {
  const host = Deno.build.target;
  let targets: string[];
  try {
    targets = parseTargets(args, host);
  } catch (error) {
    console.error(`build: ${(error as Error).message}`);
    return 2;
  }
  const cacheDir = await denoDir();
  const bases = await Promise.all(targets.map(async (t) => [t, await findBase(t, host, cacheDir)] as const));
  const missing = bases.filter(([, b]) => b.kind === "none");
  if (missing.length > 0) {
    console.error("build: checking the module graph with a compile dry run (its output is deleted) ...");
    const graphOk = await graphDryRun(host);
    for (const [t, b] of missing) {
      console.error(`build: no runtime base for ${t}: ${b.kind === "none" ? b.why : ""}`);
    }
    console.error(
      graphOk
        ? "build: the module graph compiles; give DENORT_BIN=<denort for the target> or put the denort zip in " +
          "Deno's cache (or build where dl.deno.land is reachable) to produce binaries"
        : "build: the compile dry run failed: fix the errors above",
    );
    return graphOk ? 2 : 1;
  }
  await Deno.mkdir(DIST, { recursive: true });
  const sums: string[] = [];
  for (const [target, base] of bases) {
    const output = join(DIST, outputName(target));
    console.error(`build: ${target} (runtime from ${base.kind}) -> ${output}`);
    const env: Record<string, string> = base.kind === "env" ? { DENORT_BIN: base.path } : {};
    if (!await compile(target, output, env)) return 1;
    if (target === host) {
      const out = await new Deno.Command(output, { args: ["--version"], stdout: "piped", stderr: "piped" })
        .output();
      const text = new TextDecoder().decode(out.stdout).trim();
      if (!text.startsWith("pcns-agent ")) {
        await Deno.remove(output);
        console.error(
          `build: ${output} answered "${text.split("\n")[0]}" instead of pcns-agent: deleted (wrong base)`,
        );
        return 3;
      }
      console.error(`build: ${output} --version: ${text}`);
    }
    sums.push(`${await sha256(output)}  ${outputName(target)}`);
  }
  await Deno.writeTextFile(join(DIST, "SHA256SUMS"), sums.join("\n") + "\n");
  console.error(`build: wrote ${join(DIST, "SHA256SUMS")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
