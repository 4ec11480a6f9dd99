// form.js - saving an edited workflow definition (PUT .../definition) and showing what the daemon
// answers: each validation error next to the control whose data-path is the error's path (or the
// nearest enclosing one: "mappings[0].fields[2].target", then "mappings[0].fields[2]", ...), the rest in
// a summary; on success, that the change applies at the next stop and start, and any warnings.

import * as api from "./api.js";
import { h, append, announce } from "./dom.js";

export function clearErrors(root) {
  root.querySelectorAll(".field-error").forEach((e) => e.remove());
  root.querySelectorAll("[aria-invalid]").forEach((e) => {
    e.removeAttribute("aria-invalid");
    const ids = (e.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.startsWith("err-"));
    if (ids.length) e.setAttribute("aria-describedby", ids.join(" "));
    else e.removeAttribute("aria-describedby");
  });
}

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> ""
function parentPath(path) {
  const m = path.match(/^(.*)(\.[^.[\]]+|\[\d+\])$/);
  return m ? m[1] : "";
}

function findControl(root, path) {
  for (let p = path; p; p = parentPath(p)) {
    const el = root.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
  }
  return null;
}

let errSeq = 0;

// Place each {path, message}; those with no control go to `summary`. Returns the first placed control.
export function showErrors(root, summary, details) {
  clearErrors(root);
  summary.replaceChildren();
  let first = null;
  const loose = [];
  for (const d of details) {
    const el = findControl(root, d.path || "");
    if (!el) {
      loose.push(d);
      continue;
    }
    errSeq += 1;
    const id = "err-" + errSeq;
    const msg = h("p", { class: "field-error", id, "data-error-path": d.path }, d.message);
    const describedBy = ((el.getAttribute("aria-describedby") || "") + " " + id).trim();
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", describedBy);
    el.insertAdjacentElement("afterend", msg);
    first = first || el;
  }
  const placed = details.length - loose.length;
  append(summary, [h("p", {}, (details.length === 1 ? "Nothing was saved: the definition has an error" :
    `Nothing was saved: the definition has ${details.length} errors`) +
    (placed ? (loose.length ? `, ${placed} shown beside ${placed === 1 ? "its field" : "their fields"}:` :
      placed === 1 ? ", shown beside its field." : ", shown beside their fields.") : ":")),
  loose.length ? h("ul", {}, loose.map((d) => h("li", {}, (d.path ? d.path + ": " : "") + d.message))) : null]);
  return first;
}

// PUT the definition; shows the outcome in `status` (success) or beside the fields (errors).
export async function saveDefinition(workflowId, definition, root, summary, status) {
  clearErrors(root);
  summary.replaceChildren();
  status.textContent = "";
  try {
    const doc = await api.put(api.wf(workflowId) + "/definition", definition);
    const text = `Saved as revision ${doc.revision}. The change applies at the next stop and start of the workflow` +
      (doc.pending ? " (the Stop button now carries a warning)." : ".");
    status.textContent = text;
    announce(text);
    const warnings = doc.warnings || [];
    if (warnings.length)
      summary.append(h("div", { class: "warnings" }, h("p", {}, "Saved, but the daemon warns:"),
        h("ul", {}, warnings.map((w) => h("li", {}, (w.path ? w.path + ": " : "") + (w.message || String(w)))))));
    return doc;
  } catch (err) {
    if (err.details && err.details.length) {
      const first = showErrors(root, summary, err.details);
      announce(err.message);
      if (first) first.focus();
    } else {
      summary.replaceChildren(h("p", {}, err.message));
    }
    return null;
  }
}

// The latest definition of a workflow (a deep copy to edit) and its revision.
export async function loadDefinition(workflowId) {
  const doc = await api.get(api.wf(workflowId) + "/definition");
  return { revision: doc.revision, definition: JSON.parse(JSON.stringify(doc.definition)) };
}
