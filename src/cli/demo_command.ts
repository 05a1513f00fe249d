/**
 * `demo`: runs the built-in demonstration (agent + simulated NMC on loopback).
 *
 * @module
 */
import type { Command } from "commander";
import { runDemo } from "../demo/demo.ts";
import { parseSecondsOption } from "./errors.ts";

/** Adds the `demo` command. */
export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run the agent with a simulated NMC on loopback through a power failure (dry run, temp dir)")
    .option("--step <seconds>", "seconds between scenario steps", "1.5")
    .action(async (opts) => {
      await runDemo({
        stepSeconds: parseSecondsOption("--step", opts.step, 0.05, 60),
        print: (l) => console.log(l),
      });
    });
}
