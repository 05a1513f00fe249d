/**
 * How a command file is started in its own session (so a timeout can kill
 * the whole process group). Deno's `detached` option makes it fork the whole
 * agent (a pre-exec hook rules out posix_spawn): 15 ms per start under load
 * against ~4 ms for a plain spawn. Starting the file through util-linux
 * `setsid` instead is a plain spawn: setsid calls setsid(2) and execs the
 * file in place (same pid, exit status and signals), because a freshly
 * spawned child is never a process group leader.
 *
 * A wrapper would change how a file that cannot start is reported (setsid
 * prints a message and exits 126/127, and glibc's execvp runs a file without
 * a `#!` line through /bin/sh). So setsid is used only when a look at the
 * file beforehand says the exec will succeed ({@linkcode sessionLaunch}:
 * regular file, executable for this user, an ELF binary or a `#!` script whose
 * interpreter is an executable ELF file); anything else goes the old
 * `detached` way and fails exactly as before. {@linkcode setsidExecFailed}
 * recognises the rare exec failure that the look could not foresee, so the
 * caller can start the file again the old way to get the usual report.
 *
 * @module
 */
import { resultWithin } from "../fs/stall.ts";

/** A command to start: program, arguments, and whether Deno must detach it itself. */
export interface Launch {
  /** Program to run. */
  readonly program: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** True when Deno's `detached` (fork + setsid) has to make the new session. */
  readonly detached: boolean;
  /** True when the program is the setsid(1) wrapper. */
  readonly viaSetsid: boolean;
  /** True when the file's disk did not answer the look (setsid is used; never fall back to `detached`). */
  readonly unanswered: boolean;
}

/** What stat says about a file, for {@linkcode mayExecute}. */
export interface ExecPermissionFacts {
  /** Permission bits. */
  readonly mode: number;
  /** Owner's uid. */
  readonly uid: number;
  /** Owner's gid. */
  readonly gid: number;
}

/**
 * True only if the permission bits certainly let the user `uid`/`gid` (primary
 * group) execute the file; false when they do not or it depends on
 * supplementary groups. Pure.
 */
export function mayExecute(file: ExecPermissionFacts, uid: number, gid: number): boolean {
  const bits = file.mode & 0o111;
  if (uid === 0) return bits !== 0;
  if (file.uid === uid) return (bits & 0o100) !== 0;
  if (file.gid === gid) return (bits & 0o010) !== 0;
  // Not the owner, group unknown: executable whether or not the user is in the group.
  return (bits & 0o011) === 0o011;
}

/** What the first bytes of a file say it is. */
export type ExecFormat =
  | { readonly kind: "elf" }
  | { readonly kind: "script"; readonly interpreter: string }
  | { readonly kind: "unknown" };

/**
 * The format of an executable from its first bytes (up to 256, what Linux
 * reads): an ELF binary, a `#!` script with an absolute interpreter path, or
 * unknown (anything else, including a `#!` line longer than the buffer). Pure.
 */
export function execFormat(head: Uint8Array): ExecFormat {
  if (head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
    return { kind: "elf" };
  }
  if (head.length < 2 || head[0] !== 0x23 || head[1] !== 0x21) return { kind: "unknown" };
  const end = head.indexOf(0x0a);
  if (end < 0) return { kind: "unknown" };
  let at = 2;
  while (at < end && (head[at] === 0x20 || head[at] === 0x09)) at++;
  let stop = at;
  while (stop < end && head[stop] !== 0x20 && head[stop] !== 0x09 && head[stop] !== 0x0d) stop++;
  const interpreter = new TextDecoder().decode(head.subarray(at, stop));
  if (!interpreter.startsWith("/")) return { kind: "unknown" };
  return { kind: "script", interpreter };
}

/** The first `n` bytes of `path` (fewer if it is shorter). Throws on I/O errors. */
async function readHead(path: string, n: number): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    const buffer = new Uint8Array(n);
    let length = 0;
    while (length < n) {
      const got = await file.read(buffer.subarray(length));
      if (got === null || got === 0) break;
      length += got;
    }
    return buffer.subarray(0, length);
  } finally {
    file.close();
  }
}

/** True if `path` is a regular file this process may execute (by its permission bits). */
async function executableFile(path: string, uid: number, gid: number): Promise<boolean> {
  const info = await Deno.stat(path);
  if (!info.isFile || info.mode === null || info.uid === null || info.gid === null) return false;
  return mayExecute({ mode: info.mode, uid: info.uid, gid: info.gid }, uid, gid);
}

/** How long the look at a file before it is started may take: its disk may not answer (an NFS share gone). */
export const EXEC_LOOK_TIMEOUT_MS = 500;

/** What a look at a file says of exec'ing it: certain to work, in doubt, or no answer from its disk. */
export type ExecOutlook = "certain" | "doubtful" | "unanswered";

/** The look itself: a few stats and reads, off the event loop. */
async function lookAt(path: string): Promise<"certain" | "doubtful"> {
  try {
    const uid = Deno.uid();
    const gid = Deno.gid();
    if (uid === null || gid === null || !await executableFile(path, uid, gid)) return "doubtful";
    const format = execFormat(await readHead(path, 256));
    if (format.kind === "elf") return "certain";
    if (format.kind !== "script" || !await executableFile(format.interpreter, uid, gid)) return "doubtful";
    return execFormat(await readHead(format.interpreter, 4)).kind === "elf" ? "certain" : "doubtful";
  } catch {
    return "doubtful";
  }
}

/** A look older than this is done again, in the background (its answer is used meanwhile). */
export const EXEC_LOOK_REFRESH_MS = 60_000;
/** The last answered look at each file (at most 64 files). */
const looks = new Map<string, { at: number; outlook: "certain" | "doubtful"; refreshing?: boolean }>();

/**
 * Whether exec'ing `path` will almost certainly succeed (see the module doc), from asynchronous file system
 * calls (Linux only): "unanswered" when they have not returned within `timeoutMs` (real time), as on a disk
 * that hangs; the look goes on in the background and is ignored. An answer is kept for the next start of
 * that file ({@link knownOutlook}), so a start does not wait for the disk: a wrong "certain" only costs the
 * fallback of a failed setsid exec.
 */
async function freshOutlook(path: string, timeoutMs: number): Promise<ExecOutlook> {
  const outlook = await resultWithin<ExecOutlook>(lookAt(path), timeoutMs, "unanswered");
  if (outlook !== "unanswered") {
    if (looks.size >= 64 && !looks.has(path)) looks.clear();
    looks.set(path, { at: Date.now(), outlook });
  }
  return outlook;
}

/**
 * The last answered look at `path`, without waiting (one older than {@link EXEC_LOOK_REFRESH_MS} is done
 * again in the background), or undefined when there is none yet.
 */
function knownOutlook(path: string, timeoutMs: number): "certain" | "doubtful" | undefined {
  const known = looks.get(path);
  if (!known) return undefined;
  const age = Date.now() - known.at;
  if ((age > EXEC_LOOK_REFRESH_MS || age < 0) && !known.refreshing) {
    known.refreshing = true;
    void freshOutlook(path, timeoutMs).finally(() => known.refreshing = false);
  }
  return known.outlook;
}

/** Looks at `paths` now, in the background, so their first start need not (the configured command files). */
export function prepareExecOutlooks(paths: readonly string[]): void {
  if (Deno.build.os !== "linux" || setsidPath() === null) return;
  for (const path of new Set(paths)) if (!looks.has(path)) void freshOutlook(path, EXEC_LOOK_TIMEOUT_MS);
}

/** Where setsid(1) is looked for. */
const SETSID_PATHS = ["/usr/bin/setsid", "/bin/setsid"];
let setsidFound: string | null | undefined;

/** The path of setsid(1) on Linux, or null when there is none (looked up once). */
export function setsidPath(): string | null {
  if (setsidFound !== undefined) return setsidFound;
  setsidFound = null;
  if (Deno.build.os !== "linux") return setsidFound;
  for (const candidate of SETSID_PATHS) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) {
        setsidFound = candidate;
        break;
      }
    } catch {
      // not there
    }
  }
  return setsidFound;
}

/**
 * How to start `program args` in its own session: through setsid(1) when it
 * is installed and `program` will certainly exec, else with Deno's
 * `detached` (everywhere but Windows, where there are no sessions).
 * `preferSetsid` false forces the old way. A file whose disk does not answer
 * the look is started through setsid too: only setsid's child then waits for
 * that disk, while `detached` would hold up the whole agent in the exec (the
 * spawn waits for it).
 *
 * The answer is given at once (not a promise) when no look is needed or the
 * file's last look is known: the caller can then start the file within the
 * event's own turn instead of after the rest of the work the packet caused.
 */
export function sessionLaunch(
  program: string,
  args: readonly string[],
  preferSetsid = true,
): Launch | Promise<Launch> {
  if (Deno.build.os === "windows") {
    return { program, args, detached: false, viaSetsid: false, unanswered: false };
  }
  const setsid = preferSetsid ? setsidPath() : null;
  if (setsid === null || args.length !== 0) return launchFor(null, program, args, "doubtful");
  const known = knownOutlook(program, EXEC_LOOK_TIMEOUT_MS);
  if (known !== undefined) return launchFor(setsid, program, args, known);
  return freshOutlook(program, EXEC_LOOK_TIMEOUT_MS).then((outlook) =>
    launchFor(setsid, program, args, outlook)
  );
}

/** The launch for a look's answer: through `setsid` unless it is null or the exec is in doubt. */
function launchFor(
  setsid: string | null,
  program: string,
  args: readonly string[],
  outlook: ExecOutlook,
): Launch {
  if (setsid !== null && outlook !== "doubtful") {
    return {
      program: setsid,
      args: [program],
      detached: false,
      viaSetsid: true,
      unanswered: outlook === "unanswered",
    };
  }
  return { program, args, detached: true, viaSetsid: false, unanswered: false };
}

/**
 * True when a run through setsid(1) ended because setsid could not exec the
 * file (it exits 126 or 127 with `setsid: ...<path>...` as the first output),
 * i.e. the file never ran. Pure.
 */
export function setsidExecFailed(exitCode: number | null, output: string, path: string): boolean {
  if (exitCode !== 126 && exitCode !== 127) return false;
  const firstLine = output.split("\n", 1)[0];
  return firstLine.startsWith("setsid: ") && firstLine.includes(path);
}
