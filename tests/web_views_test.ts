/**
 * The pure parts behind issue 15's pages: why a shutdown is or is not pending, the sequence's clock
 * times, the comm-lost diagnosis and its time window, ISO date bounds, numbered-key grouping, the
 * schema-driven settings pages, the short URLs and the 404 suggestion, human labels.
 */
import assert from "node:assert/strict";
import type { ShutdownPolicy } from "../src/actions/policy.ts";
import type { AgentStatus } from "../src/agent/status.ts";
import { SCHEMA } from "../src/config/schema.ts";
import type { PacketStats } from "../src/nmc/engine.ts";
import { initialUpsState } from "../src/ups/state.ts";
import { aliasFor, suggestPage } from "../src/web/app_pages.tsx";
import { diagnose, RejectionWindow } from "../src/web/commdiag.ts";
import { parseTimeBound } from "../src/web/eventquery.ts";
import { eventName, keyLabel, sectionTitle } from "../src/web/labels.ts";
import { basicDashboardData, dashboardFragments } from "../src/web/pages/dashboard.tsx";
import { formItems } from "../src/web/pages/settingsform.tsx";
import { pageKeys, settingsMenu, settingsPages } from "../src/web/pages/settings_registry.ts";
import { pendingReasons, shutdownView } from "../src/web/shutdownview.ts";

const policy = (mode: ShutdownPolicy["mode"], cards: string[]): ShutdownPolicy => ({
  mode,
  cards,
  redundantUps: 1,
  shutdownDelays: new Map([["PowerFailed", 120_000], ["LowBattery", 0]]),
});

Deno.test("views: why a shutdown is or is not pending, per UPS configuration", () => {
  const onBattery = [{ id: "PowerFailed" as const, card: "a", since: 0 }];
  assert.deepEqual(pendingReasons(onBattery, policy("redundant", ["a", "b"]), new Map()), [
    "1 of 2 UPSs critical: no shutdown (redundant: every UPS must be critical, 2 needed)",
    "a: UPS on battery",
  ]);
  assert.match(
    pendingReasons(onBattery, policy("advanced", ["a", "b", "c"]), new Map())[0],
    /1 of 3 .* 2 needed/,
  );
  assert.deepEqual(pendingReasons(onBattery, policy("single", ["a"]), new Map()), ["a: UPS on battery"]);
  // On battery with its shutdown action off: said so, with where to change it.
  const off = { ...policy("single", ["a"]), shutdownDelays: new Map([["LowBattery" as const, 0]]) };
  assert.match(
    pendingReasons(onBattery, off, new Map())[0],
    /shutdown action is off \(Settings > Event actions\)/,
  );
});

Deno.test("views: the running sequence's clock times follow the current step's start", () => {
  const plan = [
    { atSeconds: 0, what: "run the shutdown command file /x (up to 30 s)" },
    { atSeconds: 30, what: "wait the settle delay of 70 s" },
    { atSeconds: 100, what: "shut down the OS: systemctl poweroff" },
  ];
  const status = {
    dryRun: true,
    ups: [],
    shutdown: {
      phase: "running",
      step: "settle delay",
      startedAt: 1_000_000,
      stepSince: 1_010_000,
      countdowns: [],
    },
  } as unknown as AgentStatus;
  const view = shutdownView(status, plan, policy("single", []), 1_020_000);
  assert.deepEqual(view.steps.map((s) => [s.state, s.at]), [
    ["done", 1_000_000],
    ["current", 1_010_000], // the command file ended after 10 s, not 30
    ["next", 1_080_000],
  ]);
  assert.equal(view.osAt, 1_080_000);
  const countdown = shutdownView(
    {
      ...status,
      shutdown: {
        phase: "idle",
        step: "",
        countdowns: [{ dueAt: 2_000_000 }],
      },
    } as unknown as AgentStatus,
    plan,
    policy("single", []),
    1_900_000,
  );
  assert.equal(countdown.kind, "countdown");
  assert.deepEqual(countdown.steps.map((s) => s.at), [2_000_000, 2_030_000, 2_100_000]);
});

Deno.test("views: comm lost explained by recent rejections, or by silence", () => {
  const stats = (badMd5: number): PacketStats => ({
    accepted: 0,
    unsignedIgnored: 0,
    rejected: {
      "unknown-source": 0,
      "oversize": 0,
      "too-many-lines": 0,
      "malformed": 0,
      "bad-md5": badMd5,
      "unknown-card": 0,
      "no-counters": 0,
      "replay": 0,
    },
  });
  const window = new RejectionWindow(60_000);
  assert.deepEqual(window.recent(stats(5), 0), { "bad-md5": 5 }, "young: everything since start");
  assert.deepEqual(window.recent(stats(5), 30_000), { "bad-md5": 5 }, "still the first window");
  window.recent(stats(5), 61_000);
  assert.deepEqual(window.recent(stats(5), 95_000), {}, "old rejections no longer explain");
  assert.deepEqual(window.recent(stats(9), 96_000), { "bad-md5": 4 });

  const lost = { ...initialUpsState("a"), comm: "lost" as const };
  const rejected = diagnose(lost, { "bad-md5": 4 });
  assert.match(rejected.headline!, /packets arrive but are rejected \(4/);
  assert.match(rejected.rejections[0].remedy, /authentication phrase/);
  assert.equal(rejected.stale, true);
  assert.match(diagnose(lost, {}).headline!, /no packets at all arrive/);
  assert.equal(diagnose({ ...lost, comm: "ok" }, { "bad-md5": 4 }).headline, undefined);
});

Deno.test("views: ISO date bounds in local time; anything else refused", () => {
  assert.equal(parseTimeBound("2026-03-04"), new Date(2026, 2, 4).getTime());
  assert.equal(parseTimeBound("2026-03-04", true), new Date(2026, 2, 5).getTime() - 1);
  assert.equal(parseTimeBound("2026-03-04 10:30"), new Date(2026, 2, 4, 10, 30).getTime());
  assert.equal(parseTimeBound("2026-03-04T10:30:00Z"), Date.UTC(2026, 2, 4, 10, 30));
  for (const bad of ["yesterday", "12/02/2026", "2026-02-30", "2026-03-04 25:00", "1700000000"]) {
    assert.equal(parseTimeBound(bad), undefined, bad);
  }
});

Deno.test("views: settings pages come from the schema; numbered keys fold into one table", () => {
  const pages = settingsPages();
  const sections = new Set(pages.flatMap((p) => p.sections));
  for (const d of SCHEMA) assert.ok(sections.has(d.section), `[${d.section}] has a settings page`);
  const all = pages.flatMap(pageKeys);
  assert.equal(new Set(all).size, all.length, "every key on one page only");
  assert.ok(!all.includes("NetworkManagementCard.password"), "the password is on the Account page");
  const menu = settingsMenu();
  assert.ok(
    menu.length < pages.length + 1 || pages.every((p) => !p.family),
    "numbered sections share an entry",
  );
  const items = formItems(pageKeys(pages.find((p) => p.slug === "communication")!), [
    "NetworkManagementCard.ip_1",
  ]);
  assert.equal(items[0].kind, "group");
  assert.deepEqual(items[0].kind === "group" ? items[0].numbers : [], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const nut = formItems(pageKeys(pages.find((p) => p.slug === "nut")!));
  assert.ok(
    nut.some((i) => i.kind === "group" && i.bases.join() === "user,password"),
    "users with passwords",
  );
});

Deno.test("views: short URLs, the 404 suggestion, human labels", () => {
  assert.equal(aliasFor("/communication"), "/settings/communication");
  assert.equal(aliasFor("/Shutdown/"), "/settings/shutdown");
  assert.equal(aliasFor("/event-log"), "/events");
  assert.equal(aliasFor("/settings"), "/settings/communication");
  assert.equal(aliasFor("/nothing-here"), undefined);
  assert.deepEqual(suggestPage("/comunication"), ["/settings/communication", "Communication"]);
  assert.equal(suggestPage("/zzzzzzzzzzzz"), undefined);
  assert.equal(eventName("PowerFailed"), "UPS on battery");
  assert.equal(keyLabel("Shutdown.settleDelay"), "Settle delay before the OS shutdown (s)");
  assert.equal(keyLabel("Events.event_PowerFailed_shutdownDelay"), "UPS on battery: Shut down after (s)");
  assert.equal(keyLabel("NetworkManagementCard.ip_3"), "Card address 3");
  assert.equal(keyLabel("SNMP.trapReceiver_2"), "Trap receiver 2");
  assert.equal(sectionTitle("SSHAction0"), "SSH action 0");
  assert.equal(sectionTitle("advanced_ups_setup_2"), "Advanced UPS setup 2");
  assert.equal(sectionTitle("NetworkManagementCard"), "Network management card");
});

Deno.test("views: the live parts escape what a card sends, as the page does", () => {
  const ups = {
    ...initialUpsState("10.0.0.5"),
    comm: "ok" as const,
    reading: { model: "<img src=x onerror=alert(1)>", firmware: '"><script>alert(2)</script>' },
  };
  const status = {
    udp: [],
    packets: { accepted: 1, unsignedIgnored: 0, rejected: {} },
    ups: [ups],
    counters: [],
    dryRun: false,
    shutdown: { phase: "idle", step: "", countdowns: [] },
  } as unknown as AgentStatus;
  const parts = dashboardFragments(basicDashboardData(status, Date.now(), []));
  const html = String(parts["ups:10.0.0.5"]);
  assert.doesNotMatch(html, /<img|<script/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
});
