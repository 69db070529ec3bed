// Login: ask for the API key, check it, keep it in this browser.

import { h, replace } from "./dom.js";
import { url, getKey, setKey } from "./api.js";

/** mount renders the login form; on success it fires "ccr:reload" with the page to return to. */
export function mount(el, route) {
  const back = route.query.get("next") || "";
  const input = h("input", { type: "password", id: "login-key", autocomplete: "current-password", spellcheck: "false", required: true });
  const err = h("div", { class: "problem", id: "login-error", hidden: true, role: "alert" });
  const btn = h("button", { type: "submit", class: "btn primary", id: "login-submit" }, "Sign in");
  const form = h("form", { class: "card login", "aria-labelledby": "login-title", novalidate: true },
    h("h1", { id: "login-title" }, "Sign in to ccr"),
    h("p", { class: "muted" }, "This server asks for its API key: the APIKEY value in config.json, or the value of the environment variable it names."),
    h("div", { class: "field" }, h("label", { for: input.id }, "API key"), input, err),
    h("div", { class: "btn-row" }, btn),
    h("p", { class: "muted small" }, "The key is kept in this browser's local storage and sent as the x-api-key header."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) { input.focus(); return; }
    btn.disabled = true;
    err.hidden = true;
    const prev = getKey();
    setKey(key);
    try {
      // Checked with fetch, not api(): a 401 here must not fire the login again.
      const res = await fetch(url("/api/status"), { headers: { "x-api-key": key }, cache: "no-store" });
      if (res.status === 401 || res.status === 403) throw new Error("That key was not accepted.");
      if (!res.ok) throw new Error(`The server answered ${res.status}.`);
      window.dispatchEvent(new CustomEvent("ccr:reload", { detail: { hash: back && !back.startsWith("#/login") ? back : "#/status" } }));
    } catch (x) {
      setKey(prev);
      err.textContent = x.message === "Failed to fetch" ? "Cannot reach the ccr server." : x.message;
      err.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.select();
    } finally {
      btn.disabled = false;
    }
  });
  replace(el, form);
  input.focus();
  return { refresh: () => true };
}
