/**
 * Notification channels. Each channel (webhook, syslog, ...) implements
 * {@linkcode Notifier}; a {@linkcode NotifierSet} sends one event to all of
 * them at once and reports failures through a callback, so the caller can turn
 * them into a log line or a service event. Nothing here throws at the caller.
 *
 * @module
 */
import type { AgentEvent } from "../events/types.ts";

/** What happened when one channel tried to deliver one event. */
export interface NotifyResult {
  /** True when the event was handed over (HTTP 2xx, datagram sent, ...). */
  readonly ok: boolean;
  /** How many delivery attempts were made (0 if none could be started). */
  readonly attempts: number;
  /** Why delivery failed (set when `ok` is false); never contains secrets. */
  readonly error?: string;
}

/** One notification channel. `notify` must not throw: failures go in the result. */
export interface Notifier {
  /** Short, secret-free name for logs, e.g. `webhook https://hooks.example.com`. */
  readonly name: string;
  /** Delivers one event (with the channel's own retries, if any). */
  notify(event: AgentEvent): Promise<NotifyResult>;
  /** Opens now what the channel keeps open between events (a socket), so its first event need not. */
  prepare?(): void;
  /** Releases what the channel keeps open between events (a socket); the next `notify` may open it again. */
  close?(): void;
}

/** One channel's outcome for one event. */
export interface NotifyOutcome {
  /** The channel's name. */
  readonly notifier: string;
  /** Its result. */
  readonly result: NotifyResult;
}

/** A failed delivery, as passed to the failure callback. */
export interface NotifyFailure extends NotifyOutcome {
  /** The event that could not be delivered. */
  readonly event: AgentEvent;
}

/** Called once per failed delivery. */
export type NotifyFailureHandler = (failure: NotifyFailure) => void;

/** One log line for a failed delivery, e.g. `notification of PowerFailed via syslog udp://h:514 failed: ...`. */
export function describeNotifyFailure(failure: NotifyFailure): string {
  const { attempts, error } = failure.result;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  const why = error ?? "unknown error";
  return `notification of ${failure.event.id} via ${failure.notifier} failed${tries}: ${why}`;
}

/** Text of an error and its causes, one after the other. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const text = current instanceof Error ? current.message : String(current);
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

/** All configured channels: sends each event to every channel concurrently. */
export class NotifierSet {
  readonly #notifiers: readonly Notifier[];
  readonly #onFailure: NotifyFailureHandler;

  /** Creates the set; `onFailure` is called for each channel that fails for an event. */
  constructor(notifiers: readonly Notifier[], onFailure: NotifyFailureHandler = () => {}) {
    this.#notifiers = [...notifiers];
    this.#onFailure = onFailure;
  }

  /** Names of the channels, in configuration order. */
  get names(): string[] {
    return this.#notifiers.map((n) => n.name);
  }

  /** Opens what the channels keep open (when the agent starts or the set replaces another). */
  prepare(): void {
    for (const notifier of this.#notifiers) {
      try {
        notifier.prepare?.();
      } catch {
        // the channel's first event reports what is wrong
      }
    }
  }

  /** Closes what the channels keep open (when the set is replaced or the agent stops). */
  close(): void {
    for (const notifier of this.#notifiers) {
      try {
        notifier.close?.();
      } catch {
        // nothing more to release
      }
    }
  }

  /** Number of channels. */
  get size(): number {
    return this.#notifiers.length;
  }

  /**
   * Sends `event` to every channel at once and resolves when all are done, with
   * one outcome per channel (in configuration order). Never rejects: a channel
   * that throws counts as a failed delivery, and a throwing callback is ignored.
   */
  async notify(event: AgentEvent): Promise<NotifyOutcome[]> {
    return await Promise.all(this.#notifiers.map(async (notifier) => {
      const result = await safeNotify(notifier, event);
      if (!result.ok) {
        try {
          this.#onFailure({ notifier: notifier.name, event, result });
        } catch {
          // The reporter must not break delivery to the other channels.
        }
      }
      return { notifier: notifier.name, result };
    }));
  }
}

/** Runs one channel, turning a throw/rejection into a failed result. */
async function safeNotify(notifier: Notifier, event: AgentEvent): Promise<NotifyResult> {
  try {
    return await notifier.notify(event);
  } catch (error) {
    return { ok: false, attempts: 1, error: `unexpected error: ${errorText(error)}` };
  }
}
