/** A fake clock (npm @sinonjs/fake-timers, no global patching) shaped as the agent's Clock. */
import { createClock } from "@sinonjs/fake-timers";
import type { Clock } from "../../src/time/clock.ts";

/** A fake clock plus the agent-facing view of it. */
export function fakeClock(start = Date.UTC(2026, 10, 21, 12, 0, 0)) {
  const fake = createClock(start);
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle as ReturnType<typeof fake.setTimeout>),
  };
  return { fake, clock };
}
