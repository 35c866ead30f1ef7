// The web console's one ES module: it reads GET /v1/status every few seconds and draws the lanes, the topology and lane-beside-base tables; its only change is an apply of one Lane document through POST /v1/resources with the admin token the user typed, and it never loads anything from another origin.

const REFRESH_MS = 3000;
/** The admin token lives in this tab only (sessionStorage), never in a cookie or in local storage. */
const TOKEN_KEY = "lanemesh.adminToken";
const SVG = "http://www.w3.org/2000/svg";

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

const $ = (id) => document.getElementById(id);

/** An element with attributes (`class`, `data-*`, …) and children (nodes or text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== null) el.append(c);
  return el;
}

/** The same in SVG. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c);
  return el;
}

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

const rate = (n) => (n === 0 ? "0" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)} %`);
const ms = (n) =>
  n === null || n === undefined ? "–" : n < 10 ? n.toFixed(1) : String(Math.round(n));

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

/** The group's apps (and their callers) left to right, with per-tag requests/s on each edge. */
function topology(g, windowSeconds) {
  const callers = [...new Set(g.edges.map((e) => e.from))]
    .filter((f) => !g.apps.includes(f))
    .sort();
  const names = [...callers, ...g.apps];
  const W = 150;
  const GAP = 160;
  const NODE_H = 64;
  const TOP = 30;
  const x = (i) => 10 + i * (W + GAP);
  const laneTags = new Set(g.lanes.map((l) => l.tag));
  const instances = new Map();
  for (const l of g.lanes) for (const a of l.apps) instances.set(a.app, a.instances);
  const pairs = new Map();
  for (const e of g.edges) {
    const key = `${e.from}->${e.to}`;
    if (!pairs.has(key)) pairs.set(key, []);
    pairs.get(key).push(e);
  }
  const width = x(names.length) - GAP + 10;
  let height = TOP + NODE_H + 20;
  const svg = s("svg", {
    class: "topology",
    role: "img",
    "aria-label": `topology of lane group ${g.name}`,
    "data-group": g.name,
  });
  for (const [key, rows] of pairs) {
    const from = names.indexOf(rows[0].from);
    const to = names.indexOf(rows[0].to);
    if (from < 0 || to < 0) continue;
    const y = TOP + NODE_H / 2;
    // Three lines: base traffic, the lane's traffic served by its tag, and a lane caller's
    // traffic served by base (the lane has no instance there: it continues on base).
    const kinds = {
      base: rows.some((r) => r.requests > 0 && r.tag === "base" && r.fromTag === null),
      lane: rows.some((r) => r.requests > 0 && r.tag !== "base"),
      "lane-on-base": rows.some((r) => r.requests > 0 && r.tag === "base" && r.fromTag !== null),
    };
    const edge = s("g", { class: "edge", "data-edge": key });
    const x1 = from < to ? x(from) + W : x(from);
    const x2 = from < to ? x(to) : x(to) + W;
    const bend = Math.abs(to - from) > 1 || to < from;
    for (const [kind, dy] of [
      ["base", -7],
      ["lane-on-base", 0],
      ["lane", 7],
    ]) {
      if (!kinds[kind]) continue;
      const yy = y + dy;
      const d = bend
        ? `M ${x1} ${yy} Q ${(x1 + x2) / 2} ${yy - 60 - 10 * Math.abs(to - from)} ${x2} ${yy}`
        : `M ${x1} ${yy} L ${x2 - 6} ${yy}`;
      edge.append(
        s("path", {
          d,
          class: `line ${kind}`,
          "data-line": kind,
          "marker-end": `url(#arrow-${kind === "base" ? "base" : "lane"})`,
        }),
      );
    }
    const sorted = [...rows].sort(
      (a, b) => (a.fromTag ?? "").localeCompare(b.fromTag ?? "") || a.tag.localeCompare(b.tag),
    );
    let ly = TOP + NODE_H + 18;
    const lx = Math.min(x1, x2) + (bend ? 0 : 6);
    for (const r of sorted) {
      const fromTag = r.fromTag ?? (r.from.startsWith("gateway:") ? "entry" : "base");
      const attrs = { x: lx, "data-from-tag": fromTag, "data-tag": r.tag };
      if (r.requests > 0) {
        const err = r.errors > 0 ? `, ${pct(r.errors / r.requests)} err` : "";
        const cls = r.tag !== "base" ? "lane" : r.fromTag === null ? "base" : "lane-on-base";
        edge.append(
          s(
            "text",
            { ...attrs, y: ly, class: `flow ${cls}` },
            `${fromTag} → ${r.tag}: ${rate(r.rps)}/s${err}`,
          ),
        );
        ly += 16;
      }
      if (r.fallbacks > 0) {
        edge.append(
          s(
            "text",
            { ...attrs, y: ly, class: "flow fallback", "data-fallback": "true" },
            `${r.fallbacks} wanted ${r.tag}, fell back to base (${windowSeconds} s)`,
          ),
        );
        ly += 16;
      }
    }
    height = Math.max(height, ly + 4);
    svg.append(edge);
  }
  names.forEach((name, i) => {
    const inst = instances.get(name) ?? {};
    const tags = Object.keys(inst).sort((a, b) =>
      a === "base" ? -1 : b === "base" ? 1 : a.localeCompare(b),
    );
    const hasLane = tags.some((t) => laneTags.has(t));
    const node = s(
      "g",
      {
        class: `node${hasLane ? " has-lane" : ""}${callers.includes(name) ? " caller" : ""}`,
        "data-app": name,
      },
      s("rect", { x: x(i), y: TOP, width: W, height: NODE_H, rx: 8 }),
      s(
        "text",
        { x: x(i) + 10, y: TOP + 24, class: "name" },
        name.replace(/^gateway:.*/, "gateway"),
      ),
      s(
        "text",
        { x: x(i) + 10, y: TOP + 46, class: "instances" },
        callers.includes(name)
          ? `${name.replace(/^gateway:/, "")} · entry`
          : tags.length === 0
            ? "no instances"
            : tags.map((t) => `${t} ×${inst[t]}`).join("  "),
      ),
    );
    svg.append(node);
  });
  const defs = s("defs");
  for (const kind of ["base", "lane"])
    defs.append(
      s(
        "marker",
        {
          id: `arrow-${kind}`,
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto-start-reverse",
          class: `arrow ${kind}`,
        },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z" }),
      ),
    );
  svg.prepend(defs);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  return svg;
}

/** What the topology's lines and labels mean, in the lanes' own tags. */
function legend(g) {
  const tags = [...new Set(g.lanes.map((l) => l.tag))].join(", ") || "lane";
  const items = [
    ["base", "base traffic"],
    ["lane", `${tags} traffic served by ${tags}`],
    ["lane-on-base", `${tags} callers served by base (no ${tags} instance there)`],
    ["fallback", "fell back: wanted the lane, served by base"],
  ];
  return h(
    "p",
    { class: "legend" },
    ...items.map(([kind, text]) => h("span", { class: kind }, `— ${text}`)),
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
