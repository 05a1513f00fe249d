/**
 * Failure runs: while a channel keeps failing (the SMTP server is down, the
 * webhook unreachable), only its first failed delivery is reported; the run
 * ends with its next successful delivery. So an outage gives one
 * NotificationFailed, not one per event, and the event log keeps every
 * event itself either way.
 *
 * @module
 */
import { describeNotifyFailure, type Notifier, type NotifyFailure, type NotifyResult } from "./notifier.ts";

/** Tracks which channels are in a failure run. */
export class FailureRuns {
  readonly #failing = new Map<string, number>();

  /** The text to report for `failure`, or undefined when its channel's run was reported already. */
  failed(failure: NotifyFailure): string | undefined {
    const earlier = this.#failing.get(failure.notifier);
    this.#failing.set(failure.notifier, (earlier ?? 0) + 1);
    if (earlier !== undefined) return undefined;
    return `${describeNotifyFailure(failure)}; further failures via ${failure.notifier} are not reported ` +
      "until a notification gets through again (every event is still in the event log)";
  }

  /** A delivery through `name` worked: its run (if any) ends. Returns the failures the run had. */
  succeeded(name: string): number {
    const failures = this.#failing.get(name) ?? 0;
    this.#failing.delete(name);
    return failures;
  }

  /** Failed deliveries of the current run of `name` (0 = not failing). */
  failures(name: string): number {
    return this.#failing.get(name) ?? 0;
  }
}

/** `notifier`, telling `runs` about each successful delivery. */
export function trackSuccess(notifier: Notifier, runs: FailureRuns): Notifier {
  return {
    name: notifier.name,
    async notify(event): Promise<NotifyResult> {
      const result = await notifier.notify(event);
      if (result.ok) runs.succeeded(notifier.name);
      return result;
    },
    prepare: () => notifier.prepare?.(),
    close: () => notifier.close?.(),
  };
}
