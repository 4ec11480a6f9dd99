// ingress.js - the table-mapping list of the workflow "Microsoft Dynamics 365 to Campaign": one row per
// mapping (Dynamics 365 table, Campaign table) with Edit, Replay and Delete, and Add New Mapping, whose
// dialog offers the tables both connections see live, hiding those already mapped (a table is mapped
// from once and to once). Replay is staged until the next stop and start, or refused with the reason.

import * as api from "./api.js";
import { h, icon, select, announce } from "./dom.js";
import { saveDefinition } from "./form.js";

function mappingHash(id, rest) {
  return "#/workflows/" + encodeURIComponent(id) + "/edit/mapping/" + rest;
}

// The Add New Mapping dialog: resolves {stream, target} or null.
async function chooseTables(def, status) {
  const source = def.definition.source, sink = def.definition.sink;
  status.textContent = "Reading the tables of both systems…";
  let d365, acs;
  try {
    [d365, acs] = await Promise.all([api.get(api.conn(source) + "/tables"), api.get(api.conn(sink) + "/tables")]);
  } catch (err) {
    status.textContent = err.message;
    return null;
  }
  status.textContent = "";
  const mappings = def.definition.mappings || [];
  const mappedSources = new Set(mappings.map((m) => m.stream));
  const byName = new Map(d365.tables.map((t) => [t.name, t]));
  mappings.forEach((m) => byName.has(m.stream) && mappedSources.add(byName.get(m.stream).table));
  const resources = new Map(acs.tables.map((t) => [t.name, t.resource]));
  const mappedResources = new Set(mappings.map((m) => resources.get(m.target || m.stream) || m.target || m.stream));
  const d365Options = d365.tables.filter((t) => !mappedSources.has(t.name) && !mappedSources.has(t.table))
    .map((t) => ({ value: t.name, label: `${t.label} (${t.name})` + (t.configured ? "" :
      t.change_tracking ? "" : " – change tracking off"), disabled: !t.configured && !t.change_tracking }));
  const acsOptions = acs.tables.filter((t) => !mappedResources.has(t.resource) && !mappedResources.has(t.name))
    .map((t) => ({ value: t.name, label: `${t.label} (${t.name})` }));
  const pick = { value: "", label: "Choose…" };
  const s1 = select([pick, ...d365Options], "", { id: "new-d365-table", required: true });
  const s2 = select([pick, ...acsOptions], "", { id: "new-acs-table", required: true });
  const problem = h("p", { class: "error", role: "alert" });
  const ok = h("button", { type: "submit", class: "primary", value: "ok" }, "OK");
  const cancel = h("button", { type: "button" }, "Cancel");
  const dialog = h("dialog", { class: "modal", "aria-labelledby": "choose-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "choose-title" }, "Select Resources/Entities"),
      h("div", { class: "field" }, h("label", { for: s1.id }, "Microsoft Dynamics 365 table"), s1),
      h("div", { class: "field" }, h("label", { for: s2.id }, "Campaign table"), s2),
      h("p", { class: "hint" }, "The tables cannot be changed once the mapping is saved."),
      problem, h("div", { class: "buttons" }, ok, cancel)));
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    cancel.addEventListener("click", () => dialog.close(""));
    dialog.querySelector("form").addEventListener("submit", (ev) => {
      if (!s1.value || !s2.value) {
        ev.preventDefault();
        problem.textContent = "Choose a table on each side.";
      }
    });
    dialog.addEventListener("close", () => {
      const chosen = dialog.returnValue === "ok" && s1.value && s2.value ? { stream: s1.value, target: s2.value } : null;
      dialog.remove();
      resolve(chosen);
    });
    dialog.showModal();
    s1.focus();
  });
}

// Confirm with a small modal; resolves true or false.
export function confirmDialog(title, text, action) {
  const yes = h("button", { type: "submit", class: "danger", value: "yes" }, action);
  const no = h("button", { type: "button" }, "Cancel");
  const dialog = h("dialog", { class: "modal", "aria-labelledby": "confirm-title" },
    h("form", { method: "dialog" }, h("h2", { id: "confirm-title" }, title), h("p", {}, text),
      h("div", { class: "buttons" }, yes, no)));
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    no.addEventListener("click", () => dialog.close(""));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    dialog.showModal();
    no.focus();
  });
}

export async function render(main, def, ctx) {
  const { id, title, workflow } = def;
  ctx.crumbs([["Workflows", "#/workflows"], [title]]);
  const mappings = def.definition.mappings || [];
  const status = h("p", { class: "status-text", role: "status" });
  const summary = h("div", { class: "error-summary", role: "alert" });
  const pendingReplays = new Set(workflow.replay_pending || []);
  const tbody = h("tbody");

  mappings.forEach((m, i) => {
    const rowMessage = h("div", { class: "row-message", role: "alert" });
    const replay = h("button", { type: "button", class: "icon-button replay", "aria-label": "Replay " + m.stream,
      title: "Replay Data" }, icon("replay"));
    const markPending = () => {
      replay.disabled = true;
      replay.setAttribute("title", "Replay pending: it begins at the next stop and start of the workflow");
      replay.setAttribute("aria-label", "Replay of " + m.stream + " pending until the next stop and start");
    };
    if (pendingReplays.has(m.stream)) markPending();
    replay.addEventListener("click", async () => {
      rowMessage.textContent = "";
      try {
        const doc = await api.post(api.wf(id) + "/replay", { mapping: m.stream });
        markPending();
        rowMessage.textContent = doc.message;
        announce(doc.message);
      } catch (err) {
        rowMessage.textContent = err.message;
      }
    });
    const del = h("button", { type: "button", class: "icon-button delete", "aria-label": "Delete the mapping of " + m.stream,
      title: "Delete" }, icon("trash"));
    del.addEventListener("click", async () => {
      if (!(await confirmDialog("Delete this mapping?", `${m.stream} → ${m.target || m.stream}: nothing more of this ` +
        "table is synced once the workflow is stopped and started. Records already in Campaign stay.", "Delete"))) return;
      const edited = JSON.parse(JSON.stringify(def.definition));
      edited.mappings.splice(i, 1);
      if (await saveDefinition(id, edited, main, summary, status)) {
        def.definition = edited;
        ctx.go("#/workflows/" + encodeURIComponent(id) + "/edit");
      }
    });
    tbody.appendChild(h("tr", { "data-stream": m.stream },
      h("td", { "data-label": "Microsoft Dynamics 365 table" }, m.stream),
      h("td", { "data-label": "Campaign table" }, m.target || m.stream),
      h("td", { class: "actions", "data-label": "Actions" },
        h("span", { class: "action-buttons" },
          h("a", { href: mappingHash(id, String(i)), class: "icon-button edit", "aria-label": "Edit the mapping of " +
            m.stream, title: "Edit" }, icon("edit")), replay, del),
        rowMessage)));
  });

  const add = h("button", { type: "button", class: "primary" }, icon("plus"), "Add New Mapping");
  add.addEventListener("click", async () => {
    const chosen = await chooseTables(def, status);
    if (chosen)
      ctx.go(mappingHash(id, "new/" + encodeURIComponent(chosen.stream) + "/" + encodeURIComponent(chosen.target)));
  });
  main.append(
    h("h1", {}, title),
    h("p", { class: "lead" }, "Each Dynamics 365 table is mapped to one Campaign table. Edits apply at the next " +
      "stop and start of the workflow."),
    summary, status,
    h("table", { class: "mappings" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Microsoft Dynamics 365 table"),
        h("th", { scope: "col" }, "Campaign table"), h("th", { scope: "col" }, "Actions"))),
      tbody),
    h("div", { class: "buttons" }, add, h("a", { href: "#/workflows", class: "button" }, "Return")));
}
