// First-run setup: one provider, the default route and an API key, applied
// in one go.

import { h, field, replace, toast } from "./dom.js";
import { state, providers, providersKey, replaceDraft, save, problemsAt, randomKey, transformers, isEnvRef } from "./store.js";
import { getKey, setKey } from "./api.js";
import { providerEditor } from "./providers.js";

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** mount renders #/setup. */
export function mount(el) {
  if (providers().length) {
    replace(el, h("div", { class: "card empty" },
      h("h1", null, "ccr is set up"),
      h("p", null, `It has ${providers().length} provider${providers().length > 1 ? "s" : ""}.`),
      h("div", { class: "btn-row center" },
        h("a", { class: "btn primary", href: "#/providers/new" }, "Add another provider"),
        h("a", { class: "btn", href: "#/status" }, "Status"))));
    return {};
  }

  let editor = null;
  let busy = false;
  const defaultSel = h("select", { id: "setup-default" });
  const problemsBox = h("div", { role: "alert" });
  const keyVal = randomKey();
  let keyMode = "generate";
  const envIn = h("input", { type: "text", id: "setup-key-env", value: "$CCR_API_KEY", spellcheck: "false", autocomplete: "off" });
  const keyCode = h("code", { id: "setup-key" }, keyVal);
  let generated = keyVal;
  const copyBtn = h("button", { type: "button", class: "btn sm" }, "Copy");
  copyBtn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(generated);
      toast("Key copied.");
    } catch {
      const r = document.createRange();
      r.selectNodeContents(keyCode);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      toast("Select and copy the key by hand.", "warn");
    }
  });
  const regenBtn = h("button", { type: "button", class: "btn sm" }, "New key");
  regenBtn.addEventListener("click", () => { generated = randomKey(); keyCode.textContent = generated; });

  const genPanel = h("div", { class: "keybox" }, keyCode, copyBtn, regenBtn);
  const envPanel = field("Environment variable", envIn, { hint: "The server reads the key from this variable when it starts. You will be asked for its value to sign in." });
  const nonePanel = h("p", { class: "banner warn" }, "Without a key, anything that can reach the port can use your providers. Only do this while ccr listens on 127.0.0.1.");
  const radio = (value, label) => {
    const r = h("input", { type: "radio", name: "keymode", value, id: `keymode-${value}`, checked: value === keyMode });
    r.addEventListener("change", () => { keyMode = value; showKeyPanel(); });
    return h("label", { class: "check", for: r.id }, r, label);
  };
  function showKeyPanel() {
    genPanel.hidden = keyMode !== "generate";
    envPanel.hidden = keyMode !== "env";
    nonePanel.hidden = keyMode !== "none";
  }

  function updateModels(models) {
    const prev = defaultSel.value;
    replace(defaultSel, models.length
      ? models.map((m) => h("option", { value: m, selected: m === prev }, m))
      : h("option", { value: "" }, "add a model above first"));
    defaultSel.disabled = !models.length;
  }

  const applyBtn = h("button", { type: "button", class: "btn primary", id: "setup-apply" }, "Save & apply");
  applyBtn.addEventListener("click", apply);
  const stepProvider = h("section", { class: "card step", "aria-labelledby": "st1" },
    h("h2", { id: "st1" }, "Add your first provider"), h("p", { class: "muted" }, "Loading transformers…"));

  replace(el,
    h("div", { class: "page-head" }, h("div", null,
      h("h1", null, "Welcome to ccr"),
      h("p", { class: "muted" }, "Three steps: where requests go, which model handles them, and who may use this server."))),
    h("div", { class: "steps" },
      stepProvider,
      h("section", { class: "card step", "aria-labelledby": "st2" },
        h("h2", { id: "st2" }, "Choose the default model"),
        field("Default route", defaultSel, { hint: "Every request goes here unless a Router rule (background, thinking, long context…) says otherwise. You can add those rules later." })),
      h("section", { class: "card step", "aria-labelledby": "st3" },
        h("h2", { id: "st3" }, "Protect it with an API key"),
        h("p", { class: "muted" }, "Claude Code sends this key as ANTHROPIC_AUTH_TOKEN; this page will remember it in this browser."),
        h("div", { class: "radio-group", role: "radiogroup", "aria-label": "API key" },
          radio("generate", "Generate a random key (recommended)"),
          radio("env", "Read it from an environment variable"),
          radio("none", "No key")),
        genPanel, envPanel, nonePanel)),
    problemsBox,
    h("div", { class: "btn-row" }, applyBtn,
      h("span", { class: "muted small" }, "Writes config.json and switches the running server to it. Nothing leaves this machine."),
      h("a", { href: "#/json", class: "small push" }, "Edit raw JSON instead")));
  showKeyPanel();
  updateModels([]);

  transformers().then((defs) => {
    editor = providerEditor({ provider: {}, index: 0, isNew: true, defs, otherNames: [], onModels: updateModels });
    replace(stepProvider, h("h2", { id: "st1" }, "Add your first provider"), editor.el);
  });

  function showProblems(list, message) {
    replace(problemsBox, list.length || message ? h("div", { class: "banner error" },
      h("strong", null, message || "The server did not accept this configuration."),
      list.length ? h("ul", null, list.map((p) => h("li", null, h("code", null, p.path), " ", p.message))) : null) : null);
  }

  async function apply() {
    if (busy || !editor) return;
    if (!editor.validate()) return;
    if (!defaultSel.value) { defaultSel.focus(); return; }
    let apiKey;
    if (keyMode === "generate") apiKey = generated;
    else if (keyMode === "env") {
      apiKey = envIn.value.trim();
      if (!isEnvRef(apiKey)) {
        showProblems([], "Write the variable as $NAME, in capitals, for example $CCR_API_KEY.");
        envIn.focus();
        return;
      }
    }
    const p = editor.value();
    const cfg = structuredClone(isObject(state.draft) ? state.draft : {});
    cfg[providersKey(cfg)] = [p];
    cfg.Router = { ...(isObject(cfg.Router) ? cfg.Router : {}), default: `${p.name},${defaultSel.value}` };
    if (apiKey) cfg.APIKEY = apiKey;
    else delete cfg.APIKEY;

    busy = true;
    applyBtn.disabled = true;
    applyBtn.textContent = "Applying…";
    const prevKey = getKey();
    if (keyMode === "generate") setKey(apiKey);
    replaceDraft(cfg);
    try {
      await save({ apply: true });
      showProblems([]);
      toast("Saved and applied. ccr is ready.", "ok", { group: "save" });
      window.dispatchEvent(new CustomEvent("ccr:reload", { detail: { hash: "#/status?welcome=1" } }));
    } catch (e) {
      setKey(prevKey);
      showProblems(e.problems || [], e.problems?.length ? "" : e.message);
      editor.setProblems();
      const router = problemsAt("Router", { prefix: true });
      if (router.length) defaultSel.setAttribute("aria-invalid", "true");
      problemsBox.scrollIntoView({ block: "nearest" });
    } finally {
      busy = false;
      applyBtn.disabled = false;
      applyBtn.textContent = "Save & apply";
    }
  }

  return {
    canLeave: () => !editor || !editor.isDirty(),
    leaveMessage: "The setup is not finished.",
    refresh: () => true,
    ownsSave: true,
  };
}
