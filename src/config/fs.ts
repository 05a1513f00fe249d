/**
 * The file operations of the config store: bounded reads of regular files only,
 * BOM-preserving text, atomic writes (temporary file in the same directory,
 * fsync, rename), the 0600 mode, and the cross-process write lock.
 *
 * Symbolic links are never followed for a change: no write goes through a link
 * and no link is replaced by a file ({@link SymlinkRefusedError}), and modes are
 * never changed through a link; a symlinked lock file is replaced by a plain one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { baseName, dirOf } from "./paths.ts";

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();
const isWindows = Deno.build.os === "windows";

/** SHA-256 of a text, hex (to tell real edits from touches and our own writes). */
export function contentHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Reads a file as text, keeping a BOM as U+FEFF; null when it does not exist. */
export async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return decoder.decode(await Deno.readFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** A file that cannot be used, with a message that completes "<path> ..." (e.g. "is a directory"). */
export class FileProblem extends Error {
  /** Creates the problem for `path`. */
  constructor(readonly path: string, readonly problem: string, readonly notFound = false) {
    super(`${path} ${problem}`);
    this.name = "FileProblem";
  }
}

/** "1 MiB", "512 KiB", "300 bytes". */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** What a file that is not a regular file is, for messages ("is a directory", "is not a regular file (a named pipe)"). */
export function describeNonRegular(info: Deno.FileInfo): string {
  if (info.isDirectory) return "is a directory";
  const kind = info.isCharDevice
    ? "a character device"
    : info.isBlockDevice
    ? "a block device"
    : info.isFifo
    ? "a named pipe"
    : info.isSocket
    ? "a socket"
    : "not a plain file";
  return `is not a regular file (${kind})`;
}

function openProblem(path: string, error: unknown): FileProblem {
  if (error instanceof Deno.errors.NotFound) return new FileProblem(path, "does not exist", true);
  if (error instanceof Deno.errors.PermissionDenied) {
    return new FileProblem(path, "cannot be read (permission denied)");
  }
  return new FileProblem(path, `cannot be read: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Reads a regular file of at most `maxBytes` (following a symbolic link, as a read does). Throws a
 * {@link FileProblem} for a missing file, a directory, a device, a pipe (checked before opening, so a
 * read never blocks or runs forever), or a larger file; never reads more than `maxBytes + 1` bytes.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw openProblem(path, error);
  }
  if (!info.isFile) throw new FileProblem(path, describeNonRegular(info));
  if (info.size > maxBytes) {
    throw new FileProblem(path, `is larger than ${sizeText(maxBytes)} (${info.size} bytes)`);
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw openProblem(path, error);
  }
  try {
    const opened = await file.stat();
    if (!opened.isFile) throw new FileProblem(path, describeNonRegular(opened));
    // Sized by the file (plus one byte to see growth), grown up to the limit if it grows meanwhile.
    let buffer = new Uint8Array(Math.min(opened.size, maxBytes) + 1);
    let length = 0;
    while (true) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) break;
        const grown = new Uint8Array(Math.min(buffer.length * 2, maxBytes + 1));
        grown.set(buffer);
        buffer = grown;
      }
      const n = await file.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
    }
    if (length > maxBytes) throw new FileProblem(path, `is larger than ${sizeText(maxBytes)}`);
    return buffer.subarray(0, length);
  } finally {
    file.close();
  }
}

/** The bytes and lenient UTF-8 text of a file read with {@link readRegularFile}. */
export interface FileText {
  /** The raw bytes. */
  readonly bytes: Uint8Array;
  /** The bytes decoded as UTF-8 (a BOM kept as U+FEFF, bad sequences as U+FFFD). */
  readonly text: string;
}

/** {@link readRegularFile} as text; null when the file (or a link's target) does not exist. */
export async function readFileText(path: string, maxBytes: number): Promise<FileText | null> {
  try {
    const bytes = await readRegularFile(path, maxBytes);
    return { bytes, text: decoder.decode(bytes) };
  } catch (error) {
    if (error instanceof FileProblem && error.notFound) return null;
    throw error;
  }
}

/** A change refused because the file is a symbolic link (pcns-agent never writes through one nor replaces it). */
export class SymlinkRefusedError extends Error {
  /** Creates the error for the link `path` pointing at `target`. */
  constructor(readonly path: string, readonly target: string) {
    super(
      `${path} is a symbolic link to ${target}: pcns-agent does not write through symbolic links and does not ` +
        `replace them, so it cannot change this file; edit ${target} itself, or replace the link by the file ` +
        `(see the README, "Symbolic links")`,
    );
    this.name = "SymlinkRefusedError";
  }
}

/** The target of `path` when it is a symbolic link (as stored in the link), else undefined (also when missing). */
export async function symlinkTarget(path: string): Promise<string | undefined> {
  try {
    const info = await Deno.lstat(path);
    return info.isSymlink ? await Deno.readLink(path) : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Prefix of the temporary files an atomic write of `path` uses. */
export function tempPrefix(path: string): string {
  return `.${baseName(path)}.tmp-`;
}

/**
 * Replaces `path` with `text` (or bytes) atomically: a temporary file in the same directory
 * is written with mode 0600, fsynced and renamed over `path`; then the directory
 * is fsynced (best effort). Readers see the old or the new file, never a mix.
 * Throws {@link SymlinkRefusedError} when `path` is a symbolic link.
 */
export async function atomicWriteFile(path: string, text: string | Uint8Array): Promise<void> {
  const link = await symlinkTarget(path);
  if (link !== undefined) throw new SymlinkRefusedError(path, link);
  const dir = dirOf(path);
  const tmp = `${dir}/${tempPrefix(path)}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    try {
      const bytes = typeof text === "string" ? encoder.encode(text) : text;
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    if (!isWindows) await Deno.chmod(tmp, 0o600);
    await renameOver(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  await syncDirectory(dir);
}

/** Renames over `to`; on Windows retries briefly while another process has the target open. */
async function renameOver(from: string, to: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      return await Deno.rename(from, to);
    } catch (error) {
      if (!isWindows || attempt >= 20 || !(error instanceof Deno.errors.PermissionDenied)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  if (isWindows) return;
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Not supported on every file system; the rename itself is still atomic.
  }
}

/**
 * Removes the temporary files that writers of `paths` (all in one directory) left when they were killed
 * mid-write; they may hold the phrase. Call only under the write lock.
 */
export async function removeStaleTemps(...paths: string[]): Promise<string[]> {
  const dir = dirOf(paths[0]);
  const prefixes = paths.map(tempPrefix);
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && prefixes.some((prefix) => entry.name.startsWith(prefix))) {
        await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
        removed.push(entry.name);
      }
    }
  } catch {
    // An unreadable directory only means nothing is cleaned up.
  }
  return removed;
}

/** What {@link restrictMode} did. */
export type ModeCheck =
  | { readonly kind: "ok" }
  | { readonly kind: "tightened"; readonly previous: number }
  | { readonly kind: "link"; readonly target: string; readonly mode: number | null };

/**
 * Sets mode 0600 when the file is readable or writable by group or others and
 * says what it found. A symbolic link is never followed: its target's mode is
 * only reported (`link`, with the mode when the group or others can read or
 * write the target, else null). `ok` also on Windows and when the file does not exist.
 */
export async function restrictMode(path: string): Promise<ModeCheck> {
  if (isWindows) return { kind: "ok" };
  try {
    const own = await Deno.lstat(path);
    if (own.isSymlink) {
      const target = await Deno.readLink(path);
      const mode = await Deno.stat(path).then((i) => i.mode, () => null);
      return { kind: "link", target, mode: mode !== null && (mode & 0o077) !== 0 ? mode & 0o777 : null };
    }
    const mode = own.mode;
    if (mode === null || (mode & 0o077) === 0) return { kind: "ok" };
    await Deno.chmod(path, 0o600);
    return { kind: "tightened", previous: mode & 0o777 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "ok" };
    throw error;
  }
}

/** Entries of `dir` that are named pipes (none on Windows or when the directory cannot be read). */
export async function namedPipesIn(dir: string): Promise<string[]> {
  if (isWindows) return [];
  const pipes: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile || entry.isDirectory || entry.isSymlink) continue;
      const path = `${dir}/${entry.name}`;
      if ((await Deno.lstat(path).catch(() => null))?.isFifo) pipes.push(path);
    }
  } catch {
    // unreadable: nothing found
  }
  return pipes;
}

/**
 * Releases readers blocked on the named pipes of `dir` and keeps them released: Deno's file watcher opens
 * every file of a watched directory an event names, and on a pipe that open waits for a writer, so the
 * watcher's thread can neither see that it was closed nor let the process (or a test worker) end. Each pipe is
 * opened for writing without waiting (no reader: nothing to release); the returned function closes those ends.
 * Call it once the watcher has stopped: closing earlier is a new event, and the watcher would block again.
 */
export function holdPipeWriters(pipes: readonly string[]): () => void {
  const held: number[] = [];
  for (const pipe of pipes) {
    try {
      held.push(openSync(pipe, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch {
      // ENXIO: nobody is reading it; or it is gone
    }
  }
  return () => {
    for (const fd of held.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  };
}

/** Who can write a directory besides its owner: "others", "its group", or undefined. */
export async function looseDirectory(dir: string): Promise<{ who: string; mode: number } | undefined> {
  if (isWindows) return undefined;
  const mode = (await Deno.stat(dir)).mode;
  if (mode === null) return undefined;
  if (mode & 0o002) return { who: "others", mode: mode & 0o7777 };
  if (mode & 0o020) return { who: "its group", mode: mode & 0o7777 };
  return undefined;
}

/**
 * Runs `fn` holding an exclusive OS lock (flock / LockFileEx) on `lockPath`.
 * The kernel releases the lock when the holder exits or is killed, so a lock
 * can never go stale; the lock file itself is left in place on purpose
 * (deleting it would let two writers lock different files). The holder's pid
 * is written into it for diagnostics. A lock file that is a symbolic link is
 * removed first (`onReplacedLink` is told where it pointed) so that its target is
 * never created or truncated.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  onReplacedLink?: (target: string) => void,
): Promise<T> {
  const link = await symlinkTarget(lockPath);
  if (link !== undefined) {
    // Opening it would create or truncate whatever it points at: drop the link, never its target.
    await Deno.remove(lockPath);
    onReplacedLink?.(link);
  }
  const file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
  try {
    if (!isWindows) {
      const opened = await file.stat();
      const named = await Deno.lstat(lockPath);
      if (named.isSymlink || opened.ino !== named.ino || opened.dev !== named.dev) {
        throw new Error(`${lockPath} changed while it was being opened (a symbolic link?): not using it`);
      }
    }
    await file.lock(true);
    try {
      await file.truncate(0);
      await file.seek(0, Deno.SeekMode.Start);
      await file.write(encoder.encode(`${Deno.pid}\n`));
      return await fn();
    } finally {
      await file.unlock();
    }
  } finally {
    file.close();
  }
}
