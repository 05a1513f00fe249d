/**
 * For tests/udp_drain_test.ts, run with `--v8-flags=--max-semi-space-size=1,--expose-gc`: receives 20,000
 * numbered datagrams from a sender process while allocating and collecting garbage, so the buffers the
 * kernel writes into would be reused if anything let them go. Prints `received N in order, M from the
 * queue`, or exits 1 naming the first datagram out of place.
 *
 * @module
 */
import { UdpListener } from "../../src/nmc/udp.ts";

const TOTAL = 20_000;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
let next = 0;
let garbage: unknown[] = [];
let failed: string | undefined;
const done = Promise.withResolvers<void>();
const listener = UdpListener.open(0, ["127.0.0.1"], (data) => {
  const n = Number(new TextDecoder().decode(data).split(":")[0]);
  if (n !== next && failed === undefined) failed = `datagram ${n} arrived where ${next} was due`;
  next = n + 1;
  garbage.push(Array.from({ length: 40 }, (_, i) => ({ i, text: `garbage ${i}` })));
  if (garbage.length > 200) garbage = [];
  if (n % 500 === 0) {
    const end = performance.now() + 3; // let a queue build up
    while (performance.now() < end) { /* hold */ }
  }
  if (n % 2000 === 0) gc();
  if (n === TOTAL - 1) done.resolve();
});
const code = `
  const [port, total] = Deno.args.map(Number);
  const s = Deno.listenDatagram({ hostname: "127.0.0.2", port: 0, transport: "udp" });
  const addr = { transport: "udp", hostname: "127.0.0.1", port };
  for (let i = 0; i < total; i++) {
    await s.send(new TextEncoder().encode(i + ":" + "y".repeat(i % 300)), addr);
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 1));
  }
  s.close();`;
const sender = new Deno.Command(Deno.execPath(), {
  args: ["eval", "--no-config", "--unstable-net", code, String(listener.port), String(TOTAL)],
}).spawn();
const timeout = setTimeout(
  () => done.reject(new Error(`only ${next} of ${TOTAL} datagrams arrived`)),
  30_000,
);
try {
  await done.promise;
  await sender.status;
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(1);
} finally {
  clearTimeout(timeout);
}
const queued = listener.queuedReads;
await listener.close();
if (failed) {
  console.error(failed);
  Deno.exit(1);
}
console.log(`received ${next} in order, ${queued} from the queue`);
