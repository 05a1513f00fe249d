/**
 * A packet sender process for the throughput benchmarks:
 * `deno run -A bench/flood.ts <port> <valid|forged|oversize> <packetsPerSecond|max> <seconds> [fromAddress]`.
 * Pre-builds its packets (valid ones have increasing counters; `oversize` is one 65,000-byte datagram), sends them to
 * 127.0.0.1:<port> at the given rate from `fromAddress` (default 127.0.0.1, the card; a forged flood
 * comes from another loopback address such as 127.0.0.200), and prints `{"sent": N, "seconds": S}`.
 *
 * @module
 */
import { NmcSimulator } from "../src/sim/simulator.ts";

const [portText, kind, rateText, secondsText, fromAddress = "127.0.0.1"] = Deno.args;
const port = Number(portText);
const seconds = Number(secondsText);
const rate = rateText === "max" ? Infinity : Number(rateText);
const sim = new NmcSimulator({
  address: "127.0.0.1",
  username: "apc",
  authenticationPhrase: kind === "valid" ? "admin user phrase" : "a wrong phrase, forged",
  targets: [],
  rebootCounter: kind === "valid" ? 1 : 0x7f,
  uptimeStart: kind === "valid" ? 1000 : 0xffffff,
});
const target = { hostname: "127.0.0.1", port };
// Forged packets can repeat (they fail the MD5 anyway); valid ones must each be newer.
const poolSize = kind === "valid"
  ? Math.min(2_000_000, Number.isFinite(rate) ? Math.ceil(rate * seconds) : 1_500_000)
  : 1000;
const pool = kind === "oversize"
  ? [new Uint8Array(65_000).fill(0x41)]
  : Array.from({ length: poolSize }, () => sim.buildStatus(target));
const socket = Deno.listenDatagram({ hostname: fromAddress, port: 0, transport: "udp" });
const addr = { hostname: "127.0.0.1", port, transport: "udp" as const };
const start = performance.now();
const end = start + seconds * 1000;
let sent = 0;
while (performance.now() < end && (kind !== "valid" || sent < pool.length)) {
  // Send in bursts of 100, then keep to the rate.
  for (let i = 0; i < 100; i++) {
    await socket.send(pool[sent % pool.length], addr);
    sent++;
  }
  const due = start + (sent / rate) * 1000;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
}
const elapsed = (performance.now() - start) / 1000;
socket.close();
console.log(JSON.stringify({ sent, seconds: elapsed }));
