// deadletters.js - a workflow's dead letters, newest first: when it failed, the stream and key, the
// reason and HTTP status, whether it was redriven; Redrive puts one back into the backlog (a mapping
// failure is mapped again by the current run), Redrive all every one not yet redriven. "Older" pages on.

import * as api from "./api.js";
import { h, announce, formatTime, formatNumber } from "./dom.js";

const PAGE = 100;

export async function render(main, [id], ctx) {
  const w = await api.get(api.wf(id));
  const title = w.title || id;
  ctx.crumbs([["Workflows", "#/workflows"], [title, "#/workflows/" + encodeURIComponent(id) + "/edit"], ["Dead letters"]]);
  const status = h("p", { class: "status-text", role: "status" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Older dead letters");
  const all = h("button", { type: "button", class: "primary" }, "Redrive all");
  let after = 0;

  function row(x) {
    const state = h("span", { class: "redriven" }, x.redriven_at ? "redriven " + formatTime(x.redriven_at) : "");
    const btn = h("button", { type: "button", class: "redrive", "aria-label": "Redrive dead letter " + x.id,
      disabled: !!x.redriven_at }, "Redrive");
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        const doc = await api.post(api.wf(id) + "/dead-letters/" + x.id + "/redrive");
        state.textContent = "redriven just now";
        status.textContent = `Dead letter ${x.id} is back in the backlog (${doc.redriven} record).`;
        announce(status.textContent);
      } catch (err) {
        btn.disabled = false;
        status.textContent = err.message;
      }
    });
    return h("tr", { "data-dead-letter": x.id },
      h("td", { "data-label": "Id" }, String(x.id)),
      h("td", { "data-label": "Failed at" }, formatTime(x.failed_at)),
      h("td", { "data-label": "Stream and key" }, h("div", {}, x.stream || ""), h("div", { class: "sub mono" }, x.key || "")),
      h("td", { "data-label": "Reason", class: "reason" }, x.detail || x.error_class || ""),
      h("td", { "data-label": "HTTP status" }, x.http_status ? String(x.http_status) : "–"),
      h("td", { "data-label": "Actions" }, btn, " ", state));
  }

  async function load() {
    const doc = await api.get(api.wf(id) + "/dead-letters?limit=" + PAGE + (after ? "&after=" + after : ""));
    doc.dead_letters.forEach((x) => tbody.appendChild(row(x)));
    if (doc.dead_letters.length) after = doc.dead_letters[doc.dead_letters.length - 1].id;
    more.hidden = doc.dead_letters.length < PAGE;
    if (!tbody.children.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 6 }, "No dead letters.")));
  }
  more.addEventListener("click", load);
  all.addEventListener("click", async () => {
    all.disabled = true;
    try {
      const doc = await api.post(api.wf(id) + "/dead-letters/redrive");
      status.textContent = `${formatNumber(doc.redriven)} dead letter(s) are back in the backlog.`;
      announce(status.textContent);
      tbody.replaceChildren();
      after = 0;
      await load();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      all.disabled = false;
    }
  });
  main.append(h("h1", {}, "Dead letters of " + title),
    h("p", { class: "lead" }, "Records that can never be written as they are. Fix the cause (the reason says " +
      "what), then redrive them."),
    h("div", { class: "buttons" }, all), status,
    h("table", { class: "dead-letters" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Id"),
      h("th", { scope: "col" }, "Failed at"), h("th", { scope: "col" }, "Stream and key"), h("th", { scope: "col" }, "Reason"),
      h("th", { scope: "col" }, "HTTP status"), h("th", { scope: "col" }, "Actions"))), tbody),
    more);
  await load();
}
