// app.js - the Workflows page's shell: the token login, the header and navigation, breadcrumbs, and the
// hash router that shows one page at a time (#/workflows, #/workflows/<id>/edit[/mapping/<n>|new],
// #/workflows/<id>/dead-letters, #/workflows/<id>/history[/<n>], #/settings). Each page module exports
// render(main, params, ctx) and may return a stop() function that the router calls on leaving it.

import * as api from "./api.js";
import { h, clear, announce } from "./dom.js";
import * as workflows from "./workflows.js";
import * as editor from "./editor.js";
import * as mapping from "./mapping.js";
import * as deadLetters from "./deadletters.js";
import * as history from "./history.js";
import * as settings from "./settings.js";

const routes = [
  [/^#\/workflows\/([^/]+)\/edit\/mapping\/(?:(\d+)|new\/([^/]+)\/([^/]+))$/, mapping],
  [/^#\/workflows\/([^/]+)\/edit$/, editor],
  [/^#\/workflows\/([^/]+)\/dead-letters$/, deadLetters],
  [/^#\/workflows\/([^/]+)\/history(?:\/(\d+))?$/, history],
  [/^#\/settings$/, settings],
  [/^#\/(?:workflows)?$/, workflows],
];

let leave = null;
let loginMessage = "";

function main() {
  return document.getElementById("main");
}

// Breadcrumbs: [[label, href], ..., [label]] (the last is the current page).
function crumbs(items) {
  const nav = document.getElementById("crumbs");
  clear(nav);
  const ol = h("ol");
  items.forEach(([label, href], i) => {
    const last = i === items.length - 1;
    ol.appendChild(h("li", {}, last ? h("span", { "aria-current": "page" }, label) : h("a", { href }, label)));
  });
  nav.appendChild(ol);
  document.title = items[items.length - 1][0] + " – crmsync";
}

function showLogin() {
  const m = clear(main());
  crumbs([["Sign in"]]);
  const input = h("input", { type: "password", id: "token", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "token-hint login-error" });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, loginMessage);
  const form = h("form", { class: "card login", novalidate: true },
    h("h1", {}, "Sign in to crmsync"),
    h("div", { class: "field" }, h("label", { for: "token" }, "Admin token"), input,
      h("div", { class: "hint", id: "token-hint" },
        "The content of the file admin.token_file (or an entry of admin.tokens) names. It is kept for this browser tab only.")),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    input.value = "";
    if (!value) {
      error.textContent = "Enter the admin token.";
      return;
    }
    api.setToken(value);
    try {
      await api.post("/session");
      loginMessage = "";
      updateHeader();
      route();
    } catch (err) {
      api.setToken(null);
      error.textContent = err.status === 403 || err.status === 401 ? "This is not the admin token: " + err.message
        : err.message;
    }
  });
  m.appendChild(form);
  input.focus();
}

function updateHeader() {
  const out = document.getElementById("signout");
  out.hidden = !api.token();
}

async function route() {
  if (leave) {
    leave();
    leave = null;
  }
  if (!api.token()) {
    showLogin();
    return;
  }
  const hash = location.hash || "#/workflows";
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    const params = m.slice(1).map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
    const el = clear(main());
    try {
      leave = (await page.render(el, params, { crumbs, go })) || null;
    } catch (err) {
      el.appendChild(h("p", { class: "error", role: "alert" }, err.message));
    }
    const heading = el.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      if (document.activeElement === document.body || !el.contains(document.activeElement)) heading.focus();
    }
    return;
  }
  clear(main()).appendChild(h("p", { class: "error" }, "There is no such page: " + hash));
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

api.onTokenRefused((err) => {
  api.setToken(null);
  loginMessage = err.message;
  updateHeader();
  announce("The admin token was refused; sign in again.");
  route();
});

document.getElementById("signout").addEventListener("click", () => {
  api.setToken(null);
  updateHeader();
  route();
});
window.addEventListener("hashchange", route);
updateHeader();
route();
