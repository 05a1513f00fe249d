// pcns-agent web UI script (served from /assets/app.js; the CSP allows no inline script).
// Pages work without it; it adds: live dashboard values, the countdown, the 24 h chart, and the
// password policy shown rule by rule while typing.
"use strict";

const SPECIALS = "_!\"#$%&'()*+,-./:;<=>?@^`{|}[]~ ";

function policyState(password, username) {
  const p = password.trim();
  return {
    length: p.length >= 12 && p.length <= 128,
    upper: /[A-Z]/.test(p),
    lower: /[a-z]/.test(p),
    digit: /[0-9]/.test(p),
    special: [...p].some((ch) => SPECIALS.includes(ch)),
    username: !username || !p.toLowerCase().includes(username.toLowerCase()),
  };
}

function wirePolicies() {
  for (const list of document.querySelectorAll("ul.policy[data-policy-for]")) {
    const form = list.closest("form");
    const input = form && form.querySelector(`input[name="${list.dataset.policyFor}"]`);
    if (!input) continue;
    const user = form.querySelector('input[name="username"]');
    const update = () => {
      const state = policyState(input.value, user ? user.value : list.dataset.username || "");
      for (const li of list.querySelectorAll("li[data-rule]")) {
        const met = state[li.dataset.rule];
        li.classList.toggle("met", met);
        li.classList.toggle("unmet", !met && input.value !== "");
      }
    };
    input.addEventListener("input", update);
    if (user) user.addEventListener("input", update);
    update();
  }
}

const fmt = (
  n,
  unit,
  digits = 0,
) => (n === undefined || n === null ? "-" : `${Number(n).toFixed(digits)} ${unit}`);

function condition(u) {
  if (u.comm === "lost") return "Communication lost";
  if (u.comm === "waiting") return "Waiting for the first packet";
  if (u.shuttingDown) return "UPS shutting down";
  if (u.flags.onBattery && u.flags.lowBattery) return "On battery, low battery";
  if (u.flags.onBattery) return "On battery";
  if (u.flags.online) return "On line";
  return "Unknown";
}

function age(now, at) {
  if (at === undefined || at === null) return "never";
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

let clockOffset = 0; // server time - local time

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderShutdown(box, status) {
  const s = status.shutdown;
  box.replaceChildren();
  if (s.phase !== "idle") {
    const d = el("div", { class: "banner error" });
    d.append(el("strong", {}, `Shutdown sequence ${s.phase === "done" ? "finished" : "running"}`));
    if (s.trigger) d.append(el("span", {}, `: ${s.trigger.reason}`));
    if (s.step) d.append(el("span", {}, `. Current step: ${s.step}`));
    box.append(d);
  } else if (s.countdowns.length) {
    const d = el("div", { class: "banner warn" });
    for (const c of s.countdowns) {
      const p = el("p", {}, "Shutdown in ");
      p.append(el("strong", { "data-due": String(c.dueAt) }, `${Math.ceil(c.remainingMs / 1000)} s`));
      p.append(` unless the condition ends: ${c.reason}`);
      d.append(p);
    }
    d.append(el("p", {}, "Then:"));
    const ol = el("ol");
    for (const step of status.plan || []) ol.append(el("li", {}, `+${step.atSeconds} s: ${step.what}`));
    d.append(ol);
    box.append(d);
  } else {
    box.append(
      el(
        "p",
        { class: "muted" },
        `No shutdown pending.${status.dryRun ? " Dry run: the OS will not be shut down." : ""}`,
      ),
    );
  }
}

async function refreshStatus() {
  const res = await fetch("/api/v1/status", { headers: { accept: "application/json" } });
  if (res.status === 401) return location.assign("/login");
  if (!res.ok) return;
  const status = await res.json();
  const now = Date.parse(status.time);
  clockOffset = now - Date.now();
  for (const u of status.ups) {
    const card = document.querySelector(`section.ups[data-card="${CSS.escape(u.card)}"]`);
    if (!card) continue;
    const r = u.reading;
    const values = {
      condition: condition(u),
      batteryPercent: fmt(r.batteryPercent, "%"),
      runtimeMinutes: fmt(r.runtimeMinutes, "min"),
      loadPercent: fmt(r.loadPercent, "%"),
      lineVoltage: fmt(r.lineVoltage, "V", 1),
      outputVoltage: fmt(r.outputVoltage, "V", 1),
      batteryVoltage: fmt(r.batteryVoltage, "V", 2),
      temperature: fmt(r.temperature, "°C", 1),
      frequency: fmt(r.frequency, "Hz", 1),
      lastPacket: age(now, u.lastStatusAt),
      comm: u.comm,
      model: r.model || "-",
      serial: r.serial || "-",
    };
    for (const [name, text] of Object.entries(values)) {
      const node = card.querySelector(`[data-field="${name}"]`);
      if (node && node.textContent !== text) node.textContent = text;
    }
    const reg = (status.registration || []).find((r) => r.card === u.card);
    const regNode = card.querySelector('[data-field="registration"]');
    if (reg && regNode && regNode.textContent !== reg.summary) {
      regNode.textContent = reg.summary;
      regNode.dataset.phase = reg.phase;
    }
    const alert = u.comm !== "ok" || u.flags.onBattery || u.shuttingDown;
    card.classList.toggle("alert", alert);
    card.classList.toggle("good", !alert);
  }
  const accepted = document.querySelector('[data-field="accepted"]');
  if (accepted) accepted.textContent = String(status.packets.accepted);
  const rejected = document.querySelector('[data-field="rejected"]');
  if (rejected) {
    rejected.textContent = String(Object.values(status.packets.rejected).reduce((a, b) => a + b, 0));
  }
  const box = document.querySelector("[data-shutdown]");
  if (box) renderShutdown(box, status);
}

function tickCountdowns() {
  const now = Date.now() + clockOffset;
  for (const node of document.querySelectorAll("[data-due]")) {
    node.textContent = `${Math.max(0, Math.ceil((Number(node.dataset.due) - now) / 1000))} s`;
  }
}

async function drawChart(svg) {
  const res = await fetch(`/api/v1/history?card=${encodeURIComponent(svg.dataset.chart)}`);
  if (!res.ok) return;
  const { samples } = await res.json();
  const ns = "http://www.w3.org/2000/svg";
  for (const old of svg.querySelectorAll("polyline, text.empty")) old.remove();
  if (samples.length < 2) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", "10");
    t.setAttribute("y", "80");
    t.setAttribute("class", "empty");
    t.textContent = "Collecting data (one sample per minute)";
    svg.append(t);
    return;
  }
  const t0 = samples[0].time;
  const span = Math.max(1, samples[samples.length - 1].time - t0);
  const series = [["battery", "batteryPercent", 100], ["load", "loadPercent", 100], [
    "line",
    "lineVoltage",
    300,
  ]];
  for (const [cls, key, max] of series) {
    const points = samples
      .filter((s) => s[key] !== undefined && s[key] !== null)
      .map((s) =>
        `${((s.time - t0) / span * 600).toFixed(1)},${(160 - Math.min(1, s[key] / max) * 156 - 2).toFixed(1)}`
      );
    if (!points.length) continue;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", cls);
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }
}

function start() {
  wirePolicies();
  if (document.querySelector("[data-shutdown]")) {
    setInterval(() => refreshStatus().catch(() => {}), 5000);
    setInterval(tickCountdowns, 1000);
    const charts = () =>
      document.querySelectorAll("svg[data-chart]").forEach((svg) => drawChart(svg).catch(() => {}));
    charts();
    setInterval(charts, 60000);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
