/**
 * Packet throughput: authenticated packets per second the agent accepts on one
 * core (in-process pipeline, and over UDP from another process with the
 * agent's CPU time per packet), and valid packets under a flood of forged
 * ones (target: zero valid packets lost, no CommunicationLost).
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { makeEvent } from "../src/events/types.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { PacketEngine } from "../src/nmc/engine.ts";
import { NmcSimulator } from "../src/sim/simulator.ts";
import { AGENT_V8_FLAGS } from "../src/service/permissions.ts";
import { systemClock } from "../src/time/clock.ts";
import { UpsMonitor } from "../src/ups/monitor.ts";
import { type BenchResult, cpuMs, freePort, lineReader, sleep } from "./lib.ts";

const FLOOD = fromFileUrl(new URL("./flood.ts", import.meta.url));
const AGENT = fromFileUrl(new URL("./agent_proc.ts", import.meta.url));
const credentials = { username: "apc", authenticationPhrase: "admin user phrase" };
/** Where a forged flood comes from: another loopback address, not the card's. */
const STRANGER = "127.0.0.200";

/** In-process: datagram bytes -> gate -> UPS state, no sockets. */
function inProcess(n: number): { valid: number; forged: number } {
  const pipeline = () => {
    const monitor = new UpsMonitor(
      { cards: ["127.0.0.1"], commLostTimeoutMs: 55_000 },
      (d) => void makeEvent(d, Date.now()),
      systemClock,
    );
    return new PacketEngine(
      { ...credentials, cards: ["127.0.0.1"] },
      (p) => monitor.handle(p),
      memoryLogger().logger,
      systemClock,
    );
  };
  const sim = new NmcSimulator({ address: "127.0.0.1", ...credentials, targets: [] });
  const valid = Array.from({ length: n }, () => sim.buildStatus());
  const forger = new NmcSimulator({
    address: "127.0.0.1",
    username: "apc",
    authenticationPhrase: "wrong phrase here",
    targets: [],
  });
  const forged = Array.from({ length: n }, () => forger.buildStatus());
  const rate = (packets: Uint8Array[]) => {
    const engine = pipeline();
    const t0 = performance.now();
    for (const p of packets) engine.receive(p);
    return Math.round(packets.length / ((performance.now() - t0) / 1000));
  };
  return { valid: rate(valid), forged: rate(forged) };
}

/** The agent as a separate process, answering `stats` on stdin. */
async function agentProcess(udpPort: number, cards = 1) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...AGENT_V8_FLAGS, AGENT, String(udpPort), String(cards)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const output = lineReader(child.stdout, "agent process ended");
  const line = () => output.next();
  if ((await line()) !== "ready") throw new Error("agent process did not start");
  return {
    pid: child.pid,
    async stats(): Promise<
      {
        packets: { accepted: number; rejected: Record<string, number> };
        commLost: number;
        floodFiltered: number;
        rssMiB: number;
      }
    > {
      await writer.write(new TextEncoder().encode("stats\n"));
      return JSON.parse(await line());
    },
    async stop() {
      await writer.write(new TextEncoder().encode("quit\n")).catch(() => {});
      await writer.close().catch(() => {});
      await child.status;
      output.cancel();
    },
  };
}

async function sender(
  port: number,
  kind: "valid" | "forged" | "oversize",
  rate: number | "max",
  seconds: number,
  from = "127.0.0.1",
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FLOOD, String(port), kind, String(rate), String(seconds), from],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)) as { sent: number; seconds: number };
}

/** Runs the throughput benchmarks. */
export async function benchThroughput(quick: boolean): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const local = inProcess(quick ? 20_000 : 200_000);
  results.push({
    name: "valid packets accepted, in-process (gate + state)",
    value: local.valid,
    unit: "packets/s",
    target: ">= 50000 packets/s",
    met: local.valid >= 50_000,
  });
  results.push({ name: "forged packets rejected, in-process", value: local.forged, unit: "packets/s" });

  // Over UDP from another process, as fast as the sender can go.
  const port = freePort("udp");
  const agent = await agentProcess(port);
  try {
    const cpu0 = cpuMs(agent.pid);
    const blast = await sender(port, "valid", "max", quick ? 2 : 5);
    await sleep(300);
    const stats = await agent.stats();
    const cpu = cpuMs(agent.pid) - cpu0;
    const accepted = stats.packets.accepted;
    results.push({
      name: "valid packets accepted over UDP (separate sender)",
      value: Math.round(accepted / blast.seconds),
      unit: "packets/s",
      target: ">= 100000 packets/s",
      met: accepted / blast.seconds >= 100_000,
      details: {
        sent: blast.sent,
        accepted,
        lostInKernel: blast.sent - accepted,
        agentCpuMicrosecondsPerPacket: Math.round((cpu * 1000) / Math.max(1, accepted) * 100) / 100,
      },
    });
  } finally {
    await agent.stop();
  }

  // A flood of forged packets at 100k/s while the card sends valid status packets: from another address
  // (the target), and spoofing the card's own source address (no source filter can help; measured only).
  for (
    const [from, label] of [[STRANGER, "another address"], ["127.0.0.1", "the card's own (spoofed) address"]]
  ) {
    const floodPort = freePort("udp");
    const victim = await agentProcess(floodPort);
    try {
      const seconds = quick ? 5 : 20;
      const [flood, valid] = await Promise.all([
        sender(floodPort, "forged", 100_000, seconds, from),
        sender(floodPort, "valid", 20, seconds),
      ]);
      await sleep(300);
      const stats = await victim.stats();
      const spoofed = from !== STRANGER;
      results.push({
        name: `valid packets lost during a 100k/s forged flood from ${label}`,
        value: valid.sent - stats.packets.accepted,
        unit: "packets",
        ...(spoofed ? {} : {
          target: "0 lost, no CommunicationLost",
          met: valid.sent === stats.packets.accepted && stats.commLost === 0,
        }),
        details: {
          floodRate: Math.round(flood.sent / flood.seconds),
          forgedSeenByAgent: stats.packets.rejected["unknown-source"] + stats.packets.rejected["bad-md5"],
          droppedInKernel: stats.floodFiltered > 0,
          validSent: valid.sent,
          validAccepted: stats.packets.accepted,
          communicationLost: stats.commLost,
        },
      });
    } finally {
      await victim.stop();
    }
  }
  // 64 KiB datagrams from the card's own (spoofed) address, as fast as the sender goes: each is refused by
  // its length; measured only (what it costs in memory, and the genuine packets a full queue drops).
  const bigPort = freePort("udp");
  const target = await agentProcess(bigPort);
  try {
    const before = (await target.stats()).rssMiB;
    const seconds = quick ? 5 : 10;
    const [flood, valid] = await Promise.all([
      sender(bigPort, "oversize", "max", seconds),
      sender(bigPort, "valid", 20, seconds),
    ]);
    await sleep(300);
    const stats = await target.stats();
    results.push({
      name: "RSS growth during a flood of 64 KiB datagrams from the card's own (spoofed) address",
      value: Math.round((stats.rssMiB - before) * 10) / 10,
      unit: "MiB",
      details: {
        datagramsPerSecond: Math.round(flood.sent / flood.seconds),
        refusedAsOversize: stats.packets.rejected.oversize,
        rssBeforeMiB: Math.round(before * 10) / 10,
        validSent: valid.sent,
        validAccepted: stats.packets.accepted,
        communicationLost: stats.commLost,
      },
    });
  } finally {
    await target.stop();
  }
  return results;
}

if (import.meta.main) {
  console.log(JSON.stringify(await benchThroughput(Deno.args.includes("--quick")), null, 2));
}
