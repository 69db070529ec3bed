// Requests: the server's recent-request trail as a table.

import { h, replace, fmtTime, fmtNum } from "./dom.js";
import { api } from "./api.js";

function ms(n) {
  if (typeof n !== "number") return "—";
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
}

function statusBadge(s) {
  const cls = !s ? "" : s < 300 ? "ok" : s < 500 ? "warn" : "err";
  return h("span", { class: "badge " + cls }, s ? String(s) : "…");
}

function kv(obj) {
  if (obj === null || typeof obj !== "object") return String(obj);
  return Object.entries(obj).filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
}

/** mount renders #/requests. */
export function mount(el) {
  let rows = [];
  let timer = 0;
  let alive = true;
  const open = new Set();
  const auto = h("input", { type: "checkbox", id: "req-auto", checked: true });
  const refresh = h("button", { type: "button", class: "btn", id: "req-refresh" }, "Refresh");
  const summary = h("p", { class: "muted small", "aria-live": "polite" });
  const body = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data stack", id: "req-table" },
    h("caption", { class: "muted small" }, "Newest first"),
    h("thead", null, h("tr", null,
      ["Time", "Request", "Route", "Provider · model", "Status", "Latency", "Tokens in / out", ""].map((c, i) =>
        h("th", { scope: "col", class: i === 5 || i === 6 ? "num" : null }, c)))),
    body));

  async function load() {
    try {
      const r = await api("GET", "/api/requests");
      if (!alive) return;
      rows = Array.isArray(r?.requests) ? r.requests : [];
      render();
    } catch (e) {
      if (e.status !== 401 && alive) replace(body, h("tr", null, h("td", { colspan: "8", class: "problem" }, e.message)));
    }
  }

  function render() {
    const errors = rows.filter((r) => r.error || (r.status ?? 0) >= 400).length;
    const done = rows.filter((r) => typeof r.duration_ms === "number");
    const avg = done.length ? done.reduce((a, r) => a + r.duration_ms, 0) / done.length : null;
    summary.textContent = rows.length ? `${rows.length} requests · ${errors} failed${avg !== null ? ` · average ${ms(avg)}` : ""}` : "";
    if (!rows.length) {
      replace(body, h("tr", null, h("td", { colspan: "8", class: "empty" }, "No requests yet. Point Claude Code at this server and they show up here.")));
      return;
    }
    replace(body, rows.flatMap((r, i) => {
      const key = r.id ?? String(i);
      const isOpen = open.has(key);
      const hasDetail = r.error || (Array.isArray(r.attempts) && r.attempts.length);
      const tr = h("tr", null,
        h("td", { class: "nowrap", title: r.time, "data-label": "Time" }, fmtTime(r.time)),
        h("td", { "data-label": "Request" }, h("span", null, h("code", null, `${r.method ?? ""} ${r.path ?? ""}`), r.stream ? h("span", { class: "badge stream" }, "stream") : null)),
        h("td", { "data-label": "Route" }, r.route || "—"),
        h("td", { "data-label": "Provider · model" }, r.provider ? `${r.provider} · ${r.model ?? ""}` : r.model || "—"),
        h("td", { "data-label": "Status" }, statusBadge(r.status)),
        h("td", { class: "num nowrap", "data-label": "Latency", title: typeof r.ttfb_ms === "number" ? `first byte after ${ms(r.ttfb_ms)}` : null }, h("span", null, ms(r.duration_ms),
          typeof r.ttfb_ms === "number" ? h("span", { class: "muted small ttfb" }, `ttfb ${ms(r.ttfb_ms)}`) : null)),
        h("td", { class: "num nowrap", "data-label": "Tokens in / out" }, `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}`),
        h("td", { class: "nowrap", "data-label": "" },
          hasDetail ? h("button", { type: "button", class: "btn ghost sm", "aria-expanded": String(isOpen), onclick: () => { if (isOpen) open.delete(key); else open.add(key); render(); } }, isOpen ? "Hide" : r.error ? "Error" : "Details") : null,
          r.id ? h("a", { class: "btn ghost sm", href: `#/logs?req=${encodeURIComponent(r.id)}`, title: "Log lines of this request" }, "Logs") : null));
      if (!isOpen) return [tr];
      const detail = h("tr", { class: "detail" }, h("td", { colspan: "8" },
        r.id ? h("div", { class: "small" }, "Request id ", h("code", null, r.id)) : null,
        r.error ? h("div", { class: "err-text" }, typeof r.error === "string" ? r.error : JSON.stringify(r.error)) : null,
        Array.isArray(r.attempts) && r.attempts.length ? h("ol", { class: "small attempts" },
          r.attempts.map((a) => h("li", null, kv(a)))) : null));
      return [tr, detail];
    }));
  }

  function schedule() {
    clearTimeout(timer);
    if (!alive || !auto.checked) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await load();
      schedule();
    }, 3000);
  }
  auto.addEventListener("change", schedule);
  refresh.addEventListener("click", load);

  replace(el,
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Requests"), h("p", { class: "muted" }, "The most recent requests: where each went, how it ended and how long it took.")),
      h("div", { class: "btn-row" }, h("label", { class: "check", for: auto.id }, auto, "Auto-refresh"), refresh)),
    summary, table);
  load().then(schedule);
  return { destroy: () => { alive = false; clearTimeout(timer); }, refresh: () => true };
}
