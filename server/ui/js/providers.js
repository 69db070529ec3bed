// Providers: the list, and the editor used both here and by the setup flow.

import { h, id, field, replace, toast, confirmDialog } from "./dom.js";
import { state, change, providers, providersKey, problemsAt, isEnvRef, transformers } from "./store.js";
import { chainEditor, chainSummary } from "./chain.js";

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// Starting points for a new provider. A template's transformer is used only
// if this server has a transformer of that name.
const templates = [
  { label: "OpenAI-compatible (custom)", p: { name: "", api_base_url: "https://", api_key: "", models: [] } },
  { label: "OpenAI", p: { name: "openai", api_base_url: "https://api.openai.com/v1/chat/completions", api_key: "$OPENAI_API_KEY", models: ["gpt-4.1", "gpt-4.1-mini"] } },
  { label: "DeepSeek", p: { name: "deepseek", api_base_url: "https://api.deepseek.com/chat/completions", api_key: "$DEEPSEEK_API_KEY", models: ["deepseek-chat", "deepseek-reasoner"], use: "deepseek" } },
  { label: "OpenRouter", p: { name: "openrouter", api_base_url: "https://openrouter.ai/api/v1/chat/completions", api_key: "$OPENROUTER_API_KEY", models: ["anthropic/claude-sonnet-4", "google/gemini-2.5-pro"], use: "openrouter" } },
  { label: "Google Gemini", p: { name: "gemini", api_base_url: "https://generativelanguage.googleapis.com/v1beta/models/", api_key: "$GEMINI_API_KEY", models: ["gemini-2.5-pro", "gemini-2.5-flash"], use: "gemini" } },
  { label: "Anthropic", p: { name: "anthropic", api_base_url: "https://api.anthropic.com/v1/messages", api_key: "$ANTHROPIC_API_KEY", models: ["claude-sonnet-4-5"], use: "Anthropic" } },
  { label: "Ollama (local)", p: { name: "ollama", api_base_url: "http://127.0.0.1:11434/v1/chat/completions", api_key: "ollama", models: ["qwen2.5-coder:latest"] } },
];

/** keyLabel describes an api_key without showing it. */
export function keyLabel(k) {
  if (typeof k !== "string" || !k) return { text: "no key", cls: "warn" };
  if (isEnvRef(k)) return { text: `key from ${k.trim()}`, cls: "ok" };
  return { text: "key in file", cls: "" };
}

/**
 * providerEditor edits a copy of one provider.
 *   provider  the provider object (copied; unknown fields are kept)
 *   index     its index in the list, for problem paths (list length when new)
 *   isNew     offers templates
 *   defs      transformer definitions
 *   otherNames names of the other providers, for the uniqueness check
 *   onModels  called with the model list whenever it changes
 * Returns {el, value() (a copy), validate(), isDirty(), markClean(), setProblems()}.
 */
export function providerEditor({ provider, index, isNew, defs, otherNames, onModels }) {
  // A new provider starts with the fields in the order people read them.
  const p = structuredClone(isObject(provider) && Object.keys(provider).length ? provider : { name: "", api_base_url: "", api_key: "", models: [] });
  if (!Array.isArray(p.models)) p.models = [];
  let initial = JSON.stringify(p);
  const probBoxes = {};
  const probBox = (k) => (probBoxes[k] = h("div", { class: "probs" }));

  const nameIn = h("input", { type: "text", id: "p-name", value: p.name ?? "", autocomplete: "off", spellcheck: "false", required: true });
  nameIn.addEventListener("input", () => { p.name = nameIn.value.trim(); });
  const urlIn = h("input", { type: "url", id: "p-url", value: p.api_base_url ?? "", autocomplete: "off", spellcheck: "false", required: true, placeholder: "https://api.example.com/v1/chat/completions" });
  urlIn.addEventListener("input", () => { p.api_base_url = urlIn.value.trim(); });
  const keyIn = h("input", { type: "password", id: "p-key", value: p.api_key ?? "", autocomplete: "off", spellcheck: "false", placeholder: "$PROVIDER_API_KEY or the key itself" });
  const keyState = h("span", { class: "hint" });
  const showKey = h("button", { type: "button", class: "btn sm", "aria-pressed": "false", "aria-label": "Show the key" }, "Show");
  showKey.addEventListener("click", () => {
    const shown = keyIn.type === "text";
    keyIn.type = shown ? "password" : "text";
    showKey.setAttribute("aria-pressed", String(!shown));
    showKey.textContent = shown ? "Show" : "Hide";
  });
  const updateKeyState = () => {
    const v = keyIn.value.trim();
    keyState.textContent = !v ? "" : isEnvRef(v) ? `✓ read from the server's environment variable ${v.replace(/[${}]/g, "")}` : "Stored in config.json as written. Prefer $ENV_VAR to keep it out of the file.";
  };
  keyIn.addEventListener("input", () => { p.api_key = keyIn.value.trim(); updateKeyState(); });
  updateKeyState();

  // Models as removable chips.
  const chips = h("ul", { class: "chips", "aria-label": "Models" });
  const modelIn = h("input", { type: "text", id: "p-model-new", autocomplete: "off", spellcheck: "false", placeholder: "model id, e.g. deepseek-chat; Enter adds it" });
  const modelAdd = h("button", { type: "button", class: "btn sm", id: "p-model-add" }, "Add model");
  const addModels = () => {
    const names = modelIn.value.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (!p.models.includes(n)) p.models.push(n);
    modelIn.value = "";
    renderModels();
    modelIn.focus();
  };
  modelIn.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addModels(); } });
  modelAdd.addEventListener("click", addModels);
  const modelChains = h("div");

  function renderModels() {
    replace(chips, p.models.map((m, i) => h("li", { class: "chip" }, m,
      h("button", { type: "button", "aria-label": `Remove model ${m}`, onclick: () => {
        p.models.splice(i, 1);
        if (isObject(p.transformer) && m in p.transformer && m !== "use") delete p.transformer[m];
        renderModels();
        (chips.querySelectorAll("button")[Math.min(i, p.models.length - 1)] || modelIn).focus();
      } }, "×"))));
    if (!p.models.length) chips.appendChild(h("li", { class: "muted small" }, "No models yet."));
    renderModelChains();
    onModels?.(p.models.slice());
  }

  const setChain = (key, use) => {
    if (!isObject(p.transformer)) p.transformer = {};
    if (key === "use") {
      if (use.length) p.transformer.use = use;
      else delete p.transformer.use;
    } else if (use.length) {
      p.transformer[key] = { ...(isObject(p.transformer[key]) ? p.transformer[key] : {}), use };
    } else if (isObject(p.transformer[key])) {
      delete p.transformer[key].use;
      if (!Object.keys(p.transformer[key]).length) delete p.transformer[key];
    }
    if (!Object.keys(p.transformer).length) delete p.transformer;
  };

  const modelEditors = new Map(); // model -> {details, chain}
  function renderModelChains() {
    const tr = isObject(p.transformer) ? p.transformer : {};
    modelEditors.clear();
    replace(modelChains, p.models.map((m, i) => {
      const use = isObject(tr[m]) ? tr[m].use : undefined;
      const n = Array.isArray(use) ? use.length : 0;
      const chain = chainEditor({ use, defs, scope: `model-${i}`, label: `Chain for model ${m}`, emptyText: "No extra transformers for this model.", onChange: (u) => setChain(m, u) });
      const details = h("details", { class: "model-chain", open: n > 0 },
        h("summary", null, m, " ", h("span", { class: "muted" }, n ? `· ${chainSummary(use)}` : "· provider chain only")), chain);
      modelEditors.set(m, { details, chain });
      return details;
    }));
  }

  let providerChain = chainEditor({
    use: isObject(p.transformer) ? p.transformer.use : undefined, defs, scope: "provider", label: "Provider chain",
    emptyText: "No transformers: the upstream gets OpenAI Chat Completions requests as they are.",
    onChange: (u) => setChain("use", u),
  });

  const known = new Set(["name", "api_base_url", "api_key", "models", "transformer"]);
  const extraKeys = Object.keys(p).filter((k) => !known.has(k));

  let templateRow = null;
  if (isNew) {
    const sel = h("select", { id: "p-template" }, templates.map((t, i) => h("option", { value: String(i) }, t.label)));
    sel.addEventListener("change", () => {
      const t = templates[Number(sel.value)].p;
      p.name = t.name; p.api_base_url = t.api_base_url; p.api_key = t.api_key; p.models = t.models.slice();
      delete p.transformer;
      if (t.use && defs.some((d) => d.name === t.use)) p.transformer = { use: [t.use] };
      nameIn.value = p.name; urlIn.value = p.api_base_url; keyIn.value = p.api_key;
      updateKeyState();
      providerChain = chainEditor({ use: p.transformer?.use, defs, scope: "provider", label: "Provider chain",
        emptyText: "No transformers: the upstream gets OpenAI Chat Completions requests as they are.", onChange: (u) => setChain("use", u) });
      replace(chainBox, providerChain);
      renderModels();
    });
    templateRow = field("Start from", sel, { hint: "Fills in the usual URL, key variable, models and transformer. Change anything afterwards." });
  }
  const chainBox = h("div", null, providerChain);

  // A form (never submitted) so the browser treats the key field as a form field.
  const el = h("form", { class: "provider-editor", novalidate: true, onsubmit: (e) => e.preventDefault() },
    probBox("_"),
    templateRow,
    h("div", { class: "grid2" },
      h("div", null, field("Name", nameIn, { hint: "Used in routes as name,model. No commas." }), probBox("name")),
      h("div", null, field("API base URL", urlIn, { hint: "The full endpoint URL, posted to as is (for Gemini: the …/models/ URL)." }), probBox("api_base_url"))),
    h("div", { class: "field" },
      h("label", { for: "p-key" }, "API key"),
      h("div", { class: "inline" }, keyIn, showKey),
      keyState, probBox("api_key")),
    h("div", { class: "field" },
      h("label", { for: "p-model-new" }, "Models"),
      chips,
      h("div", { class: "inline" }, modelIn, modelAdd),
      probBox("models")),
    h("div", { class: "field" },
      h("span", { class: "label", id: "p-chain-label" }, "Transformer chain"),
      h("div", { class: "hint" }, "Applied in order to every request to this provider. Pick from the server's transformers; options appear under each."),
      chainBox),
    h("div", { class: "field" },
      h("span", { class: "label" }, "Model-specific chains"),
      h("div", { class: "hint" }, "Run after the provider chain, only for that model."),
      modelChains, probBox("transformer")),
    extraKeys.length ? h("p", { class: "muted small" }, "Other fields kept as they are: ", extraKeys.map((k, i) => [i ? ", " : "", h("code", null, k)])) : null);

  renderModels();

  function validate() {
    const errs = {};
    const name = (p.name ?? "").trim();
    if (!name) errs.name = "A name is required.";
    else if (name.includes(",")) errs.name = "The name cannot contain a comma (routes are written name,model).";
    else if (otherNames.includes(name)) errs.name = `Another provider is already called ${name}.`;
    const url = (p.api_base_url ?? "").trim();
    if (!url) errs.api_base_url = "The base URL is required.";
    else {
      try {
        const u = new URL(url);
        if (u.protocol !== "http:" && u.protocol !== "https:") errs.api_base_url = "Use an http:// or https:// URL.";
      } catch {
        errs.api_base_url = "This is not a URL.";
      }
    }
    if (!p.models.length) errs.models = "Add at least one model.";
    const list = Object.entries(errs).map(([k, message]) => ({ key: k, message }));
    showProblems(list);
    const first = list[0]?.key;
    if (first) ({ name: nameIn, api_base_url: urlIn, models: modelIn })[first]?.focus();
    return list.length === 0;
  }

  function showProblems(list) {
    for (const box of Object.values(probBoxes)) box.replaceChildren();
    for (const input of [nameIn, urlIn, keyIn, modelIn]) input.removeAttribute("aria-invalid");
    for (const pr of list) {
      const box = probBoxes[pr.key] || probBoxes._;
      box.appendChild(h("div", { class: "problem" + (pr.warning ? " warning" : "") }, pr.path ? `${pr.path}: ${pr.message}` : pr.message));
      const input = { name: nameIn, api_base_url: urlIn, api_key: keyIn, models: modelIn }[pr.key];
      if (input && !pr.warning) input.setAttribute("aria-invalid", "true");
    }
  }

  /** setProblems shows the server's problems for this provider (paths under Providers[index]). */
  function setProblems() {
    const prefix = `${providersKey()}[${index}]`;
    const chains = new Map([[providerChain, []]]);
    for (const { chain } of modelEditors.values()) chains.set(chain, []);
    const list = [];
    for (const pr of problemsAt(prefix, { prefix: true })) {
      const rest = String(pr.path).slice(prefix.length).replace(/^\./, "");
      const at = chainOf(rest);
      if (at) {
        chains.get(at.chain).push({ index: at.index, message: at.sub ? `${at.sub}: ${pr.message}` : pr.message, warning: pr.warning });
        if (at.details) at.details.open = true;
        continue;
      }
      const key = rest.split(/[.[]/)[0];
      list.push({ ...pr, key: key in probBoxes ? key : "_", path: key in probBoxes ? "" : rest || "" });
    }
    for (const [chain, probs] of chains) chain.setProblems(probs);
    showProblems(list);
  }

  // chainOf finds the chain editor and entry a path below the provider
  // refers to: transformer.use[2][1] or transformer.<model>.use[0].
  function chainOf(rest) {
    const entry = (tail) => {
      const m = /^\.use(?:\[(\d+)\](.*))?$/.exec(tail);
      const sub = (m?.[2] || "").replace(/^\[0\]/, "name").replace(/^\[1\]\.?/, "options ").replace(/^\./, "").trim();
      return m ? { index: m[1] === undefined ? -1 : Number(m[1]), sub } : null;
    };
    if (!rest.startsWith("transformer.")) return null;
    const tail = rest.slice("transformer".length);
    const own = entry(tail);
    if (own) return { chain: providerChain, ...own };
    for (const [m, ed] of modelEditors) {
      if (tail === "." + m || tail.startsWith("." + m + ".")) {
        return { chain: ed.chain, details: ed.details, ...(entry(tail.slice(m.length + 1)) || { index: -1, sub: tail.slice(m.length + 2) }) };
      }
    }
    return null;
  }

  setProblems();
  return {
    el, validate, setProblems,
    value: () => {
      const v = structuredClone(p);
      if (v.api_key === "") delete v.api_key; // no key at all rather than an empty one
      return v;
    },
    isDirty: () => JSON.stringify(p) !== initial,
    markClean: () => { initial = JSON.stringify(p); },
  };
}

// ---- The page ----

/** mount renders #/providers, #/providers/new or #/providers/edit/<i>. */
export function mount(el, route) {
  if (route.args[0] === "new" || route.args[0] === "edit") return mountEditor(el, route);
  return mountList(el, route);
}

function mountList(el) {
  const list = providers();
  const filter = h("input", { type: "search", placeholder: "Filter by name or model", "aria-label": "Filter providers", id: "p-filter" });
  const box = h("div", { class: "provider-list" });
  const routes = state.draft?.Router && isObject(state.draft.Router) ? state.draft.Router : {};

  function usedBy(name) {
    return Object.entries(routes).filter(([, v]) => typeof v === "string" && v.split(",")[0] === name).map(([k]) => k);
  }

  function render() {
    const q = filter.value.trim().toLowerCase();
    const items = list.map((p, i) => ({ p, i })).filter(({ p }) => !q || JSON.stringify([p?.name, p?.models]).toLowerCase().includes(q));
    if (!list.length) {
      replace(box, h("div", { class: "card empty" }, h("p", null, "No providers yet."), h("a", { class: "btn primary", href: "#/setup" }, "Run first-time setup")));
      return;
    }
    replace(box, items.map(({ p, i }) => {
      const k = keyLabel(p?.api_key);
      const chain = chainSummary(p?.transformer?.use);
      const used = usedBy(p?.name);
      const probs = problemsAt(`${providersKey()}[${i}]`, { prefix: true }).filter((x) => !x.warning);
      return h("article", { class: "card provider", "aria-labelledby": `prov-${i}` },
        h("div", null,
          h("h2", { id: `prov-${i}` }, p?.name || "(unnamed)", " ",
            h("span", { class: "badge " + k.cls }, k.text), " ",
            probs.length ? h("span", { class: "badge err" }, `${probs.length} problem${probs.length > 1 ? "s" : ""}`) : null),
          h("div", { class: "url" }, p?.api_base_url || ""),
          h("ul", { class: "chips", "aria-label": "Models" },
            (Array.isArray(p?.models) ? p.models : []).map((m) => {
              const mc = chainSummary(p?.transformer?.[m]?.use);
              return h("li", { class: "chip static", title: mc ? `model chain: ${mc}` : null }, m, mc ? " ⚙" : "");
            })),
          h("p", { class: "small muted" }, chain ? ["Chain: ", h("code", null, chain)] : "No transformers (OpenAI Chat Completions).",
            used.length ? ` · Routes: ${used.join(", ")}` : "")),
        h("div", { class: "btn-row" },
          h("a", { class: "btn", href: `#/providers/edit/${i}`, "aria-label": `Edit ${p?.name}` }, "Edit"),
          h("button", { type: "button", class: "btn danger", "aria-label": `Delete ${p?.name}`, onclick: () => del(i) }, "Delete")));
    }));
    if (!items.length) box.appendChild(h("p", { class: "muted" }, "No provider matches."));
  }

  async function del(i) {
    const p = list[i];
    const used = usedBy(p?.name);
    const ok = await confirmDialog(
      used.length ? `Delete ${p?.name}? The routes ${used.join(", ")} point at it and will be cleared.` : `Delete ${p?.name}? Nothing is written until you save.`,
      { title: "Delete provider", ok: "Delete", danger: true });
    if (!ok) return;
    change((cfg) => {
      cfg[providersKey(cfg)].splice(i, 1);
      for (const r of used) delete cfg.Router[r];
    });
    render();
    toast(`Deleted ${p?.name}. Save to keep the change.`);
  }

  filter.addEventListener("input", render);
  replace(el,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Providers"), h("p", { class: "muted" }, "Upstream APIs that requests are routed to.")),
      h("a", { class: "btn primary", href: "#/providers/new", id: "p-new" }, "Add provider")),
    list.length > 3 ? h("div", { class: "field" }, filter) : null,
    box);
  render();
  return {};
}

function mountEditor(el, route) {
  const key = providersKey();
  const list = providers();
  const isNew = route.args[0] === "new";
  let index = isNew ? list.length : Number(route.args[1]);
  if (!isNew && !(index >= 0 && index < list.length)) {
    replace(el, h("div", { class: "card empty" }, h("p", null, "That provider does not exist."), h("a", { class: "btn", href: "#/providers" }, "Back to providers")));
    return {};
  }
  let editor = null;
  let committed = false;
  const head = h("div", { class: "page-head" },
    h("div", null, h("h1", null, isNew ? "Add provider" : `Edit ${list[index]?.name ?? "provider"}`),
      h("p", { class: "muted" }, "Changes stay in this browser until you save.")));
  const body = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading transformers…"));
  replace(el, head, body);

  function commit() {
    if (!editor.validate()) return false;
    const p = editor.value();
    const old = isNew && !committed ? null : providers()[index];
    const renamed = old && old.name !== p.name ? old.name : null;
    change((cfg) => {
      if (!Array.isArray(cfg[key])) cfg[key] = [];
      if (isNew && !committed) cfg[key].push(p);
      else cfg[key][index] = p;
      if (renamed && isObject(cfg.Router)) {
        for (const [r, v] of Object.entries(cfg.Router)) {
          if (typeof v === "string" && v.split(",")[0] === renamed) cfg.Router[r] = p.name + v.slice(renamed.length);
        }
      }
    });
    if (renamed) toast(`Routes using ${renamed} now use ${p.name}.`);
    if (isNew && !committed) history.replaceState(null, "", `#/providers/edit/${index}`);
    committed = true;
    editor.markClean();
    return true;
  }

  const done = h("button", { type: "button", class: "btn primary", id: "p-done" }, isNew ? "Add provider" : "Done");
  const cancel = h("a", { class: "btn", href: "#/providers", id: "p-cancel" }, "Cancel");
  done.addEventListener("click", () => {
    if (!commit()) return;
    location.hash = "#/providers";
  });

  let ready = false;
  transformers().then((defs) => {
    const others = list.filter((_, i) => i !== index).map((p) => p?.name);
    editor = providerEditor({ provider: isNew ? {} : list[index], index, isNew, defs, otherNames: others });
    replace(body, editor.el, h("div", { class: "btn-row actions" }, done, cancel));
    ready = true;
    (isNew ? el.querySelector("#p-template") : el.querySelector("#p-name"))?.focus();
  });

  return {
    canLeave: () => !ready || !editor.isDirty(),
    leaveMessage: "This provider has edits that are not in the config yet.",
    // Saving from the save bar first puts the editor's edits into the config.
    beforeSave: () => (!ready || !editor.isDirty() ? true : commit()),
    refresh: (kind) => {
      if (kind === "problems" && ready) editor.setProblems();
      return kind === "problems";
    },
  };
}
