/**
 * Why a card cannot be heard, for the dashboard: no packets at all, or
 * packets that arrive and are rejected, broken down by the packet gate's
 * rejection reasons (src/nmc/gate.ts) with the remedy for each. The gate
 * counts since start; {@link RejectionWindow} turns the totals into "in the
 * last 10 minutes" so an old mistake does not explain a new silence. Pure
 * apart from the window's own memory.
 *
 * @module
 */
import type { NmcRegistrationStatus } from "../agent/registration_status.ts";
import type { PacketStats } from "../nmc/engine.ts";
import type { CardCounterStatus, RejectReason } from "../nmc/gate.ts";
import type { UpsState } from "../ups/state.ts";

/** What a rejection reason means for the admin, and what to do about it. */
export const REJECTION_HELP: Readonly<Record<RejectReason, { what: string; remedy: string }>> = {
  "bad-md5": {
    what: "wrong signature",
    remedy: "the user name or authentication phrase here differs from the card's: set the same on both " +
      "(Settings > Communication; on the card: PowerChute configuration)",
  },
  "unknown-card": {
    what: "unknown card address",
    remedy: "the packets are signed correctly but name a card address (PC=) that is not configured: " +
      "enter the card's own address under Settings > Communication",
  },
  "unknown-source": {
    what: "from an address that is not a card",
    remedy: "datagrams came from an address that is no configured card; behind NAT set " +
      "[Networking] requireCardSource = false (Settings > Network and web UI)",
  },
  "replay": {
    what: "replay counters not newer",
    remedy: "authenticated packets are refused as replayed: if the card was rebooted or replaced, press " +
      "Reset counters; otherwise someone is replaying recorded packets",
  },
  "no-counters": {
    what: "no replay counters",
    remedy: "signed packets without SR/SU counters: the card's firmware is not supported",
  },
  "malformed": { what: "not a PowerChute packet", remedy: "something else sends to this UDP port" },
  "oversize": { what: "too large", remedy: "something else sends to this UDP port" },
  "too-many-lines": { what: "too many lines", remedy: "something else sends to this UDP port" },
};

/** Rejections per reason within a time window, from the gate's running totals. */
export class RejectionWindow {
  readonly #windowMs: number;
  readonly #snapshots: { at: number; counts: Readonly<Record<string, number>> }[] = [];
  #firstAt: number | undefined;

  /** Keeps totals for `windowMs` (default 10 min), one snapshot per 10 s at most. */
  constructor(windowMs = 10 * 60_000) {
    this.#windowMs = windowMs;
  }

  /** The rejections counted since the window's start (all since start while younger than the window). */
  recent(stats: PacketStats, now: number): Partial<Record<RejectReason, number>> {
    const last = this.#snapshots.at(-1);
    if (!last || now - last.at >= 10_000) this.#snapshots.push({ at: now, counts: { ...stats.rejected } });
    while (this.#snapshots.length > 1 && now - this.#snapshots[1].at >= this.#windowMs) {
      this.#snapshots.shift();
    }
    const base = this.#snapshots[0];
    // For the first window after start, everything counted so far is recent enough.
    this.#firstAt ??= now;
    const young = now - this.#firstAt < this.#windowMs;
    const out: Partial<Record<RejectReason, number>> = {};
    for (const [reason, total] of Object.entries(stats.rejected) as [RejectReason, number][]) {
      const count = young ? total : total - (base.counts[reason] ?? 0);
      if (count > 0) out[reason] = count;
    }
    return out;
  }
}

/** One line of the breakdown. */
export interface RejectionLine {
  /** The gate's reason. */
  readonly reason: RejectReason;
  /** How many. */
  readonly count: number;
  /** What it means. */
  readonly what: string;
  /** What to do. */
  readonly remedy: string;
}

/** The explanation shown on a card. */
export interface CommDiagnosis {
  /** Values are old: communication lost (they are the last ones received). */
  readonly stale: boolean;
  /** One sentence: why (undefined while communication is fine). */
  readonly headline?: string;
  /** Rejected packets by reason, most first. */
  readonly rejections: readonly RejectionLine[];
  /** True when the card's replay counters are stuck: the reset button applies. */
  readonly resetApplies: boolean;
}

/** Explains a card's communication state. `recent` are rejections of the last minutes (all cards). */
export function diagnose(
  ups: UpsState,
  recent: Partial<Record<RejectReason, number>>,
  counters?: CardCounterStatus,
  registration?: NmcRegistrationStatus,
): CommDiagnosis {
  const rejections = (Object.entries(recent) as [RejectReason, number][])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, count]) => ({ reason, count, ...REJECTION_HELP[reason] }));
  const resetApplies = counters?.stuck !== undefined;
  if (ups.comm === "ok") return { stale: false, rejections: [], resetApplies };
  const total = rejections.reduce((a, r) => a + r.count, 0);
  const lost = ups.comm === "lost" ? "Communication lost" : "Waiting for the first packet";
  let headline: string;
  if (resetApplies) {
    headline = `${lost}: this card's packets arrive but are refused as replayed (its counters went back)`;
  } else if (total > 0) {
    headline = `${lost}: packets arrive but are rejected (${total} in the last minutes)`;
  } else {
    const reg = registration && registration.phase !== "disabled"
      ? ` Registration: ${registration.summary}.`
      : "";
    headline = `${lost}: no packets at all arrive from any card. Check that the card lists this host as a ` +
      `PowerChute client, the UDP port and any firewall in between.${reg}`;
  }
  return { stale: ups.comm === "lost", headline, rejections, resetApplies };
}
