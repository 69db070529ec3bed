// Settings: the server-wide keys of config.json.

import { h, field, replace, toast } from "./dom.js";
import { state, change, problemsAt, randomKey, isEnvRef, providersKey } from "./store.js";

const loopback = (host) => !host || host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);

/** mount renders #/settings. */
export function mount(el) {
  const cfg = state.draft;
  const set = (key, value) => change((c) => {
    if (value === undefined) delete c[key];
    else c[key] = value;
    warn();
  });
  const probs = (k) => problemsAt(k);
  const text = (key, attrs = {}) => {
    const input = h("input", { type: "text", id: `s-${key}`, value: typeof cfg[key] === "string" || typeof cfg[key] === "number" ? String(cfg[key]) : "", spellcheck: "false", autocomplete: "off", ...attrs });
    input.addEventListener("input", () => set(key, input.value.trim() === "" ? undefined : input.value.trim()));
    return input;
  };
  const number = (key, attrs = {}) => {
    const input = h("input", { type: "number", id: `s-${key}`, value: typeof cfg[key] === "number" || typeof cfg[key] === "string" ? String(cfg[key]) : "", ...attrs });
    input.addEventListener("input", () => set(key, input.value === "" || !Number.isFinite(input.valueAsNumber) ? undefined : input.valueAsNumber));
    return input;
  };

  // API key, with show and generate.
  const keyIn = text("APIKEY", { type: "password", placeholder: "$CCR_API_KEY or a long random string" });
  const show = h("button", { type: "button", class: "btn sm", "aria-pressed": "false" }, "Show");
  show.addEventListener("click", () => {
    const shown = keyIn.type === "text";
    keyIn.type = shown ? "password" : "text";
    show.setAttribute("aria-pressed", String(!shown));
    show.textContent = shown ? "Show" : "Hide";
  });
  const gen = h("button", { type: "button", class: "btn sm" }, "Generate");
  gen.addEventListener("click", () => {
    keyIn.value = randomKey();
    keyIn.type = "text";
    show.textContent = "Hide";
    show.setAttribute("aria-pressed", "true");
    set("APIKEY", keyIn.value);
    toast("New key generated. After applying, sign in with it and give it to Claude Code.", "warn", { timeout: 8000 });
  });
  const keyProbs = probs("APIKEY");
  const keyField = h("div", { class: "field" },
    h("label", { for: keyIn.id }, "API key (APIKEY)"),
    h("div", { class: "inline" }, keyIn, show, gen),
    h("div", { class: "hint" }, "Clients send it as x-api-key or Authorization: Bearer. $ENV_VAR reads it from the server's environment."),
    keyProbs.map((p) => h("div", { class: "problem" + (p.warning ? " warning" : "") }, p.message)));

  const hostIn = text("HOST", { placeholder: "127.0.0.1" });
  const portIn = number("PORT", { placeholder: "3456", min: "1", max: "65535" });
  const levelSel = h("select", { id: "s-LOG_LEVEL" },
    h("option", { value: "" }, "default"),
    ["debug", "info", "warn", "error"].map((l) => h("option", { value: l, selected: cfg.LOG_LEVEL === l }, l)),
    typeof cfg.LOG_LEVEL === "string" && !["debug", "info", "warn", "error", ""].includes(cfg.LOG_LEVEL) ? h("option", { value: cfg.LOG_LEVEL, selected: true }, cfg.LOG_LEVEL) : null);
  levelSel.addEventListener("change", () => set("LOG_LEVEL", levelSel.value || undefined));
  const logChk = h("input", { type: "checkbox", id: "s-LOG", checked: cfg.LOG !== false });
  // LOG defaults to on: turning it back on removes the key unless the file had it.
  logChk.addEventListener("change", () => set("LOG", logChk.checked ? ("LOG" in JSON.parse(state.saved) ? true : undefined) : false));
  const timeoutIn = number("API_TIMEOUT_MS", { placeholder: "600000", min: "0", step: "1000" });
  const proxyIn = text("PROXY_URL", { placeholder: "http://127.0.0.1:7890" });

  const warnBox = h("div", { "aria-live": "polite" });
  function warn() {
    const host = String(state.draft.HOST ?? "").trim();
    const key = String(state.draft.APIKEY ?? "").trim();
    replace(warnBox, !loopback(host) && !key
      ? h("div", { class: "banner warn" }, `HOST ${host} accepts connections from other machines, and there is no API key: anyone on the network could use your providers. Set an API key.`)
      : null);
  }
  warn();

  const known = new Set(["APIKEY", "HOST", "PORT", "LOG", "LOG_LEVEL", "API_TIMEOUT_MS", "PROXY_URL", "Router", providersKey(cfg)]);
  const extra = Object.keys(cfg).filter((k) => !known.has(k));

  const form = h("form", { novalidate: true, onsubmit: (e) => e.preventDefault() });
  replace(el, form);
  replace(form,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, "Settings"), h("p", { class: "muted" }, "Server-wide options. HOST and PORT take effect when the server restarts."))),
    warnBox,
    h("section", { class: "card", "aria-labelledby": "s-access" },
      h("h2", { id: "s-access" }, "Access"),
      keyField,
      h("div", { class: "grid2" },
        field("Listen address (HOST)", hostIn, { hint: "127.0.0.1 keeps it on this machine. 0.0.0.0 needs an API key.", problems: probs("HOST") }),
        field("Port (PORT)", portIn, { hint: "Default 3456.", problems: probs("PORT") })),
      isEnvRef(cfg.APIKEY) ? h("p", { class: "muted small" }, "The key comes from the environment; to sign in, use its value.") : null),
    h("section", { class: "card", "aria-labelledby": "s-logs" },
      h("h2", { id: "s-logs" }, "Logging and upstream"),
      h("div", { class: "field" }, h("label", { class: "check", for: logChk.id }, logChk, "Write log files (LOG)"),
        probs("LOG").map((p) => h("div", { class: "problem" }, p.message))),
      h("div", { class: "grid2" },
        field("Log level (LOG_LEVEL)", levelSel, { hint: "debug logs full request bodies; info is a good default.", problems: probs("LOG_LEVEL") }),
        field("Upstream timeout (API_TIMEOUT_MS)", timeoutIn, { hint: "Milliseconds. Default 600000 (10 minutes).", problems: probs("API_TIMEOUT_MS") })),
      field("Proxy for upstream calls (PROXY_URL)", proxyIn, { hint: "An http:// or https:// proxy. Empty for direct connections.", problems: probs("PROXY_URL") })),
    extra.length ? h("p", { class: "muted small" }, "Other keys kept as they are: ", extra.map((k, i) => [i ? ", " : "", h("code", null, k)]), ". Edit them in ", h("a", { href: "#/json" }, "Raw JSON"), ".") : null);
  return {};
}
