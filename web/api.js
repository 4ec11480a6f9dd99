// api.js - the admin API as the page calls it. The admin token lives in sessionStorage only (gone when
// the tab closes, never in a cookie, so another site cannot make the browser send it: no CSRF), and
// goes with every call as "Authorization: Bearer". Bodies are JSON. A failed call throws an ApiError
// carrying the status, the API's error code and message, and its details ([{path, message}]).

const TOKEN_KEY = "crmsync.admin-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "the admin API answered HTTP " + status);
    this.status = status;
    this.code = e.code || "";
    this.details = e.details || [];
    this.state = e.status || null;
  }
}

// Listeners told when the token is refused (the app then asks for it again).
const refusedListeners = [];
export function onTokenRefused(fn) {
  refusedListeners.push(fn);
}

export async function call(method, path, body, extraHeaders) {
  const headers = Object.assign({ Accept: "application/json" }, extraHeaders || {});
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch("/api/v1" + path, init);
  } catch (err) {
    throw new ApiError(0, { error: { code: "network", message: "crmsyncd cannot be reached: " + err.message } });
  }
  const text = await resp.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch (err) {
    doc = { error: { code: "not_json", message: "the answer is not JSON (HTTP " + resp.status + ")" } };
  }
  if (!resp.ok) {
    const error = new ApiError(resp.status, doc);
    if (resp.status === 401 || (resp.status === 403 && error.code === "forbidden"))
      refusedListeners.forEach((fn) => fn(error));
    throw error;
  }
  return doc;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body === undefined ? {} : body);
export const put = (path, body) => call("PUT", path, body, { "X-Crmsync-Author": "Workflows page" });

export function wf(id) {
  return "/workflows/" + encodeURIComponent(id);
}

export function conn(name) {
  return "/connections/" + encodeURIComponent(name);
}
