/**
 * pcns-agent command line: parses flags and hands over to the modules in
 * src/. Exit codes: 0 ok, 1 failed, 2 usage error; errors are one line on
 * stderr.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./src/cli/errors.ts";
import { ConfigError } from "./src/config/problems.ts";
import { stderrFlushed } from "./src/log/stderr.ts";
import { versionText } from "./src/version.ts";

/** Adds one command (or a group of them) to the program. */
type Register = (program: Command) => void;

/**
 * The commands' register functions, in help order. Each lives with its implementation, so they are loaded
 * on demand: for `run` (the service start) only its own module, not those of the other 20 commands.
 */
async function commandRegistrars(only?: "run"): Promise<Register[]> {
  const run = import("./src/cli/run_command.ts").then((m) => m.registerRunCommand);
  if (only === "run") return [await run];
  return await Promise.all([
    run,
    import("./src/cli/demo_command.ts").then((m) => m.registerDemoCommand),
    import("./src/cli/sim_command.ts").then((m) => m.registerSimCommand),
    import("./src/cli/drill_command.ts").then((m) => m.registerDrillCommand),
    import("./src/cli/config_commands.ts").then((m) => m.registerConfigCommands),
    import("./src/cli/agent_commands.ts").then((m) => m.registerAgentCommands),
    import("./src/cli/counters_commands.ts").then((m) => m.registerCountersCommands),
    import("./src/cli/shutdown_commands.ts").then((m) => m.registerShutdownCommands),
    import("./src/cli/register_commands.ts").then((m) => m.registerRegistrationCommands),
    import("./src/cli/service_commands.ts").then((m) => m.registerServiceCommands),
    import("./src/cli/token_commands.ts").then((m) => m.registerTokenCommands),
    import("./src/cli/notify_commands.ts").then((m) => m.registerNotifyCommands),
    import("./src/cli/ssh_commands.ts").then((m) => m.registerSshCommands),
  ]);
}

/** Builds the command tree (`only: "run"`: just the `run` command, what `pcns-agent run ...` needs). */
export async function buildProgram(only?: "run"): Promise<Command> {
  const program = new Command()
    .name("pcns-agent")
    .description("PowerChute Network Shutdown compatible UPS shutdown agent")
    .version(versionText(), "-V, --version", "print version, commit and Deno version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  for (const register of await commandRegistrars(only)) register(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const program = await buildProgram(args[0] === "run" ? "run" : undefined);
    await program.parseAsync(args, { from: "user" });
    return EXIT_OK;
  } catch (error) {
    // The log's lines go to stderr in the background: let them out first, so the error comes after them.
    await stderrFlushed(2000);
    if (error instanceof CommanderError) {
      if (["commander.helpDisplayed", "commander.version"].includes(error.code)) return EXIT_OK;
      // "commander.help" with exit code 1: no command (or no subcommand) given, so the help went to stderr.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      console.error(`pcns-agent: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      console.error(`pcns-agent: ${error.message}`);
      return EXIT_FAILED;
    }
    console.error(`pcns-agent: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  await stderrFlushed(2000);
  Deno.exit(code);
}
