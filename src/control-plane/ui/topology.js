// The web console's topology of one lane group: an SVG of the gateway and the group's apps with their instances per tag, and on each edge a line and a label per (caller's tag, served tag), fallbacks included; pure drawing from GET /v1/status's group, it fetches nothing.
import { h, pct, rate, s } from "./dom.js";

/** The group's apps (and their callers) left to right, with per-tag requests/s on each edge. */
export function topology(g, windowSeconds) {
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
export function legend(g) {
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
