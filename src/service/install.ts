/**
 * Installing the agent as an OS service: pure plans (which file with which
 * text, which directories, which commands) and a small executor that applies
 * them. Linux: a systemd unit, `systemctl daemon-reload` and `enable`.
 * Windows: a WinSW definition beside the wrapper, `pcns-agent-service.exe
 * install`. With a root directory the files are written below it (as if it
 * were `/`) and no command is run: for images, packaging and tests.
 *
 * @module
 */
import { posix, win32 } from "node:path";
import { fileURLToPath } from "node:url";
import { dirOf } from "../config/paths.ts";
import { AGENT_PERMISSIONS, AGENT_UNSTABLE_FLAGS, AGENT_V8_FLAGS } from "./permissions.ts";
import { DEFAULT_UNIT_DIR, systemdUnit, UNIT_NAME } from "./systemd.ts";
import { WINSW_EXE, WINSW_XML, winswXml } from "./winsw.ts";

/** The service managers supported. */
export type ServiceOs = "linux" | "windows";

/** A command to run, and whether its failure is tolerated. */
export interface PlannedCommand {
  /** argv. */
  readonly argv: readonly string[];
  /** Keep going if it fails (e.g. stopping a service that is not running). */
  readonly mayFail?: boolean;
}

/** What installing means on this machine. */
export interface InstallPlan {
  /** The service definition to write (path below the root, if any). */
  readonly file: { readonly path: string; readonly text: string; readonly mode: number };
  /** Directories to create first (the configuration directory). */
  readonly dirs: readonly { readonly path: string; readonly mode: number }[];
  /** Commands that register the service (none with a root directory). */
  readonly commands: readonly PlannedCommand[];
  /** Commands that were left out because of the root directory. */
  readonly skipped: readonly PlannedCommand[];
  /** A file that must exist before the commands can run (the WinSW wrapper). */
  readonly requires?: string;
}

/** What removing the service means. */
export interface UninstallPlan {
  /** Commands to run before the file is removed. */
  readonly before: readonly PlannedCommand[];
  /** The service definition to remove. */
  readonly file: string;
  /** Commands to run after. */
  readonly after: readonly PlannedCommand[];
  /** Commands that were left out because of the root directory. */
  readonly skipped: readonly PlannedCommand[];
}

/** Options shared by install, uninstall and status. */
export interface ServiceTarget {
  /** Which service manager. */
  readonly os: ServiceOs;
  /** Directory of the unit (Linux, default /etc/systemd/system) or of the WinSW files (Windows). */
  readonly unitDir: string;
  /** Write below this directory and run nothing. */
  readonly root?: string;
}

/** Options of {@link planInstall}. */
export interface InstallOptions extends ServiceTarget {
  /** How the agent is started, without `run --config ...` (absolute executable first). */
  readonly command: readonly string[];
  /** Absolute path of pcnsconfig.ini. */
  readonly configPath: string;
  /** Linux: run as this user. */
  readonly user?: string;
  /** Linux: WatchdogSec (0 = none). */
  readonly watchdogSec: number;
  /** Linux: a configured port is below 1024. */
  readonly lowPorts: boolean;
  /** Also start the service now. */
  readonly start: boolean;
}

/** `path` below `root` (pure): `/etc/x` -> `<root>/etc/x`, `C:\x` -> `<root>/C/x`; unchanged without root. */
export function underRoot(root: string | undefined, path: string): string {
  if (!root) return path;
  const drive = /^([A-Za-z]):[\\/]?(.*)$/.exec(path);
  const rest = drive ? [drive[1], ...drive[2].split(/[\\/]+/)] : path.split("/");
  return posix.join(root, ...rest.filter((p) => p !== ""));
}

/** Path helpers of the target OS. */
function pathOf(os: ServiceOs) {
  return os === "windows" ? win32 : posix;
}

/** The agent's command line for the service: `[...command, "run", "--config", path]` (pure). */
export function serviceArguments(command: readonly string[], configPath: string): string[] {
  return [...command, "run", "--config", configPath];
}

/**
 * How this process would be started as a service (impure: reads the
 * executable and main module): the compiled binary itself, else
 * `deno run <permissions> <main.ts>`.
 */
export function currentAgentCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [
    Deno.execPath(),
    "run",
    ...AGENT_UNSTABLE_FLAGS,
    ...AGENT_V8_FLAGS,
    ...AGENT_PERMISSIONS,
    fileURLToPath(Deno.mainModule),
  ];
}

/** The WinSW wrapper path for a target (pure). */
export function winswExePath(target: ServiceTarget): string {
  return win32.join(target.unitDir, WINSW_EXE);
}

/** Where the service definition lives (pure, not below the root). */
export function serviceFilePath(target: ServiceTarget): string {
  return target.os === "windows"
    ? win32.join(target.unitDir, WINSW_XML)
    : posix.join(target.unitDir, UNIT_NAME);
}

/** Default unit directory: /etc/systemd/system, or the folder of the executable on Windows (pure). */
export function defaultUnitDir(os: ServiceOs, executable: string): string {
  return os === "windows" ? win32.dirname(executable) : DEFAULT_UNIT_DIR;
}

function split(root: string | undefined, commands: PlannedCommand[]) {
  return root ? { commands: [], skipped: commands } : { commands, skipped: [] };
}

/** The install plan (pure). Throws an Error naming the problem for impossible options. */
export function planInstall(o: InstallOptions): InstallPlan {
  const path = pathOf(o.os);
  if (!path.isAbsolute(o.configPath)) {
    throw new Error(`the configuration path must be absolute: ${o.configPath}`);
  }
  const args = serviceArguments(o.command, o.configPath);
  const dataDir = dirOf(o.configPath);
  const file = serviceFilePath(o);
  if (o.os === "windows") {
    if (o.user) throw new Error("--user is not supported on Windows (the service runs as LocalSystem)");
    const exe = winswExePath(o);
    const text = winswXml({
      executable: args[0],
      arguments: args.slice(1),
      logDir: win32.join(dataDir, "logs"),
    });
    const commands = [{ argv: [exe, "install"] }, ...(o.start ? [{ argv: [exe, "start"] }] : [])];
    return {
      file: { path: underRoot(o.root, file), text, mode: 0o644 },
      dirs: [{ path: underRoot(o.root, dataDir), mode: 0o700 }],
      ...split(o.root, commands),
      requires: o.root ? undefined : exe,
    };
  }
  const text = systemdUnit({
    execStart: args,
    dataDir,
    user: o.user,
    watchdogSec: o.watchdogSec,
    lowPorts: o.lowPorts,
  });
  const commands = [
    { argv: ["systemctl", "daemon-reload"] },
    { argv: ["systemctl", "enable", ...(o.start ? ["--now"] : []), UNIT_NAME] },
  ];
  return {
    file: { path: underRoot(o.root, file), text, mode: 0o644 },
    dirs: [{ path: underRoot(o.root, dataDir), mode: 0o700 }],
    ...split(o.root, commands),
  };
}

/** The uninstall plan (pure): stop and unregister, remove the definition; the configuration stays. */
export function planUninstall(target: ServiceTarget): UninstallPlan {
  const file = underRoot(target.root, serviceFilePath(target));
  if (target.os === "windows") {
    const exe = winswExePath(target);
    const before = [{ argv: [exe, "stop"], mayFail: true }, { argv: [exe, "uninstall"] }];
    return { before: target.root ? [] : before, file, after: [], skipped: target.root ? before : [] };
  }
  const before = [{ argv: ["systemctl", "disable", "--now", UNIT_NAME], mayFail: true }];
  const after = [{ argv: ["systemctl", "daemon-reload"] }];
  return target.root
    ? { before: [], file, after: [], skipped: [...before, ...after] }
    : { before, file, after, skipped: [] };
}

/** The command asking the service manager for the state (pure), or undefined with a root directory. */
export function statusCommand(target: ServiceTarget): string[] | undefined {
  if (target.root) return undefined;
  if (target.os === "windows") return [winswExePath(target), "status"];
  return [
    "systemctl",
    "show",
    UNIT_NAME,
    "--property=LoadState,ActiveState,SubState,MainPID,UnitFileState,Result",
  ];
}

/** Parses `systemctl show` output (pure): `Key=value` lines. */
export function parseSystemctlShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Reads WinSW's `status` answer (pure): running, stopped or not installed. */
export function parseWinswStatus(text: string): "running" | "stopped" | "not-installed" | "unknown" {
  const t = text.toLowerCase();
  if (t.includes("nonexistent") || t.includes("not installed")) return "not-installed";
  if (t.includes("active (running)") || /\bstarted\b/.test(t) || /\brunning\b/.test(t)) return "running";
  if (t.includes("inactive") || t.includes("stopped")) return "stopped";
  return "unknown";
}

/** Result of one command. */
export interface CommandResult {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Runs a command (replaceable in tests). */
export type CommandRunner = (argv: readonly string[]) => Promise<CommandResult>;

/** Runs commands for real; a missing program is reported as exit code 127. */
export const runCommand: CommandRunner = async (argv) => {
  try {
    const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
      .output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${argv[0]}: not found` };
    }
    throw error;
  }
};

/** Runs planned commands in order; throws an Error naming the first that failed (unless it may fail). */
export async function runPlanned(commands: readonly PlannedCommand[], run: CommandRunner): Promise<void> {
  for (const c of commands) {
    const r = await run(c.argv);
    if (r.code !== 0 && !c.mayFail) {
      const why = (r.stderr.trim() || r.stdout.trim()).split("\n")[0] || `exit code ${r.code}`;
      throw new Error(`${c.argv.join(" ")} failed: ${why}`);
    }
  }
}

/** Writes a file atomically (temporary file + rename) with a mode. */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode });
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Applies an install plan: directories, the file, then the commands. */
export async function applyInstall(plan: InstallPlan, run: CommandRunner): Promise<void> {
  if (plan.requires) {
    try {
      await Deno.stat(plan.requires);
    } catch {
      throw new Error(
        `${plan.requires} not found: put WinSW-x64.exe there under that name, then run this again`,
      );
    }
  }
  for (const d of plan.dirs) await Deno.mkdir(d.path, { recursive: true, mode: d.mode });
  await Deno.mkdir(dirOf(plan.file.path), { recursive: true });
  await writeAtomic(plan.file.path, plan.file.text, plan.file.mode);
  await runPlanned(plan.commands, run);
}

/** Applies an uninstall plan; true if the definition file existed. */
export async function applyUninstall(plan: UninstallPlan, run: CommandRunner): Promise<boolean> {
  await runPlanned(plan.before, run);
  let existed = true;
  try {
    await Deno.remove(plan.file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    existed = false;
  }
  await runPlanned(plan.after, run);
  return existed;
}
