/**
 * pcns-agent command line: parses flags and hands over to the modules in
 * src/. Exit codes: 0 ok, 1 failed, 2 usage error; errors are one line on
 * stderr.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { registerAgentCommands } from "./src/cli/agent_commands.ts";
import { registerConfigCommands } from "./src/cli/config_commands.ts";
import { registerDemoCommand } from "./src/cli/demo_command.ts";
import { registerDrillCommand } from "./src/cli/drill_command.ts";
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./src/cli/errors.ts";
import { registerCountersCommands } from "./src/cli/counters_commands.ts";
import { registerNotifyCommands } from "./src/cli/notify_commands.ts";
import { registerRegistrationCommands } from "./src/cli/register_commands.ts";
import { registerRunCommand } from "./src/cli/run_command.ts";
import { registerServiceCommands } from "./src/cli/service_commands.ts";
import { registerShutdownCommands } from "./src/cli/shutdown_commands.ts";
import { registerSimCommand } from "./src/cli/sim_command.ts";
import { registerSshCommands } from "./src/cli/ssh_commands.ts";
import { registerTokenCommands } from "./src/cli/token_commands.ts";
import { ConfigError } from "./src/config/problems.ts";
import { versionText } from "./src/version.ts";

/** Builds the command tree. */
export function buildProgram(): Command {
  const program = new Command()
    .name("pcns-agent")
    .description("PowerChute Network Shutdown compatible UPS shutdown agent")
    .version(versionText(), "-V, --version", "print version, commit and Deno version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerRunCommand(program);
  registerDemoCommand(program);
  registerSimCommand(program);
  registerDrillCommand(program);
  registerConfigCommands(program);
  registerAgentCommands(program);
  registerCountersCommands(program);
  registerShutdownCommands(program);
  registerRegistrationCommands(program);
  registerServiceCommands(program);
  registerTokenCommands(program);
  registerNotifyCommands(program);
  registerSshCommands(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(args, { from: "user" });
    return EXIT_OK;
  } catch (error) {
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

if (import.meta.main) Deno.exit(await main(Deno.args));
