/**
 * `drill`: rehearses the shutdown against the real configuration on a
 * virtual clock and prints the exact timeline. Nothing runs: no OS shutdown,
 * no UPS turn-off, no command file, no notification. A file `config check`
 * would fail is refused (every problem printed) unless `--force`, so a
 * rehearsal never silently uses other values than the ones written.
 *
 * @module
 */
import type { Command } from "commander";
import { defaultConfigPath } from "../config/paths.ts";
import { inspectConfig } from "../config/store.ts";
import { parseScenario, SCENARIO_STEPS, SCENARIOS } from "../sim/scenarios.ts";
import { extraCheckProblems } from "./check_rules.ts";
import { configFlagHelp } from "./help_text.ts";
import { CliError, EXIT_USAGE, parseSecondsOption } from "./errors.ts";

/** Adds the `drill` command. */
export function registerDrillCommand(program: Command): void {
  program
    .command("drill")
    .description(
      "rehearse the shutdown with your config: prints what would run at which second, runs nothing",
    )
    .option("-c, --config <path>", configFlagHelp("path of pcnsconfig.ini"))
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
    .option("--force", "rehearse even if `config check` fails, with the values the agent would use at start")
    .action(async (opts) => {
      opts.config ??= defaultConfigPath();
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
      refuseUnlessForced(opts.config, await checkProblems(opts.config), opts.force === true);
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
      // The drill and its virtual clock (@sinonjs/fake-timers) load only for this command, not for `run`.
      const { formatTimeline, runDrill } = await import("../drill/drill.ts");
      const result = await runDrill(config, { steps, stepSeconds, only });
      if (opts.json) console.log(JSON.stringify(result, null, 2));
      else for (const line of formatTimeline(result)) console.log(line);
    });
}

/** What `config check` reports for a file, as its lines (`error: ...`, `warning: ...`) in line order. */
async function checkProblems(path: string): Promise<{ level: "error" | "warning"; line: string }[]> {
  const { evaluation } = await inspectConfig(path, true);
  const sorted = [...evaluation.problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const all = [...sorted, ...(evaluation.config ? extraCheckProblems(evaluation.config, path) : [])];
  return all.map((p) => ({ level: p.level, line: `${p.level}: ${p.message}` }));
}

/** Prints every problem on stderr; throws if there is an error and `force` is not given. */
function refuseUnlessForced(
  path: string,
  problems: readonly { level: "error" | "warning"; line: string }[],
  force: boolean,
): void {
  for (const p of problems) console.error(p.line);
  const errors = problems.filter((p) => p.level === "error").length;
  if (errors === 0) return;
  const summary = `${path}: ${errors} error(s), ${problems.length - errors} warning(s)`;
  if (!force) {
    throw new CliError(
      `${summary}: the drill would rehearse other values than the file's; fix them (pcns-agent config check) ` +
        "or give --force to rehearse with the values the agent would use at start",
    );
  }
  console.error(`${summary}; --force: rehearsing with the values the agent would use at start`);
}
