// workflows.js - the Workflows page: NAME · BACKLOG · STATUS · ACTIONS for every workflow, polled every
// second. Status is a coloured dot and its word with the sub-state or failure reason in words; backlog
// a live number with its trend (drain rate, time to empty); actions are Edit and one Start/Stop toggle
// (Start when STOPPED or FAILED, Stop when STARTING or RUNNING), Stop carrying a warning mark while an
// edit waits for a stop and start. With several daemons on one database (the fleet) the status says which
// node reads and how many writers each runs. Rows are updated in place so that keyboard focus stays where it is.

import * as api from "./api.js";
import { h, icon, announce, formatNumber, formatDuration } from "./dom.js";
import { Trend } from "./trend.js";

const POLL_MS = 1000;
const PENDING_TIP = "This workflow was edited: the change applies once you stop and start it.";

function statusWords(w) {
  switch (w.status) {
    case "RUNNING":
      return w.substate || "syncing";
    case "STARTING":
      return w.substate || w.reason || "connecting and checking both systems' metadata";
    case "FAILED":
      return w.reason || "stopped by an error it could not recover from";
    default:
      return w.reason ? "not syncing (last problem: " + w.reason + ")" : "not syncing";
  }
}

// "reader on node a · writers a 4, b 4": where a running workflow runs in the fleet, or "".
function placement(w) {
  const writers = Object.entries(w.writers || {}).map(([node, n]) => node + " " + n).join(", ");
  if (w.status !== "RUNNING" || (!w.reader && !writers)) return "";
  return " · reader on node " + (w.reader || "none") + (writers ? " · writers " + writers : "");
}

function buildRow(w, onToggle) {
  const r = {};
  r.title = h("a", { href: "#/workflows/" + encodeURIComponent(w.id) + "/edit", class: "wf-title" });
  r.dead = h("a", { href: "#/workflows/" + encodeURIComponent(w.id) + "/dead-letters", class: "dead-link" });
  r.history = h("a", { href: "#/workflows/" + encodeURIComponent(w.id) + "/history", class: "history-link" }, "History");
  r.backlog = h("span", { class: "backlog-count" });
  r.trend = h("span", { class: "trend" });
  r.dot = h("span", { class: "dot", "aria-hidden": "true" });
  r.word = h("span", { class: "status-word" });
  r.detail = h("span", { class: "status-detail" });
  r.edit = h("a", { href: "#/workflows/" + encodeURIComponent(w.id) + "/edit", class: "icon-button edit" }, icon("edit"));
  r.toggleLabel = h("span", { class: "toggle-label" });
  r.toggleIcon = h("span", { class: "toggle-icon" });
  r.warning = h("span", { class: "pending-mark" }, icon("warning", "warn"));
  r.tipId = "tip-" + w.id;
  r.tip = h("span", { class: "tip", role: "tooltip", id: r.tipId }, PENDING_TIP);
  r.toggle = h("button", { type: "button", class: "toggle" }, r.toggleIcon, r.toggleLabel, r.warning, r.tip);
  r.toggle.addEventListener("click", () => onToggle(w.id, r));
  r.message = h("div", { class: "row-message", role: "alert" });
  r.trendState = new Trend(5000);
  r.tr = h("tr", { "data-workflow": w.id },
    h("td", { class: "name", "data-label": "Name" }, r.title, h("div", { class: "sub" }, r.dead, " · ", r.history)),
    h("td", { class: "backlog", "data-label": "Backlog" }, r.backlog, h("div", { class: "sub" }, r.trend)),
    h("td", { class: "status", "data-label": "Status" }, h("span", { class: "status-line" }, r.dot, r.word),
      h("div", { class: "sub" }, r.detail)),
    h("td", { class: "actions", "data-label": "Actions" }, h("span", { class: "action-buttons" }, r.edit, r.toggle),
      r.message));
  return r;
}

function updateRow(r, w, now) {
  r.w = w;
  r.title.textContent = w.title || w.id;
  r.edit.setAttribute("aria-label", "Edit " + (w.title || w.id));
  r.edit.setAttribute("title", "Edit");
  r.dead.textContent = w.dead_letters === 1 ? "1 dead letter" : formatNumber(w.dead_letters) + " dead letters";
  r.trendState.add(now, w.backlog);
  r.backlog.textContent = formatNumber(w.backlog);
  const t = r.trendState.describe(w.backlog, (w.rates && w.rates.written_per_s) || 0);
  r.trend.textContent = t.text + (t.etaSeconds ? " · empty in about " + formatDuration(t.etaSeconds) : "");
  r.dot.className = "dot " + String(w.status).toLowerCase();
  r.word.textContent = w.status;
  const replay = w.replay_pending && w.replay_pending.length
    ? " · replay of " + w.replay_pending.join(", ") + " pending until the next stop and start" : "";
  r.detail.textContent = statusWords(w) + placement(w) + replay;
  const active = w.status === "RUNNING" || w.status === "STARTING";
  r.toggle.dataset.action = active ? "stop" : "start";
  r.toggleLabel.textContent = active ? "Stop" : "Start";
  r.toggleIcon.replaceChildren(icon(active ? "stop" : "play"));
  const pending = active && w.pending;
  r.warning.hidden = !pending;
  r.tip.hidden = !pending;
  r.toggle.classList.toggle("pending", pending);
  if (pending) {
    r.toggle.setAttribute("aria-describedby", r.tipId);
    r.toggle.setAttribute("title", PENDING_TIP);
    r.toggle.setAttribute("aria-label", "Stop " + (w.title || w.id) + " (edited: stop and start to apply)");
  } else {
    r.toggle.removeAttribute("aria-describedby");
    r.toggle.removeAttribute("title");
    r.toggle.setAttribute("aria-label", (active ? "Stop " : "Start ") + (w.title || w.id));
  }
}

export async function render(main, params, ctx) {
  ctx.crumbs([["Workflows"]]);
  const tbody = h("tbody");
  const error = h("p", { class: "error", role: "alert", hidden: true });
  main.append(
    h("h1", {}, "Workflows"),
    h("p", { class: "lead" }, "Each workflow reads changes from its source into a backlog and writes them to " +
      "its destination. An edit applies once the workflow is stopped and started."),
    error,
    h("table", { class: "workflows" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Backlog"),
        h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Actions"))),
      tbody));
  const rows = new Map();
  let timer = null, stopped = false;

  async function toggle(id, r) {
    const action = r.toggle.dataset.action;
    r.toggle.disabled = true;
    r.message.textContent = "";
    try {
      const w = await api.post(api.wf(id) + "/" + action);
      updateRow(r, Object.assign({}, r.w, w), Date.now());
      announce((w.title || id) + ": " + w.status);
    } catch (err) {
      r.message.textContent = err.message;
    } finally {
      r.toggle.disabled = false;
    }
  }

  async function poll() {
    try {
      const doc = await api.get("/workflows");
      if (stopped) return;
      error.hidden = true;
      const now = Date.now();
      for (const w of doc.workflows) {
        let r = rows.get(w.id);
        if (!r) {
          r = buildRow(w, toggle);
          rows.set(w.id, r);
          tbody.appendChild(r.tr);
        }
        updateRow(r, w, now);
      }
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
