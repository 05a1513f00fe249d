/**
 * Problems found in a configuration file, and the error thrown when the
 * configuration cannot be used at all.
 *
 * @module
 */

/** One problem with the configuration, located as precisely as possible. */
export interface ConfigProblem {
  /** `error`: the value/file cannot be used as is; `warning`: something was ignored or replaced. */
  readonly level: "error" | "warning";
  /** Path of the file concerned. */
  readonly file: string;
  /** 1-based line number, when the problem is on a line. */
  readonly line?: number;
  /** `Section.key` concerned, if any. */
  readonly key?: string;
  /** The offending value as shown to people (`***` for secrets), if any. */
  readonly value?: string;
  /** The full one-line message, starting with `file:line:`. */
  readonly message: string;
}

/** Builds a problem whose message is prefixed with `file:line: `. */
export function problem(
  level: ConfigProblem["level"],
  file: string,
  line: number | undefined,
  text: string,
  extra: { key?: string; value?: string } = {},
): ConfigProblem {
  const where = line === undefined ? file : `${file}:${line}`;
  return {
    level,
    file,
    ...(line !== undefined ? { line } : {}),
    ...(extra.key !== undefined ? { key: extra.key } : {}),
    ...(extra.value !== undefined ? { value: extra.value } : {}),
    message: `${where}: ${text}`,
  };
}

/** Thrown when the configuration cannot be loaded or a change cannot be applied; lists every problem. */
export class ConfigError extends Error {
  /** Every problem found (errors first). */
  readonly problems: readonly ConfigProblem[];

  /** Creates the error; the message is the summary followed by one problem per line. */
  constructor(summary: string, problems: readonly ConfigProblem[] = []) {
    const sorted = [...problems].sort((a, b) => (a.level === b.level ? 0 : a.level === "error" ? -1 : 1));
    super([summary, ...sorted.map((p) => `  ${p.level}: ${p.message}`)].join("\n"));
    this.name = "ConfigError";
    this.problems = sorted;
  }
}
