// The app shell: hash routing, the login gate, the save bar, the theme.
//
// A page module exports mount(el, route) and returns a controller with any
// of: destroy(); canLeave() and leaveMessage (unsaved local edits);
// beforeSave() (put local edits into the draft; false cancels the save);
// refresh(kind) (react to a store event in place; return false to be
// remounted); ownsSave (the page saves by itself; hide the save bar).

import { h, replace, toast, clearToasts, confirmDialog } from "./dom.js";
import { getKey, setKey } from "./api.js";
import { state, subscribe, loadConfig, isDirty, save, discard, applySaved, clearPendingApply, providers, pageFor, isEnvRef, replaceDraft } from "./store.js";
import * as statusPage from "./status.js";
import * as setupPage from "./setup.js";
import * as providersPage from "./providers.js";
import * as routesPage from "./routes.js";
import * as settingsPage from "./settings.js";
import * as jsonPage from "./json.js";
import * as requestsPage from "./requests.js";
import * as logsPage from "./logs.js";
import * as loginPage from "./login.js";

const pages = {
  status: { mod: statusPage, title: "Status" },
  setup: { mod: setupPage, title: "Setup" },
  providers: { mod: providersPage, title: "Providers" },
  router: { mod: routesPage, title: "Router" },
  settings: { mod: settingsPage, title: "Settings" },
  json: { mod: jsonPage, title: "Raw JSON" },
  requests: { mod: requestsPage, title: "Requests" },
  logs: { mod: logsPage, title: "Logs" },
  login: { mod: loginPage, title: "Sign in" },
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const bar = document.getElementById("savebar");
const signout = document.getElementById("signout");
const themeBtn = document.getElementById("theme");

let current = null; // {name, ctl}
let lastHash = location.hash;
let leaving = false; // the next hashchange was confirmed already
let busy = false;

function parseHash(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "", args: parts.slice(1), query: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

function mountCurrent() {
  let route = parseHash(location.hash);
  if (route.page !== "login" && state.draft === null) return; // boot() mounts once the config is in
  if (!pages[route.page]) {
    history.replaceState(null, "", providers().length ? "#/status" : "#/setup");
    route = parseHash(location.hash);
  }
  const first = current === null;
  current?.ctl?.destroy?.();
  const page = pages[route.page];
  // After a navigation, focus moves to the new page; on the first load it
  // stays at the top, so Tab reaches the skip link first.
  if (!first) {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  const ctl = page.mod.mount(main, route) || {};
  current = { name: route.page, ctl };
  lastHash = location.hash;
  document.title = `${page.title} · ccr`;
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${route.page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  renderBar();
}

window.addEventListener("hashchange", async () => {
  if (leaving) {
    leaving = false;
    mountCurrent();
    return;
  }
  const ctl = current?.ctl;
  if (ctl?.canLeave && !ctl.canLeave()) {
    const target = location.hash;
    history.replaceState(null, "", lastHash);
    const ok = await confirmDialog(ctl.leaveMessage || "This page has changes that are not kept if you leave.",
      { title: "Leave this page?", ok: "Leave", cancel: "Stay", danger: true });
    if (!ok) return;
    leaving = true;
    location.hash = target;
    return;
  }
  mountCurrent();
});

window.addEventListener("beforeunload", (e) => {
  if (isDirty() || (current?.ctl?.canLeave && !current.ctl.canLeave())) {
    e.preventDefault();
    e.returnValue = "";
  }
});

// ---- Login gate ----

function showLogin() {
  if (current?.name === "login") return;
  const next = location.hash && !location.hash.startsWith("#/login") ? location.hash : "";
  if (getKey()) toast("The saved API key was not accepted. Sign in again.", "warn");
  setKey("");
  nav.hidden = true;
  signout.hidden = true;
  history.replaceState(null, "", "#/login" + (next ? "?next=" + encodeURIComponent(next) : ""));
  mountCurrent();
}

window.addEventListener("ccr:unauthorized", showLogin);
window.addEventListener("ccr:reload", (e) => boot(e.detail?.hash));

signout.addEventListener("click", async () => {
  if (isDirty() && !(await confirmDialog("Your unsaved changes stay in this tab until you sign in again; closing the tab loses them.", { title: "Sign out?", ok: "Sign out" }))) return;
  setKey("");
  showLogin();
});

async function boot(hash) {
  const keep = state.draft !== null && isDirty() ? state.draft : null;
  if (current?.name !== "login") replace(main, h("p", { class: "muted loading" }, "Loading…"));
  try {
    await loadConfig();
  } catch (e) {
    if (e.status === 401) return; // showLogin already ran
    current?.ctl?.destroy?.();
    current = null;
    replace(main, h("div", { class: "card login" },
      h("h1", null, "Cannot load the configuration"),
      h("p", { class: "problem" }, e.message),
      h("button", { type: "button", class: "btn primary", onclick: () => boot(hash) }, "Try again")));
    return;
  }
  if (keep) replaceDraft(keep);
  nav.hidden = false;
  signout.hidden = !getKey();
  const route = parseHash(hash || location.hash);
  if (hash) history.replaceState(null, "", hash);
  else if (!providers().length && ["", "status", "providers", "router", "login"].includes(route.page)) history.replaceState(null, "", "#/setup");
  else if (route.page === "login") history.replaceState(null, "", route.query.get("next") || "#/status");
  mountCurrent();
}

// ---- Save bar ----

const barMsg = h("div", { class: "msg" });
const discardBtn = h("button", { type: "button", class: "btn ghost", id: "discard" }, "Discard");
const saveBtn = h("button", { type: "button", class: "btn", id: "save" }, "Save");
const applyBtn = h("button", { type: "button", class: "btn primary", id: "save-apply" }, "Save & apply");
const applyNowBtn = h("button", { type: "button", class: "btn primary", id: "apply-now" }, "Apply now");
const laterBtn = h("button", { type: "button", class: "btn ghost" }, "Later");
const barList = h("ul", { class: "problems", "aria-label": "Problems reported by the server" });
bar.appendChild(h("div", { class: "inner" }, barMsg, discardBtn, saveBtn, applyBtn, applyNowBtn, laterBtn, barList));

function renderBar() {
  const dirty = isDirty();
  const name = current?.name;
  const hideAll = !current || name === "login" || current.ctl?.ownsSave;
  const show = !hideAll && (dirty || state.problems.length > 0 || state.pendingApply || !!state.blocked);
  bar.hidden = !show;
  if (!show) {
    document.body.style.paddingBottom = "";
    document.body.style.setProperty("--bar-h", "0px");
    return;
  }
  if (state.blocked) replace(barMsg, h("strong", null, h("span", { class: "dot err" }), "Cannot save"), state.blocked);
  else if (state.problems.length) replace(barMsg, h("strong", null, h("span", { class: "dot err" }), "Not saved: the server found problems"), "Fix them and save again; links go to the field.");
  else if (dirty) replace(barMsg, h("strong", null, h("span", { class: "dot" }), "Unsaved changes"), h("span", { class: "muted small" }, "Save writes config.json; Save & apply also switches the running server to it."));
  else replace(barMsg, h("strong", null, "Saved, not applied"), h("span", { class: "muted small" }, "config.json has changes the running server does not use yet."));
  discardBtn.hidden = saveBtn.hidden = applyBtn.hidden = !dirty;
  applyNowBtn.hidden = laterBtn.hidden = dirty || !state.pendingApply || state.problems.length > 0;
  for (const b of [discardBtn, saveBtn, applyBtn, applyNowBtn]) b.disabled = busy;
  saveBtn.disabled = applyBtn.disabled = busy || !!state.blocked;
  replace(barList, state.problems.map((p) => h("li", null,
    h("span", { class: "badge err" }, "error"),
    h("a", { href: pageFor(p.path), class: "path" }, p.path || "config"),
    h("span", null, p.message))));
  // Keep the end of the page reachable above the bar (CSSOM, allowed by the CSP).
  document.body.style.paddingBottom = `${bar.offsetHeight + 24}px`;
  document.body.style.setProperty("--bar-h", `${bar.offsetHeight}px`);
}

function syncKeyAfterApply() {
  let k;
  try { k = JSON.parse(state.saved).APIKEY; } catch { return; }
  if (typeof k === "string" && k.trim() && !isEnvRef(k)) setKey(k.trim());
  else if (!k) setKey("");
  signout.hidden = !getKey();
}

function warnToast() {
  const w = state.warnings;
  if (!w.length) return;
  toast(h("span", null, `${w.length} warning${w.length > 1 ? "s" : ""}: `,
    w.slice(0, 3).map((x, i) => [i ? "; " : "", h("code", null, x.path), " ", x.message]), w.length > 3 ? " …" : ""), "warn", { timeout: 12000 });
}

async function doSave(apply) {
  if (busy) return;
  if (current?.ctl?.beforeSave && current.ctl.beforeSave() === false) return;
  if (state.blocked) {
    toast(state.blocked, "error");
    return;
  }
  if (!isDirty()) return;
  busy = true;
  const label = apply ? applyBtn : saveBtn;
  const text = label.textContent;
  label.textContent = apply ? "Applying…" : "Saving…";
  renderBar();
  try {
    await save({ apply });
    if (apply) syncKeyAfterApply();
    toast(apply ? "Saved and applied: the server now uses this config." : "Saved to config.json. Apply it when you are ready.", "ok", { group: "save" });
    warnToast();
    main.focus({ preventScroll: true });
  } catch (e) {
    if (e.status !== 401) {
      toast(e.problems?.length ? `Not saved: ${e.problems.length} problem${e.problems.length > 1 ? "s" : ""}, listed at the bottom.` : `Not saved: ${e.message}`, "error", { group: "save" });
    }
  } finally {
    busy = false;
    label.textContent = text;
    renderBar();
  }
}

saveBtn.addEventListener("click", () => doSave(false));
applyBtn.addEventListener("click", () => doSave(true));
discardBtn.addEventListener("click", async () => {
  if (await confirmDialog("Throw away every change since the last save?", { title: "Discard changes", ok: "Discard", danger: true })) {
    discard();
    clearToasts("save");
  }
});
applyNowBtn.addEventListener("click", async () => {
  busy = true;
  renderBar();
  try {
    await applySaved();
    syncKeyAfterApply();
    toast("Applied: the server now uses the saved config.", "ok", { group: "save" });
  } catch (e) {
    if (e.status !== 401) toast(`Not applied: ${e.message}`, "error", { group: "save" });
  } finally {
    busy = false;
    renderBar();
  }
});
laterBtn.addEventListener("click", clearPendingApply);

document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s" && current && current.name !== "login" && !current.ctl?.ownsSave) {
    e.preventDefault();
    doSave(e.shiftKey);
  }
});

subscribe((kind) => {
  renderBar();
  if (!current || kind === "change" || kind === "blocked") return;
  if (current.ctl?.refresh?.(kind)) return;
  mountCurrent();
});

// The skip link must not touch the hash, which is the router's.
document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

// ---- Theme ----

const themes = ["system", "light", "dark"];
const themeIcons = { system: "◐", light: "☀", dark: "☾" };
function currentTheme() {
  const t = document.documentElement.dataset.theme;
  return t === "light" || t === "dark" ? t : "system";
}
function showTheme() {
  const t = currentTheme();
  themeBtn.textContent = themeIcons[t];
  themeBtn.setAttribute("aria-label", `Theme: ${t}. Change theme`);
  themeBtn.title = `Theme: ${t}`;
}
themeBtn.addEventListener("click", () => {
  const next = themes[(themes.indexOf(currentTheme()) + 1) % themes.length];
  if (next === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = next;
  try {
    if (next === "system") localStorage.removeItem("ccr.theme");
    else localStorage.setItem("ccr.theme", next);
  } catch { /* not persisted */ }
  showTheme();
});
showTheme();

boot();
