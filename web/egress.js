// egress.js - "Campaign to Microsoft Dynamics 365": which Campaign email events are sent to Dynamics 365.
// Each type (Sends, Opens, Clicks, Bounces) is on when the workflow maps its stream email-events.<type>
// (doc/workflows.md): switching one on adds that mapping (to the sink's table email-<type>s, or the
// table an earlier mapping of the type used), switching it off removes it; other options are kept.

import * as api from "./api.js";
import { h, radios, uid } from "./dom.js";
import { saveDefinition } from "./form.js";

const TYPES = [["send", "Sends"], ["open", "Opens"], ["click", "Clicks"], ["bounce", "Bounces (hard)"]];

export async function render(main, def, ctx) {
  const { id, title } = def;
  const d = def.definition;
  ctx.crumbs([["Workflows", "#/workflows"], [title]]);
  const byType = new Map();
  (d.mappings || []).forEach((m) => {
    const t = String(m.stream).startsWith("email-events.") ? m.stream.slice(13) : null;
    if (t) byType.set(t, m);
  });
  const on = new Map(TYPES.map(([t]) => [t, byType.has(t)]));
  let sinkTables = null;
  try {
    sinkTables = new Set((await api.get(api.conn(d.sink) + "/tables")).tables.map((x) => x.name));
  } catch (err) {
    sinkTables = null; /* checked by the daemon at start instead */
  }
  const summary = h("div", { class: "error-summary", role: "alert" });
  const status = h("p", { class: "status-text", role: "status" });
  const groups = new Map();
  const rows = TYPES.map(([t, label]) => {
    const fs = radios(label, uid("type-" + t), [{ value: true, label: "Yes" }, { value: false, label: "No" }],
      on.get(t), (v) => on.set(t, v));
    fs.classList.add("event-type");
    fs.dataset.type = t;
    groups.set(t, fs);
    return fs;
  });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h("form", { class: "editor card", novalidate: true },
    h("h2", {}, "Campaign events that will be sent to Microsoft Dynamics 365"), rows, summary, status,
    h("div", { class: "buttons" }, save, h("a", { href: "#/workflows", class: "button" }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const edited = JSON.parse(JSON.stringify(d));
    const kept = (d.mappings || []).filter((m) => !String(m.stream).startsWith("email-events.") ||
      on.get(m.stream.slice(13)));
    const added = TYPES.filter(([t]) => on.get(t) && !byType.has(t)).map(([t]) =>
      ({ stream: "email-events." + t, target: "email-" + t + "s", entity: { name: "email-activity" } }));
    edited.mappings = kept.concat(JSON.parse(JSON.stringify(added)));
    groups.forEach((fs) => fs.removeAttribute("data-path"));
    edited.mappings.forEach((m, i) => {
      const fs = groups.get(String(m.stream).slice(13));
      if (fs) fs.setAttribute("data-path", `mappings[${i}]`);
    });
    const missing = added.filter((m) => sinkTables && !sinkTables.has(m.target));
    if (missing.length) {
      summary.replaceChildren(h("p", {}, missing.map((m) => `Connection ${d.sink} has no table ${m.target} for ` +
        `${m.stream}: add tables.${m.target} to it in the configuration (see doc/workflows.md).`).join(" ")));
      return;
    }
    save.disabled = true;
    if (await saveDefinition(id, edited, form, summary, status)) {
      d.mappings = edited.mappings;
      byType.clear();
      d.mappings.forEach((m) => String(m.stream).startsWith("email-events.") && byType.set(m.stream.slice(13), m));
    }
    save.disabled = false;
  });
  main.append(h("h1", {}, title),
    h("p", { class: "lead" }, "Each event type switched on becomes an activity on the Timeline of the Dynamics 365 " +
      "contact it concerns. Changes apply at the next stop and start of the workflow."),
    form);
}
