/**
 * Which boot of the host this is, so a restarted agent can tell "only the
 * agent restarted" (the UPS turn-off it sent is still coming) from "the host
 * rebooted" (the power cut has happened). Linux has a per-boot random id;
 * elsewhere the boot time (from the uptime, to the minute) stands in.
 *
 * @module
 */

/** An identifier of the current boot, or undefined if the system tells nothing usable. */
export function currentBootId(): string | undefined {
  try {
    const id = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    if (id) return id;
  } catch {
    // not Linux, or /proc not mounted
  }
  try {
    const bootMinute = Math.round((Date.now() - Deno.osUptime() * 1000) / 60_000);
    return `boot-minute-${bootMinute}`;
  } catch {
    return undefined;
  }
}
