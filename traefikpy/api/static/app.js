// traefikpy dashboard: a small hash-routed page over the REST API (no framework, no build step).
// Views: #/ overview, #/<section>/<kind>[/<name>], #/entrypoints, #/explain.  Every view reads the
// API only; list and detail views re-render every few seconds (paused while the tab is hidden).
// All API data goes through textContent, never innerHTML.
"use strict";

const API = document.querySelector('meta[name="api-url"]').content;
const REFRESH_MS = 3000;
const KINDS = { http: ["routers", "services", "middlewares"], tcp: ["routers", "services", "middlewares"], udp: ["routers", "services"] };
const app = document.getElementById("app");
const live = document.getElementById("live");
const state = { search: "", status: "", page: 1 };
let renderSeq = 0;

// -- helpers -----------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(path) {
  const resp = await fetch(API + path, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await resp.json(); } catch (err) { body = null; }
  if (!resp.ok) throw new Error((body && body.message) || resp.status + " " + resp.statusText);
  return { body, next: Number(resp.headers.get("X-Next-Page") || "1") };
}

const enc = (name) => encodeURIComponent(name);
const qualify = (ref, provider) => (ref.includes("@") ? ref : `${ref}@${provider}`);
const link = (section, kind, name) => el("a", { href: `#/${section}/${kind}/${enc(name)}` }, name);
const badge = (status) => el("span", { class: "badge " + (status || "none") }, status || "unknown");
const errorBox = (errors) => (errors && errors.length ? el("div", { class: "errors", role: "alert" }, errors.map((e) => el("div", {}, e))) : null);
const priorityOf = (r) => r.priority || (r.rule || "").length;
// Internal routers use Go's MaxInt scale, beyond what a JS number holds exactly.
const showPriority = (r) => (priorityOf(r) > Number.MAX_SAFE_INTEGER ? "max (internal)" : String(priorityOf(r)));

function serversSummary(svc) {
  const servers = (svc.loadBalancer && svc.loadBalancer.servers) || [];
  if (!servers.length) return "";
  const status = svc.serverStatus || {};
  const up = servers.filter((s) => status[s.url || s.address] === "UP").length;
  return `${up}/${servers.length} up`;
}

function setNav(route) {
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === route);
}

// -- views -------------------------------------------------------------------------------------

async function viewOverview() {
  const [{ body: ov }, { body: eps }, { body: ver }] = await Promise.all([getJSON("overview"), getJSON("entrypoints"), getJSON("version")]);
  const cards = [];
  for (const section of ["http", "tcp", "udp"]) {
    for (const [kind, counts] of Object.entries(ov[section] || {})) {
      cards.push(el("a", { class: "card", href: `#/${section}/${kind}` },
        el("div", { class: "label" }, `${section.toUpperCase()} ${kind}`),
        el("div", { class: "big" }, counts.total),
        el("div", { class: "counts" },
          el("span", {}, `${counts.total - counts.warnings - counts.errors} ok`),
          el("span", { style: counts.warnings ? "color: var(--warn)" : "" }, `${counts.warnings} warnings`),
          el("span", { style: counts.errors ? "color: var(--bad)" : "" }, `${counts.errors} errors`))));
    }
  }
  const features = ov.features || {};
  return [
    el("h1", {}, "Overview"),
    el("div", { class: "cards" }, cards),
    el("h2", {}, "Entry points"),
    el("div", { class: "cards" }, eps.map((ep) => el("div", { class: "card" },
      el("div", { class: "label" }, ep.name), el("div", { class: "mono" }, ep.address)))),
    el("h2", {}, "Features and providers"),
    el("dl", { class: "facts" },
      el("dt", {}, "Providers"), el("dd", {}, (ov.providers || []).join(", ") || "none"),
      el("dt", {}, "Metrics"), el("dd", {}, features.metrics || "off"),
      el("dt", {}, "Tracing"), el("dd", {}, features.tracing || "off"),
      el("dt", {}, "Access log"), el("dd", {}, features.accessLog ? "on" : "off"),
      el("dt", {}, "Version"), el("dd", {}, `${ver.Version} (started ${ver.startDate})`)),
  ];
}

function columns(kind) {
  if (kind === "routers") {
    return [["Status", (r) => badge(r.status)],
      ["Name", (r, s) => [link(s, kind, r.name), r.error ? el("div", { class: "cell-error" }, r.error.join("; ")) : null]],
      ["Rule", (r) => el("code", {}, r.rule || "")],
      ["Entry points", (r) => (r.using || r.entryPoints || []).join(", ")],
      ["Service", (r, s) => (r.service ? link(s, "services", qualify(r.service, r.provider)) : "")],
      ["Priority", (r) => showPriority(r)],
      ["Provider", (r) => r.provider]];
  }
  const rows = [["Status", (x) => badge(x.status)],
    ["Name", (x, s) => [link(s, kind, x.name), x.error ? el("div", { class: "cell-error" }, x.error.join("; ")) : null]],
    ["Type", (x) => x.type || ""]];
  if (kind === "services") rows.push(["Servers", (x) => serversSummary(x)]);
  rows.push(["Used by", (x) => String((x.usedBy || []).length)], ["Provider", (x) => x.provider]);
  return rows;
}

async function viewList(section, kind) {
  const query = new URLSearchParams({ page: state.page, per_page: 50 });
  if (state.search) query.set("search", state.search);
  if (state.status) query.set("status", state.status);
  const { body: list, next } = await getJSON(`${section}/${kind}?${query}`);
  const cols = columns(kind);
  const tabs = el("div", { class: "tabs" }, KINDS[section].map((k) =>
    el("a", { href: `#/${section}/${k}`, class: k === kind ? "active" : "" }, `${section.toUpperCase()} ${k}`)));
  const search = el("input", { type: "search", placeholder: "Search", value: state.search, "aria-label": "Search" });
  search.addEventListener("change", () => { state.search = search.value; state.page = 1; render(); });
  const status = el("select", { "aria-label": "Status" }, ["", "enabled", "warning", "disabled"].map((s) =>
    el("option", { value: s, selected: s === state.status ? "selected" : null }, s || "any status")));
  status.addEventListener("change", () => { state.status = status.value; state.page = 1; render(); });
  const table = el("table", {},
    el("thead", {}, el("tr", {}, cols.map(([title]) => el("th", {}, title)))),
    el("tbody", {}, list.length ? list.map((item) => el("tr", { "data-name": item.name },
      cols.map(([, cell]) => el("td", {}, cell(item, section))))) : el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "Nothing here."))));
  const pager = el("div", { class: "pager" },
    state.page > 1 ? el("button", { class: "plain", onclick: () => { state.page -= 1; render(); } }, "Previous") : null,
    el("span", { class: "muted" }, `page ${state.page}`),
    next > state.page ? el("button", { class: "plain", onclick: () => { state.page = next; render(); } }, "Next") : null);
  return [el("h1", {}, `${section.toUpperCase()} ${kind}`), tabs, el("div", { class: "toolbar" }, search, status), table, pager];
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function joinNodes(nodes) {
  const out = [];
  nodes.forEach((n, i) => { if (i) out.push(", "); out.push(n); });
  return out;
}

function childServices(svc) {
  for (const key of ["weighted", "highestRandomWeight"]) if (svc[key]) return (svc[key].services || []).map((c) => c.name);
  if (svc.mirroring) return [svc.mirroring.service, ...(svc.mirroring.mirrors || []).map((m) => m.name)];
  if (svc.failover) return [svc.failover.service, svc.failover.fallback];
  return [];
}

async function viewDetail(section, kind, name) {
  const { body: item } = await getJSON(`${section}/${kind}/${enc(name)}`);
  const out = [el("h1", {}, badge(item.status), " ", item.name), errorBox(item.error)];
  const usedBy = joinNodes((item.usedBy || []).map((r) => link(section, "routers", r)));
  if (kind === "routers") {
    out.push(facts([
      ["Rule", el("code", {}, item.rule || "")], ["Priority", showPriority(item)],
      ["Entry points", (item.entryPoints || []).join(", ")], ["Using", (item.using || []).join(", ")],
      ["Middlewares", joinNodes((item.middlewares || []).map((m) => link(section, "middlewares", qualify(m, item.provider))))],
      ["Service", item.service ? link(section, "services", qualify(item.service, item.provider)) : ""],
      ["TLS", item.tls ? JSON.stringify(item.tls) : ""], ["Provider", item.provider]]));
  } else if (kind === "services") {
    out.push(facts([["Type", item.type], ["Provider", item.provider], ["Used by", usedBy],
      ["Children", joinNodes(childServices(item).map((c) => link(section, "services", qualify(c, item.provider))))]]));
    const servers = (item.loadBalancer && item.loadBalancer.servers) || [];
    if (servers.length) {
      const status = item.serverStatus || {};
      out.push(el("h2", {}, "Servers"), el("table", { class: "servers" },
        el("thead", {}, el("tr", {}, el("th", {}, "Health"), el("th", {}, "URL"), el("th", {}, "Weight"))),
        el("tbody", {}, servers.map((s) => el("tr", {},
          el("td", {}, badge(status[s.url || s.address] || "UNKNOWN")), el("td", { class: "mono" }, s.url || s.address),
          el("td", {}, s.weight === undefined ? "1" : String(s.weight)))))));
    }
  } else {
    out.push(facts([["Type", item.type], ["Provider", item.provider], ["Used by", usedBy]]));
  }
  out.push(el("h2", {}, "Configuration"), el("pre", { class: "config" }, JSON.stringify(item, null, 2)));
  return out;
}

async function viewEntrypoints() {
  const { body: eps } = await getJSON("entrypoints");
  return [el("h1", {}, "Entry points"), el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Address"), el("th", {}, "Settings"))),
    el("tbody", {}, eps.map((ep) => el("tr", {}, el("td", {}, ep.name), el("td", { class: "mono" }, ep.address),
      el("td", {}, el("pre", { class: "mono" }, JSON.stringify(ep, null, 2)))))))];
}

// -- explain -----------------------------------------------------------------------------------

function renderServiceTree(node) {
  return el("div", { class: "tree" },
    el("div", {}, badge(node.status), " ", link("http", "services", node.name), node.type ? ` (${node.type})` : ""),
    errorBox(node.error),
    (node.servers || []).map((s) => el("div", { class: "mono" }, badge(s.status), " ", s.url)),
    (node.services || []).map(renderServiceTree));
}

function renderMiddlewareTree(nodes) {
  return nodes.map((m) => el("div", { class: "tree" },
    el("div", {}, badge(m.status), " ", link("http", "middlewares", m.name), ` (${m.type || "?"}, from ${m.from})`),
    errorBox(m.error), m.middlewares ? renderMiddlewareTree(m.middlewares) : null));
}

function renderExplain(result) {
  const out = [];
  const w = result.winner;
  out.push(el("h2", {}, "Result"), w
    ? el("div", { class: "card" }, el("div", {}, "Entry point ", el("b", {}, w.entryPoint), ": router ", link("http", "routers", w.router)),
      el("h2", {}, "Middlewares"), w.middlewares.length ? renderMiddlewareTree(w.middlewares) : el("div", { class: "muted" }, "none"),
      el("h2", {}, "Service"), renderServiceTree(w.service))
    : el("div", { class: "errors" }, "No router matches this request: it would get 404 page not found."));
  for (const ep of result.entryPoints) {
    out.push(el("h2", {}, `Entry point ${ep.name}${ep.tls ? " (TLS)" : ""}`), el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "Router"), el("th", {}, "Priority"), el("th", {}, "Matchers"), el("th", {}, "Result"))),
      el("tbody", {}, ep.routers.length ? ep.routers.map((r) => el("tr", {},
        el("td", {}, link("http", "routers", r.name)), el("td", {}, String(r.priority)),
        el("td", {}, r.matchers.map((m) => el("div", { class: "mono " + (m.matched ? "matched" : "unmatched") }, (m.matched ? "✔ " : "✘ ") + m.matcher))),
        el("td", {}, r.name === ep.winner ? el("b", { class: "matched" }, "winner") : r.matched ? "matches (lower priority)" : "no match")))
        : el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No router of this entry point can match this host.")))));
    if (ep.skipped.length) out.push(el("div", { class: "muted" }, "Disabled routers (never tried):"),
      ep.skipped.map((s) => el("div", {}, link("http", "routers", s.name), errorBox(s.error))));
  }
  return out;
}

async function viewExplain() {
  const { body: eps } = await getJSON("entrypoints");
  const result = el("div", { id: "explain-result" });
  const form = el("form", { class: "explain" },
    el("label", { for: "x-url" }, "URL"), el("input", { id: "x-url", name: "url", value: "http://localhost/", required: "required" }),
    el("label", { for: "x-method" }, "Method"), el("input", { id: "x-method", name: "method", value: "GET" }),
    el("label", { for: "x-headers" }, "Headers (Name: Value per line)"), el("textarea", { id: "x-headers", name: "headers" }),
    el("label", { for: "x-ep" }, "Entry point"), el("select", { id: "x-ep", name: "entrypoint" },
      el("option", { value: "" }, "all"), eps.map((ep) => el("option", { value: ep.name }, ep.name))),
    el("label", { for: "x-ip" }, "Client IP"), el("input", { id: "x-ip", name: "clientIP", placeholder: "127.0.0.1" }),
    el("span", {}), el("button", { type: "submit" }, "Explain"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const query = new URLSearchParams({ url: data.get("url"), method: data.get("method") || "GET" });
    for (const line of String(data.get("headers") || "").split("\n")) if (line.trim()) query.append("header", line.trim());
    if (data.get("entrypoint")) query.set("entrypoint", data.get("entrypoint"));
    if (data.get("clientIP")) query.set("clientIP", data.get("clientIP"));
    try {
      result.replaceChildren(...renderExplain((await getJSON("http/explain?" + query)).body).flat(Infinity).filter(Boolean));
    } catch (err) {
      result.replaceChildren(errorBox([err.message]));
    }
  });
  return [el("h1", {}, "Explain a request"),
    el("p", { class: "muted" }, "Which router would take this request, and why. Nothing is sent."), form, result];
}

// -- routing and refresh -----------------------------------------------------------------------

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (!parts.length) return { nav: "overview", live: true, view: viewOverview };
  if (parts[0] === "entrypoints") return { nav: "entrypoints", live: true, view: viewEntrypoints };
  if (parts[0] === "explain") return { nav: "explain", live: false, view: viewExplain };
  const [section, kind = "routers", name] = parts;
  if (!KINDS[section] || !KINDS[section].includes(kind)) return { nav: "", live: false, view: async () => [el("h1", {}, "Not found")] };
  if (name !== undefined) return { nav: section, live: true, view: () => viewDetail(section, kind, name) };
  return { nav: section, live: true, key: section + kind, view: () => viewList(section, kind) };
}

async function render(auto) {
  const route = parseRoute();
  if (auto && (!route.live || document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName))) return;
  const seq = ++renderSeq;
  setNav(route.nav);
  try {
    const nodes = await route.view();
    if (seq !== renderSeq) return; // a newer render started meanwhile
    app.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
    live.classList.remove("stale");
    live.textContent = "live · " + new Date().toLocaleTimeString();
  } catch (err) {
    if (seq !== renderSeq) return;
    live.classList.add("stale");
    live.textContent = "offline";
    if (!auto) app.replaceChildren(el("h1", {}, "Error"), errorBox([err.message]));
  }
}

let lastKey = "";
window.addEventListener("hashchange", () => {
  const key = parseRoute().key || "";
  if (key !== lastKey) { state.page = 1; state.search = ""; state.status = ""; lastKey = key; }
  render();
});
setInterval(() => { if (!document.hidden) render(true); }, REFRESH_MS);
lastKey = parseRoute().key || "";
render();
