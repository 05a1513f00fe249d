/**
 * The Deno permissions, unstable features and V8 flags the agent runs with:
 * compiled into the binary by build.ts, and used by `service install` and
 * `deno task start`/`demo` when the agent runs from source (`deno run ...
 * main.ts`). One list, so both behave the same.
 *
 * - net: UDP from the NMCs, the web UI, the NMC web server, webhooks, syslog;
 * - read/write: the configuration directory (any path), command files, the certificate;
 * - env: PCNS_AGENT_CONFIG, NOTIFY_SOCKET, WATCHDOG_USEC, ProgramData, ...;
 * - run: command files and the OS shutdown command;
 * - sys: only the host name and the network interfaces (certificate names, webhook payloads);
 * - ffi: libc's setsockopt on Linux, for the UDP socket's receive queue and the kernel filter that drops a
 *   forged flood from non-NMC addresses (src/nmc/kernelfilter.ts). It cannot be narrowed to one library
 *   portably (libc's path differs by distribution), and it adds no power the agent lacks: it already runs
 *   commands (command files, the OS shutdown) with --allow-run.
 *
 * No other system information.
 *
 * @module
 */

/** Permission flags of the agent, narrowed to what it uses. */
export const AGENT_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys=hostname,networkInterfaces",
  "--allow-ffi",
];

/** Unstable features the agent needs (unix datagram sockets for sd_notify; text imports of the UI assets). */
export const AGENT_UNSTABLE_FLAGS: readonly string[] = ["--unstable-net", "--unstable-raw-imports"];

/**
 * V8 options of the agent. `--max-semi-space-size=1` (MiB) keeps V8's young generation small: V8 grows it
 * with the allocation rate, and under 500 NUT secondaries polling every second (one pending read each) it
 * grew the agent's heap by 14 MiB in 30 s; with 1 MiB the heap stays within 20-26 MiB (`bench/nut.ts`).
 * `--heap-growing-percent=50` lets the old generation grow to 1.5 times what the last full collection
 * kept, not up to 4 times: under 500 secondaries polling every 100 ms the live heap was 12.5 MB, but V8
 * let it reach 50 MB between collections and kept the freed pages, +30 MiB of RSS (measured with
 * `--trace-gc`); with the flag the RSS stays flat, for ~20 % more CPU at that load (none measurable at 1 s
 * polls or over UDP). The cost of both: more frequent collections, 10-15 % fewer packets per second
 * in-process under a flood (still ~90,000/s; a card sends one every 25 s). `--memory-saver-mode` makes V8
 * give back the 256 KiB pages its collections empty: without it, 10 M packets left 180-280 of them resident
 * while the heap in use was 14-24 MiB, and the RSS rose from 129 to 143 MiB over the run; with it, it fell
 * from 100 to 91 MiB (`bench/system.ts memory`); its cost, +0.1 ms at the notification's p99 (1.1 ->
 * 1.2 ms over 1000 on-battery events), none measurable at start-up. Flags cannot be changed after start
 * (`v8.setFlagsFromString` is too late).
 */
export const AGENT_V8_OPTIONS: readonly string[] = [
  "--max-semi-space-size=1",
  "--heap-growing-percent=50",
  "--memory-saver-mode",
];

/** {@link AGENT_V8_OPTIONS} as Deno's command-line flag. */
export const AGENT_V8_FLAGS: readonly string[] = [`--v8-flags=${AGENT_V8_OPTIONS.join(",")}`];
