/**
 * Reading the configuration without changing anything on disk: what `config get/show` and the other
 * commands read ({@link inspectConfig}), and what `config check` reports ({@link checkConfigFile}):
 * every problem a hot reload or the next start would meet, including what the start needs from the
 * host (requirements.ts), a file unreadable as a whole, symbolic links and a loose data directory.
 *
 * @module
 */
import { evaluateConfig, type Evaluation } from "./evaluate.ts";
import { type FileText, looseDirectory, readFileText, symlinkTarget } from "./fs.ts";
import { MAX_CONFIG_BYTES, unreadableReason } from "./integrity.ts";
import { backupPathFor, dirOf } from "./paths.ts";
import { type ConfigProblem, problem } from "./problems.ts";
import { checkStartNeeds } from "./requirements.ts";
import { defaultConfigText } from "./template.ts";

/** What {@link inspectConfig} found, without changing anything on disk. */
export interface Inspection {
  /** The file exists. */
  readonly exists: boolean;
  /** The backup exists. */
  readonly backupExists: boolean;
  /** Evaluation of what a start would use: the file, or the backup/defaults when it is missing or unreadable. */
  readonly evaluation: Evaluation;
}

async function readOrProblem(path: string): Promise<FileText | null | string> {
  try {
    return await readFileText(path, MAX_CONFIG_BYTES);
  } catch (error) {
    return `it cannot be read as a file: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Reads and evaluates the configuration without writing anything (for `config
 * check/get/show`). `strict` is what a hot reload would do; lenient is what a
 * start would do. A file unreadable as a whole is replaced by its backup, as a
 * start would do (`unreadable` says why).
 */
export async function inspectConfig(
  path: string,
  strict: boolean,
): Promise<Inspection & { readonly unreadable?: string }> {
  const backupPath = backupPathFor(path);
  const main = await readOrProblem(path);
  const backup = await readOrProblem(backupPath);
  const backupText = backup !== null && typeof backup !== "string" ? backup.text : null;
  const unreadable = main === null
    ? undefined
    : typeof main === "string"
    ? main
    : unreadableReason(main.bytes, main.text, backupText);
  const text = main !== null && typeof main !== "string" && unreadable === undefined ? main.text : null;
  const source = text ?? backupText ?? defaultConfigText();
  const evaluation = evaluateConfig(source, {
    file: text !== null ? path : backupText !== null ? backupPath : path,
    backupFile: backupPath,
    backupText,
    strict,
  });
  return {
    exists: main !== null,
    backupExists: backupText !== null,
    evaluation,
    ...(unreadable !== undefined ? { unreadable } : {}),
  };
}

/**
 * Everything `config check` reports: the strict evaluation, plus errors for a file unreadable as a whole
 * and for what the next start could not use (requirements.ts), plus warnings for a symlinked file and a
 * data directory others can write.
 */
export async function checkConfigFile(
  path: string,
): Promise<Inspection & { readonly problems: ConfigProblem[] }> {
  const inspection = await inspectConfig(path, true);
  const problems = [...inspection.evaluation.problems];
  if (inspection.unreadable !== undefined) {
    const then = inspection.backupExists
      ? `at start the agent would use the backup ${backupPathFor(path)} as a whole (listed below)`
      : "there is no backup to fall back on";
    problems.unshift(
      problem("error", path, undefined, `unreadable as a whole: ${inspection.unreadable}; ${then}`),
    );
  }
  const link = await symlinkTarget(path).catch(() => undefined);
  if (link !== undefined) {
    problems.push(problem(
      "warning",
      path,
      undefined,
      `is a symbolic link to ${link}: the agent reads it but refuses every change (web UI, API, config set)`,
    ));
  }
  const dataDir = dirOf(path);
  const loose = await looseDirectory(dataDir).catch(() => undefined);
  if (loose) {
    problems.push(problem(
      "warning",
      path,
      undefined,
      `the data directory ${dataDir} is writable by ${loose.who} (mode 0${
        loose.mode.toString(8)
      }): chmod 700 ${dataDir}`,
    ));
  }
  problems.push(...await checkStartNeeds(inspection.evaluation.values, { dataDir, file: path }));
  return { ...inspection, problems };
}
