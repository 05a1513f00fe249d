/**
 * `drill`: rehearses the shutdown against the real configuration on a
 * virtual clock and prints the exact timeline. Nothing runs: no OS shutdown,
 * no UPS turn-off, no command file, no notification.
 *
 * @module
 */
import type { Command } from "commander";
import { defaultConfigPath } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import { formatTimeline, runDrill } from "../drill/drill.ts";
import { parseScenario, SCENARIO_STEPS, SCENARIOS } from "../sim/scenarios.ts";
import { CliError, EXIT_USAGE, parseSecondsOption } from "./errors.ts";

/** Adds the `drill` command. */
export function registerDrillCommand(program: Command): void {
  program
    .command("drill")
    .description(
      "rehearse the shutdown with your config: prints what would run at which second, runs nothing",
    )
    .option("-c, --config <path>", "path of pcnsconfig.ini", defaultConfigPath())
    .option(
      "--scenario <name|steps>",
      `a scenario (${Object.keys(SCENARIOS).join(", ")}) or comma-separated steps: ${
        Object.keys(SCENARIO_STEPS).join(", ")
      }`,
      "outage",
    )
    .option("--step <seconds>", "seconds between scenario steps", "60")
    .option("--only <card...>", "apply the steps to these NMCs only (default: all)")
    .option("--json", "print the timeline as JSON")
    .action(async (opts) => {
      let steps;
      try {
        steps = parseScenario(opts.scenario);
      } catch (error) {
        throw new CliError(`--scenario: ${(error as Error).message}`, EXIT_USAGE);
      }
      const stepSeconds = parseSecondsOption("--step", opts.step, 0, 86400);
      const inspection = await inspectConfig(opts.config, false);
      if (!inspection.exists && !inspection.backupExists) {
        throw new CliError(`${opts.config}: no such configuration file (and no backup)`);
      }
      const config = inspection.evaluation.config;
      if (!inspection.evaluation.ok || !config) {
        const first = inspection.evaluation.problems.find((p) => p.level === "error");
        throw new CliError(
          `${opts.config}: the configuration has errors (${first?.message ?? "see config check"})`,
        );
      }
      const only = opts.only as string[] | undefined;
      for (const card of only ?? []) {
        if (!config.nmc.cards.includes(card)) {
          throw new CliError(`--only: ${card} is not a configured NMC`, EXIT_USAGE);
        }
      }
      const result = await runDrill(config, { steps, stepSeconds, only });
      if (opts.json) console.log(JSON.stringify(result, null, 2));
      else for (const line of formatTimeline(result)) console.log(line);
    });
}
