/**
 * CLI exit conventions shared by every command: 0 ok, 1 failed, 2 usage
 * error; errors go to stderr as one line naming the problem.
 *
 * @module
 */

/** Exit code for success. */
export const EXIT_OK = 0;
/** Exit code for a failure (bad config, unreachable peer, ...). */
export const EXIT_FAILED = 1;
/** Exit code for a usage error (bad flag or argument). */
export const EXIT_USAGE = 2;

/** An error the CLI reports as one line and turns into an exit code. */
export class CliError extends Error {
  /** The exit code to use. */
  readonly exitCode: number;

  /** Creates an error with a message and an exit code (default 1). */
  constructor(message: string, exitCode = EXIT_FAILED) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Parses a decimal integer option in [min, max]; throws a usage error naming the flag otherwise. */
export function parseIntegerOption(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new CliError(`${flag}: "${value}" is not a whole number from ${min} to ${max}`, EXIT_USAGE);
  }
  return Number(value);
}

/** Parses a positive decimal number of seconds option; throws a usage error naming the flag otherwise. */
export function parseSecondsOption(flag: string, value: string, min = 0.01, max = 86400): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new CliError(`${flag}: "${value}" is not a number of seconds from ${min} to ${max}`, EXIT_USAGE);
  }
  return n;
}
