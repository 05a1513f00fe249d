/**
 * Small state files in the data directory (replay counters, pending shutdown, UPS history) written so that a
 * crash, SIGKILL or power loss leaves the old file or the new one, never a torn one.
 *
 * @module
 */

/**
 * Writes `text` to `path` atomically and synchronously: a temp file beside it (mode 0600), every byte written,
 * fsync, rename over the old file. On failure the temp file is removed and the OS error is thrown.
 */
export function writeFileAtomicSync(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  try {
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      const data = new TextEncoder().encode(text);
      for (let at = 0; at < data.length;) at += file.writeSync(data.subarray(at));
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (error) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // never created, or the file system refuses even that
    }
    throw error;
  }
}
