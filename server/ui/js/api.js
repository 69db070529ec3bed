// The management API client. Every call is same-origin JSON; the API key,
// if the user gave one, is kept in localStorage and sent as x-api-key.

const KEY = "ccr.apiKey";

// base is the path the server is mounted under: "" normally, "/prefix" when
// a reverse proxy serves the UI at /prefix/ui/.
const base = location.pathname.replace(/\/ui(\/.*)?$/, "");

export function getKey() {
  try { return localStorage.getItem(KEY) || ""; } catch { return ""; }
}

export function setKey(k) {
  try {
    if (k) localStorage.setItem(KEY, k);
    else localStorage.removeItem(KEY);
  } catch { /* storage disabled: the key lives for this page only */ }
}

/** ApiError is a failed API call: status, message, and the server's problems and warnings. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
    this.problems = Array.isArray(body?.problems) ? body.problems : [];
    this.warnings = Array.isArray(body?.warnings) ? body.warnings : [];
  }
}

/**
 * api calls the management API and returns the decoded JSON. A 401 fires a
 * "ccr:unauthorized" event on window (the app shows the login) and throws.
 */
export async function api(method, path, body, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers["x-api-key"] = key;
  const init = { method, headers, signal, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "Cannot reach the ccr server. Is it running?", null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.status === 401) {
    window.dispatchEvent(new CustomEvent("ccr:unauthorized"));
    throw new ApiError(401, errorMessage(data, text) || "The API key was not accepted.", data);
  }
  if (!res.ok) {
    throw new ApiError(res.status, errorMessage(data, text) || `${res.status} ${res.statusText}`, data);
  }
  return data;
}

function errorMessage(data, text) {
  if (data && typeof data === "object") {
    if (typeof data.error === "string") return data.error;
    if (data.error && typeof data.error.message === "string") return data.error.message;
    if (typeof data.message === "string") return data.message;
  }
  return (text || "").trim().slice(0, 300);
}

/** health fetches the public /health endpoint (no key). */
export async function health() {
  const res = await fetch(base + "/health", { cache: "no-store" });
  return res.ok ? res.json() : null;
}

/** url returns the address of a server path such as "/api/status". */
export function url(path) {
  return base + path;
}

/** origin is the address Claude Code should use as ANTHROPIC_BASE_URL. */
export function origin() {
  return location.origin + base;
}
