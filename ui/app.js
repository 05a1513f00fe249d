// pcns-agent web UI script (served from /assets/app.js; the CSP allows no inline script).
// Pages work without it; it adds: the live dashboard (server-sent events replace the parts that
// changed), the countdowns between updates, the chart readout, and the password policy shown rule by
// rule while typing.
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

let clockOffset = 0; // server time - local time, from the page's data-now

function ageText(seconds) {
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

// Countdowns (data-due) and "N s ago" (data-since) move every second between server updates.
function tick() {
  const now = Date.now() + clockOffset;
  for (const node of document.querySelectorAll("[data-due]")) {
    node.textContent = `${Math.max(0, Math.ceil((Number(node.dataset.due) - now) / 1000))} s`;
  }
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = ageText(Math.max(0, Math.round((now - Number(node.dataset.since)) / 1000)));
  }
}

// Replaces the live parts the server sent; keeps the focus on the same control when it was inside one.
function applyParts(parts) {
  for (const [name, part] of Object.entries(parts)) {
    const box = document.querySelector(`[data-live="${CSS.escape(name)}"]`);
    if (!box || box.dataset.liveHash === part.h) continue; // already shown (the stream's first message)
    const html = part.html;
    box.dataset.liveHash = part.h;
    const active = document.activeElement;
    let focusKey;
    if (active && box.contains(active)) {
      focusKey = active.getAttribute("name") || active.getAttribute("data-chart-focus") ||
        (active.closest("[data-window]") ? `chart:${active.closest("[data-window]").dataset.window}` : "");
    }
    box.innerHTML = html;
    wireCharts(box);
    if (focusKey) {
      const again = focusKey.startsWith("chart:")
        ? box.querySelector(`[data-window="${focusKey.slice(6)}"] svg`)
        : box.querySelector(`[name="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }
  tick();
}

function startLive() {
  if (!("EventSource" in window)) return;
  const source = new EventSource("/dashboard/live");
  source.addEventListener("parts", (e) => {
    try {
      applyParts(JSON.parse(e.data));
    } catch {
      // a broken message: the next one replaces the parts again
    }
  });
  source.addEventListener("end", () => {
    source.close();
    location.reload(); // the session ended: the server sends the login page
  });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself (certificate swap, restart); a refused stream stays closed.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 5000);
  });
}

// The chart readout: hover or touch a bucket, or focus the chart and use the arrow keys.
function wireCharts(root) {
  for (const svg of root.querySelectorAll("figure.chart svg")) {
    const figure = svg.closest("figure");
    const readout = figure.querySelector(".readout");
    const buckets = [...svg.querySelectorAll(".hover rect[data-tip]")];
    const cursor = svg.querySelector("line.cursor");
    if (!buckets.length || !readout) continue;
    let index = buckets.length - 1;
    const show = (i) => {
      index = Math.max(0, Math.min(buckets.length - 1, i));
      const b = buckets[index];
      readout.textContent = b.dataset.tip;
      const x = Number(b.getAttribute("x")) + Number(b.getAttribute("width")) / 2;
      cursor.setAttribute("x1", String(x));
      cursor.setAttribute("x2", String(x));
      cursor.setAttribute("visibility", "visible");
    };
    buckets.forEach((b, i) => {
      b.addEventListener("mouseenter", () => show(i));
      b.addEventListener("touchstart", () => show(i), { passive: true });
    });
    svg.addEventListener("focus", () => show(index));
    svg.addEventListener("keydown", (e) => {
      const step = { ArrowLeft: -1, ArrowRight: 1, Home: -buckets.length, End: buckets.length }[e.key];
      if (step === undefined) return;
      e.preventDefault();
      show(index + step);
    });
  }
}

function start() {
  wirePolicies();
  const now = document.querySelector("meta[name=server-time]");
  // The page's render time arrives late by its load time: only a real clock difference counts.
  if (now) {
    const offset = Number(now.content) - Date.now();
    clockOffset = Math.abs(offset) > 2000 ? offset : 0;
  }
  wireCharts(document);
  if (document.querySelector("[data-live]")) startLive();
  if (document.querySelector("[data-live], [data-due], [data-since]")) setInterval(tick, 1000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
