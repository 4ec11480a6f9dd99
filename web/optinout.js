// optinout.js - "Opt In/Out": one workflow with a direction (Adobe's Disabled, Campaign → Microsoft
// Dynamics 365, Microsoft Dynamics 365 → Campaign, Bidirectional: which of its legs run) and the field
// pairs Dynamics 365 boolean column -> Campaign deny-list attribute, the same in every mapping of every
// leg (the opt-in-out entity handler's fields; its mode is the direction). The Dynamics 365 columns
// offered are the boolean columns the contact table has live; the Campaign side is Adobe's fixed list.

import * as api from "./api.js";
import { h, icon, select, field } from "./dom.js";
import { saveDefinition, showErrors, clearErrors } from "./form.js";

const DIRECTIONS = [
  { value: "disabled", label: "Disabled" },
  { value: "campaign-to-d365", label: "Campaign → Microsoft Dynamics 365" },
  { value: "d365-to-campaign", label: "Microsoft Dynamics 365 → Campaign" },
  { value: "bidirectional", label: "Bidirectional" },
];
const CAMPAIGN_FIELDS = [
  ["blackList", "denyList"], ["blackListEmail", "denyListEmail"], ["blackListFax", "denyListFax"],
  ["blackListMobile", "denyListMobile (SMS)"], ["blackListPhone", "denyListPhone"],
  ["blackListPostalMail", "denyListPostalMail"], ["blackListPushnotification", "denyListPushnotification"],
  ["ccpaOptOut", "ccpaOptOut"],
];

const isOptInOut = (m) => m.entity && m.entity.name === "opt-in-out";

export async function render(main, def, ctx) {
  const { id, title } = def;
  const d = def.definition;
  ctx.crumbs([["Workflows", "#/workflows"], [title]]);
  // a one-way workflow that writes the handler's mode itself is edited as its only leg
  const oneWay = !d.legs;
  const legs = oneWay ? [["", d]] : Object.entries(d.legs);
  const first = legs.flatMap(([, l]) => l.mappings || []).find(isOptInOut) || {};
  let direction = (oneWay ? (first.entity || {}).mode : d.direction) || "disabled";
  const pairs = Object.entries((first.entity || {}).fields || {}).map(([d365, acs]) => ({ d365, acs }));
  const conns = new Map((await api.get("/connections")).connections.map((c) => [c.name, c.connector]));
  // the contact table: the target of the leg Dynamics 365 is the sink of, else the stream of the other
  const intoD365 = legs.find(([, l]) => conns.get(l.sink) === "dynamics365");
  const [d365Conn, d365Stream] = intoD365
    ? [intoD365[1].sink, intoD365[1].mappings[0].target || intoD365[1].mappings[0].stream]
    : [legs[0][1].source, legs[0][1].mappings[0].stream];
  const described = await api.get(api.conn(d365Conn) + "/tables/" + encodeURIComponent(d365Stream));
  const booleans = Object.keys(described.fields).filter((n) => described.fields[n].type === "boolean").sort();

  const summary = h("div", { class: "error-summary", role: "alert" });
  const status = h("p", { class: "status-text", role: "status" });
  const known = new Set(["disabled", "bidirectional", ...legs.map(([name]) => name)]);
  const directionSel = select(DIRECTIONS.filter((o) => oneWay || known.has(o.value)), direction,
    { "data-path": oneWay ? "mappings[0].entity.mode" : "direction" });
  directionSel.addEventListener("change", () => { direction = directionSel.value; });
  const rows = h("tbody");
  const table = h("table", { class: "pairs-table", "data-path": "fields" },
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
      field("Opt in/out synchronization direction", directionSel,
        "Which way opt-outs move: Campaign's daily opt-out export into the contacts, the contacts' columns into " +
        "the profiles, both (the newer change wins, else TRUE wins), or neither."),
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
    if (!oneWay) edited.direction = direction;
    (oneWay ? [edited] : Object.values(edited.legs)).forEach((l) => l.mappings.forEach((m) => {
      if (isOptInOut(m)) Object.assign(m.entity, oneWay ? { mode: direction, fields } : { fields });
    }));
    save.disabled = true;
    if (await saveDefinition(id, edited, form, summary, status)) Object.assign(d, edited);
    save.disabled = false;
  });
  main.append(h("h1", {}, title),
    h("p", { class: "lead" }, "Deny-list flags between the Dynamics 365 contact and the Campaign profile. Changes " +
      "apply at the next stop and start of the workflow."), form);
}
