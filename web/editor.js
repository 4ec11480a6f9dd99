// editor.js - "Edit" of a workflow: loads its latest definition and opens the editor its kind needs:
// the table-mapping list (ingress), the event-type toggles (egress) or the opt-in/out direction and
// field pairs. The kind is read from the definition's mappings (a workflow with legs: its legs'), not
// from the workflow's id.

import * as api from "./api.js";
import * as ingress from "./ingress.js";
import * as egress from "./egress.js";
import * as optinout from "./optinout.js";
import { loadDefinition } from "./form.js";

export function kindOf(definition) {
  const legs = Object.values(definition.legs || {});
  const mappings = legs.length ? legs.flatMap((l) => l.mappings || []) : definition.mappings || [];
  const entity = (m) => (m.entity && m.entity.name) || "";
  if (mappings.some((m) => entity(m) === "opt-in-out")) return "optinout";
  if (mappings.some((m) => String(m.stream).startsWith("email-events") || entity(m) === "email-activity"))
    return "egress";
  return "ingress";
}

export async function render(main, [id], ctx) {
  const [def, workflow] = await Promise.all([loadDefinition(id), api.get(api.wf(id))]);
  const title = def.definition.title || id;
  const kinds = { ingress, egress, optinout };
  return kinds[kindOf(def.definition)].render(main, { id, title, workflow, ...def }, ctx);
}
