// mapping.js - "Edit Table Mapping": one mapping of the ingress workflow in the table-mapping form
// (doc/workflows.md). Tables (read-only), Field Mappings (the key row: the Dynamics 365 primary key,
// read-only, and the Campaign key, chosen once; then field rows with each side's type and the Apply
// Updates toggle, the column header setting them all), Field Replacements, Filters (mapping_rules.js)
// and Advanced Settings. Field choices come from both connections' live metadata. Save stores a new
// revision (pending until the next stop and start) or shows each error beside its field.

import * as api from "./api.js";
import { h, icon, select, radios, uid, announce } from "./dom.js";
import { loadDefinition, saveDefinition } from "./form.js";
import { replacementsSection, filtersSection } from "./mapping_rules.js";

function typeOf(spec) {
  return spec ? "type: " + (spec.native || spec.type).toLowerCase() : "type: –";
}

function fieldSelect(fields, names, value, attrs) {
  const opts = [{ value: "", label: "Choose a field…" }, ...names.map((n) => ({ value: n, label: n }))];
  if (value && !names.includes(value)) opts.push({ value, label: value + " (not in the table any more)" });
  return select(opts, value || "", attrs);
}

// The dialog of the Apply Updates column header: resolves true (all on), false (all off) or null.
function applyAllDialog() {
  const on = h("button", { type: "submit", value: "on", class: "primary" }, "All on");
  const off = h("button", { type: "submit", value: "off" }, "All off");
  const cancel = h("button", { type: "button" }, "Cancel");
  const dialog = h("dialog", { class: "modal", "aria-labelledby": "apply-all-title" },
    h("form", { method: "dialog" }, h("h2", { id: "apply-all-title" }, "Apply Updates for every field"),
      h("p", {}, "On: incremental Dynamics 365 updates of a field are sent to Campaign. Off: the field is written " +
        "only by the initial load or a replay."),
      h("div", { class: "buttons" }, on, off, cancel)));
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    cancel.addEventListener("click", () => dialog.close(""));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "on" ? true : dialog.returnValue === "off" ? false : null);
      dialog.remove();
    });
    dialog.showModal();
    on.focus();
  });
}

function applySwitch(f, label, path) {
  const input = h("input", { type: "checkbox", role: "switch", class: "switch", "aria-label": label, "data-path": path });
  input.checked = f.apply_updates !== false;
  input.addEventListener("change", () => {
    if (input.checked) delete f.apply_updates;
    else f.apply_updates = false;
  });
  return input;
}

function fieldsSection(m, src, dst, base, saved, rerender) {
  const srcNames = Object.keys(src.fields).sort();
  const dstNames = Object.keys(dst.fields).filter((n) => !dst.fields[n].readonly).sort();
  const keyChoices = Object.keys(dst.fields).filter((n) => dst.fields[n].unique).sort();
  const keyFixed = saved || !!dst.key;
  const keySel = fieldSelect(dst.fields, keyChoices.length ? keyChoices : dstNames, m.key.target,
    { "data-path": base + ".key.target", "aria-label": "Campaign key field", disabled: keyFixed });
  keySel.addEventListener("change", () => { m.key.target = keySel.value; rerender(); });
  const keySpec = src.fields[m.key.source];
  const rows = h("tbody", {},
    h("tr", { class: "key-row" },
      h("td", { "data-label": "Microsoft Dynamics 365 field" }, h("span", { class: "key" }, icon("key"),
        h("span", { "data-path": base + ".key.source" }, m.key.source)), h("div", { class: "type" }, typeOf(keySpec))),
      h("td", { "data-label": "Campaign field" }, keySel, h("div", { class: "type" }, typeOf(dst.fields[m.key.target]),
        keyFixed ? "" : " · chosen once: an identification key of the resource")),
      h("td", {}, h("span", { class: "hint" }, "key")), h("td", {})));
  (m.fields || []).forEach((f, i) => {
    const path = `${base}.fields[${i}]`;
    const s = fieldSelect(src.fields, srcNames, f.source, { "data-path": path + ".source",
      "aria-label": `Field ${i + 1}: Dynamics 365 field` });
    const t = fieldSelect(dst.fields, dstNames, f.target, { "data-path": path + ".target",
      "aria-label": `Field ${i + 1}: Campaign field` });
    const sType = h("div", { class: "type" }, typeOf(src.fields[f.source]));
    const tType = h("div", { class: "type" }, typeOf(dst.fields[f.target]));
    s.addEventListener("change", () => { f.source = s.value; sType.textContent = typeOf(src.fields[f.source]); });
    t.addEventListener("change", () => { f.target = t.value; tType.textContent = typeOf(dst.fields[f.target]); });
    const del = h("button", { type: "button", class: "icon-button delete", "aria-label": `Delete field mapping ${i + 1}` }, icon("trash"));
    del.addEventListener("click", () => { m.fields.splice(i, 1); rerender(); });
    rows.appendChild(h("tr", { "data-index": i },
      h("td", { "data-label": "Microsoft Dynamics 365 field" }, s, sType),
      h("td", { "data-label": "Campaign field" }, t, tType),
      h("td", { "data-label": "Apply Updates" }, applySwitch(f, `Apply updates to field ${i + 1}`, path + ".apply_updates")),
      h("td", {}, del)));
  });
  const applyAll = h("button", { type: "button", class: "link header-button" }, "Apply Updates");
  applyAll.addEventListener("click", async () => {
    const all = await applyAllDialog();
    if (all === null) return;
    (m.fields || []).forEach((f) => { if (all) delete f.apply_updates; else f.apply_updates = false; });
    rerender();
    announce("Apply Updates " + (all ? "on" : "off") + " for every field");
  });
  const add = h("button", { type: "button" }, icon("plus"), "Add New Field Mapping");
  add.addEventListener("click", () => { (m.fields = m.fields || []).push({ source: "", target: "" }); rerender(); });
  return h("section", { class: "card", "aria-labelledby": "h-fields", "data-path": base + ".fields" },
    h("h2", { id: "h-fields" }, "Field Mappings"),
    h("table", { class: "fields" }, h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Microsoft Dynamics 365 field"), h("th", { scope: "col" }, "Campaign field"),
      h("th", { scope: "col" }, applyAll), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Delete")))), rows),
    add);
}

function advancedSection(m, base, rerender) {
  return h("section", { class: "card", "aria-labelledby": "h-advanced", "data-path": base + ".apply_deletes" },
    h("h2", { id: "h-advanced" }, "Advanced Settings"),
    radios("Apply deletes in Microsoft Dynamics 365 to Campaign?", uid("deletes"),
      [{ value: true, label: "Yes" }, { value: false, label: "No" }], m.apply_deletes !== false,
      (v) => { m.apply_deletes = v; }),
    radios("Use technical values in Microsoft Dynamics 365 picklists?", uid("picklists"),
      [{ value: "technical", label: "Yes" }, { value: "label", label: "No (send the display labels)" }],
      m.picklists || "technical", (v) => { m.picklists = v; rerender(); }));
}

export async function render(main, [id, index, newStream, newTarget], ctx) {
  const def = await loadDefinition(id);
  const d = def.definition;
  d.mappings = d.mappings || [];
  const isNew = index === undefined;
  const idx = isNew ? d.mappings.length : Number(index);
  if (!isNew && !d.mappings[idx]) throw new Error("workflow " + id + " has no mapping " + index);
  const m = isNew ? { stream: newStream, target: newTarget, key: { source: "", target: "" }, fields: [] }
    : JSON.parse(JSON.stringify(d.mappings[idx]));
  const title = d.title || id;
  const editHash = "#/workflows/" + encodeURIComponent(id) + "/edit";
  ctx.crumbs([["Workflows", "#/workflows"], [title, editHash], ["Edit Table Mapping"]]);
  main.append(h("h1", {}, "Edit Table Mapping"));
  if (!m.fields && !m.key) {
    main.append(h("p", {}, "This mapping is written with explicit stages (" + (m.stages || []).map((s) => s.name).join(", ") +
      "); edit it in the configuration file. Its definition:"), h("pre", { class: "json" }, JSON.stringify(m, null, 2)));
    return null;
  }
  const loading = h("p", { class: "status-text", role: "status" }, "Reading the fields of both tables…");
  main.append(loading);
  const [src, dst, vocabulary] = await Promise.all([api.get(api.conn(d.source) + "/tables/" + encodeURIComponent(m.stream)),
    api.get(api.conn(d.sink) + "/tables/" + encodeURIComponent(m.target || m.stream)), api.get("/vocabulary")]);
  loading.remove();
  m.key = m.key || { source: src.key, target: "" };
  if (isNew) m.key = { source: src.key, target: dst.key || "" };
  let saved = !isNew;
  const base = `mappings[${idx}]`;
  const sections = h("div", { class: "sections" });
  const summary = h("div", { class: "error-summary", role: "alert" });
  const status = h("p", { class: "status-text", role: "status" });
  function rerender() {
    sections.replaceChildren(
      h("section", { class: "card", "aria-labelledby": "h-tables", "data-path": base },
        h("h2", { id: "h-tables" }, "Tables"),
        h("dl", { class: "pairs" }, h("dt", {}, "Microsoft Dynamics 365 table"),
          h("dd", { "data-path": base + ".stream" }, `${m.stream} (${src.name})`),
          h("dt", {}, "Campaign table"), h("dd", { "data-path": base + ".target" }, `${m.target || m.stream} (${dst.name})`)),
        h("p", { class: "hint" }, "The tables cannot be changed once saved: delete the mapping and add a new one.")),
      fieldsSection(m, src, dst, base, saved, rerender),
      replacementsSection(m, src, base, rerender),
      filtersSection(m, src, base, vocabulary, rerender),
      advancedSection(m, base, rerender));
  }
  rerender();
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h("form", { class: "editor", novalidate: true }, summary, sections, status,
    h("div", { class: "buttons" }, save, h("a", { href: editHash, class: "button" }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const edited = JSON.parse(JSON.stringify(d));
    const out = JSON.parse(JSON.stringify(m));
    if (out.filters && !(out.filters.rules || []).length) delete out.filters;
    edited.mappings[idx] = out;
    save.disabled = true;
    const doc = await saveDefinition(id, edited, form, summary, status);
    save.disabled = false;
    if (doc) {
      d.mappings[idx] = out;
      if (!saved) {
        saved = true;
        rerender(); /* the key is fixed from now on */
      }
    }
  });
  main.append(form);
  return null;
}
