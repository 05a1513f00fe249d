/** A client that sends requests without end and never reads its answers, beside one that keeps polling. */

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What {@linkcode floodBesidePoller} saw. */
export interface FloodOutcome {
  /** Milliseconds until the server closed the flooder (or 30 s, when this helper gave up and closed it). */
  readonly livedMs: number;
  /** The slowest of the poller's answers meanwhile, ms (monotonic clock: a step of the wall clock is not a slow answer). */
  readonly slowestMs: number;
  /** Request bytes the server took in from the flooder. */
  readonly sent: number;
}

/**
 * Connects a flooder to `port` that writes `requests` over and over and reads nothing, while `poll` (one
 * request and its answer, which it checks itself) runs every 200 ms, until the server closes the flooder.
 */
export async function floodBesidePoller(
  port: number,
  requests: Uint8Array,
  poll: () => Promise<void>,
): Promise<FloodOutcome> {
  const flooder = await Deno.connect({ hostname: "127.0.0.1", port });
  let sent = 0;
  const flooding = (async () => {
    for (;;) sent += await flooder.write(requests);
  })().catch(() => "closed");
  const started = performance.now();
  let flooded = false;
  let slowestMs = 0;
  const polling = (async () => {
    while (!flooded) {
      await pause(200);
      const asked = performance.now();
      await poll();
      slowestMs = Math.max(slowestMs, performance.now() - asked);
    }
  })();
  const deadline = setTimeout(() => flooder.close(), 30_000);
  await flooding;
  const livedMs = performance.now() - started;
  clearTimeout(deadline);
  flooded = true;
  await polling;
  try {
    flooder.close();
  } catch { /* closed */ }
  return { livedMs, slowestMs, sent };
}
