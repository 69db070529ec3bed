// Small DOM helpers. Everything is built with createElement and text nodes,
// never by parsing HTML strings, so values from the config or the logs cannot
// inject markup.

/**
 * h creates an element. attrs keys: class, text, on<Event> (listener),
 * dataset (object), boolean values set or remove the attribute, anything
 * else becomes an attribute (value/checked/selected are set as properties).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === "value" || k === "checked" || k === "selected" || k === "indeterminate") el[k] = v;
      else if (v === true) el.setAttribute(k, "");
      else if (v === false) continue;
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** replace removes all children of el and appends the given ones. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** id returns a document-unique id with the given prefix. */
export function id(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * field builds a labelled form row. control is an input/select/textarea;
 * it gets an id and aria-describedby for the hint and problems.
 */
export function field(label, control, { hint, problems = [], cls } = {}) {
  if (!control.id) control.id = id("in");
  const described = [];
  let hintEl = null;
  if (hint) {
    hintEl = h("div", { class: "hint", id: id("hint") }, hint);
    described.push(hintEl.id);
  }
  const probEls = problems.map((p) => {
    const e = h("div", { class: "problem" + (p.warning ? " warning" : ""), id: id("prob") }, p.message);
    described.push(e.id);
    return e;
  });
  if (problems.some((p) => !p.warning)) control.setAttribute("aria-invalid", "true");
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  return h("div", { class: "field" + (cls ? " " + cls : "") }, h("label", { for: control.id }, label), control, hintEl, probEls);
}

/**
 * toast shows a transient message; kind is "ok", "error" or "warn". Errors
 * stay until closed. A toast with a group replaces the group's earlier ones
 * (a save's outcome replaces the previous save's).
 */
export function toast(message, kind = "ok", { timeout, group } = {}) {
  const box = document.getElementById("toasts");
  if (group) for (const old of box.querySelectorAll(`[data-group="${group}"]`)) old.remove();
  const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Dismiss", onclick: () => t.remove() }, "×");
  const t = h("div", { class: "toast " + kind, dataset: group ? { group } : undefined }, h("div", { class: "body" }, message), close);
  box.appendChild(t);
  while (box.childElementCount > 3) box.firstElementChild.remove(); // keep the newest few
  const ms = timeout ?? (kind === "error" ? 0 : 4500);
  if (ms) setTimeout(() => t.remove(), ms);
  return t;
}

/** clearToasts removes the toasts of a group. */
export function clearToasts(group) {
  for (const old of document.querySelectorAll(`#toasts [data-group="${group}"]`)) old.remove();
}

/**
 * confirmDialog shows a modal <dialog> and resolves to true when the user
 * confirms. Escape or Cancel resolves to false.
 */
export function confirmDialog(message, { title = "Are you sure?", ok = "OK", cancel = "Cancel", danger = false } = {}) {
  return new Promise((resolve) => {
    const okBtn = h("button", { type: "button", class: "btn " + (danger ? "danger" : "primary"), value: "ok" }, ok);
    const cancelBtn = h("button", { type: "button", class: "btn", value: "cancel" }, cancel);
    const head = h("h2", { id: id("dlg") }, title);
    const dlg = h("dialog", { "aria-labelledby": head.id }, head, h("p", null, message),
      h("div", { class: "btn-row" }, cancelBtn, okBtn));
    let result = false;
    okBtn.addEventListener("click", () => { result = true; dlg.close(); });
    cancelBtn.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => { dlg.remove(); resolve(result); });
    document.body.appendChild(dlg);
    dlg.showModal();
    (danger ? cancelBtn : okBtn).focus();
  });
}

/** fmtBytes renders a byte count compactly. */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** fmtDuration renders seconds as "3d 4h", "2h 5m", "4m 10s" or "12s". */
export function fmtDuration(sec) {
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** fmtTime renders an RFC 3339 timestamp as local date and time. */
export function fmtTime(s, { withDate = true } = {}) {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s ?? "");
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  if (!withDate) return time;
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

/** fmtNum renders a number with thousands separators, or "—". */
export function fmtNum(n) {
  return typeof n === "number" ? n.toLocaleString() : "—";
}
