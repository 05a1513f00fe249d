/**
 * Whether a configured command file is usable, checked when the configuration is loaded (full path, exists,
 * a regular file, executable; on Windows a program Windows can run). A problem is one clear message; the
 * agent reports such a file and disables it, as PCNS does. At a reload the files are looked at
 * asynchronously and bounded ({@linkcode commandFileChecker}): the disk of the command files (an NFS share)
 * may not answer.
 *
 * @module
 */
import { posix, win32 } from "node:path";
import { resultWithin } from "../fs/stall.ts";

/** A look that got no answer in time. */
const UNANSWERED = Symbol("unanswered");

/** File name extensions Windows can run. */
const WINDOWS_EXTENSIONS = [".exe", ".bat", ".cmd", ".ps1"];

/** The operating system, as `Deno.build.os` names it. */
export type OsName = typeof Deno.build.os;

/** What `stat` says about a command file, for {@linkcode commandFileProblem}. */
export interface CommandFileFacts {
  /** Regular file, directory, or something else (socket, device, ...). */
  readonly kind: "file" | "directory" | "other";
  /** Permission bits (null where the OS has none, i.e. Windows). */
  readonly mode: number | null;
}

/** The problem with a command file path as written (empty, not absolute), or undefined. Pure. */
export function commandFilePathProblem(path: string, os: OsName = Deno.build.os): string | undefined {
  if (!path.trim()) return "command file path is empty";
  if (!(os === "windows" ? win32 : posix).isAbsolute(path)) {
    return `command file "${path}" is not an absolute path (give the full path)`;
  }
  return undefined;
}

/**
 * The problem with a command file, or undefined if it is usable. Pure: `facts`
 * is what stat returned (null when the file does not exist), `os` picks the
 * path and executable rules.
 */
export function commandFileProblem(
  path: string,
  facts: CommandFileFacts | null,
  os: OsName = Deno.build.os,
): string | undefined {
  const pathProblem = commandFilePathProblem(path, os);
  if (pathProblem !== undefined) return pathProblem;
  if (facts === null) return `command file "${path}" does not exist`;
  if (facts.kind === "directory") return `command file "${path}" is a directory, not a file`;
  if (facts.kind !== "file") return `command file "${path}" is not a regular file`;
  if (os === "windows") {
    const ext = win32.extname(path).toLowerCase();
    if (!WINDOWS_EXTENSIONS.includes(ext)) {
      return `command file "${path}" is not a program Windows can run (use ${WINDOWS_EXTENSIONS.join(", ")})`;
    }
    return undefined;
  }
  if (facts.mode !== null && (facts.mode & 0o111) === 0) {
    return `command file "${path}" is not executable (chmod +x it)`;
  }
  return undefined;
}

/**
 * Checks a command file at config load: returns undefined if it is usable,
 * else one clear message (empty path, not absolute, does not exist, is a
 * directory, not executable — on Windows: not .exe/.bat/.cmd/.ps1).
 */
export function checkCommandFile(path: string): string | undefined {
  const pathProblem = commandFilePathProblem(path);
  if (pathProblem !== undefined) return pathProblem;
  let facts: CommandFileFacts | null | string;
  try {
    facts = factsOf(Deno.statSync(path));
  } catch (error) {
    facts = missingOrThrown(path, error);
  }
  return typeof facts === "string" ? facts : commandFileProblem(path, facts);
}

/** What {@linkcode checkCommandFile} needs from stat. */
function factsOf(info: Deno.FileInfo): CommandFileFacts {
  return { kind: info.isFile ? "file" : info.isDirectory ? "directory" : "other", mode: info.mode };
}

/** null for a file that is not there, else the message of a stat that failed. */
function missingOrThrown(path: string, error: unknown): null | string {
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return null;
  return `command file "${path}" cannot be checked: ${error instanceof Error ? error.message : error}`;
}

/** How long a configuration reload waits for a command file's disk to answer its check. */
export const COMMAND_FILE_CHECK_WAIT_MS = 1000;

/**
 * {@linkcode checkCommandFile} for `paths`, looked at asynchronously and at once (a reload while the disk of
 * the command files does not answer must not stall the agent): the check to use, and the paths whose disk
 * did not answer within `timeoutMs` (they pass the check: a run of such a file is bounded by its time limit).
 */
export async function commandFileChecker(
  paths: readonly string[],
  timeoutMs = COMMAND_FILE_CHECK_WAIT_MS,
): Promise<{ check: (path: string) => string | undefined; unanswered: string[] }> {
  const look = (path: string): Promise<CommandFileFacts | null | string | typeof UNANSWERED> =>
    commandFilePathProblem(path) !== undefined
      ? Promise.resolve(null)
      : Deno.stat(path).then(factsOf, (error) => missingOrThrown(path, error));
  const unique = [...new Set(paths)];
  const looks = new Map(
    await Promise.all(
      unique.map(async (path) => [path, await resultWithin(look(path), timeoutMs, UNANSWERED)] as const),
    ),
  );
  return {
    check: (path) => {
      const pathProblem = commandFilePathProblem(path);
      if (pathProblem !== undefined) return pathProblem;
      const facts = looks.get(path);
      if (facts === UNANSWERED) return undefined;
      if (typeof facts === "string") return facts;
      return facts === undefined ? checkCommandFile(path) : commandFileProblem(path, facts);
    },
    unanswered: unique.filter((path) => looks.get(path) === UNANSWERED),
  };
}
