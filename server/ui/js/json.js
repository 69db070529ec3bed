// The raw JSON editor: the whole config as text, with the server's problems
// marked on the lines they refer to.

import { h, replace } from "./dom.js";
import { state, replaceDraft, setBlocked } from "./store.js";

/**
 * locate maps each JSON path in text ("Providers[0].api_base_url") to the
 * offset where it starts: the key for object members, the value for array
 * items. text should be valid JSON; on a syntax error the paths found so far
 * are returned.
 */
export function locate(text) {
  const map = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && " \t\r\n".includes(text[i])) i++; };
  const str = () => {
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    const s = JSON.parse(text.slice(i, j + 1));
    i = j + 1;
    return s;
  };
  const value = (path) => {
    ws();
    if (!map.has(path)) map.set(path, i);
    const c = text[i];
    if (c === "{") {
      i++; ws();
      if (text[i] === "}") { i++; return; }
      for (;;) {
        ws();
        const at = i;
        const k = str();
        const p = path ? `${path}.${k}` : k;
        map.set(p, at);
        ws();
        if (text[i] !== ":") throw new Error("expected :");
        i++;
        value(p);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] !== "}") throw new Error("expected }");
        i++;
        return;
      }
    } else if (c === "[") {
      i++; ws();
      if (text[i] === "]") { i++; return; }
      for (let n = 0; ; n++) {
        value(`${path}[${n}]`);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] !== "]") throw new Error("expected ]");
        i++;
        return;
      }
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !",}] \t\r\n".includes(text[i])) i++;
    }
  };
  try { value(""); } catch { /* partial map */ }
  return map;
}

/** lineOf returns the 1-based line of the path, or of its nearest located parent. */
export function lineOf(text, map, path) {
  let p = String(path ?? "").replace(/\[["']([^"']*)["']\]/g, ".$1").replace(/^\$\.?/, "");
  for (;;) {
    if (map.has(p)) return text.slice(0, map.get(p)).split("\n").length;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) return 1;
    p = p.slice(0, cut);
  }
}

// syntaxPos extracts the offset from a JSON.parse error message.
function syntaxPos(msg, text) {
  const m = /position (\d+)/.exec(msg);
  if (m) return Number(m[1]);
  const lc = /line (\d+) column (\d+)/.exec(msg);
  if (lc) {
    const lines = text.split("\n");
    let off = 0;
    for (let k = 0; k < Number(lc[1]) - 1 && k < lines.length; k++) off += lines[k].length + 1;
    return off + Number(lc[2]) - 1;
  }
  return text.length;
}

/** mount renders #/json. */
export function mount(el, route) {
  const ta = h("textarea", { id: "json-text", spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", "aria-label": "config.json", "aria-describedby": "json-status" });
  ta.value = JSON.stringify(state.draft, null, 2);
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const status = h("div", { id: "json-status", class: "small", "aria-live": "polite" });
  const list = h("ul", { class: "problems", "aria-label": "Problems" });
  let marks = new Map(); // line -> [{message, warning}]

  function lines() { return ta.value.split("\n").length; }

  function renderGutter() {
    const n = lines();
    const frag = document.createDocumentFragment();
    for (let k = 1; k <= n; k++) {
      const m = marks.get(k);
      const bad = m?.some((x) => !x.warning);
      frag.appendChild(h("div", { class: m ? (bad ? "bad" : "warnl") : null, title: m ? m.map((x) => x.message).join("\n") : null }, m ? `${bad ? "✕" : "!"} ${k}` : String(k)));
    }
    gutter.replaceChildren(frag);
    gutter.scrollTop = ta.scrollTop;
  }

  function goLine(n) {
    const all = ta.value.split("\n");
    let start = 0;
    for (let k = 0; k < n - 1 && k < all.length; k++) start += all[k].length + 1;
    ta.focus();
    ta.setSelectionRange(start, start + (all[n - 1]?.length ?? 0));
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (n - 4) * lh);
  }

  function mark() {
    marks = new Map();
    const items = [];
    const text = ta.value;
    let obj;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      const pos = syntaxPos(e.message, text);
      const line = text.slice(0, pos).split("\n").length;
      const col = pos - text.lastIndexOf("\n", pos - 1);
      marks.set(line, [{ message: e.message }]);
      replace(status, h("span", { class: "problem" }, `Syntax error at line ${line}, column ${col}: ${e.message.replace(/^JSON\.parse: /, "")}`));
      setBlocked("Raw JSON has a syntax error.");
      items.push({ line, path: `line ${line}`, message: "syntax error" });
      renderList(items);
      renderGutter();
      return;
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      replace(status, h("span", { class: "problem" }, "The config must be a JSON object: { … }."));
      setBlocked("Raw JSON is not an object.");
      renderList([]);
      renderGutter();
      return;
    }
    setBlocked("");
    if (JSON.stringify(obj) !== JSON.stringify(state.draft)) replaceDraft(obj);
    const map = locate(text);
    const all = [
      ...state.problems.map((p) => ({ ...p, warning: false })),
      ...state.warnings.map((p) => ({ ...p, warning: true })),
    ];
    for (const p of all) {
      const line = lineOf(text, map, p.path);
      if (!marks.has(line)) marks.set(line, []);
      marks.get(line).push(p);
      items.push({ ...p, line });
    }
    const nb = state.problems.length, nw = state.warnings.length;
    replace(status, nb
      ? h("span", { class: "problem" }, `Valid JSON; the server reported ${nb} problem${nb > 1 ? "s" : ""}${nw ? ` and ${nw} warning${nw > 1 ? "s" : ""}` : ""}.`)
      : h("span", { class: "muted" }, "✓ Valid JSON", nw ? ` · ${nw} warning${nw > 1 ? "s" : ""} from the server` : ""));
    renderList(items.sort((a, b) => a.line - b.line));
    renderGutter();
  }

  function renderList(items) {
    replace(list, items.map((p) => h("li", null,
      h("button", { type: "button", class: "btn sm", onclick: () => goLine(p.line) }, `Line ${p.line}`),
      h("span", { class: p.warning ? "badge warn" : "badge err" }, p.warning ? "warning" : "error"),
      p.path && !String(p.path).startsWith("line ") ? h("code", { class: "path" }, p.path) : null,
      h("span", null, p.message))));
  }

  let timer = 0;
  ta.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(mark, 150);
    if (lines() !== gutter.childElementCount) renderGutter();
  });
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });

  const fmt = h("button", { type: "button", class: "btn", id: "json-format" }, "Format");
  fmt.addEventListener("click", () => {
    try {
      ta.value = JSON.stringify(JSON.parse(ta.value), null, 2);
      mark();
    } catch {
      mark();
      ta.focus();
    }
  });

  replace(el,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Raw JSON"), h("p", { class: "muted" }, "The whole config.json. $VAR references stay as written; keys the other pages do not know are kept.")),
      h("div", { class: "btn-row" }, fmt)),
    status,
    h("div", { class: "editor" }, gutter, ta),
    list);
  mark();
  const target = route.query.get("path");
  if (target) {
    const line = lineOf(ta.value, locate(ta.value), target);
    setTimeout(() => goLine(line), 0);
  }

  return {
    canLeave: () => !state.blocked,
    leaveMessage: "The raw JSON has a syntax error; leaving drops the text edits since the last valid state.",
    destroy: () => { clearTimeout(timer); setBlocked(""); },
    // Saving uses the text as typed, even within the input debounce.
    beforeSave: () => { clearTimeout(timer); mark(); return !state.blocked; },
    refresh: (kind) => {
      if (kind === "reset") return false;
      mark();
      return true;
    },
  };
}
