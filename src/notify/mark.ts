/**
 * The mark a delayed or repeated notification carries: the notification
 * timer (`actions/notifytiming.ts`) sends a copy of the event with
 * `details.notification` set, so every channel can say "still in effect
 * after 5 min, notification 3". Pure.
 *
 * @module
 */
import type { AgentEvent } from "../events/types.ts";

/** How a delayed or repeated notification is marked on the event (`details.notification`). */
export interface NotificationMark {
  /** 1 for the first notification of the event, 2 for the first repeat, ... */
  readonly count: number;
  /** Seconds the event has held when this notification is sent. */
  readonly heldSeconds: number;
  /** Seconds between repeats (0 = none). */
  readonly repeatSeconds: number;
}

/** The notification mark of an event, if it has one. */
export function notificationMark(event: AgentEvent): NotificationMark | undefined {
  const mark = event.details?.notification as NotificationMark | undefined;
  return mark && typeof mark === "object" && typeof mark.count === "number" ? mark : undefined;
}

/** A copy of `event` carrying `mark` in `details.notification`. */
export function withNotificationMark(event: AgentEvent, mark: NotificationMark): AgentEvent {
  return { ...event, details: { ...event.details, notification: mark } };
}

/** `3 s`, `5 min`, `2 h 5 min`: a duration for people. */
export function describeSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** `still in effect after 30 s, notification 2, repeated every 60 s until it clears` (empty without a mark). */
export function describeMark(mark: NotificationMark | undefined): string {
  if (!mark) return "";
  const parts: string[] = [];
  if (mark.heldSeconds > 0) parts.push(`still in effect after ${describeSeconds(mark.heldSeconds)}`);
  parts.push(`notification ${mark.count}`);
  if (mark.repeatSeconds > 0) {
    parts.push(`repeated every ${describeSeconds(mark.repeatSeconds)} until it clears`);
  }
  return parts.join(", ");
}
