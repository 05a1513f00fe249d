/**
 * Large allocations go back to the OS when freed. scrypt (the web UI and NUT password checks) allocates
 * 16 MiB per check on one of the runtime's worker threads, and glibc's malloc then raises its mmap
 * threshold and keeps such blocks in that thread's arena: measured here, 40 checks grew RSS by 54 MiB for
 * good, and a burst of NUT logins by 270 MiB (one 16 MiB block per arena, up to 8 arenas per core). With a
 * fixed threshold (`mallopt(M_MMAP_THRESHOLD)`, which also stops glibc from raising it) every block of
 * 1 MiB or more is mapped on its own and unmapped when freed: the same 40 checks then cost 5 MiB.
 *
 * @module
 */
import { openLibc } from "./libc.ts";

/** glibc's `M_MMAP_THRESHOLD` parameter of mallopt(3). */
const M_MMAP_THRESHOLD = -3;
/** Blocks at least this large are mapped on their own (returned to the OS when freed). */
export const MMAP_THRESHOLD_BYTES = 1 << 20;

/**
 * Fixes glibc's mmap threshold for this process. Returns undefined when done, or why not (not Linux/glibc,
 * no `--allow-ffi`): the agent works the same, only its memory after password checks stays higher.
 */
export function returnLargeAllocations(): string | undefined {
  const libc = openLibc({ mallopt: { parameters: ["i32", "i32"], result: "i32" } });
  if (typeof libc === "string") return libc;
  return libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1
    ? undefined
    : "mallopt(M_MMAP_THRESHOLD) refused (not glibc?)";
}
