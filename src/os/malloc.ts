/**
 * Large allocations go back to the OS when freed. scrypt (the web UI and NUT password checks) allocates
 * 16 MiB per check on one of the runtime's worker threads, and glibc's malloc then raises its mmap
 * threshold and keeps such blocks in that thread's arena: measured here, 40 checks grew RSS by 54 MiB for
 * good, and a burst of NUT logins by 270 MiB (one 16 MiB block per arena, up to 8 arenas per core). With a
 * fixed threshold (`mallopt(M_MMAP_THRESHOLD)`, which also stops glibc from raising it) every block of
 * 1 MiB or more is mapped on its own and unmapped when freed: the same 40 checks then cost 5 MiB.
 *
 * Small blocks freed after a burst go back too, every 20 s. free(3) returns only the top of the heap;
 * pages of freed blocks below one still in use stay with the process. After 900,000 valid packets over UDP
 * in 15 s the agent's anonymous memory was 4.2 MiB above idle 25 s later; `malloc_trim(0)` took it back
 * below idle (-1.5 MiB), in 0.1-0.3 ms.
 *
 * @module
 */
import type { Clock } from "../time/clock.ts";
import { libcOnce, openLibc } from "./libc.ts";

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

/** glibc's malloc_trim(3), opened on first use. */
const mallocTrim = libcOnce({ malloc_trim: { parameters: ["usize"], result: "i32" } });

/**
 * Gives the whole free pages of glibc's heaps back to the OS (`malloc_trim(0)`: every arena, not only the
 * top). Returns undefined when done, or why it cannot be done here (not Linux/glibc, no `--allow-ffi`).
 */
export function trimFreedMemory(): string | undefined {
  const libc = mallocTrim();
  if (typeof libc === "string") return libc;
  libc.malloc_trim(0n);
  return undefined;
}

/** How often {@linkcode startMemoryTrimming} trims, ms. */
export const MEMORY_TRIM_INTERVAL_MS = 20_000;

/** Options of {@linkcode startMemoryTrimming}. */
export interface MemoryTrimmingOptions {
  /** Timers: the real clock in the service, a fake one in tests. */
  readonly clock: Clock;
  /** The trim (default {@linkcode trimFreedMemory}); a string answer means it cannot be done here. */
  readonly trim?: () => string | undefined;
  /** Told once why trimming cannot be done; the schedule then ends. */
  readonly onUnavailable?: (reason: string) => void;
}

/**
 * Trims the heap every {@linkcode MEMORY_TRIM_INTERVAL_MS} (the first one interval after the start) until
 * the returned function is called. Where the trim cannot be done, says why once and stops trying.
 */
export function startMemoryTrimming(options: MemoryTrimmingOptions): () => void {
  const trim = options.trim ?? trimFreedMemory;
  let timer: unknown;
  let stopped = false;
  const next = () => {
    timer = options.clock.setTimeout(() => {
      if (stopped) return;
      const unavailable = trim();
      if (unavailable !== undefined) {
        options.onUnavailable?.(unavailable);
        return;
      }
      next();
    }, MEMORY_TRIM_INTERVAL_MS);
    // A real timer must not keep the process alive on its own.
    if (typeof timer === "number") Deno.unrefTimer(timer);
  };
  next();
  return () => {
    stopped = true;
    options.clock.clearTimeout(timer);
  };
}
