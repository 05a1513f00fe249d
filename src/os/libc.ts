/**
 * The C library through Deno's FFI, for the few calls the runtime has no API for (socket options, malloc
 * tuning). Linux only, and only with `--allow-ffi`; otherwise the caller learns why and does without.
 *
 * @module
 */

/** `symbols` of libc.so.6, or why they cannot be had here (not Linux, no --allow-ffi, not found). */
export function openLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] | string {
  if (Deno.build.os !== "linux") return `not on Linux (${Deno.build.os})`;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "the process has no --allow-ffi permission";
    }
    return Deno.dlopen("libc.so.6", symbols).symbols;
  } catch (error) {
    return `libc.so.6 cannot be loaded: ${(error as Error).message}`;
  }
}

/** {@linkcode openLibc} of `symbols` on the first call, the same answer on every later one. */
export function libcOnce<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] | string {
  let opened: Deno.DynamicLibrary<S>["symbols"] | string | undefined;
  return () => opened ??= openLibc(symbols);
}
