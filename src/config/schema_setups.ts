/**
 * The `[advanced_ups_setup_1]` ... `[advanced_ups_setup_9]` sections of pcnsconfig.ini, as PowerChute names
 * them: several advanced UPS setups, each a group of the configured cards with its own N+x redundancy, its
 * own shutdown command file, its own SSH actions and UPS turn-off, and its own "shut down this server"
 * switch. Used only with `[NetworkManagementCard] mode = advanced`; without any setup, advanced mode is
 * the one setup of every card with `redundantUps`.
 *
 * Per-value checks, the checks across values ({@link setupCrossProblems}) and the conversion into
 * {@link UpsSetupSettings}. Spliced into the schema by `schema.ts`; pure.
 *
 * Decisions: a card belongs to at most one setup, and an SSH action to at most one setup (a second
 * listing is a fatal problem of the later section: the setup is disabled at start and an edit is
 * rejected); only actions of the shutdown phases (beforeShutdown, afterShutdown) can belong to a setup.
 *
 * @module
 */
import { isHost } from "./hosts.ts";
import {
  absolutePathCheck,
  boolDef,
  def as key,
  intDef,
  type KeyDef,
  normalizeList,
  type SectionProblem,
  splitList,
} from "./keydefs.ts";

// No value imports from schema.ts: it imports this module, and whichever loads first would see the
// other's constants uninitialised. The shared helpers come from keydefs.ts.

/** The section names, `[advanced_ups_setup_1]` to `[advanced_ups_setup_9]`. */
export const SETUP_SECTIONS = [
  "advanced_ups_setup_1",
  "advanced_ups_setup_2",
  "advanced_ups_setup_3",
  "advanced_ups_setup_4",
  "advanced_ups_setup_5",
  "advanced_ups_setup_6",
  "advanced_ups_setup_7",
  "advanced_ups_setup_8",
  "advanced_ups_setup_9",
] as const;

/** A section of one advanced UPS setup. */
export type SetupSection = typeof SETUP_SECTIONS[number];

/** One `[advanced_ups_setup_N]` section, typed. */
export interface UpsSetupSettings {
  /** The section it comes from. */
  readonly section: SetupSection;
  /** Unique name, for the events and `status` (the section name when `name` is empty). */
  readonly name: string;
  /** The cards of the setup (each one of ip_1 ... ip_9). */
  readonly cards: readonly string[];
  /** N of N+x: how many of the cards must stay healthy; fewer start the setup's sequence. */
  readonly minimumHealthy: number;
  /** The setup's shutdown command file ("" = none). */
  readonly shutdownCommandFile: string;
  /** Its maximum duration, seconds. */
  readonly shutdownCommandFileDuration: number;
  /** After its actions, shut this server down (false: its actions only). */
  readonly shutdownThisServer: boolean;
  /** Names of the SSH actions run in this setup's sequence (not the host's). */
  readonly sshActions: readonly string[];
  /** Turn the setup's UPSs off through their NMCs at the start of its sequence. */
  readonly turnOffUps: boolean;
}

/** Problems with a setup name ("" = the section name is used). */
export function setupNameProblems(value: string): string[] {
  if (value === "") return [];
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)
    ? []
    : ["must be 1-64 letters, digits, _, . or -, starting with a letter or digit"];
}

/** Problems with a comma-separated list of card addresses (the check against ip_N is a cross check). */
export function cardListProblems(value: string): string[] {
  const bad = splitList(value).filter((c) => !isHost(c));
  return bad.length ? [`not an IPv4/IPv6 address or host name: ${bad.join(", ")}`] : [];
}

/** Problems with a comma-separated list of SSH action names. */
export function actionListProblems(value: string): string[] {
  const bad = splitList(value).filter((n) => !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(n));
  return bad.length ? [`not an SSH action name: ${bad.join(", ")}`] : [];
}

/** The keys of one section, in file order. */
function sectionDefs(section: SetupSection): KeyDef[] {
  return [
    key({
      section,
      key: "name",
      type: "1-64 letters, digits, _ . -",
      default: "",
      description: "name of the advanced UPS setup, in the events and `status` (empty = the section name)",
      check: setupNameProblems,
    }),
    key({
      section,
      key: "cards",
      type: "comma-separated ip_N addresses",
      default: "",
      description: "the NMCs of the setup's UPSs, each one of ip_1 ... ip_9 and in no other setup " +
        "(empty = the section is not used)",
      check: cardListProblems,
      normalize: normalizeList,
    }),
    intDef(
      section,
      "minimumHealthy",
      1,
      1,
      9,
      "N of N+x: how many of the setup's UPSs must stay healthy; when fewer are (critical events on " +
        "x+1 of them), the setup's sequence starts",
    ),
    key({
      section,
      key: "shutdownCommandFile",
      type: "absolute path",
      default: "",
      description: "the setup's own shutdown command file (empty = none)",
      check: absolutePathCheck,
    }),
    intDef(
      section,
      "shutdownCommandFileDuration",
      0,
      0,
      3600,
      "seconds to wait for the setup's command file",
    ),
    boolDef(
      section,
      "shutdownThisServer",
      true,
      "after the setup's actions, shut this server down (false: run the setup's actions only, e.g. SSH " +
        "actions to the machines on its UPSs)",
    ),
    key({
      section,
      key: "sshActions",
      type: "comma-separated SSH action names",
      default: "",
      description: "SSH actions (by name) that run in this setup's sequence instead of the host's",
      check: actionListProblems,
      normalize: normalizeList,
    }),
    boolDef(
      section,
      "turnOffUps",
      false,
      "turn the setup's UPSs off through their NMCs when its sequence starts",
    ),
  ];
}

/** Every `[advanced_ups_setup_N]` key, section by section. */
export function setupDefs(): KeyDef[] {
  return SETUP_SECTIONS.flatMap(sectionDefs);
}

/** True for the sections the fresh file and the README table leave out (`_2` ... `_9`). */
export function isRepeatedSetupSection(section: string): boolean {
  return /^advanced_ups_setup_[2-9]$/.test(section);
}

type Get = (name: string) => string | undefined;

/** A section that says something (a name or cards): only those are setups. */
function configured(get: Get, section: SetupSection): boolean {
  return (get(`${section}.cards`) ?? "") !== "" || (get(`${section}.name`) ?? "") !== "";
}

/** The configured cards (ip_1 ... ip_9). */
function cardsOf(get: Get): string[] {
  return Array.from({ length: 9 }, (_, i) => get(`NetworkManagementCard.ip_${i + 1}`) ?? "")
    .filter((c) => c !== "");
}

/** SSH action names (the section name when `name` is empty) with their phase, of the sections in use. */
function sshActionsOf(get: Get): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i <= 9; i++) {
    const section = `SSHAction${i}`;
    const name = get(`${section}.name`) ?? "";
    if ((get(`${section}.host`) ?? "") === "" && name === "") continue;
    out.set((name || section).toLowerCase(), get(`${section}.phase`) ?? "beforeShutdown");
  }
  return out;
}

/**
 * Problems across the values of the setups: no cards, a card that is not among ip_N or already in an
 * earlier setup, minimumHealthy above the number of cards, an unknown SSH action, an onStartup action, an
 * action already in an earlier setup, a name used twice (all fatal); setups while the mode is not
 * advanced, cards in no setup, `[Shutdown] turnOffUps` (ignored with setups) and no setup shutting this
 * server down (warnings).
 */
export function setupCrossProblems(get: Get): SectionProblem[] {
  const v = (section: string, k: string) => get(`${section}.${k}`) ?? "";
  const out: SectionProblem[] = [];
  const fatal = (section: string, k: string, message: string) =>
    out.push({
      key: `${section}.${k}`,
      message: `${section}.${k}${message.startsWith("=") ? " " : ": "}${message}`,
      fatal: true,
    });
  const sections = SETUP_SECTIONS.filter((s) => configured(get, s));
  if (sections.length === 0) return out;
  const cards = cardsOf(get);
  const actions = sshActionsOf(get);
  const names = new Map<string, string>();
  const cardOwner = new Map<string, string>();
  const actionOwner = new Map<string, string>();
  for (const section of sections) {
    const name = v(section, "name") || section;
    const first = names.get(name.toLowerCase());
    if (first) fatal(section, "name", `${name} is already the name of [${first}]: names must be unique`);
    else names.set(name.toLowerCase(), section);
    const list = splitList(v(section, "cards"));
    if (list.length === 0) fatal(section, "cards", "is empty: list the NMC addresses of the setup's UPSs");
    const seen = new Set<string>();
    for (const card of list) {
      if (seen.has(card)) fatal(section, "cards", `lists ${card} twice`);
      seen.add(card);
      const owner = cardOwner.get(card);
      if (!cards.includes(card)) {
        fatal(
          section,
          "cards",
          `${card} is not one of the configured NMCs (ip_1 ... ip_9: ${cards.join(", ") || "none"})`,
        );
      } else if (owner) {
        fatal(section, "cards", `${card} is already in [${owner}]: a UPS belongs to one setup`);
      } else cardOwner.set(card, section);
    }
    const minimum = Number(v(section, "minimumHealthy") || "1");
    if (list.length > 0 && minimum > seen.size) {
      fatal(
        section,
        "minimumHealthy",
        `= ${minimum} but the setup has ${seen.size} UPS${seen.size === 1 ? "" : "s"}: it would start its ` +
          "sequence at once; at most the number of cards",
      );
    }
    for (const action of splitList(v(section, "sshActions"))) {
      const phase = actions.get(action.toLowerCase());
      const owner = actionOwner.get(action.toLowerCase());
      if (phase === undefined) {
        fatal(section, "sshActions", `no SSH action is named ${action} ([SSHAction0] ... [SSHAction9] name)`);
      } else if (phase === "onStartup") {
        fatal(
          section,
          "sshActions",
          `${action} runs onStartup: only beforeShutdown/afterShutdown actions ` +
            "belong to a setup",
        );
      } else if (owner) {
        fatal(section, "sshActions", `${action} is already in [${owner}]: an action belongs to one setup`);
      } else actionOwner.set(action.toLowerCase(), section);
    }
  }
  const warn = (k: string, message: string) => out.push({ key: k, message, fatal: false });
  if (v("NetworkManagementCard", "mode") !== "advanced") {
    warn(
      "NetworkManagementCard.mode",
      `[${sections.join("], [")}] ${sections.length === 1 ? "is" : "are"} used only with mode = advanced ` +
        `(mode = ${v("NetworkManagementCard", "mode") || "single"}): ignored`,
    );
    return out;
  }
  for (const card of cards.filter((c) => !cardOwner.has(c))) {
    warn(`${sections[0]}.cards`, `NMC ${card} is in no advanced UPS setup: its events shut nothing down`);
  }
  if (v("Shutdown", "turnOffUps") === "true") {
    warn(
      "Shutdown.turnOffUps",
      "Shutdown.turnOffUps is ignored with advanced UPS setups: each setup's " +
        "turnOffUps decides",
    );
  }
  if (!sections.some((s) => v(s, "shutdownThisServer") !== "false")) {
    warn(
      `${sections[0]}.shutdownThisServer`,
      "no advanced UPS setup has shutdownThisServer = true: this " +
        "server is never shut down",
    );
  }
  return out;
}

/**
 * The typed setups of the sections that name cards or a name, except those with a fatal problem
 * ({@link setupCrossProblems}), which are left out (nothing runs them).
 */
export function buildUpsSetups(get: (name: string) => string): UpsSetupSettings[] {
  const broken = new Set(
    setupCrossProblems(get).filter((p) => p.fatal).map((p) => p.key.slice(0, p.key.indexOf("."))),
  );
  return SETUP_SECTIONS.filter((s) => configured(get, s) && !broken.has(s)).map((section) => {
    const v = (k: string) => get(`${section}.${k}`);
    return {
      section,
      name: v("name") || section,
      cards: splitList(v("cards")),
      minimumHealthy: Number(v("minimumHealthy")),
      shutdownCommandFile: v("shutdownCommandFile"),
      shutdownCommandFileDuration: Number(v("shutdownCommandFileDuration")),
      shutdownThisServer: v("shutdownThisServer") === "true",
      sshActions: splitList(v("sshActions")),
      turnOffUps: v("turnOffUps") === "true",
    };
  });
}
