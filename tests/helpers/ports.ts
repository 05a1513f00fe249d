/**
 * Free loopback ports for tests and benchmarks (never the real 3052/6547).
 *
 * A port handed to a child process through its config is free only until someone else binds it. A port the
 * kernel picks (`port: 0`) comes from the ephemeral range, where every outgoing connection of every parallel
 * test also takes its local port: CI saw a child agent never come up on such a port. So the ports come from
 * below the ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range), chosen at random, each one
 * checked by binding it, and never handed out twice by one test process.
 */

const handedOut = new Set<number>();

/** The lowest port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(
      Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0],
    );
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Binds `port` on 127.0.0.1 and closes it again: its port, or undefined when it is in use. */
function tryBind(port: number, transport: "udp" | "tcp"): number | undefined {
  try {
    const socket = transport === "udp"
      ? Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" })
      : Deno.listen({ hostname: "127.0.0.1", port });
    const bound = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return bound;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return undefined;
    throw error; // no --unstable-net, no permission: not a port question
  }
}

/** A port on 127.0.0.1 that was free a moment ago (TCP by default), outside the kernel's ephemeral range. */
export function freePort(transport: "udp" | "tcp" = "tcp"): number {
  const high = ephemeralLow() - 1;
  const low = 20_000;
  for (let attempt = 0; high > low && attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || tryBind(port, transport) === undefined) continue;
    handedOut.add(port);
    return port;
  }
  const port = tryBind(0, transport); // an unusual port range: let the kernel choose
  if (port === undefined) throw new Error(`no free ${transport} port on 127.0.0.1`);
  return port;
}
