// The web console's main ES module: it reads GET /v1/status every few seconds and draws the lanes, the topology and lane-beside-base tables; its only change is an apply of one Lane document through POST /v1/resources with the admin token the user typed, and it never loads anything from another origin.
import { $, h, ms, pct, rate } from "./dom.js";
import { legend, topology } from "./topology.js";

const REFRESH_MS = 3000;
/** The admin token lives in this tab only (sessionStorage), never in a cookie or in local storage. */
const TOKEN_KEY = "lanemesh.adminToken";

const state = {
  /** The last GET /v1/status answer. */
  view: null,
  /** Lanes tables drawn, by group: the rules they show (redrawn only when those change). */
  drawnRules: new Map(),
  /** Weights typed but not applied yet, by lane. */
  weights: new Map(),
  busy: false,
  timer: undefined,
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** One API call, same origin; the token (when given) as `Authorization: Bearer`. */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const t = token();
  if (t !== "") headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  return { status: res.status, body: json };
}

/** A validation error as `lanemesh validate` prints it. */
function formatError(e) {
  let out = e.file;
  if (e.doc >= 0) {
    out += `: document ${e.doc + 1}`;
    if (e.docName !== null && e.docName !== undefined) out += ` (${e.docName})`;
  }
  if (e.path !== "") out += `: ${e.path}`;
  out += `: ${e.message}`;
  if (e.line !== undefined) out += ` (line ${e.line})`;
  return out;
}

/** What the API said, as it said it. */
function describe(r) {
  if (Array.isArray(r.body?.errors)) return r.body.errors.map(formatError).join("\n");
  if (r.body?.error) return `HTTP ${r.status} ${r.body.error.code}: ${r.body.error.message}`;
  return `HTTP ${r.status}`;
}

function showMessage(kind, text) {
  const m = $("message");
  m.hidden = false;
  m.dataset.kind = kind;
  m.className = kind;
  m.textContent = text;
}

function ruleText(lane) {
  if (lane.match !== null && lane.match !== undefined) {
    const m = lane.match;
    const conds = (m.conditions ?? []).map((c) => {
      const value = Array.isArray(c.values) ? `[${c.values.join(", ")}]` : String(c.value ?? "");
      return `${c.type} ${c.name ?? ""} ${c.op} ${value}`.replace(/\s+/g, " ");
    });
    return `${m.mode === "any" ? "any" : "all"} of: ${conds.join("; ")}`;
  }
  if (lane.weight !== null) return `weight ${lane.weight} %`;
  if (lane.weights !== null)
    return `weights: ${Object.entries(lane.weights)
      .map(([r, w]) => `${r} ${w} %`)
      .join(", ")}`;
  return "–";
}

function guardText(g) {
  if (g === null) return "none";
  const parts = [];
  if (g.maxErrorRate !== null) parts.push(`errors ≤ ${pct(g.maxErrorRate)}`);
  if (g.maxP99Ms !== null) parts.push(`p99 ≤ ${g.maxP99Ms} ms`);
  return `${parts.join(", ")} (over ${g.window}, ≥ ${g.minRequests} requests)`;
}

/** Change one field of a Lane and apply the whole document, as `lanemesh apply` would. */
async function changeLane(name, what, edit) {
  if (state.busy) return;
  state.busy = true;
  for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
  try {
    const got = await api("GET", `/v1/resources/lanes/${encodeURIComponent(name)}`);
    if (got.status !== 200) {
      showMessage("error", `Cannot read Lane/${name}: ${describe(got)}`);
      return;
    }
    const { status: _output, ...doc } = got.body;
    const value = { ...doc, spec: { ...doc.spec } };
    edit(value.spec);
    const r = await api("POST", "/v1/resources", {
      documents: [{ file: "console", doc: 0, value }],
    });
    if (r.status === 200) {
      state.weights.delete(name);
      showMessage("ok", `${what}: applied (version ${r.body.version}).`);
    } else if (r.status === 401) {
      // Nothing read without the token stays on the page (say, after Forget).
      $("groups").replaceChildren();
      state.drawnRules.clear();
      showMessage(
        "error",
        `Refused, nothing changed: ${describe(r)}\nType the admin token above to change lanes.`,
      );
      $("token").focus();
    } else showMessage("error", `Refused, nothing changed:\n${describe(r)}`);
  } catch (err) {
    showMessage("error", `The control plane did not answer: ${err.message}`);
  } finally {
    state.busy = false;
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = false;
    refreshNow();
  }
}

function laneActions(lane) {
  const cell = h("td", { class: "actions" });
  const toggle = h(
    "button",
    { type: "button", "data-action": "toggle" },
    lane.enabled ? "Close lane" : "Open lane",
  );
  toggle.addEventListener("click", () =>
    changeLane(lane.name, `Lane ${lane.name} ${lane.enabled ? "closed" : "opened"}`, (spec) => {
      spec.enabled = !lane.enabled;
    }),
  );
  cell.append(toggle);
  if (lane.weight !== null) {
    const input = h("input", {
      type: "number",
      min: "0",
      max: "100",
      step: "1",
      "aria-label": `weight of lane ${lane.name}`,
      "data-weight": lane.name,
    });
    input.value = String(state.weights.get(lane.name) ?? lane.weight);
    input.addEventListener("input", () => state.weights.set(lane.name, input.value));
    const set = h("button", { type: "button", "data-action": "weight" }, "Set weight");
    set.addEventListener("click", () => {
      const w = Number(input.value);
      changeLane(lane.name, `Lane ${lane.name} weight ${input.value}`, (spec) => {
        spec.weight = input.value.trim() === "" || Number.isNaN(w) ? input.value : w;
      });
    });
    cell.append(" ", input, " ", set);
  }
  return cell;
}

function lanesTable(g) {
  const head = ["lane", "tag", "state", "rule", "guard", "closed by its guard", ""];
  const rows = g.lanes.map((l) =>
    h(
      "tr",
      { "data-lane": l.name, "data-enabled": String(l.enabled) },
      h("td", {}, h("strong", {}, l.name)),
      h("td", {}, h("span", { class: "tag" }, l.tag)),
      h(
        "td",
        {},
        h("span", { class: l.enabled ? "open" : "closed" }, l.enabled ? "open" : "closed"),
      ),
      h("td", { class: "rule" }, ruleText(l)),
      h("td", {}, guardText(l.guard)),
      h(
        "td",
        { class: l.guardTrip ? "trip" : "muted" },
        l.guardTrip ? `${l.guardTrip.closedAt}: ${l.guardTrip.reason}` : "–",
      ),
      laneActions(l),
    ),
  );
  return h(
    "table",
    { class: "lanes" },
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: "7" }, "no lanes"))]),
    ),
  );
}
function sidesTable(lane) {
  const head = [
    "app",
    "instances",
    `${lane.tag} req/s`,
    "base req/s",
    `${lane.tag} errors`,
    "base errors",
    `${lane.tag} p50 / p99 ms`,
    "base p50 / p99 ms",
    "fallbacks",
  ];
  const rows = lane.apps.map((a) => {
    const inst = Object.entries(a.instances)
      .map(([t, n]) => `${t} ${n}`)
      .join(", ");
    const laneCell = (text) =>
      h("td", { class: a.inLane ? "lane num" : "muted num" }, a.inLane ? text : "–");
    return h(
      "tr",
      { "data-app": a.app },
      h("td", {}, a.app, a.inLane ? "" : h("span", { class: "muted" }, " (base serves the lane)")),
      h("td", {}, inst || "–"),
      laneCell(rate(a.lane.rps)),
      h("td", { class: "num" }, rate(a.base.rps)),
      laneCell(pct(a.lane.errorRate)),
      h("td", { class: "num" }, pct(a.base.errorRate)),
      laneCell(`${ms(a.lane.p50Ms)} / ${ms(a.lane.p99Ms)}`),
      h("td", { class: "num" }, `${ms(a.base.p50Ms)} / ${ms(a.base.p99Ms)}`),
      h("td", { class: "num" }, String(a.lane.fallbacks + a.base.fallbacks)),
    );
  });
  return h(
    "table",
    { class: "sides", "data-lane": lane.name },
    h(
      "caption",
      {},
      `Lane ${lane.name} (${lane.tag}, ${lane.enabled ? "open" : "closed"}) beside base`,
    ),
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows),
  );
}

function groupSection(g, windowSeconds) {
  let section = document.querySelector(`section[data-group="${CSS.escape(g.name)}"]`);
  if (section === null) {
    section = h(
      "section",
      { "data-group": g.name },
      h("h2", {}),
      h("div", { class: "lanes-box" }),
      h("h3", {}, "Topology"),
      h("div", { class: "topology-box" }),
      h("h3", {}, "Lane beside base"),
      h("div", { class: "sides-box" }),
    );
    $("groups").append(section);
  }
  section.querySelector("h2").textContent =
    `Lane group ${g.name} · ${g.mode} · apps ${g.apps.join(", ")}`;
  const rules = JSON.stringify(
    g.lanes.map((l) => [
      l.name,
      l.tag,
      l.enabled,
      l.match,
      l.weight,
      l.weights,
      l.guard,
      l.guardTrip,
    ]),
  );
  if (state.drawnRules.get(g.name) !== rules) {
    state.drawnRules.set(g.name, rules);
    section.querySelector(".lanes-box").replaceChildren(lanesTable(g));
  }
  section.querySelector(".topology-box").replaceChildren(topology(g, windowSeconds), legend(g));
  section.querySelector(".sides-box").replaceChildren(...g.lanes.map(sidesTable));
  return section;
}

function render(view) {
  const at = new Date(view.at).toLocaleTimeString();
  $("summary").textContent =
    `${view.groups.length} lane group${view.groups.length === 1 ? "" : "s"} · ${view.reporting} ` +
    `proxies reporting · rates over the last ${view.windowSeconds} s · updated ${at}`;
  const keep = new Set(view.groups.map((g) => groupSection(g, view.windowSeconds)));
  for (const sec of document.querySelectorAll("section[data-group]"))
    if (!keep.has(sec)) sec.remove();
  if (view.groups.length === 0 && $("groups").childElementCount === 0)
    $("groups").append(
      h("p", { class: "muted" }, "No lane group yet: apply one with lanemesh apply."),
    );
}

async function refresh() {
  try {
    const r = await api("GET", "/v1/status");
    if (r.status === 200) {
      state.view = r.body;
      document.body.dataset.loaded = "true";
      render(r.body);
    } else if (r.status === 401) {
      // Nothing read without the token stays on the page (say, after Forget).
      $("groups").replaceChildren();
      state.drawnRules.clear();
      $("summary").textContent =
        `Reads on this address need the admin token: type it above. (${describe(r)})`;
      $("token").focus();
    } else $("summary").textContent = `GET /v1/status: ${describe(r)}`;
  } catch (err) {
    $("summary").textContent = `The control plane did not answer (${err.message}); retrying.`;
  } finally {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

function refreshNow() {
  clearTimeout(state.timer);
  refresh();
}

function showTokenState() {
  $("token-state").textContent =
    token() === "" ? "no token: you can look, not change" : "token set for this tab";
}

function start() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (t === "") return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token").value = "";
    showTokenState();
    refreshNow();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    refreshNow();
  });
  showTokenState();
  refresh();
}

start();
