// preflight.js - Settings' checklist: every prerequisite the workflows have in Dynamics 365 and Campaign,
// checked by the daemon against the live systems (POST /api/v1/preflight), one line each: OK, WARN or FAIL
// with where (connection / workflow), what was found and, for a failure, the fix.

import * as api from "./api.js";
import { h, checkButton } from "./dom.js";

function checkItem(c) {
  const state = !c.ok ? "failed" : c.warning ? "warning" : "ok";
  const where = c.workflow ? `${c.connection} / ${c.workflow}` : c.connection;
  return h("li", { class: "check " + state, "data-check": c.check },
    h("span", { class: "check-state" }, !c.ok ? "FAIL" : c.warning ? "WARN" : "OK"), " ",
    h("span", { class: "mono" }, where), ": ", h("strong", {}, c.check), ": ", c.detail,
    !c.ok && c.fix ? h("div", { class: "fix" }, "Fix: ", c.fix) : null);
}

export function card() {
  const list = h("ul", { class: "checklist" });
  const summary = h("p", { class: "check-result", role: "status" });
  const run = checkButton("Run preflight", summary, "Checking both systems…", async () => {
    list.replaceChildren();
    const doc = await api.post("/preflight", {});
    list.replaceChildren(...doc.checks.map(checkItem));
    return { ok: doc.ok, text: doc.ok ? `Every prerequisite is met (${doc.checks.length} checks).`
      : `${doc.failed} of ${doc.checks.length} checks failed: each says its fix. crmsyncctl setup dynamics365 ` +
        "creates what Dynamics 365 lacks." };
  });
  return h("section", { class: "card preflight", "aria-labelledby": "preflight-title" },
    h("h2", { id: "preflight-title" }, "Prerequisites"),
    h("p", {}, "What the workflows need in Dynamics 365 and Campaign (tables, change tracking, columns, keys, " +
      "privileges, resources, identification keys, the journal, the opt-out export, Adobe's guardrails), checked " +
      "against the live systems."),
    h("div", { class: "buttons" }, run), summary, list);
}
