/**
 * Which settings pages exist and which config keys each one edits, driven by
 * the schema: a page names sections, its keys are the schema's keys of those
 * sections, and every section no page names gets a page of its own. A new
 * `[Section]` in the schema therefore appears in the UI without a change
 * here (add a line to {@link SETTINGS_PAGES} only to group or title it). Pure.
 *
 * @module
 */
import { SCHEMA, SECTIONS } from "../../config/schema.ts";
import { sectionTitle } from "../labels.ts";

/** One settings page. */
export interface SettingsPageDef {
  /** URL: `/settings/<slug>`. */
  readonly slug: string;
  /** Title and menu label. */
  readonly title: string;
  /** The config sections whose keys the page edits. */
  readonly sections: readonly string[];
  /** A sentence or two shown above the form. */
  readonly intro?: string;
  /** Keys (or the first key of a numbered group) shown before the others. */
  readonly first?: readonly string[];
  /** Numbered sections (`[SSHAction0]` ... `[SSHAction9]`) share one menu entry: its title. */
  readonly family?: string;
}

/** The settings pages in menu order; sections not named here get a generic page after them. */
export const SETTINGS_PAGES: readonly SettingsPageDef[] = [
  {
    slug: "communication",
    title: "Communication",
    sections: ["NetworkManagementCard"],
    intro: "The Network Management Cards this host follows, and how several UPSs combine.",
    first: ["NetworkManagementCard.ip_1"],
  },
  {
    slug: "events",
    title: "Event actions",
    sections: ["Events"],
    intro: "What happens when an event occurs: log it, notify, run a command file, shut this host down.",
  },
  {
    slug: "shutdown",
    title: "Shutdown",
    sections: ["Shutdown"],
    intro: "The shutdown sequence: UPS turn-off through the card (if enabled), the shutdown command file " +
      "(until it exits, at most its duration), the settle delay, then the OS shutdown. Rehearse it with " +
      "pcns-agent drill.",
  },
  {
    slug: "notifications",
    title: "Notifications",
    sections: ["Notifications", "Email"],
    intro: "Where notified events go. Which events are notified is chosen under Event actions.",
  },
  {
    slug: "network",
    title: "Network and web UI",
    sections: ["Networking", "WebUI", "EventLog"],
    intro: "Ports and addresses of this agent, login sessions, and the event log file.",
  },
  {
    slug: "nut",
    title: "NUT and NIS",
    sections: ["NUT", "NIS"],
    intro: "Serve the UPS state to stock NUT clients (upsmon secondaries) and apcupsd's NIS clients.",
    first: ["NUT.enabled", "NUT.port", "NUT.listenAddress"],
  },
];

/** Keys never edited on a settings page (the password has the Account page). */
const HIDDEN_KEYS = new Set(["NetworkManagementCard.password"]);

/** The schema's sections, in schema order. */
const schemaSections = (): readonly string[] => SECTIONS;

/** Every settings page: the listed ones (their sections that exist) plus one per unclaimed section. */
export function settingsPages(): SettingsPageDef[] {
  const known = new Set(schemaSections());
  const pages = SETTINGS_PAGES.map((p) => ({ ...p, sections: p.sections.filter((s) => known.has(s)) }))
    .filter((p) => p.sections.length > 0);
  const claimed = new Set(pages.flatMap((p) => p.sections));
  const rest = schemaSections().filter((s) => !claimed.has(s) && SCHEMA.some((d) => d.section === s));
  const baseOf = (s: string) => /^(.*?[A-Za-z])_?\d+$/.exec(s)?.[1];
  for (const section of rest) {
    const base = baseOf(section);
    const family = base && rest.filter((s) => baseOf(s) === base).length > 1
      ? `${sectionTitle(base)}s`
      : undefined;
    pages.push({
      slug: section.toLowerCase(),
      title: sectionTitle(section),
      sections: [section],
      ...(family ? { family } : {}),
    });
  }
  return pages;
}

/** The `Section.key` names a page edits, in schema order. */
export function pageKeys(page: SettingsPageDef): string[] {
  return SCHEMA.filter((d) => page.sections.includes(d.section) && !HIDDEN_KEYS.has(d.name)).map((d) =>
    d.name
  );
}

/** Every settings page with its URL, then the certificate page (the 404 page lists them all). */
export const SETTINGS_NAV: ReadonlyArray<readonly [string, string]> = [
  ...settingsPages().map((p) => [`/settings/${p.slug}`, p.title] as const),
  ["/certificate", "Certificate"],
];

/** The settings menu: one entry per page, numbered sections once (their first page) under the family title. */
export function settingsMenu(): { href: string; label: string; members: [string, string][] }[] {
  const out: { href: string; label: string; members: [string, string][] }[] = [];
  for (const p of settingsPages()) {
    const href = `/settings/${p.slug}`;
    const family = p.family ? out.find((e) => e.label === p.family) : undefined;
    if (family) family.members.push([href, p.title]);
    else out.push({ href, label: p.family ?? p.title, members: p.family ? [[href, p.title]] : [] });
  }
  out.push({ href: "/certificate", label: "Certificate", members: [] });
  return out;
}
