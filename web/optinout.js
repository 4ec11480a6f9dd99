// optinout.js - "Opt In/Out": the synchronization direction (Adobe's four modes) and the field pairs
// Dynamics 365 boolean column -> Campaign deny-list attribute, the same in every mapping of the
// workflow (the opt-in-out entity handler's options mode and fields). The Dynamics 365 columns offered
// are the boolean columns the contact table has live; the Campaign side is Adobe's fixed list.

import * as api from "./api.js";
import { h, icon, select, field } from "./dom.js";
import { saveDefinition, showErrors, clearErrors } from "./form.js";

const MODES = [
  { value: "disabled", label: "Disabled" },
  { value: "d365-to-campaign", label: "Unidirectional (Microsoft Dynamics 365 to Campaign)" },
  { value: "campaign-to-d365", label: "Unidirectional (Campaign to Microsoft Dynamics 365)" },
  { value: "bidirectional", label: "Bidirectional" },
];
const CAMPAIGN_FIELDS = [
  ["blackList", "denyList"], ["blackListEmail", "denyListEmail"], ["blackListFax", "denyListFax"],
  ["blackListMobile", "denyListMobile (SMS)"], ["blackListPhone", "denyListPhone"],
  ["blackListPostalMail", "denyListPostalMail"], ["blackListPushnotification", "denyListPushnotification"],
  ["ccpaOptOut", "ccpaOptOut"],
];

export async function render(main, def, ctx) {
  const { id, title } = def;
  const d = def.definition;
  ctx.crumbs([["Workflows", "#/workflows"], [title]]);
  const first = (d.mappings || [])[0] || {};
  const entity = first.entity || {};
  let mode = entity.mode || "disabled";
  const pairs = Object.entries(entity.fields || {}).map(([d365, acs]) => ({ d365, acs }));
  const conns = new Map((await api.get("/connections")).connections.map((c) => [c.name, c.connector]));
  const d365Side = conns.get(d.sink) === "dynamics365" ? "sink" : "source";
  const d365Stream = d365Side === "sink" ? first.target || first.stream : first.stream;
  const direction = d365Side === "sink" ? "campaign-to-d365" : "d365-to-campaign";
  const described = await api.get(api.conn(d[d365Side]) + "/tables/" + encodeURIComponent(d365Stream));
  const booleans = Object.keys(described.fields).filter((n) => described.fields[n].type === "boolean").sort();

  const summary = h("div", { class: "error-summary", role: "alert" });
  const status = h("p", { class: "status-text", role: "status" });
  const modeSel = select(MODES, mode, { "data-path": "mappings[0].entity.mode" });
  modeSel.addEventListener("change", () => { mode = modeSel.value; });
  const rows = h("tbody");
  const table = h("table", { class: "pairs-table", "data-path": "mappings[0].entity.fields" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Microsoft Dynamics 365 field (boolean)"),
      h("th", { scope: "col" }, "Campaign field"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Delete")))),
    rows);
  function drawPairs() {
    rows.replaceChildren(...pairs.map((p, i) => {
      const left = select([{ value: "", label: "Choose a field…" }, ...booleans.map((b) => ({ value: b, label: b }))],
        p.d365, { "aria-label": `Pair ${i + 1}: Dynamics 365 field`, "data-path": `pairs[${i}].d365` });
      left.addEventListener("change", () => { p.d365 = left.value; });
      const right = select([{ value: "", label: "Choose a field…" },
        ...CAMPAIGN_FIELDS.map(([v, l]) => ({ value: v, label: v === l ? v : `${l} (${v})` }))],
      p.acs, { "aria-label": `Pair ${i + 1}: Campaign field`, "data-path": `pairs[${i}].acs` });
      right.addEventListener("change", () => { p.acs = right.value; });
      const del = h("button", { type: "button", class: "icon-button delete", "aria-label": `Delete pair ${i + 1}` }, icon("trash"));
      del.addEventListener("click", () => { pairs.splice(i, 1); drawPairs(); });
      return h("tr", {}, h("td", { "data-label": "Dynamics 365 field" }, left),
        h("td", { "data-label": "Campaign field" }, right), h("td", {}, del));
    }));
  }
  drawPairs();
  const add = h("button", { type: "button" }, icon("plus"), "Add New Mapping");
  add.addEventListener("click", () => { pairs.push({ d365: "", acs: "" }); drawPairs(); });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h("form", { class: "editor", novalidate: true },
    h("section", { class: "card" }, h("h2", {}, "Direction"),
      field("Opt in/out synchronization direction", modeSel,
        `This workflow carries ${direction === "campaign-to-d365" ? "Campaign → Microsoft Dynamics 365" :
          "Microsoft Dynamics 365 → Campaign"}: it moves opt-outs in the modes ${direction} and bidirectional.`),
      h("dl", { class: "pairs" }, h("dt", {}, "Microsoft Dynamics 365 table"), h("dd", {}, `${d365Stream} (${described.name})`),
        h("dt", {}, "Campaign table"), h("dd", {}, "profile"))),
    h("section", { class: "card" }, h("h2", {}, "Mappings"),
      h("p", { class: "hint" }, "Each Campaign field at most once; only the deny-list attributes and ccpaOptOut can be " +
        "mapped."), table, add),
    summary, status, h("div", { class: "buttons" }, save, h("a", { href: "#/workflows", class: "button" }, "Cancel")));
  // What the entity handler would refuse at start, said here beside the field: an empty side, a
  // column or an attribute used twice.
  function pairProblems() {
    const out = [];
    pairs.forEach((p, i) => {
      if (!p.d365) out.push({ path: `pairs[${i}].d365`, message: "choose a Dynamics 365 boolean field" });
      else if (pairs.findIndex((q) => q.d365 === p.d365) < i)
        out.push({ path: `pairs[${i}].d365`, message: `${p.d365} is already paired` });
      if (!p.acs) out.push({ path: `pairs[${i}].acs`, message: "choose a Campaign field" });
      else if (pairs.findIndex((q) => q.acs === p.acs) < i)
        out.push({ path: `pairs[${i}].acs`, message: `${p.acs} is already mapped: each Campaign field at most once` });
    });
    return out;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const problems = pairProblems();
    if (problems.length) {
      showErrors(form, summary, problems);
      return;
    }
    const fields = {};
    pairs.forEach((p) => { fields[p.d365] = p.acs; });
    const edited = JSON.parse(JSON.stringify(d));
    edited.mappings.forEach((m) => {
      if (m.entity && m.entity.name === "opt-in-out") Object.assign(m.entity, { mode, fields });
    });
    save.disabled = true;
    if (await saveDefinition(id, edited, form, summary, status)) d.mappings = edited.mappings;
    save.disabled = false;
  });
  main.append(h("h1", {}, title),
    h("p", { class: "lead" }, "Deny-list flags between the Dynamics 365 contact and the Campaign profile. Changes " +
      "apply at the next stop and start of the workflow."), form);
}
