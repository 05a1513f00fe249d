/**
 * Where a card's registration stands, as `status()`, the API, the UI and the CLI show it (pure): the
 * phases, the per-card status record, whether the card's MACONFIG client list shows this host, and the
 * one-line summary.
 *
 * @module
 */
import type { RegistrationCause } from "../nmc/registration.ts";

/** Where a card's registration stands. */
export type RegistrationPhase =
  | "disabled"
  | "pending"
  | "registering"
  | "registered"
  | "failed";

/** Whether the card's MACONFIG client list shows this host. */
export type ListedState = "yes" | "no" | "unknown" | "not-confirmable";

/** A card's certificate as the registrar knows it. */
export interface CertificateState {
  /** SHA-256 fingerprint presented at the last contact. */
  readonly sha256?: string;
  /** The pinned fingerprint, if any. */
  readonly pinned?: string;
  /** When it was pinned. */
  readonly pinnedAt?: string;
  /** Subject of the presented certificate. */
  readonly subject?: string;
  /** Its end of validity. */
  readonly validTo?: string;
  /** True if the presented certificate verified against trusted CAs. */
  readonly verified?: boolean;
}

/** Registration state of one card, for `status()`, the API and the UI. */
export interface NmcRegistrationStatus {
  /** The card. */
  readonly card: string;
  /** Phase. */
  readonly phase: RegistrationPhase;
  /** Protocol and port used. */
  readonly protocol: "http" | "https";
  /** Port used. */
  readonly port: number;
  /** The address registered (or last tried). */
  readonly hostAddress?: string;
  /** UDP port registered. */
  readonly udpPort: number;
  /** Shutdown seconds registered. */
  readonly requiredSeconds: number;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** When the last attempt ended, epoch ms. */
  readonly lastAttemptAt?: number;
  /** When the card last confirmed, epoch ms. */
  readonly lastSuccessAt?: number;
  /** When the next attempt runs, epoch ms. */
  readonly nextAttemptAt?: number;
  /** The last error sentence. */
  readonly lastError?: string;
  /** Its cause code. */
  readonly cause?: RegistrationCause | "pin-store";
  /** Clients the card said it lists. */
  readonly cardClients?: number;
  /** The card's certificate and pin (HTTPS). */
  readonly certificate?: CertificateState;
  /** Whether the card's client list (MACONFIG CL=) shows this host. */
  readonly listed: ListedState;
  /** One line for the UI. */
  readonly summary: string;
}

/** Whether a client list shows `address`: IPv6 cannot be listed (the card's CL= holds IPv4 only). */
export function listedState(
  address: string | undefined,
  clients: readonly string[] | undefined,
): ListedState {
  if (address === undefined || address === "") return "unknown";
  if (address.includes(":")) return "not-confirmable";
  if (clients === undefined) return "unknown";
  return clients.includes(address) ? "yes" : "no";
}

/** Seconds until `at`, at least 0, as text. */
function inSeconds(now: number, at: number): string {
  const s = Math.max(0, Math.ceil((at - now) / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** The one-line registration state shown in the UI and the CLI. */
export function registrationSummary(
  s: Pick<NmcRegistrationStatus, "phase" | "listed" | "lastError" | "cause" | "nextAttemptAt">,
  now: number,
): string {
  const inList = s.listed === "yes" ? "; this host is in the card's client list" : "";
  switch (s.phase) {
    case "disabled":
      return `registration off (registerWithNmc = false)${inList}`;
    case "pending":
      return s.nextAttemptAt !== undefined
        ? `registration starts in ${inSeconds(now, s.nextAttemptAt)}${inList}`
        : `registering...${inList}`;
    case "registering":
      return `registering...${inList}`;
    case "failed": {
      const next = s.nextAttemptAt !== undefined
        ? `; next attempt in ${inSeconds(now, s.nextAttemptAt)}`
        : "; not retried until the configuration changes";
      return `registration failed (${s.cause ?? "error"}): ${s.lastError ?? "unknown error"}${next}${inList}`;
    }
    case "registered":
      switch (s.listed) {
        case "yes":
          return "registered";
        case "not-confirmable":
          return "registered (not confirmable: the card's list holds IPv4 only)";
        case "no":
          return "accepted by the card, but this host is not in its client list (MACONFIG)";
        default:
          return "accepted by the card; waiting for its client list (MACONFIG) to confirm";
      }
  }
}
