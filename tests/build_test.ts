/**
 * build.ts: argument parsing and compile flags (pure), and the real build run
 * as CI runs it. Without a runtime base (no DENORT_BIN, nothing in Deno's
 * cache, dl.deno.land unreachable, as on this workplace) it must check the
 * module graph and exit 2 saying so; where a base exists it must build, check
 * `--version` and write SHA256SUMS. With the full deno CLI as the base, the
 * output answers like deno and must be deleted (exit 3).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compileArgs,
  DENO_CONFIG,
  expectedVersion,
  outputName,
  parseArgs,
  parseTargets,
  PERMISSIONS,
  sumsText,
  TARGETS,
} from "../build.ts";
import { AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import { VERSION } from "../src/version.ts";
import { REPO } from "./fixtures/service/agent.ts";

const HOST = Deno.build.target;

Deno.test("build args: targets, all, out dir, help; unknown values are named", () => {
  assert.deepEqual(parseArgs([], HOST), { targets: [HOST], outDir: "dist", help: false });
  assert.deepEqual(parseTargets(["x86_64-pc-windows-msvc,aarch64-apple-darwin"], HOST), [
    "x86_64-pc-windows-msvc",
    "aarch64-apple-darwin",
  ]);
  assert.deepEqual(parseTargets(["all"], HOST), [...TARGETS]);
  assert.equal(
    parseArgs(["--out-dir=/tmp/x", "--target", "aarch64-unknown-linux-gnu"], HOST).outDir,
    "/tmp/x",
  );
  assert.equal(parseArgs(["-h"], HOST).help, true);
  assert.throws(() => parseTargets(["sparc-sun-solaris"], HOST), /unknown target "sparc-sun-solaris"/);
  assert.throws(() => parseArgs(["--fast"], HOST), /unknown argument "--fast"/);
  assert.throws(() => parseArgs(["--target"], HOST), /--target needs a value/);
  assert.equal(outputName("x86_64-pc-windows-msvc"), "pcns-agent-x86_64-pc-windows-msvc.exe");
  assert.equal(outputName("aarch64-apple-darwin"), "pcns-agent-aarch64-apple-darwin");
});

Deno.test("build compile flags: narrowed permissions, no -A, FFI for the kernel UDP filter, embedded commit, only used npm packages", () => {
  const args = compileArgs("x86_64-unknown-linux-gnu", "/o/p", "/e/build.env", "/b/main.js");
  assert.equal(args[0], "compile");
  assert.equal(args.at(-1), "/b/main.js", "the bundle is compiled");
  assert.ok(
    args.includes(`--config=${DENO_CONFIG}`),
    "deno.json resolves the packages left outside the bundle",
  );
  for (
    const flag of [
      "--frozen",
      "--exclude-unused-npm",
      "--unstable-net",
      "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=50,--memory-saver-mode",
      "--env-file=/e/build.env",
      ...PERMISSIONS,
    ]
  ) {
    assert.ok(args.includes(flag), `missing ${flag}`);
  }
  assert.ok(!args.some((a) => a === "-A" || a === "--allow-all"), args.join(" "));
  // FFI only for libc's setsockopt (UDP receive queue, kernel flood filter: src/nmc/kernelfilter.ts).
  assert.ok(args.includes("--allow-ffi"), args.join(" "));
  assert.ok(PERMISSIONS.includes("--allow-sys=hostname,networkInterfaces"));
  assert.equal(expectedVersion("abc123", "2.9.5"), `pcns-agent ${VERSION} (commit abc123, deno 2.9.5)`);
  assert.equal(sumsText([["aa", "x"], ["bb", "y.exe"]]), "aa  x\nbb  y.exe\n");
});

async function runBuild(args: string[], env: Record<string, string> = {}) {
  const cwd = await Deno.makeTempDir({ prefix: "pcns-build-cwd-" }); // build.ts must not depend on the cwd
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "build.ts"), ...args],
      cwd,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stderr: decode(out.stderr), stdout: decode(out.stdout) };
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

Deno.test("deno task build: exit 2 with a clear message after the graph check when no runtime base exists, else a checked build", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "pcns-build-out-" });
  const env: Record<string, string> = {};
  if (Deno.env.get("DENORT_BIN")) env.DENORT_BIN = Deno.env.get("DENORT_BIN")!;
  try {
    const r = await runBuild(["--out-dir", outDir], env);
    const built = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
    if (r.code === 2) {
      console.log("build_test: no runtime base here: checked the exit-2 path (graph check + message)");
      assert.match(r.stderr, /checking the module graph with a compile dry run/);
      assert.match(r.stderr, /build: no runtime base for x86_64|build: no runtime base for aarch64/);
      assert.match(
        r.stderr,
        /module graph OK \(compile dry run passed\); no binary was built: give DENORT_BIN=/,
      );
      assert.deepEqual(built, [], "nothing may be left in the output directory");
    } else {
      console.log("build_test: a runtime base exists here: checked a real build");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(built, [outputName(HOST), "SHA256SUMS"].sort());
      assert.match(r.stderr, new RegExp(`--version: pcns-agent ${VERSION.replace(/\./g, "\\.")} \\(commit `));
      const sums = await Deno.readTextFile(join(outDir, "SHA256SUMS"));
      assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${outputName(HOST)}\\n$`));
    }
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("deno task build: a binary that answers like the deno CLI (DENORT_BIN = deno) is deleted, exit 3", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "pcns-build-wrong-" });
  try {
    const r = await runBuild(["--out-dir", outDir], {
      DENORT_BIN: Deno.execPath(),
      PCNS_AGENT_COMMIT: "t3st",
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /answered "deno \d+\.\d+\.\d+[^"]*" instead of "pcns-agent .* \(commit t3st, deno /,
    );
    assert.match(r.stderr, /deleted \(wrong runtime base\?\)/);
    assert.deepEqual([...Deno.readDirSync(outDir)], [], "the deno CLI copy and SHA256SUMS must not be left");
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("deno task build: usage errors exit 2 naming the argument; --help exits 0", async () => {
  const bad = await runBuild(["--target", "sparc-sun-solaris"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^build: unknown target "sparc-sun-solaris"/);
  const help = await runBuild(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: deno task build/);
});

Deno.test("deno task start and demo run the agent with the V8 flags the binary is compiled with", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(DENO_CONFIG)).tasks as Record<string, string>;
  for (const name of ["start", "demo"]) {
    for (const flag of AGENT_V8_FLAGS) {
      assert.ok(tasks[name].split(" ").includes(flag), `${name}: ${tasks[name]}`);
    }
  }
});
