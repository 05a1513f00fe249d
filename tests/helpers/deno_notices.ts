/**
 * Deno's own notices on a child's stderr that are not the program's output: with many `deno run` children at
 * once (a fresh checkout's first runs, or the parallel suite), one waits for the lock on node_modules/ and says
 * so. Tests that assert a child wrote nothing else to stderr strip these first.
 *
 * @module
 */

/** `stderr` without Deno's "Blocking waiting for file lock ..." lines. */
export function withoutDenoNotices(stderr: string): string {
  return stderr.replace(/^Blocking waiting for file lock on [^\n]*\n?/gm, "");
}
