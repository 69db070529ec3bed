// The config being edited. The draft is the config object exactly as the
// server returned it (unknown keys included); pages change it in place and
// the save bar sends it back whole.

import { api } from "./api.js";

const listeners = new Set();

export const state = {
  saved: "", // JSON text of the config as last loaded or saved
  draft: null, // the working copy
  problems: [], // from the last rejected save: [{path, message}]
  warnings: [], // from the last save: [{path, message}]
  pendingApply: false, // saved to the file but not applied
  blocked: "", // a reason saving is impossible right now (a JSON syntax error)
};

/** subscribe calls fn(kind) on every change; kind is "change", "reset", "saved", "problems" or "blocked". */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(kind) {
  for (const fn of listeners) fn(kind);
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** loadConfig fetches the config and makes it both the saved state and the draft. */
export async function loadConfig() {
  const cfg = await api("GET", "/api/config");
  state.saved = JSON.stringify(isObject(cfg) ? cfg : {});
  state.draft = JSON.parse(state.saved);
  state.problems = [];
  state.warnings = [];
  state.blocked = "";
  emit("reset");
}

/** isDirty reports whether the draft differs from the saved config. */
export function isDirty() {
  return state.draft !== null && JSON.stringify(state.draft) !== state.saved;
}

/** change runs fn on the draft and notifies listeners. */
export function change(fn) {
  fn(state.draft);
  emit("change");
}

/** replaceDraft swaps in a whole new draft (the raw JSON editor). */
export function replaceDraft(obj) {
  state.draft = obj;
  emit("change");
}

/** setBlocked records why saving is impossible ("" when it is possible). */
export function setBlocked(reason) {
  if (state.blocked === reason) return;
  state.blocked = reason;
  emit("blocked");
}

/** discard throws the draft away and returns to the saved config. */
export function discard() {
  state.draft = JSON.parse(state.saved);
  state.problems = [];
  state.blocked = "";
  emit("reset");
}

/**
 * save posts the draft. With apply, the server also applies it live. On a
 * 400 the server's problems are kept in state.problems and the ApiError is
 * rethrown.
 */
export async function save({ apply }) {
  const text = JSON.stringify(state.draft);
  try {
    const res = await api("POST", "/api/config" + (apply ? "?apply=true" : ""), state.draft);
    state.saved = text;
    state.problems = [];
    state.warnings = Array.isArray(res?.warnings) ? res.warnings : [];
    state.pendingApply = !apply;
    emit("saved");
    return res;
  } catch (e) {
    state.problems = e.problems || [];
    state.warnings = e.warnings || [];
    emit("problems");
    throw e;
  }
}

/** applySaved asks the server to apply the config file as saved (POST /api/restart). */
export async function applySaved() {
  try {
    const res = await api("POST", "/api/restart");
    state.pendingApply = false;
    state.problems = [];
    emit("saved");
    return res;
  } catch (e) {
    if (e.problems?.length) {
      state.problems = e.problems;
      emit("problems");
    }
    throw e;
  }
}

/** clearPendingApply forgets that a saved config is waiting to be applied. */
export function clearPendingApply() {
  state.pendingApply = false;
  emit("saved");
}

// ---- Views of the draft ----

/** providersKey is the key holding the provider list: "Providers", or "providers" in files that use it. */
export function providersKey(cfg = state.draft) {
  if (cfg && !("Providers" in cfg) && Array.isArray(cfg.providers)) return "providers";
  return "Providers";
}

/** providers returns the draft's provider list (never null; may be a fresh empty array). */
export function providers(cfg = state.draft) {
  const list = cfg?.[providersKey(cfg)];
  return Array.isArray(list) ? list : [];
}

/** router returns the draft's Router object, creating it when asked to. */
export function router(create = false) {
  if (!isObject(state.draft.Router)) {
    if (!create) return {};
    state.draft.Router = {};
  }
  return state.draft.Router;
}

/** pairs lists every configured "provider,model" with its parts. */
export function pairs(cfg = state.draft) {
  const out = [];
  for (const p of providers(cfg)) {
    if (!isObject(p) || typeof p.name !== "string") continue;
    for (const m of Array.isArray(p.models) ? p.models : []) {
      if (typeof m === "string") out.push({ value: `${p.name},${m}`, provider: p.name, model: m });
    }
  }
  return out;
}

/**
 * problemsAt returns the problems and warnings (warning: true) whose path is
 * path or, with prefix, lies below it.
 */
export function problemsAt(path, { prefix = false } = {}) {
  const match = (p) => p === path || (prefix && (p.startsWith(path + ".") || p.startsWith(path + "[")));
  return [
    ...state.problems.filter((p) => match(String(p.path ?? ""))),
    ...state.warnings.filter((p) => match(String(p.path ?? ""))).map((p) => ({ ...p, warning: true })),
  ];
}

const settingsKeys = new Set(["APIKEY", "HOST", "PORT", "LOG", "LOG_LEVEL", "API_TIMEOUT_MS", "PROXY_URL"]);

/** pageFor returns the UI location where the value at a config path is edited. */
export function pageFor(path) {
  const p = String(path ?? "");
  const m = /^[Pp]roviders\[(\d+)\]/.exec(p);
  if (m) return `#/providers/edit/${m[1]}`;
  if (p === "Router" || p.startsWith("Router.") || p.startsWith("Router[")) return "#/router";
  if (settingsKeys.has(p)) return "#/settings";
  return "#/json?path=" + encodeURIComponent(p);
}

/** isEnvRef reports whether s is a $VAR or ${VAR} reference the server resolves. */
export function isEnvRef(s) {
  return typeof s === "string" && /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/.test(s.trim());
}

/** randomKey returns a fresh random API key. */
export function randomKey() {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return "ccr-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

let transformersPromise = null;

/** transformers returns the server's transformer definitions (cached; [] when unavailable). */
export function transformers() {
  if (!transformersPromise) {
    transformersPromise = api("GET", "/api/transformers")
      .then((r) => (Array.isArray(r?.transformers) ? r.transformers : []))
      .catch(() => {
        transformersPromise = null;
        return [];
      });
  }
  return transformersPromise;
}
