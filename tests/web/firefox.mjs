// firefox.mjs - the Workflows page in Firefox: Debian's firefox-esr, headless, driven over WebDriver BiDi by
// puppeteer-core (no geckodriver), against the real crmsyncd, the real plugins and both emulators, which
// firefox_env.py starts and keeps running. Logs in with the token; the list shows the three workflows with
// status and backlog; the ingress mapping editor shows the field rows from the live metadata; a validation
// error is shown beside its field and nothing is stored; Dead letters and History. A screenshot of each
// page goes to the folder printed first. Run by firefox.sh (which skips when a tool is missing):
//   node firefox.mjs <puppeteer-core prefix> <firefox>
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const [prefix, firefox] = process.argv.slice(2);
const puppeteer = createRequire(join(prefix, "node_modules"))("puppeteer-core");
const here = dirname(fileURLToPath(import.meta.url));

class Failure extends Error {}
function check(ok, what, detail) {
  if (!ok) throw new Failure(what + (detail === undefined ? "" : "\n  detail: " + JSON.stringify(detail)));
  console.log("ok: " + what);
}

// The page's value of fn(...args) once truthy, within timeout ms; fails naming `what` otherwise.
async function until(page, what, fn, args = [], timeout = 15000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeout) {
    try {
      last = await page.evaluate(fn, ...args);
      if (last) return last;
    } catch (err) {
      last = String(err); // the page navigated while asked: ask again
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Failure(`${what} (within ${timeout / 1000}s)\n  last: ${JSON.stringify(last)}`);
}

// firefox_env.py: its output is passed through; its "ready" line says where the page is
function startEnv() {
  const py = spawn(process.env.PYTHON3 || "python3", [join(here, "firefox_env.py")], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => py.on("exit", (code) => resolve(code)));
  const ready = new Promise((resolve, reject) => {
    createInterface({ input: py.stdout }).on("line", (line) => {
      if (line.startsWith("ready ")) resolve(JSON.parse(line.slice(6)));
      else console.log(line);
    });
    exited.then((code) => reject(new Failure(`firefox_env.py exited (${code}) before it was ready`)));
  });
  return { py, ready, exited };
}

async function api(env, token, path) {
  const r = await fetch(new URL("api/v1" + path, env.url), { headers: { Authorization: "Bearer " + token } });
  return r.json();
}

async function run(env, page, shot, token) {
  const [ingress, egress] = env.workflows;
  const go = (hash) => page.evaluate((x) => { location.hash = x; }, hash);
  // login
  await page.goto(env.url);
  await page.waitForSelector("#token");
  await shot("login");
  await page.type("#token", token);
  await page.keyboard.press("Enter");
  await page.waitForSelector("table.workflows");
  check(await page.evaluate(() => sessionStorage.length === 1 && localStorage.length === 0 && document.cookie === ""),
    "the token is kept in session storage only");

  // the list: three workflows with status and backlog
  const rows = await until(page, "three workflow rows with status and backlog", () => {
    const trs = [...document.querySelectorAll("tr[data-workflow]")];
    const cell = (tr, c) => tr.querySelector(c).textContent.trim();
    return trs.length === 3 && trs.every((tr) => cell(tr, ".status-word") && /^[0-9,]+$/.test(cell(tr, ".backlog-count")))
      && trs.map((tr) => ({ id: tr.dataset.workflow, status: cell(tr, ".status-word"), backlog: cell(tr, ".backlog-count"),
        dot: tr.querySelector(".dot").className, dead: cell(tr, ".dead-link"), toggle: cell(tr, ".toggle-label") }));
  });
  check(JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(env.workflows), "the list shows the three workflows", rows);
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  check(byId[ingress].status === "STOPPED" && byId[ingress].toggle === "Start" && byId[ingress].dot === "dot stopped" &&
    byId[egress].status === "RUNNING" && byId[egress].toggle === "Stop" && byId[egress].dot === "dot running",
  "each row shows its status (dot, word) and the toggle it allows", rows);
  const api0 = await api(env, token, "/workflows");
  check(api0.workflows.every((w) => byId[w.id].backlog === w.backlog.toLocaleString("en-US")) &&
    byId[egress].dead === "1 dead letter", "the backlogs and the dead letter are the daemon's", api0.workflows);
  await shot("workflows");

  // the ingress table mappings, then its mapping editor: field rows from live metadata
  await page.click(`tr[data-workflow="${ingress}"] a.edit`);
  await page.waitForSelector('tr[data-stream="contacts"]');
  await shot("table-mappings");
  await page.click('tr[data-stream="contacts"] a.edit');
  await page.waitForSelector("table.fields tbody tr[data-index]");
  const live = await api(env, token, "/connections/d365/tables/contacts");
  const fields = await page.evaluate(() => [...document.querySelectorAll("table.fields tbody tr[data-index]")].map((tr) => ({
    source: tr.querySelector('select[data-path$=".source"]').value, text: tr.textContent,
    offered: [...tr.querySelectorAll('select[data-path$=".source"] option')].map((o) => o.value).filter((v) => v),
  })));
  const definition = (await api(env, token, `/workflows/${ingress}/definition`)).definition.mappings[0];
  check(fields.length === definition.fields.length && fields.every((f, i) => f.source === definition.fields[i].source),
    `the editor shows the mapping's ${definition.fields.length} field rows`, fields.map((f) => f.source));
  const offered = new Set(fields[0].offered);
  const typeOf = (spec) => "type: " + (spec.native || spec.type).toLowerCase(); // as the editor says it
  check(fields.every((f) => live.fields[f.source] && f.text.includes(typeOf(live.fields[f.source]))) &&
    offered.has("birthdate") && [...offered].every((n) => n in live.fields),
  "each row shows its Dynamics 365 field's type, and only the live table's fields are offered",
  { rows: fields.map((f) => [f.source, live.fields[f.source]]), notLive: [...offered].filter((x) => !(x in live.fields)) });
  await shot("mapping-editor");

  // a validation error beside its field; nothing stored
  const n = fields.length;
  await page.click("section[aria-labelledby=h-fields] > button");
  const src = `select[data-path="mappings[0].fields[${n}].source"]`, dst = `select[data-path="mappings[0].fields[${n}].target"]`;
  await page.waitForSelector(src);
  await page.select(src, "lastname");
  await page.select(dst, "firstName");
  await page.click("form.editor button[type=submit]");
  await page.waitForSelector(".field-error", { timeout: 20000 });
  const err = await page.evaluate((dst) => {
    const e = document.querySelector(".field-error"), t = document.querySelector(dst);
    return { path: e.dataset.errorPath, text: e.textContent, beside: e.previousElementSibling === t,
      invalid: t.getAttribute("aria-invalid"), described: (t.getAttribute("aria-describedby") || "").split(" ").includes(e.id) };
  }, dst);
  check(err.path === `mappings[0].fields[${n}].target` && err.beside && err.text.includes("already the target") &&
    err.invalid === "true" && err.described, "the error is shown beside the Campaign field it concerns", err);
  await shot("validation-error");
  const revisions = (await api(env, token, `/workflows/${ingress}/revisions`)).revisions;
  check(revisions.length === 1, "nothing was stored", revisions);

  // Dead letters of the egress workflow
  await go("#/workflows");
  await page.waitForSelector(`tr[data-workflow="${egress}"] a.dead-link`);
  await page.click(`tr[data-workflow="${egress}"] a.dead-link`);
  await page.waitForSelector("tr[data-dead-letter]");
  const dead = await page.$$eval("tr[data-dead-letter]", (trs) => trs.map((tr) => tr.textContent));
  check(dead.length === 1 && dead[0].includes(env.ghost) && dead[0].includes("does not exist in Dynamics 365") &&
    dead[0].includes("404"), "the dead letter shows its contact, reason and HTTP status", dead);
  await shot("dead-letters");

  // History
  await go(`#/workflows/${ingress}/history`);
  const items = await until(page, "the history of revisions", () => {
    const li = [...document.querySelectorAll("ol.revisions li")];
    return li.length && li.map((x) => x.textContent);
  });
  check(items.length === 1 && items[0].includes("configuration file"), "the history shows the configuration's revision",
    items);
  await shot("history");
}

async function main() {
  const { py, ready, exited } = startEnv();
  let browser = null, failed = false;
  try {
    const env = await ready;
    const token = readFileSync(env.token_file, "utf8").trim();
    browser = await puppeteer.launch({ browser: "firefox", executablePath: firefox, headless: true,
      defaultViewport: { width: 1280, height: 900 }, args: ["--width=1280", "--height=900"] });
    console.log("browser: " + (await browser.version()));
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push("page error: " + e.message));
    page.on("console", (m) => m.type() === "error" && errors.push("console: " + m.text()));
    let n = 0;
    const shot = (name) => page.screenshot({ path: join(env.screenshots, `${String(++n).padStart(2, "0")}-${name}.png`),
      fullPage: true });
    await run(env, page, shot, token);
    check(errors.filter((e) => !/Failed to load resource|status of 4\d\d/.test(e)).length === 0,
      "no script error in the console", errors);
    console.log("firefox: ok; screenshots in " + env.screenshots);
  } catch (err) {
    failed = true;
    console.log("FAIL: " + (err instanceof Failure ? err.message : err.stack));
  } finally {
    if (browser) await browser.close().catch(() => {});
    py.stdin.end();
  }
  const rc = await exited;
  if (rc !== 0) console.log(`FAIL: firefox_env.py exited ${rc}`);
  process.exit(failed || rc !== 0 ? 1 : 0);
}

main();
