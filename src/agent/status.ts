/**
 * What the running agent reports about itself (`Agent.status()`): for `pcns-agent status`, the API and the
 * web UI.
 *
 * @module
 */
import type { Countdown } from "../actions/engine.ts";
import type { ActiveEvent } from "../actions/policy.ts";
import type { PacketStats } from "../nmc/engine.ts";
import type { CardCounterStatus } from "../nmc/gate.ts";
import type { NutStatus } from "../nut/service.ts";
import type { SetupStatus } from "../setups/verdict.ts";
import type { SequenceOutcome, SequenceTrigger } from "../shutdown/sequencer.ts";
import type { UpsState } from "../ups/state.ts";
import type { NmcRegistrationStatus } from "./registration_status.ts";

/** A snapshot of what the agent knows, for `status` output and the UI. */
export interface AgentStatus {
  /** The UDP addresses the agent listens on. */
  readonly udp: readonly Deno.NetAddr[];
  /** Packet counters. */
  readonly packets: PacketStats;
  /** Per-NMC UPS state. */
  readonly ups: readonly UpsState[];
  /** Per-NMC replay counters, and why a card's packets are refused while they are stuck. */
  readonly counters: readonly ({ readonly card: string } & CardCounterStatus)[];
  /** Per-NMC registration state (empty while registration is not started, e.g. in a drill). */
  readonly registration?: readonly NmcRegistrationStatus[];
  /** True if OS shutdown is disabled (dry run). */
  readonly dryRun: boolean;
  /** Each card's UPS as NUT names it (`nmcN` or `[NUT] upsName_N`), for `status --get`. */
  readonly upsNames?: readonly { readonly name: string; readonly card: string }[];
  /** The NUT server: where it listens, FSD, the logged-in secondaries (absent while it does not run). */
  readonly nut?: NutStatus;
  /** The shutdown: countdowns pending, or the sequence's phase and step. */
  readonly shutdown: {
    readonly phase: "idle" | "running" | "done";
    readonly step: string;
    readonly trigger?: SequenceTrigger;
    readonly countdowns: readonly Countdown[];
    /** How the finished sequence ended (phase done). */
    readonly outcome?: SequenceOutcome;
    /** Phase done: "" if only a reset re-arms it, else when it re-arms by itself. */
    readonly rearms?: string;
    /** When the running (or finished) sequence started, ms (the UI's clock times). */
    readonly startedAt?: number;
    /** When the current step started, ms. */
    readonly stepSince?: number;
    /** The events in effect per UPS (the UI explains from them why a shutdown is or is not pending). */
    readonly active?: readonly ActiveEvent[];
  };
  /** The advanced UPS setups in use (mode = advanced), each with its verdict (`setups/verdict.ts`). */
  readonly setups?: readonly SetupStatus[];
}
