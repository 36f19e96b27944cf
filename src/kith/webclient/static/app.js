// Kith's web client: plain JavaScript over the public API (/api/v1), no build step, no library.
"use strict";

const API = "/api/v1";
// The token lives here only, never in Web Storage, where an injected script would read it
// (the pages also run under a strict Content-Security-Policy). A reload asks for it again.
let token = null;
const $ = (selector) => document.querySelector(selector);

// ---- HTTP: bearer token, and ETag revalidation (If-None-Match → 304 reuses the body we have) ----

const etagCache = new Map(); // url → {etag, body, link}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  headers.set("Authorization", `Bearer ${token}`);
  const method = options.method || "GET";
  const cached = method === "GET" ? etagCache.get(path) : undefined;
  if (cached) headers.set("If-None-Match", cached.etag);
  // no-store: the browser must not revalidate on its own, so a 304 reaches this code and is counted.
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  if (response.status === 304 && cached) {
    api.notModified += 1;
    return { body: cached.body, link: cached.link, status: 304 };
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  const link = response.headers.get("Link");
  const etag = response.headers.get("ETag");
  if (method === "GET" && etag) etagCache.set(path, { etag, body, link });
  return { body, link, status: response.status };
}
api.notModified = 0;

// `Link: <url>; rel="next"` → url (the cursor page's own idea of the next page).
function linkRel(link, rel) {
  if (!link) return null;
  for (const part of link.split(",")) {
    const match = part.match(/<([^>]+)>\s*;\s*rel="?([^";]+)"?/);
    if (match && match[2] === rel) return match[1];
  }
  return null;
}

function nextPageUrl(path, page) {
  const fromLink = linkRel(page.link, "next");
  if (fromLink) {
    const url = new URL(fromLink, location.origin);
    return url.pathname + url.search;
  }
  if (!page.body.next_cursor) return null;
  const url = new URL(path, location.origin);
  url.searchParams.set("cursor", page.body.next_cursor);
  return url.pathname + url.search;
}

// ---- a list that scrolls to its end by cursor ----

// The first page, then the next one whenever the list's end marker is in view, until the API has no next
// page ("end of list"). `prepend` lists (a thread's older messages) grow upwards from a marker on top.
class PagedList {
  constructor(list, end, { row, empty, prepend = false }) {
    Object.assign(this, { list, end, row, empty, prepend, next: null, loading: false, generation: 0, pages: 0 });
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.load();
    }).observe(end);
  }

  open(path) {
    this.generation += 1;
    this.next = path;
    this.pages = 0;
    this.list.replaceChildren();
    this.list.dataset.pages = "0";
    return this.load();
  }

  async load() {
    if (this.loading || !this.next) return;
    this.loading = true;
    const generation = this.generation;
    const path = this.next;
    this.end.textContent = "loading…";
    let failed = false;
    try {
      const page = await api(path);
      if (generation === this.generation) this.show(path, page); // else: opened elsewhere meanwhile
    } catch (error) {
      failed = generation === this.generation;
      if (failed) this.end.textContent = error.message; // tried again when the end comes into view again
    } finally {
      this.loading = false;
    }
    // Go on while the end is in view: this list's next page, or the first one of what was opened meanwhile.
    if (!failed && this.next && isInView(this.end)) this.load();
  }

  show(path, page) {
    const rows = page.body.items.map(this.row);
    if (this.prepend) this.list.prepend(...rows.reverse());
    else this.list.append(...rows);
    this.next = nextPageUrl(path, page);
    this.pages += 1;
    this.list.dataset.pages = String(this.pages);
    if (!this.list.children.length) this.list.append(el("li", { class: "muted empty" }, this.empty));
    this.end.textContent = this.next || this.list.querySelector(".empty") ? "" : "end of list";
  }
}

function isInView(node) {
  const box = node.getBoundingClientRect();
  return box.width + box.height > 0 && box.top < window.innerHeight + 200 && box.bottom > -200;
}

// Contact names by id, for conversations (each asked once; revalidated by ETag afterwards).
const contactNames = new Map();
function contactName(id) {
  if (id == null) return Promise.resolve(null);
  if (!contactNames.has(id)) {
    contactNames.set(id, api(`${API}/contacts/${id}`).then((r) => r.body.full_name, () => `contact #${id}`));
  }
  return contactNames.get(id);
}

// ---- small rendering helpers ----

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
// A date alone (a birthday) is shown as written: parsing it as a time would shift it across time zones.
const day = (iso) => (!iso ? "—" : /^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso : new Date(iso).toLocaleDateString());

function contactRow(contact, extra) {
  return el(
    "li",
    {
      class: "contact-row",
      dataset: { id: contact.id, score: contact.score, name: contact.full_name },
      onclick: () => openContact(contact.id),
    },
    el("span", { class: "name" }, contact.full_name),
    el("span", { class: "muted" }, [contact.title, contact.company].filter(Boolean).join(" · ")),
    el("span", { class: "score", title: "score" }, Number(contact.score).toFixed(2)),
    extra ? el("span", { class: "extra" }, extra) : null,
  );
}

function showError(container, error) {
  container.replaceChildren(el("li", { class: "error" }, String(error.message || error)));
}

// ---- contacts: infinite scroll by cursor ----

const contacts = { next: null, loading: false, generation: 0, seen: new Set() };

function contactsPath() {
  const params = new URLSearchParams({ sort: $("#sort").value, limit: "50" });
  const q = $("#search").value.trim();
  if (q) params.set("q", q);
  return `${API}/contacts?${params}`;
}

function resetContacts() {
  contacts.generation += 1;
  contacts.next = contactsPath();
  contacts.seen = new Set();
  $("#contacts").replaceChildren();
  loadMoreContacts();
}

async function loadMoreContacts() {
  if (contacts.loading || !contacts.next) return;
  contacts.loading = true;
  const generation = contacts.generation;
  const path = contacts.next;
  $("#contacts-end").textContent = "loading…";
  try {
    const page = await api(path);
    if (generation !== contacts.generation) return; // the sort or search changed meanwhile
    for (const contact of page.body.items) {
      contacts.seen.add(contact.id);
      $("#contacts").append(contactRow(contact));
    }
    contacts.next = nextPageUrl(path, page);
    $("#contacts").dataset.pages = String(Number($("#contacts").dataset.pages || 0) + 1);
    $("#contacts-status").textContent = `${contacts.seen.size} shown · data as of ${when(page.body.as_of)}`;
    $("#contacts-end").textContent = contacts.next ? "" : "end of list";
  } catch (error) {
    $("#contacts-end").textContent = error.message;
  } finally {
    contacts.loading = false;
  }
  if (generation === contacts.generation) fillViewport();
}

// Keep loading while the end marker is on screen (a tall window shows more than one page).
const endObserver = new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadMoreContacts();
});

function fillViewport() {
  const marker = $("#contacts-end").getBoundingClientRect();
  if (contacts.next && marker.top < window.innerHeight + 200) loadMoreContacts();
}

// ---- birthdays and overdue ----

let birthdays, overdue;

function loadBirthdays() {
  const days = Math.min(366, Math.max(1, Number($("#within-days").value) || 30));
  return birthdays.open(`${API}/contacts/birthdays?within_days=${days}&limit=50`);
}

const loadOverdue = () => overdue.open(`${API}/contacts/overdue?limit=50`);

// "due 3 days ago (since 2026-12-04)": by how much, and since when.
function overdueText(c) {
  if (!c.overdue) return `due ${day(c.follow_up_due_at)}`;
  const days = c.overdue_days ?? 0;
  return `${days === 0 ? "due today" : `${days} day${days === 1 ? "" : "s"} overdue`} (since ${day(c.follow_up_due_at)})`;
}

// ---- a contact's card and timeline ----

async function openContact(id) {
  const panel = $("#contact-panel");
  panel.hidden = false;
  $("#contact-card").replaceChildren(el("p", { class: "muted" }, "loading…"));
  $("#timeline").replaceChildren();
  try {
    const { body: c } = await api(`${API}/contacts/${id}`);
    const fields = [
      ["Work", [c.title, c.company].filter(Boolean).join(", ")],
      ["Emails", c.emails.join(", ")],
      ["Phones", c.phones.join(", ")],
      ["Tags", c.tags.join(", ")],
      ["Birthday", c.birthday],
      ["Cadence", c.cadence_days ? `every ${c.cadence_days} days` : ""],
      ["Last interaction", when(c.last_interaction_at)],
      ["Follow-up due", c.follow_up_due_at ? overdueText(c) : ""],
      ["Messages", `${c.messages_30d} in 30 days, ${c.messages_90d} in 90 days`],
      ["Links", c.links.join(" ")],
      ["Notes", c.notes],
    ];
    $("#contact-card").replaceChildren(
      el("h2", {}, c.full_name, " ", el("span", { class: "score" }, Number(c.score).toFixed(2))),
      el("dl", {}, fields.filter(([, v]) => v).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    );
  } catch (error) {
    $("#contact-card").replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  $("#timeline-title").hidden = false;
  timeline.open(`${API}/contacts/${id}/timeline?limit=50`);
}

// The API writes a message's direction as "in" (received) or "out" (sent).
const SENT = "out";

function messageRow(m) {
  const sent = m.direction === SENT;
  return el(
    "li",
    { class: `message ${sent ? "sent" : "received"}`, dataset: { id: m.id, direction: m.direction } },
    el("span", { class: "muted" }, `${sent ? "sent →" : "← received"} ${when(m.sent_at)}`),
    m.subject ? el("strong", {}, m.subject) : null,
    el("span", { class: "body" }, m.body || m.preview || ""),
  );
}

// ---- conversations (shown only when the server has the endpoint) ----

let conversations, thread, timeline;

function conversationRow(conv) {
  const withWhom = el("span", { class: "name" }, conv.contact_id == null ? "no contact" : "…");
  contactName(conv.contact_id).then((name) => name && (withWhom.textContent = name));
  return el(
    "li",
    { class: "conversation-row", dataset: { id: conv.id, contactId: conv.contact_id ?? "" }, onclick: () => openThread(conv) },
    withWhom,
    el("span", {}, conv.subject || `${conv.channel} conversation`),
    conv.awaiting_reply ? el("span", { class: "badge" }, "awaiting reply") : null,
    el("span", { class: "muted preview" }, conv.preview || ""),
    el("span", { class: "muted" }, `${conv.message_count} messages · ${when(conv.last_activity_at)}`),
  );
}

const loadConversations = () => conversations.open(`${API}/conversations?limit=50`);

async function openThread(conv) {
  $("#thread-panel").hidden = false;
  const heading = el("h3", { id: "thread-with" }, conv.subject || `${conv.channel} conversation`);
  $("#thread-header").replaceChildren(heading);
  contactName(conv.contact_id).then((name) => heading.append(el("span", { class: "muted" }, ` with ${name || "no contact"}`)));
  // Served newest first and shown oldest first, like any thread: older pages are added on top.
  await thread.open(`${API}/conversations/${conv.id}/messages?limit=50`);
  $("#thread").lastElementChild?.scrollIntoView({ block: "end" });
}

// ---- companies, tags, news mentions ----

let companies, tags, mentions, groupContacts;

const loadCompanies = () => companies.open(`${API}/companies?limit=50`);
const loadTags = () => tags.open(`${API}/tags?limit=50`);
const loadMentions = () => mentions.open(`${API}/mentions?limit=50`);

function aggregateRow(kind, group) {
  const path =
    kind === "company"
      ? `${API}/companies/${encodeURIComponent(group.name)}/contacts?limit=50`
      : `${API}/contacts?${new URLSearchParams({ tag: group.name, limit: "50" })}`;
  return el(
    "li",
    { class: "group-row", dataset: { name: group.name }, onclick: () => openGroup(kind, group.name, path) },
    el("span", { class: "name" }, group.name),
    el("span", { class: "muted" }, `${group.contacts} contacts · ${group.messages_30d} messages in 30 days`),
    el("span", { class: "score", title: "average score" }, Number(group.avg_score).toFixed(2)),
  );
}

function openGroup(kind, name, path) {
  $("#group-title").textContent = `${kind === "company" ? "Works at" : "Tagged"} ${name}`;
  $("#group-panel").hidden = false;
  return groupContacts.open(path);
}

function mentionRow(m) {
  return el(
    "li",
    { class: "mention-row", dataset: { id: m.id } },
    m.link ? el("a", { href: m.link, target: "_blank", rel: "noopener noreferrer", class: "name" }, m.title) : el("span", { class: "name" }, m.title),
    el("span", { class: "muted" }, [m.source, (m.companies || []).join(", ")].filter(Boolean).join(" · ")),
    el("span", { class: "muted" }, day(m.published_at)),
  );
}

// ---- dashboard: its numbers, and charts drawn from them (inline SVG) ----

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function barChart(title, pairs) {
  const width = 420;
  const rowHeight = 24;
  const labelWidth = 170;
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const chart = svg("svg", {
    class: "chart",
    width,
    height: pairs.length * rowHeight + 8,
    viewBox: `0 0 ${width} ${pairs.length * rowHeight + 8}`,
    role: "img",
    "aria-label": title,
  });
  pairs.forEach(([label, value], i) => {
    const y = i * rowHeight + 4;
    const barWidth = ((width - labelWidth - 60) * value) / max;
    chart.append(
      svg("text", { x: 0, y: y + 15, class: "chart-label" }, String(label).slice(0, 24)),
      svg("rect", { x: labelWidth, y, width: Math.max(1, barWidth), height: rowHeight - 6, rx: 3 }),
      svg("text", { x: labelWidth + barWidth + 6, y: y + 15, class: "chart-value" }, String(value)),
    );
  });
  return el("figure", {}, el("figcaption", {}, title), chart);
}

const humanize = (key) => key.replace(/_/g, " ");
const firstKey = (object, test) => Object.keys(object).find(test);

function renderDashboard(data, daily) {
  const numbers = Object.entries(data).filter(([, v]) => typeof v === "number");
  const tiles = el(
    "div",
    { class: "tiles" },
    numbers.map(([k, v]) => el("div", { class: "tile" }, el("b", {}, v.toLocaleString()), el("span", {}, humanize(k)))),
  );
  const charts = [];
  if (daily) charts.push(dailyChart(daily));
  for (const [key, value] of Object.entries(data)) {
    if (!Array.isArray(value) || !value.length || typeof value[0] !== "object") continue;
    const labelKey = firstKey(value[0], (k) => typeof value[0][k] === "string");
    const numberKey =
      "recent_activity" in value[0] ? "recent_activity" : firstKey(value[0], (k) => typeof value[0][k] === "number");
    if (labelKey && numberKey) {
      charts.push(barChart(`${humanize(key)} (${humanize(numberKey)})`, value.map((r) => [r[labelKey], r[numberKey]])));
    }
  }
  const run = data.last_sync_run;
  const lastRun = run ? el("p", {}, `Last import: ${run.source}, ${run.status}, ${when(run.finished_at || run.created_at)}`) : null;
  const asOf = data.as_of ? el("p", { class: "muted" }, `data as of ${when(data.as_of)}`) : null;
  $("#dashboard").replaceChildren(...[tiles, el("div", { class: "charts" }, charts), lastRun, asOf].filter(Boolean));
}

// Activity: messages per day (sent stacked on received), from GET /dashboard/messages/daily.
function dailyChart(daily) {
  const width = 620;
  const height = 160;
  const bottom = 18;
  const series = daily.series;
  const max = Math.max(1, ...series.map((d) => d.messages));
  const step = width / series.length;
  const chart = svg("svg", {
    class: "chart daily",
    width,
    height: height + bottom,
    viewBox: `0 0 ${width} ${height + bottom}`,
    role: "img",
    "aria-label": `Messages per day, last ${daily.days} days`,
  });
  series.forEach((d, i) => {
    const x = i * step + 1;
    const received = (height * d.received) / max;
    const sent = (height * d.sent) / max;
    chart.append(
      svg("rect", { x, y: height - received, width: Math.max(1, step - 2), height: received, class: "received" },
        svg("title", {}, `${d.day}: ${d.received} received, ${d.sent} sent`)),
      svg("rect", { x, y: height - received - sent, width: Math.max(1, step - 2), height: sent, class: "sent" },
        svg("title", {}, `${d.day}: ${d.received} received, ${d.sent} sent`)),
    );
  });
  chart.append(
    svg("text", { x: 0, y: height + bottom - 4, class: "chart-label" }, series[0].day),
    svg("text", { x: width, y: height + bottom - 4, class: "chart-label", "text-anchor": "end" }, series[series.length - 1].day),
    svg("text", { x: 0, y: 12, class: "chart-value" }, `${max} a day`),
  );
  const total = series.reduce((sum, d) => sum + d.messages, 0);
  return el("figure", { class: "daily-figure" }, el("figcaption", {}, `Messages per day (${total.toLocaleString()} in ${daily.days} days; sent dark, received light)`), chart);
}

async function loadDashboard() {
  try {
    const board = (await api(`${API}/dashboard`)).body;
    const daily = await api(`${API}/dashboard/messages/daily?days=30`).then((r) => r.body, () => null);
    renderDashboard(board, daily);
  } catch (error) {
    $("#dashboard").replaceChildren(el("p", { class: "error" }, error.message));
  }
}

// ---- import: upload, then poll the run until it is done ----

const FINISHED = new Set(["succeeded", "failed"]);

async function submitImport(event) {
  event.preventDefault();
  const form = event.target;
  const source = form.source.value;
  const data = new FormData();
  data.append("file", form.file.files[0]);
  const progress = $("#import-progress");
  progress.hidden = false;
  progress.replaceChildren(el("p", {}, "uploading…"));
  try {
    let run = (await api(`${API}/sync/${source}`, { method: "POST", body: data })).body;
    for (;;) {
      renderRun(run);
      const refresh = run.stages && run.stages.refresh;
      if (FINISHED.has(run.status) && (run.status === "failed" || !refresh || FINISHED.has(refresh.status))) break;
      await new Promise((resolve) => setTimeout(resolve, 700));
      run = (await api(`${API}/sync/runs/${run.id}`)).body;
    }
    if (run.status === "succeeded") resetContacts();
  } catch (error) {
    progress.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

function renderRun(run) {
  const counts = ["seen", "inserted", "updated", "skipped", "failed"].map((k) => `${run[`rows_${k}`]} ${k}`);
  const stages = Object.entries(run.stages || {}).map(([name, stage]) =>
    el("li", {}, `${name}: ${stage.status}${stage.duration_ms != null ? ` (${stage.duration_ms} ms)` : ""}`),
  );
  const dropped = Object.entries((run.stages && run.stages.sync && run.stages.sync.dropped) || {});
  const parts = [
    el("h3", {}, `Run ${run.id} (${run.source}): `, el("span", { class: `status ${run.status}` }, run.status)),
    el("p", { class: "counts" }, counts.join(" · ")),
    el("ul", {}, stages),
    dropped.length ? el("p", { class: "muted" }, `not imported: ${dropped.map(([k, n]) => `${n} ${k}`).join(", ")}`) : null,
    run.error ? el("p", { class: "error" }, run.error) : null,
    (run.errors || []).length
      ? el("details", {}, el("summary", {}, `${run.errors.length} record errors`), el("pre", {}, JSON.stringify(run.errors, null, 2)))
      : null,
  ];
  $("#import-progress").replaceChildren(...parts.filter(Boolean));
}

// ---- connections: connect (OAuth in this window), sync now, last run, last error ----

async function loadConnections() {
  const list = $("#connections");
  try {
    const page = (await api(`${API}/connections?limit=200`)).body;
    if (!page.items.length) {
      list.replaceChildren(el("li", { class: "muted" }, "No connection yet."));
      return;
    }
    list.replaceChildren(...page.items.map(connectionRow));
    // A sync is queued or running (the first one starts as the provider sends the browser back): look again.
    if (page.items.some((c) => c.current_run_id !== null) && !$("#tab-connections").hidden) {
      clearTimeout(loadConnections.timer);
      loadConnections.timer = setTimeout(loadConnections, 1500);
    }
  } catch (error) {
    showError(list, error);
  }
}

function connectionRow(c) {
  const running = c.current_run_id !== null;
  return el(
    "li",
    { class: "connection-row", dataset: { id: c.id, status: c.status } },
    el("span", { class: "name" }, `${c.provider}: ${c.account}`),
    el("span", { class: `status ${c.status}` }, c.status === "needs_reauth" ? "access revoked: connect again" : c.status),
    el("span", { class: "muted" }, `last sync ${when(c.last_sync_at)}`),
    el("span", { class: `status ${c.last_run_status || ""}` }, running ? "syncing…" : c.last_run_status || "never run"),
    c.last_error ? el("span", { class: "error" }, c.last_error) : null,
    el("button", { disabled: running || c.status !== "active" ? "" : null, onclick: () => syncNow(c.id) }, "Sync now"),
    el("button", { onclick: () => disconnect(c.id) }, "Disconnect"),
  );
}

async function syncNow(id) {
  try {
    const run = (await api(`${API}/connections/${id}/sync`, { method: "POST" })).body;
    await loadConnections();
    for (let status = run.status; !FINISHED.has(status); ) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      status = (await api(`${API}/sync/runs/${run.id}`)).body.status;
    }
  } catch (error) {
    $("#connect-error").textContent = error.message;
  }
  loadConnections();
}

async function disconnect(id) {
  await api(`${API}/connections/${id}`, { method: "DELETE" });
  loadConnections();
}

async function connectGoogle(event) {
  event.preventDefault();
  const days = event.target.days_back.value;
  try {
    const link = (await api(`${API}/connections/google/authorize${days ? `?days_back=${days}` : ""}`)).body;
    location.assign(link.authorization_url); // Google sends the browser back to /#connections
  } catch (error) {
    $("#connect-error").textContent = error.message;
  }
}

// ---- tabs, sign-in, start ----

const loaders = {
  contacts: () => (contacts.next === null && !$("#contacts").children.length ? resetContacts() : fillViewport()),
  birthdays: loadBirthdays,
  overdue: loadOverdue,
  conversations: loadConversations,
  companies: loadCompanies,
  tags: loadTags,
  mentions: loadMentions,
  dashboard: loadDashboard,
  import: () => {},
  connections: loadConnections,
};

function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== `tab-${name}`;
  loaders[name]();
}

// A tab whose endpoint this server does not have (404) stays hidden.
async function probeOptionalTabs() {
  const optional = [
    ["conversations", `${API}/conversations?limit=1`],
    ["companies", `${API}/companies?limit=1`],
    ["tags", `${API}/tags?limit=1`],
    ["mentions", `${API}/mentions?limit=1`],
    ["dashboard", `${API}/dashboard`],
    ["connections", `${API}/connections?limit=1`],
  ];
  for (const [tab, path] of optional) {
    try {
      await api(path);
      document.querySelector(`#tabs button[data-tab="${tab}"]`).hidden = false;
    } catch (error) {
      if (error.status !== 404) console.warn(tab, error);
    }
  }
}

async function signIn(pasted) {
  token = pasted;
  try {
    await api(`${API}/contacts?limit=1`);
  } catch (error) {
    token = null;
    showSignIn(error.status === 401 ? "That token is not valid (revoked, expired or mistyped)." : error.message);
    return;
  }
  $("#sign-in").hidden = true;
  $("#app").hidden = false;
  $("#tabs").hidden = false;
  $("#sign-out").hidden = false;
  await probeOptionalTabs();
  // Back from connecting an account: the callback sends the browser to /#connections.
  const wanted = location.hash.slice(1);
  showTab(wanted in loaders && !document.querySelector(`#tabs button[data-tab="${wanted}"]`).hidden ? wanted : "contacts");
}

function showSignIn(message = "") {
  $("#sign-in").hidden = false;
  $("#app").hidden = true;
  $("#tabs").hidden = true;
  $("#sign-out").hidden = true;
  $("#sign-in-error").textContent = message;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token-input").value.trim());
  });
  $("#sign-out").addEventListener("click", () => {
    token = null;
    etagCache.clear();
    location.reload();
  });
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#sort").addEventListener("change", resetContacts);
  let searchTimer;
  $("#search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(resetContacts, 250);
  });
  $("#within-days").addEventListener("change", loadBirthdays);
  $("#import-form").addEventListener("submit", submitImport);
  $("#connect-form").addEventListener("submit", connectGoogle);
  $("#contact-panel .close").addEventListener("click", () => ($("#contact-panel").hidden = true));
  $("#group-panel .close").addEventListener("click", () => ($("#group-panel").hidden = true));
  endObserver.observe($("#contacts-end"));
  const paged = (name, options) => new PagedList($(`#${name}`), $(`#${name}-end`), options);
  birthdays = paged("birthdays", { row: (c) => contactRow(c, `birthday ${day(c.next_birthday)}`), empty: "No birthdays in that window." });
  overdue = paged("overdue", { row: (c) => contactRow(c, overdueText(c)), empty: "Nobody is overdue." });
  timeline = paged("timeline", { row: messageRow, empty: "No messages yet." });
  conversations = paged("conversations", { row: conversationRow, empty: "No conversations yet." });
  thread = paged("thread", { row: messageRow, empty: "No messages in this conversation yet.", prepend: true });
  companies = paged("companies", { row: (g) => aggregateRow("company", g), empty: "No companies yet." });
  tags = paged("tags", { row: (g) => aggregateRow("tag", g), empty: "No tags yet." });
  groupContacts = paged("group-contacts", { row: (c) => contactRow(c), empty: "Nobody." });
  mentions = paged("mentions", { row: mentionRow, empty: "No news mentions yet." });
  window.kith = { api, contacts, etagCache }; // for the browser test and the curious
  showSignIn();
});
