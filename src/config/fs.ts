/**
 * The file operations of the config store: BOM-preserving reads, atomic
 * writes (temporary file in the same directory, fsync, rename), the 0600 mode,
 * and the cross-process write lock.
 *
 * @module
 */
import { createHash } from "node:crypto";
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

/** Prefix of the temporary files an atomic write of `path` uses. */
export function tempPrefix(path: string): string {
  return `.${baseName(path)}.tmp-`;
}

/**
 * Replaces `path` with `text` atomically: a temporary file in the same directory
 * is written with mode 0600, fsynced and renamed over `path`; then the directory
 * is fsynced (best effort). Readers see the old or the new file, never a mix.
 */
export async function atomicWriteFile(path: string, text: string): Promise<void> {
  const dir = dirOf(path);
  const tmp = `${dir}/${tempPrefix(path)}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    try {
      const bytes = encoder.encode(text);
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

/** Removes temporary files left by writers that were killed mid-write (call only under the write lock). */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirOf(path);
  const prefix = tempPrefix(path);
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(prefix)) {
        await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
        removed.push(entry.name);
      }
    }
  } catch {
    // An unreadable directory only means nothing is cleaned up.
  }
  return removed;
}

/**
 * Sets mode 0600 when the file is readable or writable by group or others;
 * returns the previous mode when it changed it, else null (also on Windows and
 * when the file does not exist).
 */
export async function restrictMode(path: string): Promise<number | null> {
  if (isWindows) return null;
  try {
    const mode = (await Deno.stat(path)).mode;
    if (mode === null || (mode & 0o077) === 0) return null;
    await Deno.chmod(path, 0o600);
    return mode & 0o777;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Runs `fn` holding an exclusive OS lock (flock / LockFileEx) on `lockPath`.
 * The kernel releases the lock when the holder exits or is killed, so a lock
 * can never go stale; the lock file itself is left in place on purpose
 * (deleting it would let two writers lock different files). The holder's pid
 * is written into it for diagnostics.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
  try {
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
