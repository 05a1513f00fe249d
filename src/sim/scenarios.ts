/**
 * Scripted scenarios for the simulated card: each step changes the UPS (or
 * the card) the way a real event would, and a scenario is a list of steps
 * played at a fixed pace.
 *
 * @module
 */
import { type NmcSimulator, normalUps } from "./simulator.ts";

/** One scenario step. */
export type ScenarioStep =
  | "normal"
  | "power-failure"
  | "low-battery"
  | "restore"
  | "ups-turn-off"
  | "card-reboot"
  | "silence"
  | "resume";

/** Every step, with what it does. */
export const SCENARIO_STEPS: Readonly<Record<ScenarioStep, string>> = {
  "normal": "UPS on line, battery full",
  "power-failure": "utility power fails: UPS on battery (status 10)",
  "low-battery": "on battery with the low-battery flag (status 50), 2 min runtime left",
  "restore": "utility power returns: UPS on line, battery recharging",
  "ups-turn-off": "the UPS is commanded off: SD=1",
  "card-reboot": "the card reboots: reboot counter SR+1, uptime counter restarts",
  "silence": "the card stops sending",
  "resume": "the card sends again",
};

/** Named scenarios (a step name on its own is a one-step scenario too). */
export const SCENARIOS: Readonly<Record<string, readonly ScenarioStep[]>> = {
  "demo": ["normal", "power-failure", "low-battery", "restore"],
  "power-failure": ["normal", "power-failure", "restore"],
  "outage": ["normal", "power-failure"],
  "low-battery": ["normal", "power-failure", "low-battery"],
  "ups-turn-off": ["normal", "power-failure", "ups-turn-off"],
  "card-reboot": ["normal", "card-reboot"],
  "silence": ["normal", "silence"],
};

/** Parses `demo` or `normal,power-failure,restore` into steps; throws naming the unknown step. */
export function parseScenario(text: string): ScenarioStep[] {
  if (text in SCENARIOS) return [...SCENARIOS[text]];
  const steps = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (steps.length === 0) throw new Error("empty scenario");
  for (const step of steps) {
    if (!(step in SCENARIO_STEPS)) {
      const known = [...new Set([...Object.keys(SCENARIOS), ...Object.keys(SCENARIO_STEPS)])].join(", ");
      throw new Error(`unknown scenario step "${step}" (known: ${known})`);
    }
  }
  return steps as ScenarioStep[];
}

/** Applies one step to the simulated card (no packet is sent). */
export function applyStep(sim: NmcSimulator, step: ScenarioStep): void {
  switch (step) {
    case "normal":
      sim.update(normalUps());
      sim.setSilent(false);
      break;
    case "power-failure":
      sim.update({ flags: { onBattery: true }, lineVoltage: 0, lastTransfer: "L", runtimeMinutes: 30 });
      sim.update({ batteryPercent: Math.min(sim.ups.batteryPercent, 95) });
      break;
    case "low-battery":
      sim.update({ flags: { onBattery: true, lowBattery: true }, lineVoltage: 0, batteryPercent: 12 });
      sim.update({ runtimeMinutes: 2, batteryVoltage: 23.1 });
      break;
    case "restore":
      sim.update({ flags: { online: true }, lineVoltage: 230, shuttingDown: false });
      break;
    case "ups-turn-off":
      sim.update({ shuttingDown: true });
      break;
    case "card-reboot":
      sim.reboot();
      break;
    case "silence":
      sim.setSilent(true);
      break;
    case "resume":
      sim.setSilent(false);
      break;
  }
}

/** Plays steps one after another, `stepMs` apart, sending a status packet right after each change. */
export async function playScenario(
  sim: NmcSimulator,
  steps: readonly ScenarioStep[],
  stepMs: number,
  onStep?: (step: ScenarioStep, index: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  for (const [index, step] of steps.entries()) {
    if (signal?.aborted) return;
    if (index > 0) await delay(stepMs, signal);
    if (signal?.aborted) return;
    applyStep(sim, step);
    onStep?.(step, index);
    await sim.sendStatus();
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
