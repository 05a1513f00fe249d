/**
 * The Deno permissions and unstable features the agent runs with: compiled
 * into the binary by build.ts, and used by `service install` when the agent
 * runs from source (`deno run ... main.ts`). One list, so both behave the same.
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
