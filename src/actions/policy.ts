/**
 * Shutdown policy, as pure functions: which events are active on which UPS,
 * which of them are critical, and when (if at all) the shutdown sequence is
 * due under the UPS configuration (single, redundant, parallel, advanced),
 * following PCNS (shared/spec/pcns.md §2.2, §4.1, §4.8):
 *
 * - single: any critical event starts the sequence after its delay;
 * - several UPSs: only when enough UPSs are critical (redundant: all of them;
 *   parallel: when the rest cannot carry the load; advanced N+x: x+1);
 *   identical LowBattery / UpsTurnOffInitiated on them: at once; identical
 *   configured events: after their delay; different critical events:
 *   MultipleCriticalEvents, after a fixed 10 s;
 * - CommunicationLost while another UPS is on battery counts as critical.
 *
 * A countdown is due only while its condition holds: the engine re-evaluates
 * on every change and drops a candidate that disappeared (ShutdownCancelled).
 *
 * @module
 */
import type { UpsMode } from "../config/types.ts";
import { CLEARING_PAIRS, type EventDraft, type EventId, SHUTDOWN_ROLES } from "../events/types.ts";

/** Events that always shut down and cannot be disabled (as in PCNS): LowBattery, UpsTurnOffInitiated. */
export const ALWAYS_SHUTDOWN: readonly EventId[] = (Object.keys(SHUTDOWN_ROLES) as EventId[])
  .filter((id) => SHUTDOWN_ROLES[id] === "always");
/** Delay of the MultipleCriticalEvents shutdown, fixed by PCNS. */
export const MULTIPLE_CRITICAL_DELAY_MS = 10_000;

/** An event currently in effect on one UPS, and since when. */
export interface ActiveEvent {
  /** Event id. */
  readonly id: EventId;
  /** The card it concerns. */
  readonly card: string;
  /** When it was raised (ms since epoch). */
  readonly since: number;
}

const OPPOSITE = new Map<EventId, EventId>();
for (const [raised, cleared] of CLEARING_PAIRS) {
  OPPOSITE.set(raised, cleared);
  OPPOSITE.set(cleared, raised);
}

/** The event that ends `id`'s condition (PowerRestored for PowerFailed, and back), if any. */
export function oppositeOf(id: EventId): EventId | undefined {
  return OPPOSITE.get(id);
}

/** Key of an active event in an active set. */
export function activeKey(id: EventId, card: string): string {
  return `${id}@${card}`;
}

/**
 * Records that `id` happened on `card` at `now`: it becomes active (keeping an
 * earlier start if it already was) and its opposite stops being active.
 * Returns a new map; the input is not changed.
 */
export function recordEvent(
  active: ReadonlyMap<string, ActiveEvent>,
  id: EventId,
  card: string,
  now: number,
): Map<string, ActiveEvent> {
  const next = new Map(active);
  const opposite = oppositeOf(id);
  if (opposite) next.delete(activeKey(opposite, card));
  if (!next.has(activeKey(id, card))) next.set(activeKey(id, card), { id, card, since: now });
  return next;
}

/** What the policy needs from the configuration. */
export interface ShutdownPolicy {
  /** How the UPSs combine. */
  readonly mode: UpsMode;
  /** All configured cards. */
  readonly cards: readonly string[];
  /** Shutdown delay (ms) of every event whose shutdown action is enabled (ALWAYS_SHUTDOWN included). */
  readonly shutdownDelays: ReadonlyMap<EventId, number>;
  /** Advanced mode: number of redundant UPSs x in N+x. */
  readonly redundantUps: number;
}

/**
 * How many UPSs must be critical before the host shuts down.
 * `loads` are the UPSs' load in % of their own capacity (parallel mode).
 */
export function requiredCriticalUps(
  policy: ShutdownPolicy,
  loads: ReadonlyMap<string, number | undefined>,
): number {
  const n = policy.cards.length;
  if (n <= 1 || policy.mode === "single") return 1;
  if (policy.mode === "redundant") return n; // each UPS carries the whole load alone
  if (policy.mode === "advanced") return Math.min(n, Math.max(1, policy.redundantUps + 1));
  // parallel: shut down once the healthy UPSs cannot carry the total load (an unknown load counts as 100 %)
  const total = policy.cards.reduce((sum, card) => sum + (loads.get(card) ?? 100), 0) / 100;
  return Math.min(n, Math.max(1, n - Math.ceil(total) + 1));
}

/**
 * The critical events per card: active events with a shutdown action, plus
 * CommunicationLost on a card while another card is on battery (several UPSs).
 */
export function criticalEvents(
  active: Iterable<ActiveEvent>,
  policy: ShutdownPolicy,
): Map<string, ActiveEvent[]> {
  const list = [...active].filter((a) => policy.cards.includes(a.card));
  const onBattery = new Set(list.filter((a) => a.id === "PowerFailed").map((a) => a.card));
  const byCard = new Map<string, ActiveEvent[]>();
  for (const a of list) {
    const configured = policy.shutdownDelays.has(a.id);
    const lostWhileOtherOnBattery = a.id === "CommunicationLost" && policy.cards.length > 1 &&
      [...onBattery].some((card) => card !== a.card);
    if (!configured && !lostWhileOtherOnBattery) continue;
    byCard.set(a.card, [...(byCard.get(a.card) ?? []), a]);
  }
  return byCard;
}

/** A way the shutdown can become due. */
export interface ShutdownCandidate {
  /** Stable identity while the condition holds (e.g. `PowerFailed@10.0.0.5`, `LowBattery@set`, `multiple`). */
  readonly key: string;
  /** The event that triggers it. */
  readonly eventId: EventId;
  /** The UPSs involved. */
  readonly cards: readonly string[];
  /** When the condition started to hold. */
  readonly formedAt: number;
  /** The delay applied, ms. */
  readonly delayMs: number;
  /** When the sequence is due: formedAt + delayMs. */
  readonly dueAt: number;
  /** One-line explanation for logs and the drill. */
  readonly reason: string;
}

const kth = (values: number[], k: number) => [...values].sort((a, b) => a - b)[k - 1];
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Every way the shutdown is (or will be) due now, earliest first. */
export function shutdownCandidates(
  active: Iterable<ActiveEvent>,
  policy: ShutdownPolicy,
  loads: ReadonlyMap<string, number | undefined>,
): ShutdownCandidate[] {
  const critical = criticalEvents(active, policy);
  const delayOf = (id: EventId) => policy.shutdownDelays.get(id) ?? 0;
  const required = requiredCriticalUps(policy, loads);
  const out: ShutdownCandidate[] = [];

  if (required <= 1) {
    for (const [card, events] of critical) {
      for (const e of events) {
        const delayMs = e.id === "CommunicationLost" && !policy.shutdownDelays.has(e.id)
          ? MULTIPLE_CRITICAL_DELAY_MS
          : delayOf(e.id);
        out.push({
          key: activeKey(e.id, card),
          eventId: e.id,
          cards: [card],
          formedAt: e.since,
          delayMs,
          dueAt: e.since + delayMs,
          reason: `${e.id} on ${card}, shutdown delay ${seconds(delayMs)}`,
        });
      }
    }
    return out.sort((a, b) => a.dueAt - b.dueAt);
  }

  if (critical.size < required) return [];
  // Identical critical events on enough UPSs.
  const byId = new Map<EventId, ActiveEvent[]>();
  for (const events of critical.values()) {
    for (const e of events) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
  }
  for (const [id, events] of byId) {
    if (events.length < required) continue;
    const formedAt = kth(events.map((e) => e.since), required);
    const immediate = ALWAYS_SHUTDOWN.includes(id);
    const delayMs = immediate ? 0 : delayOf(id);
    out.push({
      key: `${id}@set`,
      eventId: id,
      cards: events.map((e) => e.card),
      formedAt,
      delayMs,
      dueAt: formedAt + delayMs,
      reason: `${id} on ${events.length} of ${policy.cards.length} UPSs (${required} needed), ` +
        (immediate ? "immediate" : `shutdown delay ${seconds(delayMs)}`),
    });
  }
  // Different critical events across enough UPSs: Multiple Critical Events, fixed 10 s.
  if (byId.size >= 2) {
    const cardSince = [...critical.values()].map((events) => Math.min(...events.map((e) => e.since)));
    const idSince = [...byId.values()].map((events) => Math.min(...events.map((e) => e.since)));
    const formedAt = Math.max(kth(cardSince, required), kth(idSince, 2));
    out.push({
      key: "multiple",
      eventId: "MultipleCriticalEvents",
      cards: [...critical.keys()],
      formedAt,
      delayMs: MULTIPLE_CRITICAL_DELAY_MS,
      dueAt: formedAt + MULTIPLE_CRITICAL_DELAY_MS,
      reason: `different critical events (${[...byId.keys()].join(", ")}) on ${critical.size} UPSs ` +
        `(${required} needed), fixed delay 10 s`,
    });
  }
  return out.sort((a, b) => a.dueAt - b.dueAt);
}

/** The events announcing a new candidate (pure): MultipleCriticalEvents, and ShutdownPending if it lies ahead. */
export function countdownAnnouncements(candidate: ShutdownCandidate, now: number): EventDraft[] {
  const out: EventDraft[] = [];
  if (candidate.key === "multiple") {
    out.push({ id: "MultipleCriticalEvents", note: candidate.reason, details: { cards: candidate.cards } });
  }
  if (candidate.dueAt > now) {
    out.push({
      id: "ShutdownPending",
      note: `${candidate.reason}: the shutdown sequence starts in ${
        Math.round((candidate.dueAt - now) / 100) / 10
      } s unless the condition ends`,
      details: { key: candidate.key, dueAt: new Date(candidate.dueAt).toISOString() },
    });
  }
  return out;
}
