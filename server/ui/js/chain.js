// The transformer chain editor: an ordered list of `use` entries, each a
// name or [name, {options}], with the options the server documents for
// that transformer.

import { h, id, replace } from "./dom.js";

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

// normalize turns a `use` entry into {name, options} or, for shapes the
// editor does not understand, {name, raw} which is kept untouched.
function normalize(entry) {
  if (typeof entry === "string") return { name: entry, options: {} };
  if (Array.isArray(entry) && typeof entry[0] === "string" && entry.length <= 2 && (entry.length === 1 || isObject(entry[1]))) {
    return { name: entry[0], options: { ...(entry[1] || {}) } };
  }
  return { name: Array.isArray(entry) ? String(entry[0]) : JSON.stringify(entry), raw: entry };
}

function denormalize(e) {
  if ("raw" in e) return e.raw;
  return Object.keys(e.options).length ? [e.name, e.options] : e.name;
}

/**
 * chainEditor returns an element editing a `use` array.
 *   use          the current entries (may be undefined)
 *   defs         transformer definitions from /api/transformers
 *   onChange     called with the new array after every edit
 *   scope        a short id-safe string, unique on the page ("provider", "model-3")
 *   label        accessible name of the chain ("Provider chain")
 *   emptyText    what an empty chain means
 */
export function chainEditor({ use, defs, onChange, scope, label, emptyText }) {
  const byName = new Map(defs.map((d) => [d.name, d]));
  let entries = (Array.isArray(use) ? use : []).map(normalize);
  const open = new Set();
  const list = h("ol", { class: "chain", "aria-label": label });
  const listId = id("dl");
  const datalist = h("datalist", { id: listId }, defs.map((d) => h("option", { value: d.name }, d.description || "")));
  const addInput = h("input", { type: "text", id: `chain-add-${scope}`, list: listId, placeholder: "transformer name", autocomplete: "off", "aria-label": `Add transformer to ${label}` });
  const addHint = h("div", { class: "hint", "aria-live": "polite" });
  const addBtn = h("button", { type: "button", class: "btn sm", id: `chain-add-btn-${scope}` }, "Add");

  // Problems from the server, by entry index (-1: the chain as a whole).
  // Any edit clears them: the indexes no longer match.
  let problems = [];
  const chainProblems = h("div", { class: "probs" });
  const emit = () => {
    if (problems.length) { problems = []; render(); }
    onChange(entries.map(denormalize));
  };

  function add() {
    const name = addInput.value.trim();
    if (!name) { addInput.focus(); return; }
    entries.push({ name, options: {} });
    if (byName.get(name)?.options?.length) open.add(entries.length - 1);
    addInput.value = "";
    describe();
    emit();
    render();
    addInput.focus();
  }

  function describe() {
    const d = byName.get(addInput.value.trim());
    if (d) replace(addHint, d.description || "", d.endpoint ? ` Speaks ${d.endpoint}.` : "");
    else if (addInput.value.trim()) replace(addHint, "Not a transformer this server knows; saving will report it if it is unknown.");
    else replace(addHint, defs.length ? `${defs.length} transformers available; the first in the chain that speaks an API sets the upstream format.` : "");
  }

  addInput.addEventListener("input", describe);
  addInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); add(); }
  });
  addBtn.addEventListener("click", add);

  function move(i, delta, focusSel) {
    const j = i + delta;
    if (j < 0 || j >= entries.length) return;
    [entries[i], entries[j]] = [entries[j], entries[i]];
    const oi = open.has(i), oj = open.has(j);
    open.delete(i); open.delete(j);
    if (oi) open.add(j);
    if (oj) open.add(i);
    emit();
    render();
    const btn = list.children[j]?.querySelector(focusSel);
    (btn && !btn.disabled ? btn : list.children[j]?.querySelector("button"))?.focus();
  }

  function remove(i) {
    entries.splice(i, 1);
    const next = new Set();
    for (const k of open) if (k < i) next.add(k); else if (k > i) next.add(k - 1);
    open.clear();
    for (const k of next) open.add(k);
    emit();
    render();
    addInput.focus();
  }

  function optionsPanel(e) {
    const d = byName.get(e.name);
    const declared = d?.options || [];
    const known = new Set(declared.map((o) => o.name));
    const rows = [];
    for (const o of declared) rows.push(optionField(e, o));
    const extra = {};
    for (const [k, v] of Object.entries(e.options)) if (!known.has(k)) extra[k] = v;
    const ta = h("textarea", { rows: 2, spellcheck: "false", value: Object.keys(extra).length ? JSON.stringify(extra, null, 2) : "" });
    const err = h("div", { class: "problem", hidden: true });
    ta.addEventListener("input", () => {
      let obj = {};
      const t = ta.value.trim();
      if (t) {
        try { obj = JSON.parse(t); } catch (x) { return bad(x.message); }
        if (!isObject(obj)) return bad("must be a JSON object, like {\"key\": 1}");
      }
      err.hidden = true;
      ta.removeAttribute("aria-invalid");
      for (const k of Object.keys(e.options)) if (!known.has(k)) delete e.options[k];
      Object.assign(e.options, obj);
      emit();
    });
    function bad(msg) {
      err.hidden = false;
      err.textContent = msg;
      ta.setAttribute("aria-invalid", "true");
    }
    ta.id = id("opt");
    rows.push(h("div", { class: "field" },
      h("label", { for: ta.id }, declared.length ? "Other options (JSON object)" : "Options (JSON object)"), ta, err));
    return h("div", { class: "opts" }, rows);
  }

  function optionField(e, o) {
    const cur = e.options[o.name];
    const set = (v) => {
      if (v === undefined) delete e.options[o.name];
      else e.options[o.name] = v;
      emit();
    };
    let control;
    if (o.type === "number") {
      control = h("input", { type: "number", step: "any", value: typeof cur === "number" ? String(cur) : "", placeholder: "default" });
      control.addEventListener("input", () => set(control.value === "" || Number.isNaN(control.valueAsNumber) ? undefined : control.valueAsNumber));
    } else if (o.type === "boolean") {
      control = h("select", null,
        h("option", { value: "", selected: cur === undefined }, "default"),
        h("option", { value: "true", selected: cur === true }, "true"),
        h("option", { value: "false", selected: cur === false }, "false"));
      control.addEventListener("change", () => set(control.value === "" ? undefined : control.value === "true"));
    } else if (o.type === "string") {
      control = h("input", { type: "text", value: typeof cur === "string" ? cur : "", placeholder: "default" });
      control.addEventListener("input", () => set(control.value === "" ? undefined : control.value));
    } else {
      control = h("textarea", { rows: 2, spellcheck: "false", value: cur === undefined ? "" : JSON.stringify(cur, null, 2), placeholder: "JSON value" });
      control.addEventListener("input", () => {
        const t = control.value.trim();
        if (!t) { control.removeAttribute("aria-invalid"); return set(undefined); }
        try {
          const v = JSON.parse(t);
          control.removeAttribute("aria-invalid");
          set(v);
        } catch {
          control.setAttribute("aria-invalid", "true");
        }
      });
    }
    control.id = id("opt");
    const hint = h("div", { class: "hint" }, o.description || "", o.type ? ` (${o.type})` : "");
    return h("div", { class: "field" }, h("label", { for: control.id }, h("code", null, o.name)), control, hint);
  }

  function render() {
    const items = entries.map((e, i) => {
      const d = byName.get(e.name);
      const hasOpts = !("raw" in e) && (Object.keys(e.options).length > 0 || (d?.options?.length ?? 0) > 0 || !d);
      const optBtn = hasOpts
        ? h("button", { type: "button", class: "btn ghost sm", "aria-expanded": String(open.has(i)), "aria-label": `Options of ${e.name}`, onclick: () => {
          if (open.has(i)) open.delete(i); else open.add(i);
          render();
          list.children[i]?.querySelector("[aria-expanded]")?.focus();
        } }, open.has(i) ? "Hide options" : `Options${Object.keys(e.options).length ? ` (${Object.keys(e.options).length})` : ""}`)
        : null;
      const desc = "raw" in e ? "A custom entry; edit it in Raw JSON." : d ? d.description || "" : "Unknown to this server.";
      return h("li", { class: "chain-entry" },
        h("div", { class: "row" },
          h("span", { class: "idx", "aria-hidden": "true" }, `${i + 1}.`),
          h("span", { class: "name" }, e.name),
          d?.endpoint ? h("span", { class: "badge accent", title: "the upstream API format" }, d.endpoint) : null,
          !d && !("raw" in e) ? h("span", { class: "badge warn" }, "unknown") : null,
          h("span", { class: "desc" }, desc),
          optBtn,
          h("button", { type: "button", class: "btn ghost sm mv-up", disabled: i === 0, "aria-label": `Move ${e.name} up`, onclick: () => move(i, -1, ".mv-up") }, "↑"),
          h("button", { type: "button", class: "btn ghost sm mv-down", disabled: i === entries.length - 1, "aria-label": `Move ${e.name} down`, onclick: () => move(i, 1, ".mv-down") }, "↓"),
          h("button", { type: "button", class: "btn ghost sm danger", "aria-label": `Remove ${e.name}`, onclick: () => remove(i) }, "✕")),
        problems.filter((p) => p.index === i).map((p) => h("div", { class: "problem" + (p.warning ? " warning" : "") }, p.message)),
        open.has(i) && hasOpts ? optionsPanel(e) : null);
    });
    if (!items.length) items.push(h("li", { class: "chain-empty" }, emptyText || "No transformers."));
    replace(list, items);
    replace(chainProblems, problems.filter((p) => p.index < 0 || p.index >= entries.length)
      .map((p) => h("div", { class: "problem" + (p.warning ? " warning" : "") }, p.message)));
  }

  describe();
  render();
  const el = h("div", { class: "chain-editor" }, list, chainProblems,
    h("div", { class: "chain-add" }, addInput, addBtn), addHint, datalist);
  /** setProblems shows [{index, message, warning}] at their entries (index -1: the whole chain). */
  el.setProblems = (list) => {
    problems = list;
    render();
  };
  return el;
}

/** chainSummary renders a `use` array as "a → b(opts)" text. */
export function chainSummary(use) {
  if (!Array.isArray(use) || !use.length) return "";
  return use.map((e) => {
    const n = normalize(e);
    return "raw" in n || !Object.keys(n.options).length ? n.name : `${n.name}(${Object.keys(n.options).join(", ")})`;
  }).join(" → ");
}
