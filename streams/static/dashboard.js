// newsevents live dashboard: a stacked per-minute chart, per-type totals, the
// top companies and the latest stories (copies grouped under their first
// article), kept current over server-sent events.
"use strict";

const MAX_ARTICLES = 30;
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#6b7a8f"];
const LABELS = { anti_counterfeiting: "Anti-counterfeiting", layoffs_restructuring: "Layoffs / restructuring",
                 legal_regulatory: "Legal / regulatory", market_expansion: "Market expansion",
                 product_launch: "Product launch", leadership_change: "Leadership change" };
const SVG = "http://www.w3.org/2000/svg";

const state = { types: [], minute: 0, timeline: {}, totals: {}, articles: [], streamed: false };
const nodes = new Map();  // story key -> {node, card}, so re-renders keep elements (and their highlight)
const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat();

function label(type) {
  return LABELS[type] || type.charAt(0).toUpperCase() + type.slice(1).replace(/_/g, " ");
}

function color(type) {
  const i = state.types.indexOf(type);
  return PALETTE[(i < 0 ? state.types.length : i) % PALETTE.length];
}

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  // Text goes in as text nodes: titles and evidence come from the wire.
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function hhmm(minute) {
  return new Date(minute * 60000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (!isFinite(s)) return "";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

// ---- counts: chart, totals, header figures ------------------------------------------

function niceStep(max) {
  const raw = max / 4, mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
}

function renderChart() {
  // Drawn at the box's pixel size, so text stays crisp and the chart fills its card.
  const box = $("chart");
  const W = Math.max(320, box.clientWidth), H = Math.max(180, box.clientHeight), L = 38, R = 8, T = 10, B = 24;
  const n = 60;
  const sums = new Array(n).fill(0);
  for (const t of state.types) (state.timeline[t] || []).forEach((v, i) => { sums[i] += v; });
  const step = niceStep(Math.max(4, ...sums));
  const top = Math.ceil(Math.max(4, ...sums) / step) * step;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const cw = (W - L - R) / n;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Events per minute by type" });
  for (let v = 0; v <= top; v += step) {
    svg.append(el("svg:line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
               el("svg:text", { class: "axis-label", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt.format(v)));
  }
  const first = state.minute - n + 1;
  for (let i = 0; i < n; i++) {
    const x = L + i * cw + 1, g = el("svg:g", { class: "column" });
    const lines = [hhmm(first + i)];
    let acc = 0;
    for (const t of state.types) {
      const v = (state.timeline[t] || [])[i] || 0;
      if (!v) continue;
      g.append(el("svg:rect", { x, width: Math.max(1, cw - 2), y: y(acc + v), height: y(acc) - y(acc + v),
                                fill: color(t), rx: 1 }));
      acc += v;
      lines.push(`${label(t)}: ${v}`);
    }
    // A full-height transparent target, so hovering an empty minute shows its tooltip too.
    g.prepend(el("svg:rect", { class: "hit", x: x - 1, width: cw, y: T, height: H - T - B }));
    g.append(el("svg:title", {}, lines.length > 1 ? lines.join("\n") : `${lines[0]}: no events`));
    svg.append(g);
    // Every 10 minutes, but not where the label would run into "now".
    if (((first + i) % 10 === 0 && i < n - 5) || i === n - 1) {
      svg.append(el("svg:text", { class: "axis-label", x: i === n - 1 ? W - R : x + cw / 2, y: H - 6,
                                  "text-anchor": i === n - 1 ? "end" : "middle" },
                    i === n - 1 ? "now" : hhmm(first + i)));
    }
  }
  if (!sums.some(Boolean)) {
    svg.append(el("svg:text", { class: "empty-label", x: (L + W) / 2, y: H / 2, "text-anchor": "middle" },
                  "No events in the last hour yet"));
  }
  box.replaceChildren(svg);
}

let chartQueued = false;
new ResizeObserver(() => {
  if (chartQueued) return;
  chartQueued = true;
  requestAnimationFrame(() => { chartQueued = false; renderChart(); });
}).observe($("chart"));

function renderTotals() {
  let hour = 0, day = 0;
  const rows = state.types.map((t) => {
    const c = state.totals[t] || { last_hour: 0, last_24h: 0 };
    hour += c.last_hour; day += c.last_24h;
    const num = (v) => el("td", { class: v ? "num" : "num zero" }, fmt.format(v));
    return el("tr", { "data-type": t },
              el("td", {}, el("span", { class: "swatch", style: `--c:${color(t)}` }), label(t)),
              num(c.last_hour), num(c.last_24h));
  });
  $("totals").tBodies[0].replaceChildren(...rows);
  $("sum-hour").textContent = fmt.format(hour);
  $("sum-day").textContent = fmt.format(day);
}

function applyCounts(c) {
  state.types = c.types;
  state.minute = c.minute;
  state.timeline = c.timeline;
  state.totals = c.totals;
  if (c.rate != null) $("kpi-rate").textContent = c.rate.toFixed(1);
  if (c.articles != null) $("kpi-articles").textContent = fmt.format(c.articles);
  if (c.deadletters != null) $("kpi-deadletters").textContent = fmt.format(c.deadletters);
  if (c.skipped) $("feed-note").textContent = `newest first · sampled, ${fmt.format(c.skipped)} not shown`;
  renderChart();
  renderTotals();
  if (c.companies) renderCompanies(c.companies);
}

// ---- top companies ------------------------------------------------------------------

function plural(n, one, many) {
  return `${fmt.format(n)} ${n === 1 ? one : many}`;
}

function renderCompanies(c) {
  const max = Math.max(1, ...c.top.map((t) => t.stories));
  const rows = c.top.map((t) => {
    const types = Object.entries(t.types);
    const tip = [`${t.name}: ${plural(t.stories, "story", "stories")}`,
                 ...types.map(([type, n]) => `${label(type)}: ${n}`)].join("\n");
    // One bar per company, split by event type in the chart's colours.
    const bar = el("span", { class: "c-bar", style: `width:${(100 * t.stories) / max}%` },
                   ...types.map(([type, n]) => el("span", { class: "seg", style: `--c:${color(type)};flex-grow:${n}` })));
    return el("li", { class: "company-row", title: tip, "data-name": t.name },
              el("span", { class: "c-name" }, t.name), el("span", { class: "c-count" }, fmt.format(t.stories)), bar);
  });
  $("companies").replaceChildren(...rows);
  $("companies-empty").hidden = rows.length > 0;
  // Counts re-read from Kafka may start later than an hour ago (a bounded re-read): say so.
  const full = c.since <= Date.now() / 1000 - c.minutes * 60 + 60;
  $("companies-window").textContent = `stories, ${full ? "last hour" : `since ${hhmm(Math.floor(c.since / 60))}`}`
    + (c.approximate ? " · approximate, busy feed" : "");
}

// The worker's /stats has the same timeline; it paints the chart before the stream is up.
function countsFromStats(s) {
  const types = [...Object.keys(s.timeline || {})];
  for (const t of Object.keys(s.types || {})) if (!types.includes(t)) types.push(t);
  return { types, minute: Math.floor(Date.parse(s.updated_at) / 60000), timeline: s.timeline || {},
           totals: s.types || {} };
}

// ---- articles -----------------------------------------------------------------------

// One card per story: a copy's update (one more copy) replaces its story's card.
const keyOf = (a) => a.story || `${a.id}|${a.processed_at}`;
const headOf = (a) => `${a.id}|${a.processed_at}`;

function addArticles(list) {
  const byKey = new Map(state.articles.map((a) => [keyOf(a), a]));
  for (const a of list) byKey.set(keyOf(a), a);
  state.articles = [...byKey.values()].sort((a, b) => (a.processed_at < b.processed_at ? 1 : -1))
    .slice(0, MAX_ARTICLES);
  scheduleArticles();
}

function titleLink(cls, title, url) {
  return /^https?:\/\//i.test(url || "")
    ? el("a", { class: cls, href: url, target: "_blank", rel: "noopener noreferrer" }, title)
    : el("span", { class: cls }, title);
}

function parties(e) {
  const names = (e.companies || []).map((c) => el("span", { class: "company" }, c));
  const markets = (e.markets || []).map((m) => el("span", { class: "market", title: "market entered" }, m));
  if (!names.length && !markets.length) return null;
  return el("div", { class: "parties" }, ...names, ...(markets.length ? [el("span", { class: "arrow" }, "→")] : []),
            ...markets);
}

function copiesNode(a, open) {
  if (!a.copies) return null;
  const listed = a.latest_copies || [];
  const sources = [...new Set(listed.map((c) => c.source).filter(Boolean))];
  const summary = el("summary", {}, el("span", { class: "c-more" }, `+${plural(a.copies, "copy", "copies")}`),
                     sources.length ? el("span", { class: "c-sources" }, sources.join(", ")) : null);
  const items = listed.slice().reverse().map((c) => el("li", {},
    el("span", { class: "c-source" }, c.source || "unknown source"),
    titleLink("c-title", c.title || c.id, c.url),
    el("time", { class: "a-time", "data-at": c.processed_at }, ago(c.processed_at))));
  const earlier = a.copies - listed.length;
  if (earlier > 0) items.push(el("li", { class: "c-earlier" }, `and ${plural(earlier, "earlier copy", "earlier copies")}`));
  const details = el("details", { class: "copies" }, summary, el("ul", {}, ...items));
  details.open = open;
  return details;
}

function articleNode(a) {
  const meta = [a.source, a.published_at && new Date(a.published_at).toLocaleString()].filter(Boolean).join(" · ");
  const li = el("li", { class: "article fresh", "data-id": a.id, "data-story": keyOf(a) },
                el("div", { class: "a-head" }, titleLink("a-title", a.title || a.id || "(untitled)", a.url),
                   el("time", { class: "a-time", "data-at": a.processed_at }, ago(a.processed_at))),
                meta || a.duplicate ? el("div", { class: "a-meta" }, meta,
                  a.duplicate ? el("span", { class: "a-copy" }, "copy of an earlier story") : null) : null);
  if (!a.events.length) {
    li.classList.add("quiet");
    li.append(el("div", { class: "a-none" }, a.reason ? `No events (${a.reason.replace(/_/g, " ")})` : "No events"));
  } else {
    li.append(el("div", { class: "events" }, ...a.events.map((e) =>
      el("div", { class: "event", "data-type": e.type, style: `--c:${color(e.type)}` },
         el("div", { class: "who" },
            el("span", { class: "chip" }, el("span", { class: "swatch" }), label(e.type),
               el("span", { class: "score" }, e.score.toFixed(2))),
            parties(e)),
         el("ul", { class: "evidence" }, ...e.evidence.map((s) => el("li", {}, s)))))));
  }
  // Organisations named but in none of the events: context, kept apart from who is involved.
  const involved = new Set(a.events.flatMap((e) => e.companies || []).map((c) => c.toLowerCase()));
  const others = (a.companies || []).filter((c) => !involved.has(c.toLowerCase())).slice(0, 6);
  if (others.length) li.append(el("div", { class: "a-named" }, a.events.length ? "Also named: " : "Named: ",
                                  others.join(", ")));
  const copies = copiesNode(a, false);
  if (copies) li.append(copies);
  setTimeout(() => li.classList.remove("fresh"), 1500);
  return li;
}

// A story that gained a copy keeps its card (and an open copies list); only that part changes.
function updateCopies(li, a) {
  const old = li.querySelector(":scope > details.copies");
  const copies = copiesNode(a, old ? old.open : false);
  if (old) old.remove();
  if (!copies) return;
  li.append(copies);
  copies.classList.add("bump");
  setTimeout(() => copies.classList.remove("bump"), 1500);
}

let articlesQueued = false;
function scheduleArticles() {
  // Several articles can arrive in one burst: render once per frame.
  if (articlesQueued) return;
  articlesQueued = true;
  requestAnimationFrame(() => {
    articlesQueued = false;
    const keep = new Map();
    const items = state.articles.map((a) => {
      const known = nodes.get(keyOf(a));
      let node;
      if (known && headOf(known.card) === headOf(a)) {
        node = known.node;
        if (known.card.copies !== a.copies) updateCopies(node, a);
      } else {
        node = articleNode(a);
      }
      keep.set(keyOf(a), { node, card: a });
      return node;
    });
    nodes.clear();
    keep.forEach((v, k) => nodes.set(k, v));
    $("articles").replaceChildren(...items);
    $("empty").hidden = items.length > 0;
  });
}

setInterval(() => {
  for (const t of document.querySelectorAll(".a-time")) t.textContent = ago(t.dataset.at);
}, 5000);

// ---- connection ---------------------------------------------------------------------

function setStatus(kind, text) {
  $("status").dataset.state = kind;
  $("status-text").textContent = text;
}

function feedStatus(s) {
  if (s === "live") setStatus("live", "Live");
  else if (s === "kafka unavailable") setStatus("degraded", "Connected · Kafka unavailable");
  else setStatus("degraded", "Connected · starting feed");
}

let source = null, lastHeard = 0, backoff = 1000;

function connect() {
  if (source) source.close();
  source = new EventSource("dashboard/events");
  const on = (name, handle) => source.addEventListener(name, (e) => {
    lastHeard = Date.now();
    handle(JSON.parse(e.data));
  });
  on("hello", (d) => {
    backoff = 1000;
    if (d.counts) { state.streamed = true; applyCounts(d.counts); }
    addArticles(d.recent);
    feedStatus(d.status);
  });
  on("article", (a) => addArticles([a]));
  on("counts", (c) => { state.streamed = true; applyCounts(c); feedStatus(c.status); });
  on("ping", (p) => feedStatus(p.status));
  source.onerror = () => {
    // The browser retries by itself unless the stream is CLOSED (e.g. an HTTP error).
    if (source.readyState === EventSource.CLOSED) retryLater();
    else setStatus("reconnecting", "Reconnecting…");
  };
}

function retryLater() {
  source.close();
  setStatus("offline", `Disconnected · retrying in ${Math.round(backoff / 1000)} s`);
  setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 15000);
}

// The server writes at least every 15 s; silence for longer means a dead connection.
setInterval(() => {
  if (source && source.readyState === EventSource.OPEN && Date.now() - lastHeard > 40000) retryLater();
}, 5000);

fetch("stats").then((r) => r.json()).then((s) => { if (!state.streamed) applyCounts(countsFromStats(s)); })
  .catch(() => {});
renderChart();
connect();
