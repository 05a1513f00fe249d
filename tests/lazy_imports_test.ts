/**
 * What `run` loads at start: main.ts's and the run command's static module graphs (from
 * `deno info --json`, the dynamic imports left out) must not hold the optional servers (NUT, NIS, SNMP),
 * nor the packages only some setups need (nodemailer for e-mail, ssh2 for SSH actions (its thin wrapper
 * src/ssh/client.ts is loaded), @peculiar/x509 for a first certificate, the drill's fake clock, net-snmp).
 * Each of those costs memory and start-up time on every agent that does not use it (README
 * "Performance"); a static import added anywhere on `run`'s path would load it for all.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = new URL("../main.ts", import.meta.url).href;
const RUN_COMMAND = new URL("../src/cli/run_command.ts", import.meta.url).href;

/** One module of `deno info --json`. */
interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly specifier: string;
    readonly isDynamic?: boolean;
    readonly code?: { readonly specifier?: string };
  }[];
}

/** The specifiers `root` reaches through static imports only (npm packages as `npm:` specifiers). */
function staticallyReached(modules: readonly InfoModule[], root: string): Set<string> {
  const bySpecifier = new Map(modules.map((m) => [m.specifier, m]));
  const reached = new Set<string>();
  const pending = [root];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (!dependency.isDynamic && target) pending.push(target);
    }
  }
  return reached;
}

/** The module graph of `entry`, as `deno info --json` gives it. */
async function moduleGraph(entry: string): Promise<InfoModule[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout)).modules;
}

/** Files of this repository and npm packages that `run` must load only when they are used. */
const OPTIONAL = [
  { what: "the NUT server", matches: (s: string) => s.includes("/src/nut/") },
  { what: "the NIS server", matches: (s: string) => s.includes("/src/nis/") },
  { what: "the SNMP agent", matches: (s: string) => s.includes("/src/snmp/") },
  { what: "nodemailer", matches: (s: string) => s.startsWith("npm:") && s.includes("nodemailer@") },
  { what: "ssh2", matches: (s: string) => s.startsWith("npm:") && s.includes("ssh2@") },
  { what: "@peculiar/x509", matches: (s: string) => s.startsWith("npm:") && s.includes("@peculiar/x509@") },
  { what: "net-snmp", matches: (s: string) => s.startsWith("npm:") && s.includes("net-snmp@") },
  {
    what: "the drill's fake clock",
    matches: (s: string) => s.startsWith("npm:") && s.includes("@sinonjs/fake-timers@"),
  },
];

Deno.test("staticallyReached follows static imports only", () => {
  const modules: InfoModule[] = [
    { specifier: "a", dependencies: [{ specifier: "./b", code: { specifier: "b" } }] },
    {
      specifier: "b",
      dependencies: [
        { specifier: "./c", code: { specifier: "c" }, isDynamic: true },
        { specifier: "pkg", code: { specifier: "npm:/pkg@1.0.0" } },
      ],
    },
    { specifier: "c", dependencies: [{ specifier: "./d", code: { specifier: "d" } }] },
  ];
  assert.deepEqual([...staticallyReached(modules, "a")].sort(), ["a", "b", "npm:/pkg@1.0.0"]);
});

Deno.test("run loads no optional server or package at start; each is imported when it is enabled", async () => {
  const modules = await moduleGraph("main.ts");
  const reached = [
    ...new Set([...staticallyReached(modules, MAIN), ...staticallyReached(modules, RUN_COMMAND)]),
  ];
  assert.ok(reached.some((s) => s.endsWith("/src/agent/agent.ts")), "the graph holds the agent itself");
  for (const optional of OPTIONAL) {
    const loaded = reached.filter(optional.matches);
    assert.deepEqual(loaded, [], `${optional.what} is loaded by every \`run\`: ${loaded.join(", ")}`);
  }
  // They are still there, behind a dynamic import: the whole graph has them.
  const everything = modules.map((m) => m.specifier);
  for (const server of ["/src/nut/service.ts", "/src/nis/service.ts", "/src/snmp/service.ts"]) {
    assert.ok(everything.some((s) => s.endsWith(server)), `${server} is in run's graph as a dynamic import`);
  }
});
