// mapping_rules.js - the Field Replacements and Filters sections of the table-mapping editor. A value
// of a picklist or boolean column is chosen from a dropdown of its values (technical values or labels,
// as the mapping's picklists setting sends them); any other value is typed, and read as a number for a
// numeric column. Every control carries the data-path of the definition member it edits, so the
// daemon's validation errors land beside it.

import { h, icon, select, radios, uid } from "./dom.js";

const NUMERIC = new Set(["integer", "decimal", "double"]);

function fieldOptions(fields, names) {
  return names.map((n) => ({ value: n, label: `${n} (${(fields[n] && (fields[n].native || fields[n].type)) || "?"})` }));
}

// The choices of a column as [{value, label}] (JSON values), or null when it is typed in.
function choicesOf(spec, picklists) {
  if (!spec) return null;
  if (spec.type === "boolean") return [{ value: true, label: "true" }, { value: false, label: "false" }];
  if (spec.choice && spec.labels) {
    return Object.entries(spec.labels).map(([v, label]) => picklists === "label"
      ? { value: label, label } : { value: Number(v), label: `${v} – ${label}` });
  }
  return null;
}

function parseTyped(text, spec) {
  const t = text.trim();
  if (spec && NUMERIC.has(spec.type) && t !== "" && !isNaN(Number(t))) return Number(t);
  return text;
}

// A control for one value of column `spec`: onchange(jsonValue).
export function valueControl(spec, value, picklists, attrs, onchange) {
  const choices = choicesOf(spec, picklists);
  if (choices) {
    const opts = [{ value: "", label: "Choose a value…" }, ...choices.map((c) => ({ value: JSON.stringify(c.value), label: c.label }))];
    const el = select(opts, value === undefined ? "" : JSON.stringify(value), attrs);
    el.addEventListener("change", () => onchange(el.value === "" ? null : JSON.parse(el.value)));
    return el;
  }
  const el = h("input", Object.assign({ type: "text", value: value === undefined || value === null ? "" : String(value) }, attrs));
  el.addEventListener("input", () => onchange(parseTyped(el.value, spec)));
  return el;
}

// Field Replacements: {field (a mapped column), from, to}.
export function replacementsSection(m, src, base, rerender) {
  const mapped = [...new Set((m.fields || []).map((f) => f.source).filter(Boolean))];
  const rows = h("tbody");
  (m.replacements || []).forEach((r, i) => {
    const path = `${base}.replacements[${i}]`;
    const fieldSel = select([{ value: "", label: "Choose a mapped field…" }, ...fieldOptions(src.fields, mapped)], r.field,
      { "data-path": path + ".field", "aria-label": `Replacement ${i + 1}: Dynamics 365 field` });
    fieldSel.addEventListener("change", () => { r.field = fieldSel.value; delete r.from; rerender(); });
    const from = valueControl(src.fields[r.field], r.from, m.picklists, { "data-path": path + ".from",
      "aria-label": `Replacement ${i + 1}: Dynamics 365 value` }, (v) => { r.from = v; });
    const to = h("input", { type: "text", value: r.to === undefined || r.to === null ? "" : String(r.to),
      "data-path": path + ".to", "aria-label": `Replacement ${i + 1}: value written to Campaign` });
    to.addEventListener("input", () => { r.to = to.value; });
    const del = h("button", { type: "button", class: "icon-button delete", "aria-label": `Delete replacement ${i + 1}` }, icon("trash"));
    del.addEventListener("click", () => { m.replacements.splice(i, 1); rerender(); });
    rows.appendChild(h("tr", {}, h("td", { "data-label": "Dynamics 365 field" }, fieldSel),
      h("td", { "data-label": "Dynamics 365 value" }, from), h("td", { "data-label": "New value" }, to), h("td", {}, del)));
  });
  const add = h("button", { type: "button" }, icon("plus"), "Add New Field Replacement");
  add.addEventListener("click", () => { (m.replacements = m.replacements || []).push({ field: mapped[0] || "", to: "" }); rerender(); });
  return h("section", { class: "card", "aria-labelledby": "h-replacements", "data-path": base + ".replacements" },
    h("h2", { id: "h-replacements" }, "Field Replacements"),
    h("p", { class: "hint" }, "Write another value to Campaign where a mapped Dynamics 365 field holds a given one."),
    (m.replacements || []).length ? h("table", { class: "rules" }, h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Dynamics 365 field"), h("th", { scope: "col" }, "Dynamics 365 value"),
      h("th", { scope: "col" }, "New value"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Delete")))), rows) : null,
    add);
}

// Filters: match all (And) / any (Or), delete_filtered, rules [{field, op, value}]; `vocabulary` is the
// daemon's (GET /api/v1/vocabulary): the operators and the matches, each [{name, label}].
export function filtersSection(m, src, base, vocabulary, rerender) {
  const f = m.filters || (m.filters = { match: "all", delete_filtered: false, rules: [] });
  f.rules = f.rules || [];
  const names = Object.keys(src.fields).sort();
  const rows = h("tbody");
  f.rules.forEach((r, i) => {
    const path = `${base}.filters.rules[${i}]`;
    const fieldSel = select([{ value: "", label: "Choose a field…" }, ...fieldOptions(src.fields, names)], r.field,
      { "data-path": path + ".field", "aria-label": `Filter ${i + 1}: field` });
    fieldSel.addEventListener("change", () => { r.field = fieldSel.value; delete r.value; rerender(); });
    const opSel = select(vocabulary.filter_operators.map((o) => ({ value: o.name, label: o.label })), r.op || "eq",
      { "data-path": path + ".op", "aria-label": `Filter ${i + 1}: comparison` });
    opSel.addEventListener("change", () => { r.op = opSel.value; rerender(); });
    let value = null;
    if (r.op === "in") {
      value = h("input", { type: "text", value: Array.isArray(r.value) ? r.value.join(", ") : "",
        "data-path": path + ".value", "aria-label": `Filter ${i + 1}: values, comma-separated` });
      value.addEventListener("input", () => {
        r.value = value.value.split(",").map((x) => x.trim()).filter((x) => x !== "")
          .map((x) => (NUMERIC.has((src.fields[r.field] || {}).type) && !isNaN(Number(x)) ? Number(x) : x));
      });
    } else if (r.op !== "null" && r.op !== "notnull") {
      value = valueControl(src.fields[r.field], r.value, "technical", { "data-path": path + ".value",
        "aria-label": `Filter ${i + 1}: value` }, (v) => { r.value = v; });
    }
    const del = h("button", { type: "button", class: "icon-button delete", "aria-label": `Delete filter ${i + 1}` }, icon("trash"));
    del.addEventListener("click", () => { f.rules.splice(i, 1); rerender(); });
    rows.appendChild(h("tr", {}, h("td", { "data-label": "Field" }, fieldSel), h("td", { "data-label": "Comparison" }, opSel),
      h("td", { "data-label": "Value" }, value || h("span", { class: "hint" }, "no value")), h("td", {}, del)));
  });
  const add = h("button", { type: "button" }, icon("plus"), "Add New Filter");
  add.addEventListener("click", () => { f.rules.push({ field: "", op: "eq" }); rerender(); });
  const matchId = uid("match");
  return h("section", { class: "card", "aria-labelledby": "h-filters", "data-path": base + ".filters" },
    h("h2", { id: "h-filters" }, "Filters"),
    h("p", { class: "hint" }, "Filters are checked on the Dynamics 365 values, before any replacement. Without " +
      "filters every changed record is synced."),
    radios("Choose the filter comparison operator", matchId,
      vocabulary.filter_matches.map((w) => ({ value: w.name, label: w.label })), f.match || "all", (v) => { f.match = v; }),
    radios("Do you want to delete records in Adobe Campaign Standard that will be filtered out from Microsoft " +
      "Dynamics 365?", uid("delfiltered"), [{ value: true, label: "Yes" }, { value: false, label: "No" }],
    !!f.delete_filtered, (v) => { f.delete_filtered = v; }),
    f.rules.length ? h("table", { class: "rules" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"),
      h("th", { scope: "col" }, "Comparison"), h("th", { scope: "col" }, "Value"),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Delete")))), rows) : null,
    add);
}
