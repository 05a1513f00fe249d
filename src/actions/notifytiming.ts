/**
 * PowerChute's notification delay and repeat, per event:
 *
 * - `event_<Id>_notificationDelay` (s): the notification is sent only if the
 *   event still holds when the delay ends. An event "holds" until its
 *   clearing event (the pairs of `events/types.ts` CLEARING_PAIRS, as the
 *   shutdown policy uses them): PowerFailed until PowerRestored, LowBattery
 *   until LowBatteryCleared, CommunicationLost until CommunicationEstablished,
 *   ... and the other way round. An event without a clearing event
 *   (UpsTurnOffInitiated, ReplaceBattery, ShutdownStarting) always holds. A
 *   delayed notification that is dropped is reported (NotificationSkipped).
 * - `event_<Id>_notificationRepeat` (s): after the first notification, send
 *   it again every N s until the event clears (0 = once). Only events that
 *   have a clearing event and are its raised side repeat (PowerFailed does,
 *   PowerRestored does not): anything else would repeat for ever.
 *
 * Delayed and repeated sends carry a {@link NotificationMark}. Settings are
 * read again when a timer fires: a notification switched off meanwhile is
 * not sent, a changed repeat interval applies from the next repeat.
 *
 * @module
 */
import type { EventActions } from "../config/types.ts";
import { type AgentEvent, CLEARING_PAIRS, type EventDraft, type EventId } from "../events/types.ts";
import { describeSeconds, withNotificationMark } from "../notify/mark.ts";
import type { Clock, TimerHandle } from "../time/clock.ts";
import { oppositeOf } from "./policy.ts";

/** Events that are the raised side of a clearing pair (they may repeat). */
const RAISED = new Set<EventId>(CLEARING_PAIRS.map(([raised]) => raised));

/** When an event's notifications are due: after `delayMs`, then every `repeatMs` (0 = no repeat). */
export interface NotificationPlan {
  /** Milliseconds the event must hold before the first notification. */
  readonly delayMs: number;
  /** Milliseconds between repeats while it holds (0 = sent once). */
  readonly repeatMs: number;
}

/** The plan of one event under its actions (pure): repeat only for the raised side of a clearing pair. */
export function notificationPlan(id: EventId, actions: EventActions): NotificationPlan {
  const delayMs = Math.max(0, (actions.notificationDelay ?? 0) * 1000);
  const repeatMs = RAISED.has(id) ? Math.max(0, (actions.notificationRepeat ?? 0) * 1000) : 0;
  return { delayMs, repeatMs };
}

/** True when `id` can repeat (it has a clearing event and is its raised side). */
export function canRepeat(id: EventId): boolean {
  return RAISED.has(id);
}

/** What the timer needs from the action engine. */
export interface NotificationTimerPorts {
  /** Time source. */
  readonly clock: Clock;
  /** Sends one notification (never throws). */
  send(event: AgentEvent): void;
  /** Whether `event` still holds (its clearing event has not come since). */
  stillActive(event: AgentEvent): boolean;
  /** The event's actions as configured now. */
  actions(id: EventId): EventActions | undefined;
  /** Publishes an event (NotificationSkipped). */
  emit(draft: EventDraft): void;
  /** Hears about an unexpected error in a timer (default: console.error). */
  reportError?(message: string): void;
}

interface Pending {
  readonly event: AgentEvent;
  timer: TimerHandle;
  /** Notifications sent so far. */
  sent: number;
}

/** A notification waiting for its delay or its next repeat, as shown to people and tests. */
export interface PendingNotification {
  /** The event id. */
  readonly id: EventId;
  /** The card, if any. */
  readonly nmc?: string;
  /** Notifications sent so far (0 = the delay is still running). */
  readonly sent: number;
}

/** Runs the delays and repeats of notifications (see the module documentation). */
export class NotificationTimer {
  readonly #ports: NotificationTimerPorts;
  readonly #pending = new Map<string, Pending>();
  #stopped = false;

  /** Creates the timer. */
  constructor(ports: NotificationTimerPorts) {
    this.#ports = ports;
  }

  /** Notifications waiting for a delay or a repeat. */
  pending(): PendingNotification[] {
    return [...this.#pending.values()].map((p) => ({
      id: p.event.id,
      ...(p.event.nmc ? { nmc: p.event.nmc } : {}),
      sent: p.sent,
    }));
  }

  /** An event whose notification is enabled: sends it now, or after its delay, then repeats it as configured. */
  handle(event: AgentEvent, actions: EventActions): void {
    if (this.#stopped) return;
    const { delayMs, repeatMs } = notificationPlan(event.id, actions);
    if (delayMs === 0 && repeatMs === 0) {
      this.#ports.send(event);
      return;
    }
    const key = keyOf(event);
    const existing = this.#pending.get(key);
    if (existing && this.#ports.stillActive(existing.event)) return; // the same condition, reported again
    if (existing) this.#cancel(key);
    const pending: Pending = { event, timer: undefined, sent: 0 };
    this.#pending.set(key, pending);
    if (delayMs === 0) this.#fire(key, pending);
    else pending.timer = this.#ports.clock.setTimeout(() => this.#guarded(key, pending), delayMs);
  }

  /**
   * Any event: drops the pending notifications of the events it clears (PowerRestored drops PowerFailed's
   * delay or repeats), reporting a delayed one that never went out.
   */
  cleared(event: AgentEvent): void {
    const opposite = oppositeOf(event.id);
    if (!opposite) return;
    const key = keyOf({ id: opposite, nmc: event.nmc });
    const pending = this.#pending.get(key);
    if (!pending || pending.event.time > event.time) return;
    this.#cancel(key);
    if (pending.sent === 0) this.#skipped(pending.event, `${event.id} came first`);
  }

  /** Cancels every delay and repeat. */
  stop(): void {
    this.#stopped = true;
    for (const key of [...this.#pending.keys()]) this.#cancel(key);
  }

  #fire(key: string, pending: Pending): void {
    if (this.#stopped || this.#pending.get(key) !== pending) return;
    const { event } = pending;
    const actions = this.#ports.actions(event.id);
    if (!this.#ports.stillActive(event)) {
      this.#cancel(key);
      if (pending.sent === 0) this.#skipped(event, "it no longer holds");
      return;
    }
    if (!actions?.enableNotification) {
      this.#cancel(key);
      return;
    }
    const { repeatMs } = notificationPlan(event.id, actions);
    pending.sent++;
    const heldSeconds = Math.max(0, Math.round((this.#ports.clock.now() - event.time) / 1000));
    this.#ports.send(
      withNotificationMark(event, { count: pending.sent, heldSeconds, repeatSeconds: repeatMs / 1000 }),
    );
    if (repeatMs === 0) {
      this.#pending.delete(key);
      return;
    }
    pending.timer = this.#ports.clock.setTimeout(() => this.#guarded(key, pending), repeatMs);
  }

  /** `#fire` from a timer: an error is reported, never thrown out of the event loop. */
  #guarded(key: string, pending: Pending): void {
    try {
      this.#fire(key, pending);
    } catch (error) {
      try {
        (this.#ports.reportError ?? console.error)(`notification timer: ${(error as Error)?.stack ?? error}`);
      } catch {
        // nothing left to report to
      }
    }
  }

  #cancel(key: string): void {
    const pending = this.#pending.get(key);
    if (!pending) return;
    this.#ports.clock.clearTimeout(pending.timer);
    this.#pending.delete(key);
  }

  #skipped(event: AgentEvent, why: string): void {
    const delay = this.#ports.actions(event.id)?.notificationDelay ?? 0;
    this.#ports.emit({
      id: "NotificationSkipped",
      ...(event.nmc ? { nmc: event.nmc } : {}),
      note: `${event.id} of ${new Date(event.time).toISOString()}: ${why} within its ${
        describeSeconds(delay)
      } notificationDelay`,
      details: { event: event.id },
    });
  }
}

function keyOf(event: { readonly id: EventId; readonly nmc?: string }): string {
  return `${event.id}@${event.nmc ?? ""}`;
}
