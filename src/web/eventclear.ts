/**
 * Clearing the event log from the web UI: the rotated generations are
 * removed and the current file is truncated in place (the writer appends to
 * it and follows its size), never through a symbolic link. The caller logs
 * the clearing as an event, which becomes the first line of the new log.
 *
 * @module
 */
import { eventLogGenerations } from "../events/eventlog.ts";

/** Empties the log at `path` and its rotated files; returns the files changed. Throws with the reason. */
export async function clearEventLog(path: string): Promise<number> {
  let changed = 0;
  for (const file of eventLogGenerations(path)) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    if (!info.isFile) throw new Error(`${file} is not a regular file: the event log was not cleared`);
    if (file === path) await Deno.truncate(file, 0);
    else await Deno.remove(file);
    changed++;
  }
  return changed;
}
