/**
 * Prometheus text exposition of the agent's state (pure): UPS values per NMC,
 * communication state, packets accepted and rejected by reason, and the
 * shutdown state.
 *
 * @module
 */
import type { AgentStatus } from "../agent/status.ts";

/** Escapes a label value per the Prometheus text format. */
export function labelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

type Sample = readonly [labels: Record<string, string>, value: number | undefined];

function family(name: string, help: string, type: "gauge" | "counter", samples: readonly Sample[]): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    if (value === undefined || !Number.isFinite(value)) continue;
    const l = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",");
    lines.push(`${name}${l ? `{${l}}` : ""} ${value}`);
  }
  return lines;
}

/** The metrics page for a status snapshot taken at `now`. */
export function renderMetrics(status: AgentStatus, now: number): string {
  const ups = status.ups;
  const per = (f: (u: AgentStatus["ups"][number]) => number | undefined): Sample[] =>
    ups.map((u) => [{ nmc: u.card }, f(u)] as const);
  const bool = (b: boolean) => (b ? 1 : 0);
  const lines = [
    ...family(
      "pcns_ups_battery_percent",
      "Battery charge in percent.",
      "gauge",
      per((u) => u.reading.batteryPercent),
    ),
    ...family(
      "pcns_ups_runtime_minutes",
      "Runtime remaining in minutes.",
      "gauge",
      per((u) => u.reading.runtimeMinutes),
    ),
    ...family(
      "pcns_ups_load_percent",
      "Load in percent of capacity.",
      "gauge",
      per((u) => u.reading.loadPercent),
    ),
    ...family("pcns_ups_input_voltage", "Input line voltage.", "gauge", per((u) => u.reading.lineVoltage)),
    ...family("pcns_ups_output_voltage", "Output voltage.", "gauge", per((u) => u.reading.outputVoltage)),
    ...family("pcns_ups_battery_voltage", "Battery voltage.", "gauge", per((u) => u.reading.batteryVoltage)),
    ...family(
      "pcns_ups_temperature_celsius",
      "Internal temperature.",
      "gauge",
      per((u) => u.reading.temperature),
    ),
    ...family(
      "pcns_ups_on_battery",
      "1 while the UPS runs on battery.",
      "gauge",
      per((u) => bool(u.flags.onBattery)),
    ),
    ...family(
      "pcns_ups_low_battery",
      "1 while the battery is low.",
      "gauge",
      per((u) => bool(u.flags.lowBattery)),
    ),
    ...family(
      "pcns_ups_shutting_down",
      "1 after the UPS reported SD=1.",
      "gauge",
      per((u) => bool(u.shuttingDown)),
    ),
    ...family(
      "pcns_nmc_communication_ok",
      "1 while status packets arrive.",
      "gauge",
      per((u) => bool(u.comm === "ok")),
    ),
    ...family(
      "pcns_nmc_last_packet_age_seconds",
      "Seconds since the last accepted status packet.",
      "gauge",
      per((u) => (u.lastStatusAt === undefined ? undefined : (now - u.lastStatusAt) / 1000)),
    ),
    ...family(
      "pcns_nmc_status_packets_total",
      "Accepted status packets.",
      "counter",
      per((u) => u.statusPackets),
    ),
    ...family("pcns_packets_accepted_total", "Packets accepted.", "counter", [[{}, status.packets.accepted]]),
    ...family(
      "pcns_packets_rejected_total",
      "Packets rejected, by reason.",
      "counter",
      Object.entries(status.packets.rejected).map(([reason, n]) => [{ reason }, n] as const),
    ),
    ...family("pcns_shutdown_pending", "1 while a shutdown countdown runs.", "gauge", [[
      {},
      bool(status.shutdown.countdowns.length > 0),
    ]]),
    ...family(
      "pcns_shutdown_seconds_remaining",
      "Seconds until the earliest pending shutdown.",
      "gauge",
      status.shutdown.countdowns.length ? [[{}, status.shutdown.countdowns[0].remainingMs / 1000]] : [],
    ),
    ...family("pcns_shutdown_running", "1 once the shutdown sequence started.", "gauge", [[
      {},
      bool(status.shutdown.phase !== "idle"),
    ]]),
    ...family("pcns_dry_run", "1 when the OS shutdown is only recorded.", "gauge", [[
      {},
      bool(status.dryRun),
    ]]),
  ];
  return lines.join("\n") + "\n";
}
