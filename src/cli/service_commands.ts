/**
 * `service install|uninstall|status`: the agent as a systemd service (Linux)
 * or a WinSW-wrapped Windows service. `--print` shows the unit / XML only;
 * `--root <dir>` writes below a directory and runs no systemctl / WinSW (for
 * images and tests). The plans and file texts come from src/service/; this
 * file only parses flags, reads the ports from the configuration, and talks.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { posix, resolve, win32 } from "node:path";
import { configPathFor } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import {
  applyInstall,
  applyUninstall,
  type CommandRunner,
  currentAgentCommand,
  defaultUnitDir,
  type InstallPlan,
  parseSystemctlShow,
  parseWinswStatus,
  planInstall,
  type PlannedCommand,
  planUninstall,
  runCommand,
  serviceFilePath,
  type ServiceOs,
  type ServiceTarget,
  statusCommand,
  underRoot,
} from "../service/install.ts";
import { isValidUnixUser, needsLowPorts, UNIT_NAME } from "../service/systemd.ts";
import { type CliIo, denoIo } from "./config_commands.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE, parseIntegerOption } from "./errors.ts";
import { configFlagHelp } from "./help_text.ts";

/** Flags common to the three commands. */
interface TargetFlags {
  os?: string;
  unitDir?: string;
  root?: string;
  json?: boolean;
}

/** The service manager of this OS, or undefined where there is none we support. */
function hostOs(): ServiceOs | undefined {
  return Deno.build.os === "linux" ? "linux" : Deno.build.os === "windows" ? "windows" : undefined;
}

/** Picks the target OS; a foreign OS is only allowed when nothing is registered (`--print` / `--root`). */
function targetOs(what: string, flag: string | undefined, offline: boolean): ServiceOs {
  if (flag !== undefined && flag !== "linux" && flag !== "windows") {
    throw new CliError(`${what}: --os: "${flag}" must be linux or windows`, EXIT_USAGE);
  }
  const host = hostOs();
  const os = (flag as ServiceOs | undefined) ?? host;
  if (!os) {
    throw new CliError(
      `${what}: no service support on ${Deno.build.os}; see docs/operations.md (or --os with --print/--root)`,
    );
  }
  if (os !== host && !offline) {
    throw new CliError(`${what}: --os ${os} differs from this machine: use --print or --root`, EXIT_USAGE);
  }
  return os;
}

function envGetter(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The ports in a configuration (defaults when it does not exist yet), to decide CAP_NET_BIND_SERVICE. */
async function configuredPorts(path: string): Promise<number[]> {
  try {
    const { evaluation } = await inspectConfig(path, false);
    return ["udpPort", "httpPort", "httpsPort"].map((k) => Number(evaluation.values.get(`Networking.${k}`)))
      .filter((n) => Number.isInteger(n));
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) return [];
    throw error;
  }
}

function target(what: string, flags: TargetFlags, offline: boolean, executable?: string): ServiceTarget {
  const os = targetOs(what, flags.os, offline);
  const path = os === "windows" ? win32 : posix;
  let unitDir = flags.unitDir;
  if (unitDir === undefined) {
    if (os === "windows" && !executable && hostOs() !== "windows") {
      throw new CliError(`${what}: --os windows: give --unit-dir (the folder of pcns-agent.exe)`, EXIT_USAGE);
    }
    unitDir = defaultUnitDir(os, executable ?? Deno.execPath());
  }
  unitDir = os === hostOs() ? resolve(unitDir) : unitDir;
  if (!path.isAbsolute(unitDir)) {
    throw new CliError(`${what}: --unit-dir must be absolute: ${unitDir}`, EXIT_USAGE);
  }
  return { os, unitDir, root: flags.root === undefined ? undefined : resolve(flags.root) };
}

const shown = (c: PlannedCommand) => c.argv.join(" ");

function errorText(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return `${(error as Error).message} (run as root)`;
  return error instanceof Error ? error.message : String(error);
}

interface InstallFlags extends TargetFlags {
  config?: string;
  user?: string;
  watchdog: string;
  binary?: string;
  now?: boolean;
  print?: boolean;
}

async function installCommand(flags: InstallFlags, io: CliIo, run: CommandRunner): Promise<void> {
  const what = "service install";
  const offline = flags.print === true || flags.root !== undefined;
  const os = targetOs(what, flags.os, offline);
  const watchdogSec = parseIntegerOption("--watchdog", flags.watchdog, 0, 86400);
  if (flags.user !== undefined && os === "linux" && !isValidUnixUser(flags.user)) {
    throw new CliError(`${what}: --user: "${flags.user}" is not a valid user name`, EXIT_USAGE);
  }
  if (os !== hostOs() && flags.binary === undefined) {
    throw new CliError(`${what}: --os ${os}: give --binary (the agent's path on that machine)`, EXIT_USAGE);
  }
  const path = os === "windows" ? win32 : posix;
  const command = flags.binary !== undefined
    ? [os === hostOs() ? resolve(flags.binary) : flags.binary]
    : currentAgentCommand();
  const configPath = flags.config === undefined
    ? configPathFor(os, envGetter)
    : os === hostOs()
    ? resolve(flags.config)
    : flags.config;
  if (!path.isAbsolute(configPath)) {
    throw new CliError(`${what}: --config must be absolute: ${configPath}`, EXIT_USAGE);
  }
  const t = target(what, flags, offline, command[0]);
  let plan: InstallPlan;
  try {
    plan = planInstall({
      ...t,
      command,
      configPath,
      user: flags.user,
      watchdogSec,
      lowPorts: needsLowPorts(await configuredPorts(underRoot(t.root, configPath))),
      start: flags.now === true,
    });
  } catch (error) {
    throw new CliError(`${what}: ${errorText(error)}`, EXIT_USAGE);
  }
  if (flags.print) {
    io.out(plan.file.text.replace(/\r?\n$/, ""));
    return;
  }
  try {
    await applyInstall(plan, run);
  } catch (error) {
    throw new CliError(`${what}: ${errorText(error)}`);
  }
  if (flags.json) {
    io.out(JSON.stringify({
      os,
      file: plan.file.path,
      configPath,
      ran: plan.commands.map((c) => c.argv),
      skipped: plan.skipped.map((c) => c.argv),
    }));
    return;
  }
  io.out(`wrote ${plan.file.path}`);
  for (const c of plan.commands) io.out(`ran: ${shown(c)}`);
  for (const c of plan.skipped) io.out(`not run (--root): ${shown(c)}`);
  if (os === "linux" && flags.user) {
    io.out(
      `the service runs as ${flags.user}: give it ${posix.dirname(configPath)} (chown -R ${flags.user})`,
    );
  }
  if (!flags.now && plan.commands.length > 0) {
    io.out(
      os === "linux"
        ? "start it with: systemctl start pcns-agent"
        : "start it with: pcns-agent-service start",
    );
  }
}

async function uninstallCommand(flags: TargetFlags, io: CliIo, run: CommandRunner): Promise<void> {
  const what = "service uninstall";
  const plan = planUninstall(target(what, flags, flags.root !== undefined));
  let existed: boolean;
  try {
    existed = await applyUninstall(plan, run);
  } catch (error) {
    throw new CliError(`${what}: ${errorText(error)}`);
  }
  if (flags.json) {
    io.out(JSON.stringify({
      file: plan.file,
      removed: existed,
      ran: [...plan.before, ...plan.after].map((c) => c.argv),
      skipped: plan.skipped.map((c) => c.argv),
    }));
    return;
  }
  for (const c of plan.before) io.out(`ran: ${shown(c)}`);
  io.out(existed ? `removed ${plan.file}` : `${plan.file} was not there`);
  for (const c of plan.after) io.out(`ran: ${shown(c)}`);
  for (const c of plan.skipped) io.out(`not run (--root): ${shown(c)}`);
  io.out("the configuration directory is kept");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function statusCommandAction(flags: TargetFlags, io: CliIo, run: CommandRunner): Promise<void> {
  const what = "service status";
  const t = target(what, flags, flags.root !== undefined);
  const file = underRoot(t.root, serviceFilePath(t));
  const installed = await exists(file);
  const argv = statusCommand(t);
  let state: Record<string, string | number | boolean> = { installed, file };
  let running: boolean | undefined;
  if (argv && (installed || t.os === "linux")) {
    const r = await run(argv);
    if (r.code === 127) throw new CliError(`${what}: ${r.stderr.trim()}`);
    if (t.os === "linux" && r.code !== 0) {
      const why = (r.stderr.trim() || r.stdout.trim()).split("\n")[0] || `exit code ${r.code}`;
      if (!installed) throw new CliError(`${what}: the service is not installed (systemctl: ${why})`);
      throw new CliError(`${what}: ${argv.join(" ")} failed: ${why}`);
    }
    if (t.os === "linux") {
      const props = parseSystemctlShow(r.stdout);
      running = props.ActiveState === "active";
      state = { ...state, installed: installed || props.LoadState === "loaded", ...props };
    } else {
      const s = parseWinswStatus(r.stdout + r.stderr);
      running = s === "running";
      state = { ...state, state: s };
    }
  }
  state = { ...state, ...(running === undefined ? {} : { running }) };
  if (flags.json) io.out(JSON.stringify(state));
  else {
    io.out(
      `${t.os === "linux" ? UNIT_NAME : "pcns-agent (WinSW)"}: ${
        state.installed ? "installed" : "not installed"
      } (${file})`,
    );
    if (t.os === "linux" && running !== undefined) {
      io.out(
        `state: ${state.ActiveState} (${state.SubState}), ${
          state.UnitFileState || "unknown"
        } at boot, pid ${state.MainPID}`,
      );
    } else if (running !== undefined) io.out(`state: ${state.state}`);
  }
  if (!state.installed) throw new CliError(`${what}: the service is not installed`, EXIT_FAILED);
  if (running === false) throw new CliError(`${what}: the service is not running`, EXIT_FAILED);
}

/** Options common to the three commands. */
function targetOptions(command: Command): Command {
  return command
    .addOption(new Option("--os <linux|windows>", "service manager to write for (default: this machine's)"))
    .option(
      "--unit-dir <dir>",
      "folder of the unit (default /etc/systemd/system) or of the WinSW files (Windows)",
    )
    .option(
      "--root <dir>",
      "write below this folder as if it were / and run no systemctl/WinSW (images, tests)",
    )
    .option("--json", "print the result as JSON");
}

/**
 * Adds `service install|uninstall|status`. `run` executes systemctl / WinSW
 * (replaceable in tests); failures are {@link CliError}s (exit 1, usage 2).
 */
export function registerServiceCommands(
  program: Command,
  io: CliIo = denoIo(),
  run: CommandRunner = runCommand,
): void {
  const service = program.command("service")
    .description("install, remove or query the agent as a system service (systemd; WinSW on Windows)");

  targetOptions(
    service.command("install")
      .description("write the systemd unit (Linux) or WinSW XML (Windows), register and enable it")
      .option("-c, --config <path>", configFlagHelp("configuration file the service uses"))
      .option("--user <name>", "Linux: run as this user instead of root")
      .option("--watchdog <seconds>", "Linux: WatchdogSec (0 = no watchdog)", "60")
      .option("--binary <path>", "the agent executable (default: this binary, or deno running main.ts)")
      .option("--now", "start the service as well")
      .option("--print", "only print the unit / XML; write and run nothing"),
  ).action((flags: InstallFlags) => installCommand(flags, io, run));

  targetOptions(
    service.command("uninstall")
      .description("stop, disable and remove the service (the configuration stays)"),
  ).action((flags: TargetFlags) => uninstallCommand(flags, io, run));

  targetOptions(
    service.command("status")
      .description("whether the service is installed and running (exit 1 if not)"),
  ).action((flags: TargetFlags) => statusCommandAction(flags, io, run));
}
