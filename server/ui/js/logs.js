// Logs: the server's log files, tailed, filtered by level and request id.

import { h, replace, toast, confirmDialog, fmtBytes, fmtTime } from "./dom.js";
import { api } from "./api.js";

const levels = ["DEBUG", "INFO", "WARN", "ERROR"];
const pinoLevels = { 10: "DEBUG", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "ERROR" };

// parse turns one log line into {time, level, msg, req, attrs} or {raw}.
export function parseLine(line) {
  let o;
  try { o = JSON.parse(line); } catch { return { raw: line, level: "INFO", text: line }; }
  if (o === null || typeof o !== "object" || Array.isArray(o)) return { raw: line, level: "INFO", text: line };
  let level = typeof o.level === "number" ? pinoLevels[o.level] || "INFO" : String(o.level ?? "INFO").toUpperCase();
  level = levels.find((l) => level.startsWith(l)) || (level.startsWith("FATAL") ? "ERROR" : level.startsWith("TRACE") ? "DEBUG" : "INFO");
  const req = o.req_id ?? o.reqId ?? o.request_id ?? "";
  const attrs = Object.entries(o).filter(([k]) => !["time", "level", "msg", "req_id", "reqId", "request_id", "pid", "hostname", "v"].includes(k));
  return { time: o.time, level, msg: String(o.msg ?? o.message ?? ""), req: String(req), attrs, text: line };
}

function attrText(v) {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 400 ? s.slice(0, 400) + "…" : s;
}

/** mount renders #/logs (query: file, req). */
export function mount(el, route) {
  let files = [];
  let file = route.query.get("file") || "";
  let lines = [];
  let timer = 0;
  let alive = true;
  let loading = false;

  const fileList = h("ul", { class: "files", "aria-label": "Log files" });
  const levelSel = h("select", { id: "log-level" },
    h("option", { value: "" }, "all levels"),
    levels.map((l) => h("option", { value: l }, `${l.toLowerCase()} and above`)));
  const reqIn = h("input", { type: "search", id: "log-req", placeholder: "request id", value: route.query.get("req") || "", spellcheck: "false" });
  const textIn = h("input", { type: "search", id: "log-text", placeholder: "text", spellcheck: "false" });
  const tailSel = h("select", { id: "log-tail" }, [200, 1000, 5000].map((n) => h("option", { value: String(n) }, `last ${n}`)));
  const auto = h("input", { type: "checkbox", id: "log-auto", checked: true });
  const refreshBtn = h("button", { type: "button", class: "btn", id: "log-refresh" }, "Refresh");
  const clearBtn = h("button", { type: "button", class: "btn danger", id: "log-clear" }, "Clear file");
  const out = h("div", { class: "loglines", id: "log-lines", tabindex: "0", role: "log", "aria-label": "Log lines" });
  const count = h("span", { class: "muted small", "aria-live": "polite" });

  const fieldOf = (label, control, cls = "") => h("div", { class: "field " + cls }, h("label", { for: control.id }, label), control);

  async function loadFiles() {
    try {
      const r = await api("GET", "/api/logs/files");
      files = Array.isArray(r) ? r : [];
    } catch (e) {
      if (e.status !== 401) toast(`Log files: ${e.message}`, "error");
      files = [];
    }
    if (!file || !files.some((f) => f.name === file)) file = files[0]?.name || "";
    renderFiles();
  }

  function renderFiles() {
    replace(fileList, files.length ? files.map((f) => h("li", null,
      h("button", { type: "button", "aria-current": f.name === file ? "true" : "false", onclick: () => { file = f.name; renderFiles(); loadLines(true); } },
        h("span", { class: "fname", title: f.name }, f.name),
        h("span", { class: "muted small nowrap" }, fmtBytes(f.size ?? 0), f.lastModified ? ` · ${fmtTime(f.lastModified)}` : "")))) : h("li", { class: "muted small" }, "No log files yet. Check LOG in Settings."));
    clearBtn.disabled = !file;
  }

  async function loadLines(scrollEnd) {
    if (!file) { lines = []; render(true); return; }
    if (loading) return;
    loading = true;
    try {
      const r = await api("GET", `/api/logs?file=${encodeURIComponent(file)}&tail=${tailSel.value}`);
      if (!alive) return;
      lines = (Array.isArray(r) ? r : []).map(String).map(parseLine);
      render(scrollEnd);
    } catch (e) {
      if (e.status !== 401) replace(out, h("p", { class: "problem pad" }, e.message));
    } finally {
      loading = false;
    }
  }

  function render(scrollEnd) {
    const atEnd = scrollEnd || out.scrollHeight - out.scrollTop - out.clientHeight < 40;
    const min = levels.indexOf(levelSel.value);
    const req = reqIn.value.trim();
    const text = textIn.value.trim().toLowerCase();
    const shown = lines.filter((l) => (min < 0 || levels.indexOf(l.level) >= min) &&
      (!req || l.req.includes(req)) && (!text || l.text.toLowerCase().includes(text)));
    replace(out, shown.length ? shown.map((l) => l.raw !== undefined
      ? h("div", { class: "logline" }, h("span", { class: "t" }), h("span"), h("span", { class: "m" }, l.raw))
      : h("div", { class: "logline" },
        h("span", { class: "t", title: String(l.time ?? "") }, l.time ? fmtTime(l.time, { withDate: false }) : ""),
        h("span", { class: `lvl ${l.level}` }, l.level),
        h("span", { class: "m" }, l.msg, " ",
          l.req ? h("button", { type: "button", class: "linkish small", title: "Show only this request", onclick: () => { reqIn.value = l.req; render(); } }, l.req) : null,
          l.attrs.length ? h("span", { class: "attrs" }, l.attrs.map(([k, v]) => [" ", h("b", null, k), "=", attrText(v)])) : null)))
      : h("p", { class: "muted pad" }, lines.length ? "No line matches the filters." : file ? "This file is empty." : "Nothing to show."));
    count.textContent = lines.length ? `${shown.length} of ${lines.length} lines` : "";
    if (atEnd) out.scrollTop = out.scrollHeight;
  }

  function schedule() {
    clearTimeout(timer);
    if (!alive || !auto.checked) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await loadLines(false);
      schedule();
    }, 3000);
  }

  levelSel.addEventListener("change", () => render());
  reqIn.addEventListener("input", () => render());
  textIn.addEventListener("input", () => render());
  tailSel.addEventListener("change", () => loadLines(true));
  auto.addEventListener("change", schedule);
  refreshBtn.addEventListener("click", async () => { await loadFiles(); await loadLines(false); });
  clearBtn.addEventListener("click", async () => {
    if (!file) return;
    const ok = await confirmDialog(`Empty ${file}? Its lines are deleted for good.`, { title: "Clear log file", ok: "Clear", danger: true });
    if (!ok) return;
    try {
      await api("DELETE", `/api/logs?file=${encodeURIComponent(file)}`);
      toast(`Cleared ${file}.`);
      await loadFiles();
      await loadLines(true);
    } catch (e) {
      if (e.status !== 401) toast(`Clear failed: ${e.message}`, "error");
    }
  });

  replace(el,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, "Logs"), h("p", { class: "muted" }, "The server's log files, newest first. ", h("a", { href: "#/requests" }, "Recent requests"), " shows each request at a glance."))),
    h("div", { class: "logs-layout" },
      h("div", { class: "card files-card" }, h("h2", { class: "small muted" }, "Files"), fileList),
      h("div", null,
        h("div", { class: "toolbar" },
          fieldOf("Level", levelSel),
          fieldOf("Request id", reqIn, "grow"),
          fieldOf("Contains", textIn, "grow"),
          fieldOf("Lines", tailSel),
          h("label", { class: "check", for: auto.id }, auto, "Auto-refresh"),
          refreshBtn, clearBtn),
        out,
        h("div", { class: "below" }, count))));
  loadFiles().then(() => loadLines(true)).then(schedule);

  return {
    destroy: () => { alive = false; clearTimeout(timer); },
    refresh: () => true,
  };
}
