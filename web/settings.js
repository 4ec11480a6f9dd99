// settings.js - the connections: each one's connector and options as configured, its secrets only as
// "set" / "not set" (never read back: the API has no way to), a write-only field to replace a secret kept
// in a file (the connection's next start uses it), and a connectivity check whose result is shown in words;
// then the prerequisites checklist (preflight.js).

import * as api from "./api.js";
import { h, uid, announce, checkButton } from "./dom.js";
import * as preflight from "./preflight.js";

function optionText(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function secretForm(c, name) {
  const state = h("span", { class: "secret-state" }, c.options[name].set ? "set" : "not set");
  const input = h("input", { type: "password", autocomplete: "new-password", id: uid("secret"),
    placeholder: "the existing secret is not shown", "data-path": "secret" });
  const msg = h("p", { class: "status-text", role: "status" });
  const form = h("form", { class: "secret", novalidate: true },
    h("div", { class: "field" }, h("label", { for: input.id }, name + " (", state, ")"), input),
    h("button", { type: "submit" }, "Replace"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = input.value;
    input.value = ""; /* the secret leaves the page with the request, and nowhere else */
    msg.textContent = "";
    if (!value) {
      msg.textContent = "Type the new secret first.";
      return;
    }
    try {
      const doc = await api.put(api.conn(c.name) + "/secrets/" + encodeURIComponent(name), { value });
      state.textContent = doc.set ? "set" : "not set";
      msg.textContent = `${name} replaced. Workflows of ${c.name} use it from their next start.`;
      announce(msg.textContent);
    } catch (err) {
      msg.textContent = err.message;
    }
  });
  return form;
}

function connectionCard(c) {
  const secrets = Object.keys(c.options).filter((k) => c.options[k] && typeof c.options[k] === "object" &&
    Object.keys(c.options[k]).length === 1 && typeof c.options[k].set === "boolean");
  const plain = Object.keys(c.options).filter((k) => !secrets.includes(k) && c.options[k] !== null).sort();
  const result = h("p", { class: "check-result", role: "status" });
  const check = checkButton("Check connectivity", result, "Checking…", async () => {
    const doc = await api.post(api.conn(c.name) + "/check");
    return { ok: doc.ok, text: (doc.ok ? "OK – " : "Failed – ") + doc.result };
  });
  return h("section", { class: "card connection", "data-connection": c.name, "aria-labelledby": "conn-" + c.name },
    h("h2", { id: "conn-" + c.name }, c.name, h("span", { class: "sub" }, ` ${c.connector} connector (${c.plugin})`)),
    h("dl", { class: "options" }, plain.map((k) => [h("dt", {}, k), h("dd", { class: "mono" }, optionText(c.options[k]))])),
    secrets.length ? h("h3", {}, "Secrets") : null,
    secrets.map((k) => secretForm(c, k)),
    h("div", { class: "buttons" }, check), result);
}

export async function render(main, params, ctx) {
  ctx.crumbs([["Settings"]]);
  const doc = await api.get("/connections");
  main.append(h("h1", {}, "Settings"),
    h("p", { class: "lead" }, "The connections as the configuration file defines them. A secret is never shown; " +
      "one kept in a file can be replaced here. Workflows use new settings from their next start."),
    ...doc.connections.map(connectionCard), preflight.card());
}
