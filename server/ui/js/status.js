// Status: what the server is, where it listens, and how it is doing.

import { h, replace, fmtDuration, fmtNum } from "./dom.js";
import { api, origin, getKey } from "./api.js";
import { state, providers, isEnvRef } from "./store.js";

function stat(k, v, { sm, id, wide } = {}) {
  return h("div", { class: "stat" + (wide ? " wide" : "") }, h("div", { class: "k" }, k), h("div", { class: "v" + (sm ? " sm" : ""), id }, v));
}

// exposed reports whether listen is a non-loopback address served without a key.
function exposed(listen, auth) {
  if (auth !== "none" || !listen) return false;
  const host = listen.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return !(host === "localhost" || host === "::1" || /^127\./.test(host));
}

/** mount renders #/status (query: welcome=1 after the setup). */
export function mount(el, route) {
  let timer = 0;
  let alive = true;
  const welcome = route.query.get("welcome") === "1";
  let revealed = welcome; // right after the setup, show the new key once
  const box = h("div", null, h("p", { class: "muted loading" }, "Loading…"));

  async function load() {
    let s;
    try {
      s = await api("GET", "/api/status");
    } catch (e) {
      if (e.status !== 401 && alive) replace(box, h("div", { class: "banner error" }, `Status unavailable: ${e.message}`));
      return;
    }
    if (!alive) return;
    render(s || {});
  }

  function render(s) {
    const req = s.requests || {};
    const provs = providers();
    const def = typeof state.draft?.Router?.default === "string" ? state.draft.Router.default : "";
    const listen = String(s.listen ?? "");
    const cfgKey = state.draft?.APIKEY;
    const known = getKey();
    let token = "any-value";
    if (s.auth === "api_key") {
      if (known && revealed) token = known;
      else if (isEnvRef(cfgKey)) token = `$${String(cfgKey).replace(/[${}]/g, "")}`;
      else token = "<your APIKEY>";
    }
    const reveal = s.auth === "api_key" && known
      ? h("button", { type: "button", class: "btn sm", id: "status-reveal", "aria-pressed": String(revealed), onclick: () => { revealed = !revealed; render(s); document.getElementById("status-reveal")?.focus(); } }, revealed ? "Hide key" : "Show key")
      : null;
    replace(box,
      welcome ? h("div", { class: "banner ok" }, h("strong", null, "ccr is configured and running. "), "Start Claude Code with the commands below.") : null,
      s.warning || exposed(listen, s.auth) ? h("div", { class: "banner warn", role: "alert", id: "status-warning" }, "⚠ ",
        s.warning || `ccr listens on ${listen}, beyond this machine, without an API key: anyone who can reach it can use your providers. Set an API key in Settings.`) : null,
      s.setup_mode ? h("div", { class: "banner info" }, "No provider is configured yet, so the API is open. ", h("a", { href: "#/setup" }, "Run the setup"), ".") : null,
      h("div", { class: "stats" },
        stat("Version", s.version || "—", { sm: true, id: "status-version" }),
        stat("Uptime", typeof s.uptime_seconds === "number" ? fmtDuration(s.uptime_seconds) : "—", { sm: true, id: "status-uptime" }),
        stat("Listening on", listen || "—", { sm: true, wide: true, id: "status-listen" }),
        stat("Auth", s.auth === "api_key" ? "API key" : s.auth === "none" ? "none" : String(s.auth ?? "—"), { sm: true, id: "status-auth" })),
      h("div", { class: "stats" },
        stat("Requests", fmtNum(req.total), { id: "status-total" }),
        stat("Errors", fmtNum(req.errors), { id: "status-errors" }),
        stat("In flight", fmtNum(req.in_flight), { id: "status-inflight" }),
        stat("Providers", String(provs.length), { id: "status-providers" })),
      h("section", { class: "card", "aria-labelledby": "st-connect" },
        h("div", { class: "card-head" }, h("h2", { id: "st-connect" }, "Connect Claude Code"),
          def ? h("span", { class: "muted small" }, "Default route ", h("code", null, def)) : h("a", { href: "#/router" }, "Choose a default route")),
        h("pre", { class: "snippet", id: "status-snippet" }, `ANTHROPIC_BASE_URL=${origin()} \\\nANTHROPIC_AUTH_TOKEN=${token} \\\nclaude`),
        h("div", { class: "btn-row" }, reveal,
          h("span", { class: "muted small" }, s.auth === "api_key" ? "Use the key this browser signed in with." : "The server accepts requests without a key."))));
  }

  function schedule() {
    timer = setTimeout(async () => {
      if (!document.hidden) await load();
      if (alive) schedule();
    }, 5000);
  }

  replace(el, h("div", { class: "page-head" }, h("div", null, h("h1", null, "Status"))), box);
  load().then(schedule);
  return { destroy: () => { alive = false; clearTimeout(timer); }, refresh: () => true };
}
