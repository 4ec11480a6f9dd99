// history.js - a workflow's revisions, newest first, with their source (the configuration file or the
// admin API), author and time; choosing one shows its diff against the revision before it as
// path / change / before / after.

import * as api from "./api.js";
import { h, formatTime } from "./dom.js";

function show(v) {
  return v === undefined ? "" : JSON.stringify(v);
}

export async function render(main, [id, rev], ctx) {
  const [w, doc] = await Promise.all([api.get(api.wf(id)), api.get(api.wf(id) + "/revisions")]);
  const title = w.title || id;
  const base = "#/workflows/" + encodeURIComponent(id) + "/history";
  ctx.crumbs([["Workflows", "#/workflows"], [title, "#/workflows/" + encodeURIComponent(id) + "/edit"], ["History"]]);
  const selected = rev ? Number(rev) : doc.revisions.length ? doc.revisions[0].revision : null;
  const list = h("ol", { class: "revisions" }, doc.revisions.map((r) =>
    h("li", { class: r.revision === selected ? "selected" : "" },
      h("a", { href: base + "/" + r.revision, "aria-current": r.revision === selected ? "true" : null },
        `Revision ${r.revision}`),
      ` · ${r.source === "api" ? "edited through the admin API" : "from the configuration file"}` +
      (r.author ? ` by ${r.author}` : "") + ` · ${formatTime(r.created_at)}` +
      (r.revision === w.running_revision ? " · running" : ""))));
  main.append(h("h1", {}, "History of " + title), list);
  if (!selected) return;
  const one = await api.get(api.wf(id) + "/revisions/" + selected);
  const rows = (one.diff || []).map((c) => h("tr", {},
    h("td", { class: "mono", "data-label": "Path" }, c.path || "(whole definition)"),
    h("td", { "data-label": "Change" }, c.op),
    h("td", { class: "mono", "data-label": "Before" }, show(c.from)),
    h("td", { class: "mono", "data-label": "After" }, show(c.to))));
  main.append(h("h2", {}, `Changes in revision ${selected}`),
    rows.length ? h("table", { class: "diff" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Path"),
      h("th", { scope: "col" }, "Change"), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After"))),
    h("tbody", {}, rows)) : h("p", {}, "No change against the revision before."));
}
