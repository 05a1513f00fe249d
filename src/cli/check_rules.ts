/**
 * The checks `config check` makes beyond the file's own evaluation, in one
 * place so that `config check`, `config set` and `drill` agree: every
 * enabled command file must exist and be runnable (the agent disables a
 * broken one at start, as PCNS does, so it is an error here).
 *
 * @module
 */
import { commandFileProblems } from "../agent/wiring.ts";
import { type ConfigProblem, problem } from "../config/problems.ts";
import type { AgentConfig } from "../config/types.ts";

/** The extra problems of a configuration read from `file` (impure: looks at the command files). */
export function extraCheckProblems(config: AgentConfig, file: string): ConfigProblem[] {
  return commandFileProblems(config).map((p) =>
    problem("error", file, undefined, `${p.key} = ${p.path}: ${p.problem}`, { key: p.key, value: p.path })
  );
}

/**
 * The extra problems a change brings (impure): those of `candidate` that
 * `current` did not have already. `config set` refuses the change if there
 * is one; problems the file had before are left to `config check`.
 */
export function newExtraProblems(
  current: AgentConfig,
  candidate: AgentConfig,
  file: string,
): { added: ConfigProblem[]; kept: ConfigProblem[] } {
  const before = new Set(extraCheckProblems(current, file).map((p) => p.message));
  const after = extraCheckProblems(candidate, file);
  return {
    added: after.filter((p) => !before.has(p.message)),
    kept: after.filter((p) => before.has(p.message)),
  };
}
