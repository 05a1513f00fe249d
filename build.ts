/**
 * `deno task build [--target T[,T...]|all] [--out-dir DIR]`: compiles main.ts
 * into single binaries (`pcns-agent-<target>[.exe]`) with a SHA256SUMS file.
 *
 * - main.ts is bundled first (`deno bundle`, one chunk per lazily loaded part) and the bundle is compiled:
 *   ~190 modules become ~30 chunks on the way to READY, and the start-up loses most of its module loading
 *   (bench/system.ts measures both). Packages with native add-ons esbuild cannot follow
 *   ({@link BUNDLE_EXTERNAL}) stay npm imports, which deno compile embeds as before.
 * - Permissions are narrowed to what the agent needs (src/service/permissions.ts);
 *   the UI assets are text imports, so they are in the module graph already.
 * - Only the npm packages the agent imports are embedded (managed npm,
 *   `--exclude-unused-npm`: no test-only packages in the binary).
 * - The commit (`git rev-parse`, `-dirty` with local changes, or
 *   PCNS_AGENT_COMMIT) is embedded as PCNS_AGENT_COMMIT through
 *   `--env-file`, so `--version` names it without reading any file at run time.
 * - `deno compile` needs the `denort` runtime for each target. It is taken from
 *   DENORT_BIN (host target only), else Deno's download cache
 *   (`<DENO_DIR>/dl/release/v<version>/denort-<target>.zip`), else Deno's
 *   download server. When none can be had, the module graph is still checked
 *   with a compile dry run (DENORT_BIN = this deno; its output is deleted, as
 *   it would be the deno CLI, not the agent) and the build exits 2 with a
 *   clear message.
 * - A binary for the host is run with `--version` and must answer exactly
 *   `pcns-agent <version> (commit <commit>, deno <v>)`; anything else (such as
 *   `deno 2.x`, when the base was the full deno CLI) is deleted, exit 3.
 *   SHA256SUMS is only written when every target succeeded.
 *
 * Exit codes: 0 built, 1 compile failed, 2 usage error or no runtime base, 3 wrong base.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "./src/service/permissions.ts";
import { formatVersion, VERSION } from "./src/version.ts";

/** The checkout this script belongs to (compile runs there, whatever the current directory). */
const REPO = fileURLToPath(new URL(".", import.meta.url));

/** Targets we ship. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-pc-windows-msvc",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** Permissions compiled into the binary (the agent's, narrowed: sys limited; FFI only for libc's setsockopt). */
export const PERMISSIONS: readonly string[] = AGENT_PERMISSIONS;

/** Where the runtime base for a target comes from, or why there is none. */
export type RuntimeBase =
  | { readonly kind: "env"; readonly path: string }
  | { readonly kind: "cache"; readonly path: string }
  | { readonly kind: "download"; readonly url: string }
  | { readonly kind: "none"; readonly why: string };

/** Parsed command line. */
export interface BuildArgs {
  /** Targets to build. */
  readonly targets: string[];
  /** Output directory. */
  readonly outDir: string;
  /** Only print the usage. */
  readonly help: boolean;
}

/** Usage text. */
export const USAGE = "usage: deno task build [--target T[,T...]|all] [--out-dir DIR]\n" +
  `targets: ${TARGETS.join(", ")} (default: this machine's)`;

/** Output file name for a target (pure). */
export function outputName(target: string): string {
  return `pcns-agent-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** Parses the arguments (pure); throws an Error naming the bad argument. */
export function parseArgs(args: readonly string[], host: string): BuildArgs {
  const values: string[] = [];
  let outDir = "dist";
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--target") values.push(args[++i] ?? "");
    else if (arg.startsWith("--target=")) values.push(arg.slice(9));
    else if (arg === "--out-dir") outDir = args[++i] ?? "";
    else if (arg.startsWith("--out-dir=")) outDir = arg.slice(10);
    else if (arg === "--help" || arg === "-h") help = true;
    else throw new Error(`unknown argument "${arg}"`);
  }
  if (outDir === "") throw new Error("--out-dir needs a directory");
  return { targets: parseTargets(values, host), outDir, help };
}

/** Targets from `--target` values (pure): comma lists, `all`, default the host; throws on an unknown one. */
export function parseTargets(values: readonly string[], host: string): string[] {
  const targets = values.flatMap((v) => v.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  if (values.length > 0 && targets.length === 0) throw new Error("--target needs a value");
  if (targets.includes("all")) return [...TARGETS];
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target "${t}" (known: ${TARGETS.join(", ")})`);
    }
  }
  return targets.length ? [...new Set(targets)] : [host];
}

/** npm packages left out of the bundle: ssh2's optional native add-ons (cpu-features, sshcrypto). */
export const BUNDLE_EXTERNAL: readonly string[] = ["ssh2"];

/** The `deno bundle` arguments (pure): main.ts into `outDir`/main.js and its chunks. */
export function bundleArgs(outDir: string): string[] {
  return [
    "bundle",
    "--quiet",
    "--frozen",
    "--platform=deno",
    "--code-splitting",
    ...BUNDLE_EXTERNAL.flatMap((name) => ["--external", name]),
    "--outdir",
    outDir,
    "main.ts",
  ];
}

/**
 * Bundles main.ts into `outDir` (`main.js` there is the entry point). Run it, or compile it, with
 * `--config <checkout>/deno.json`: the packages of {@link BUNDLE_EXTERNAL} resolve through its imports.
 * Returns deno bundle's error output when it fails.
 */
export async function bundle(outDir: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: bundleArgs(outDir),
    cwd: REPO,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return out.success ? { ok: true } : { ok: false, error: new TextDecoder().decode(out.stderr).trim() };
}

/** The configuration the bundle is compiled and run with. */
export const DENO_CONFIG: string = join(REPO, "deno.json");

/** The `deno compile` arguments for a target (pure): `entry` is the bundle's main.js. */
export function compileArgs(target: string, output: string, envFile: string, entry: string): string[] {
  return [
    "compile",
    `--config=${DENO_CONFIG}`,
    "--frozen",
    "--node-modules-dir=none",
    "--exclude-unused-npm",
    ...AGENT_UNSTABLE_FLAGS,
    ...AGENT_V8_FLAGS,
    ...PERMISSIONS,
    `--env-file=${envFile}`,
    "--target",
    target,
    "--output",
    output,
    entry,
  ];
}

/** The exact `--version` answer a built binary must give (pure). */
export function expectedVersion(commit: string, denoVersion: string): string {
  return formatVersion(VERSION, commit, denoVersion);
}

/** A `sha256  name` line per file, as `sha256sum -c` reads them (pure). */
export function sumsText(entries: readonly (readonly [hash: string, name: string])[]): string {
  return entries.map(([hash, name]) => `${hash}  ${name}`).join("\n") + "\n";
}

async function output(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The commit to embed: PCNS_AGENT_COMMIT, else git's short HEAD (+ `-dirty`), else "unknown". */
async function commitId(): Promise<string> {
  const fromEnv = Deno.env.get("PCNS_AGENT_COMMIT");
  if (fromEnv) return fromEnv.replace(/[^\w.+-]/g, "_");
  const head = await output("git", ["-C", REPO, "rev-parse", "--short=12", "HEAD"]);
  if (!head) return "unknown";
  const changes = await output("git", [
    "--no-optional-locks",
    "-C",
    REPO,
    "status",
    "--porcelain",
    "--untracked-files=no",
  ]);
  return changes ? `${head}-dirty` : head;
}

async function denoDir(): Promise<string> {
  const out = await output(Deno.execPath(), ["info", "--json"]);
  return out ? JSON.parse(out).denoDir : "";
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
  const envNote = env ? "DENORT_BIN only serves the host target, " : "no DENORT_BIN, ";
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    if (res.ok) return { kind: "download", url };
    return { kind: "none", why: `${envNote}nothing in ${cached}, and ${url} answered HTTP ${res.status}` };
  } catch (error) {
    return {
      kind: "none",
      why: `${envNote}nothing in ${cached}, and ${url} unreachable (${(error as Error).message})`,
    };
  }
}

async function compile(
  target: string,
  out: string,
  envFile: string,
  entry: string,
  env: Record<string, string> = {},
): Promise<boolean> {
  const status = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(target, resolve(out), envFile, entry),
    env,
    cwd: REPO,
  }).spawn().status;
  return status.success;
}

/** Compiles with DENORT_BIN = this deno to validate the module graph and embedding; deletes the output. */
async function graphDryRun(host: string, envFile: string, entry: string): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-build-check-" });
  try {
    return await compile(host, join(dir, "graph-check"), envFile, entry, { DENORT_BIN: Deno.execPath() });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function build(
  parsed: BuildArgs,
  host: string,
  envFile: string,
  commit: string,
  entry: string,
): Promise<number> {
  const { targets, outDir } = parsed;
  const cacheDir = await denoDir();
  const bases = await Promise.all(targets.map(async (t) => [t, await findBase(t, host, cacheDir)] as const));
  const missing = bases.filter(([, b]) => b.kind === "none");
  if (missing.length > 0) {
    console.error("build: checking the module graph with a compile dry run (its output is deleted) ...");
    const graphOk = await graphDryRun(host, envFile, entry);
    for (const [t, b] of missing) {
      console.error(`build: no runtime base for ${t}: ${b.kind === "none" ? b.why : ""}`);
    }
    if (!graphOk) {
      console.error("build: the compile dry run failed: fix the errors above");
      return 1;
    }
    console.error(
      "build: module graph OK (compile dry run passed); no binary was built: give DENORT_BIN=<denort " +
        "for the host target>, or put denort-<target>.zip in Deno's cache, or build where dl.deno.land " +
        "is reachable",
    );
    return 2;
  }
  await Deno.mkdir(outDir, { recursive: true });
  const sumsPath = join(outDir, "SHA256SUMS");
  await Deno.remove(sumsPath).catch(() => {}); // never leave sums that do not match this build
  const sums: [string, string][] = [];
  for (const [target, base] of bases) {
    const out = join(outDir, outputName(target));
    console.error(`build: ${target} (runtime from ${base.kind}) -> ${out}`);
    const env: Record<string, string> = base.kind === "env" ? { DENORT_BIN: base.path } : {};
    if (!await compile(target, out, envFile, entry, env)) {
      console.error(`build: deno compile failed for ${target}`);
      return 1;
    }
    if (target === host) {
      const run = await new Deno.Command(out, { args: ["--version"], stdout: "piped", stderr: "piped" })
        .output().catch((error) => ({ stdout: new TextEncoder().encode(String(error)) }));
      const text = new TextDecoder().decode(run.stdout).trim();
      const want = expectedVersion(commit, Deno.version.deno);
      if (text !== want) {
        await Deno.remove(out);
        console.error(
          `build: ${out} answered "${
            text.split("\n")[0]
          }" instead of "${want}": deleted (wrong runtime base?)`,
        );
        return 3;
      }
      console.error(`build: ${out} --version: ${text}`);
    } else {
      console.error(`build: ${out} not run (target differs from this machine): smoke-test it there`);
    }
    sums.push([await sha256(out), outputName(target)]);
  }
  await Deno.writeTextFile(sumsPath, sumsText(sums));
  console.error(`build: wrote ${sumsPath}`);
  return 0;
}

/** Runs the build; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const host = Deno.build.target;
  let parsed: BuildArgs;
  try {
    parsed = parseArgs(args, host);
  } catch (error) {
    console.error(`build: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const commit = await commitId();
  const workDir = await Deno.makeTempDir({ prefix: "pcns-build-" });
  const envFile = join(workDir, "build.env");
  try {
    await Deno.writeTextFile(envFile, `PCNS_AGENT_COMMIT=${commit}\n`);
    console.error(`build: pcns-agent ${VERSION}, commit ${commit}, targets ${parsed.targets.join(", ")}`);
    const bundleDir = join(workDir, "bundle");
    const bundled = await bundle(bundleDir);
    if (!bundled.ok) {
      console.error(`build: deno bundle failed:\n${bundled.error}`);
      return 1;
    }
    return await build(parsed, host, envFile, commit, join(bundleDir, "main.js"));
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
