/**
 * The receive loop's own limit, the floor under "valid packets over UDP":
 * `deno run -A bench/udp_floor.ts [seconds]`. A bare `Deno.listenDatagram` loop
 * (receive into one buffer, nothing else), fed by bench/flood.ts at its maximum
 * rate from another process; prints the datagrams received per second and the
 * receiver's CPU time per datagram.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { cpuMs, freePort } from "./lib.ts";

const FLOOD = fileURLToPath(new URL("./flood.ts", import.meta.url));
const seconds = Number(Deno.args[0] ?? 3);

async function measure(receive: (port: number, count: () => void) => () => void) {
  const port = freePort("udp");
  let received = 0;
  const stop = receive(port, () => received++);
  const cpu0 = cpuMs(Deno.pid);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FLOOD, String(port), "forged", "max", String(seconds)],
    stdout: "piped",
  }).output();
  const sent = JSON.parse(new TextDecoder().decode(out.stdout)) as { sent: number; seconds: number };
  const cpu = cpuMs(Deno.pid) - cpu0;
  stop();
  return {
    sent: sent.sent,
    received,
    perSecond: Math.round(received / sent.seconds),
    cpuMicrosecondsPerDatagram: Math.round((cpu * 1000 / Math.max(1, received)) * 100) / 100,
  };
}

const deno = await measure((port, count) => {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
  const buffer = new Uint8Array(65536);
  (async () => {
    for (;;) {
      try {
        await socket.receive(buffer);
      } catch {
        return;
      }
      count();
    }
  })();
  return () => socket.close();
});
console.log(JSON.stringify({ denoListenDatagram: deno }));
