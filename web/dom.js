// dom.js - building the page safely: every element is made with h(), which sets text with textContent
// and attributes with setAttribute, never HTML, so names and values from Dynamics 365, Campaign or the
// daemon are shown as text whatever they contain. Also the icons (inline SVG), formatting helpers and
// the live region that announces results.

const SVG = "http://www.w3.org/2000/svg";

// h("button", {class: "x", onclick: f, "aria-label": "Edit"}, "text", child, [more children])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Icons: paths drawn here (no font, no external file), hidden from screen readers.
const ICONS = {
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  play: "M7 4l13 8-13 8z",
  stop: "M6 6h12v12H6z",
  warning: "M12 3L2 21h20L12 3zM12 10v5M12 18v.5",
  replay: "M4 12a8 8 0 1 0 3-6.2M4 4v5h5",
  trash: "M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13",
  key: "M14 10a4 4 0 1 0-1 2.6L21 21M17 17l2-2",
  plus: "M12 5v14M5 12h14",
  back: "M15 5l-7 7 7 7",
};

export function icon(name, cls) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon" + (cls ? " " + cls : ""));
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}

// A unique id for label/aria wiring.
let seq = 0;
export function uid(prefix) {
  seq += 1;
  return (prefix || "id") + "-" + seq;
}

// A labelled control: <div class="field"><label for=..>text</label> control hint</div>
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("f");
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control,
    hint ? h("div", { class: "hint" }, hint) : null);
}

export function select(options, value, attrs) {
  const el = h("select", attrs);
  for (const o of options) {
    const opt = h("option", { value: o.value, disabled: o.disabled }, o.label);
    if (String(o.value) === String(value)) opt.selected = true;
    el.appendChild(opt);
  }
  return el;
}

// Yes/No (or other) radio group with a legend; onchange(value) when one is picked.
export function radios(legend, name, options, value, onchange) {
  const group = uid(name);
  const fs = h("fieldset", { class: "radios" }, h("legend", {}, legend));
  for (const o of options) {
    const input = h("input", { type: "radio", name: group, id: uid(name), value: String(o.value) });
    input.checked = o.value === value;
    input.addEventListener("change", () => input.checked && onchange(o.value));
    fs.appendChild(h("span", { class: "radio" }, input, h("label", { for: input.id }, o.label)));
  }
  return fs;
}

// The polite live region: what a screen reader hears after an action.
export function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

export function formatNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

// Unix time in ms (or s) -> "2026-11-28 19:56:29" local.
export function formatTime(t) {
  if (t === null || t === undefined) return "–";
  const ms = t < 1e11 ? t * 1000 : t;
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatDuration(seconds) {
  if (!isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

// A button that runs `task` (async, -> {ok, text}) and shows the outcome in `result` (a .check-result):
// `busy` meanwhile, the button disabled, the outcome announced to screen readers.
export function checkButton(label, result, busy, task) {
  const button = h("button", { type: "button" }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.className = "check-result";
    result.textContent = busy;
    try {
      const { ok, text } = await task();
      result.textContent = text;
      result.classList.add(ok ? "ok" : "failed");
    } catch (err) {
      result.textContent = "Failed – " + err.message;
      result.classList.add("failed");
    } finally {
      button.disabled = false;
      announce(result.textContent);
    }
  });
  return button;
}
