/** Free loopback ports for tests and benchmarks (never the real 3052/6547). */

/** A port on 127.0.0.1 that was free a moment ago (TCP by default). */
export function freePort(transport: "udp" | "tcp" = "tcp"): number {
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    const port = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return port;
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
