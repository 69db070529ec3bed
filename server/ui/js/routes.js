// Router: which provider,model handles which kind of request.

import { h, replace } from "./dom.js";
import { state, change, pairs, problemsAt } from "./store.js";

// The rules in the order the server checks them, each with when it applies.
const rules = [
  { key: "default", label: "Default", when: "Every request that no rule below picks up. Required." },
  { key: "longContext", label: "Long context", when: "When the request's estimated input is above the threshold below (checked first, after an explicit provider,model in the request)." },
  { key: "background", label: "Background", when: "Claude Code's small background tasks: requests whose model name contains both “claude” and “haiku”." },
  { key: "webSearch", label: "Web search", when: "When the request offers a web search tool (a tool type starting with web_search)." },
  { key: "think", label: "Thinking", when: "When the request turns on extended thinking, as plan mode does." },
  { key: "image", label: "Image", when: "When the latest user message contains an image; pick a model that can see. (Beta.)" },
];

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** mount renders #/router. */
export function mount(el) {
  const r = isObject(state.draft.Router) ? state.draft.Router : {};
  const all = pairs();
  const byProvider = new Map();
  for (const p of all) {
    if (!byProvider.has(p.provider)) byProvider.set(p.provider, []);
    byProvider.get(p.provider).push(p);
  }
  const set = (key, value) => change((cfg) => {
    if (!isObject(cfg.Router)) cfg.Router = {};
    if (value === undefined) delete cfg.Router[key];
    else cfg.Router[key] = value;
  });

  const rows = rules.map((rule) => {
    const cur = typeof r[rule.key] === "string" ? r[rule.key] : "";
    const known = all.some((p) => p.value === cur);
    const sel = h("select", { id: `route-${rule.key}`, "aria-describedby": `route-${rule.key}-when` },
      h("option", { value: "" }, rule.key === "default" ? "— choose a model —" : "not set (use default)"),
      cur && !known ? h("option", { value: cur, selected: true }, `${cur} (not configured)`) : null,
      [...byProvider].map(([prov, list]) => h("optgroup", { label: prov },
        list.map((p) => h("option", { value: p.value, selected: p.value === cur }, `${p.provider}, ${p.model}`)))));
    const probs = problemsAt(`Router.${rule.key}`);
    const note = h("div", { class: "probs" });
    const showNote = () => {
      const v = sel.value;
      const msgs = probs.map((p) => h("div", { class: "problem" + (p.warning ? " warning" : "") }, p.message));
      if (v && !all.some((p) => p.value === v)) msgs.push(h("div", { class: "problem warning" }, "No configured provider has this model."));
      if (!v && rule.key === "default") msgs.push(h("div", { class: "problem warning" }, "Requests without a matching rule will fail until a default is set."));
      replace(note, msgs);
      if (probs.some((p) => !p.warning)) sel.setAttribute("aria-invalid", "true");
    };
    sel.addEventListener("change", () => {
      set(rule.key, sel.value || undefined);
      probs.length = 0;
      sel.removeAttribute("aria-invalid");
      showNote();
    });
    showNote();
    return h("div", { class: "rule" },
      h("label", { for: sel.id }, rule.label),
      h("div", null, sel, h("div", { class: "when", id: `route-${rule.key}-when` }, rule.when), note));
  });

  const thr = h("input", { type: "number", id: "route-threshold", min: "1", step: "1000", placeholder: "60000",
    value: typeof r.longContextThreshold === "number" ? String(r.longContextThreshold) : "" });
  thr.addEventListener("input", () => {
    const n = thr.valueAsNumber;
    set("longContextThreshold", thr.value === "" || !Number.isFinite(n) ? undefined : Math.round(n));
  });
  const thrProbs = problemsAt("Router.longContextThreshold");
  if (thrProbs.some((p) => !p.warning)) thr.setAttribute("aria-invalid", "true");
  const thrRow = h("div", { class: "rule" },
    h("label", { for: thr.id }, "Long-context threshold"),
    h("div", null, thr,
      h("div", { class: "when" }, "Input tokens above which the long-context rule applies. Empty means 60,000."),
      thrProbs.map((p) => h("div", { class: "problem" + (p.warning ? " warning" : "") }, p.message))));
  rows.splice(2, 0, thrRow);

  const known = new Set([...rules.map((x) => x.key), "longContextThreshold"]);
  const extra = Object.keys(r).filter((k) => !known.has(k));
  const other = problemsAt("Router").concat(extra.flatMap((k) => problemsAt(`Router.${k}`)));

  replace(el,
    h("div", { class: "page-head" }, h("div", null,
      h("h1", null, "Router"),
      h("p", { class: "muted" }, "Which model handles which kind of request. A request that names provider,model itself goes there directly."))),
    !all.length ? h("div", { class: "banner warn" }, "No provider has models yet. ", h("a", { href: "#/providers" }, "Add one"), " to choose routes.") : null,
    other.length ? h("div", { class: "banner error" }, h("ul", null, other.map((p) => h("li", null, h("code", null, p.path), " ", p.message)))) : null,
    h("div", { class: "card" }, rows),
    extra.length ? h("p", { class: "muted small" }, "Other Router keys kept as they are: ", extra.map((k, i) => [i ? ", " : "", h("code", null, k)]), ". Edit them in ", h("a", { href: "#/json" }, "Raw JSON"), ".") : null);
  return {};
}
