// How `get` and `describe` print resources and proxies: kind names, kubectl-style columns (narrow and wide), tables, YAML and JSON; pure formatting, it never fetches.
import { stringify } from "yaml";

export type ResourceKind = "routes" | "lanegroups" | "lanes" | "instances";
export type GetKind = ResourceKind | "proxies";
export type Output = "table" | "wide" | "yaml" | "json";

/** Resource kinds in the order `get all` prints them (a group's lanes after the group). */
export const RESOURCE_KINDS: readonly ResourceKind[] = [
  "routes",
  "lanegroups",
  "lanes",
  "instances",
];

/** The `kind:` of each plural. */
export const KIND_OF: Record<ResourceKind, string> = {
  routes: "Route",
  lanegroups: "LaneGroup",
  lanes: "Lane",
  instances: "Instance",
};

const ALIASES: Record<string, GetKind> = {
  route: "routes",
  lanegroup: "lanegroups",
  lane: "lanes",
  instance: "instances",
  proxy: "proxies",
};

/** `Lane`, `lane`, `lanes` → `lanes`; null when unknown. */
export function normalizeKind(s: string): GetKind | null {
  const k = s.toLowerCase();
  if ((RESOURCE_KINDS as readonly string[]).includes(k) || k === "proxies") return k as GetKind;
  return ALIASES[k] ?? null;
}

/** `kind` → `Kind`'s `kind:` spelling → plural, for documents read from files. */
export function pluralOfKind(kind: unknown): ResourceKind | null {
  const k = typeof kind === "string" ? normalizeKind(kind) : null;
  return k === null || k === "proxies" ? null : k;
}

// biome-ignore lint/suspicious/noExplicitAny: rows read loosely-typed documents as users wrote them
export type Doc = any;

interface Column {
  header: string;
  value: (d: Doc) => string;
  /** Shown with `-o wide` only. */
  wide?: boolean;
}

const labels: Column = { header: "LABELS", value: (d) => pairs(d.metadata?.labels), wide: true };

const COLUMNS: Record<GetKind, Column[]> = {
  routes: [
    { header: "NAME", value: name },
    { header: "GATEWAY", value: (d) => str(d.spec?.gateway) },
    { header: "MATCH", value: (d) => routeMatch(d.spec?.match) },
    { header: "SERVICE", value: (d) => str(d.spec?.service) },
    labels,
  ],
  lanegroups: [
    { header: "NAME", value: name },
    { header: "MODE", value: (d) => str(d.spec?.mode) },
    { header: "GATEWAY", value: (d) => str(d.spec?.entry?.gateway) },
    { header: "ROUTES", value: (d) => list(d.spec?.entry?.routes) },
    { header: "APPS", value: (d) => list(d.spec?.apps) },
    labels,
  ],
  lanes: [
    { header: "NAME", value: name },
    { header: "GROUP", value: (d) => str(d.spec?.group) },
    { header: "TAG", value: (d) => str(d.spec?.tag) },
    { header: "ENABLED", value: (d) => String(d.spec?.enabled ?? true) },
    { header: "APPS", value: (d) => (d.spec?.apps ? list(d.spec.apps) : "(group)") },
    { header: "RULE", value: (d) => laneRule(d.spec ?? {}) },
    {
      header: "GUARD",
      value: (d) => (d.status?.guard ? "tripped" : d.spec?.guard ? "armed" : "-"),
      wide: true,
    },
    labels,
  ],
  instances: [
    { header: "NAME", value: name },
    { header: "SERVICE", value: (d) => str(d.spec?.service) },
    { header: "ADDRESS", value: (d) => `${str(d.spec?.address)}:${str(d.spec?.port)}` },
    { header: "TAG", value: (d) => d.spec?.tag ?? "(base)" },
    { header: "WEIGHT", value: (d) => String(d.spec?.weight ?? 100) },
    { header: "HEALTHY", value: (d) => String(d.spec?.healthy ?? true) },
    { header: "SOURCE", value: (d) => d.metadata?.labels?.["lanemesh.io/source"] ?? "static" },
    { header: "METADATA", value: (d) => pairs(d.spec?.metadata), wide: true },
  ],
  proxies: [
    { header: "NODE", value: (d) => str(d.nodeId) },
    { header: "ROLE", value: (d) => str(d.role) },
    { header: "APP", value: (d) => d.app || "-" },
    { header: "TAG", value: (d) => (d.role === "gateway" ? "-" : (d.tag ?? "(base)")) },
    { header: "ADDRESS", value: (d) => d.address || "-" },
    { header: "STATUS", value: (d) => str(d.status) },
    { header: "ACKED", value: (d) => d.ackedVersion ?? "-" },
    { header: "PENDING", value: (d) => d.pendingVersion ?? "-", wide: true },
    { header: "PEER", value: (d) => str(d.peer), wide: true },
    { header: "CONNECTED SINCE", value: (d) => str(d.connectedSince) },
    {
      header: "LAST NACK",
      value: (d) =>
        d.lastNack
          ? `v${d.lastNack.version}${d.lastNack.code ? ` ${d.lastNack.code}` : ""}: ${oneLine(d.lastNack.error)}`
          : "-",
    },
  ],
};

/**
 * The printed form of a listing. A named get prints the object itself in yaml/json; `refs`
 * prints `lane.lanemesh.io/gray` in the first column (`get all`).
 */
export function render(
  kind: GetKind,
  items: unknown[],
  output: Output,
  opts: { single?: boolean; refs?: boolean } = {},
): string {
  if (output === "json") return `${JSON.stringify(opts.single ? items[0] : { items }, null, 2)}\n`;
  if (output === "yaml") return yamlDocs(opts.single ? items.slice(0, 1) : items);
  if (items.length === 0) return `No ${kind} found.\n`;
  const cols = COLUMNS[kind].filter((c) => output === "wide" || !c.wide);
  const first = (d: Doc, c: Column, i: number): string =>
    i === 0 && opts.refs && kind !== "proxies" ? ref(KIND_OF[kind], name(d)) : c.value(d);
  return table([
    cols.map((c) => c.header),
    ...items.map((d) => cols.map((c, i) => first(d, c, i))),
  ]);
}

/** Documents as YAML, separated by `---`. */
export function yamlDocs(items: readonly unknown[]): string {
  return items.map((i) => stringify(i)).join("---\n");
}

/** kubectl-style resource reference: `lane.lanemesh.io/gray`. */
export function ref(kind: string, name: string): string {
  return `${kind.toLowerCase()}.lanemesh.io/${name}`;
}

/** A lane's rule in one line: `header canary == gray`, `a-route=30%`, `30%`. */
export function laneRule(spec: Doc): string {
  if (spec.match?.conditions) {
    const join = spec.match.mode === "any" ? " OR " : " AND ";
    return (spec.match.conditions as Doc[])
      .map((c) => {
        const v = c.op === "in" ? `[${list(c.values)}]` : str(c.value);
        return `${c.type} ${c.name} ${c.op} ${v}`;
      })
      .join(join);
  }
  if (spec.weights)
    return Object.entries(spec.weights as Record<string, number>)
      .map(([r, w]) => `${r}=${w}%`)
      .join(",");
  if (spec.weight !== undefined) return `${spec.weight}%`;
  return "-";
}

function routeMatch(m: Doc): string {
  return m?.exact !== undefined ? `exact ${m.exact}` : `prefix ${str(m?.prefix)}`;
}

export function name(d: Doc): string {
  return str(d?.metadata?.name);
}

export function str(v: unknown): string {
  return v === undefined || v === null ? "-" : String(v);
}

export function list(v: unknown): string {
  return Array.isArray(v) ? v.join(",") : "-";
}

function pairs(m: unknown): string {
  if (typeof m !== "object" || m === null) return "<none>";
  const e = Object.entries(m as Record<string, unknown>);
  return e.length === 0 ? "<none>" : e.map(([k, v]) => `${k}=${String(v)}`).join(",");
}

function oneLine(s: string): string {
  const first = String(s).split("\n")[0] ?? "";
  return first.length > 80 ? `${first.slice(0, 77)}...` : first;
}

/** Left-aligned columns separated by three spaces, kubectl style. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows)
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, (r[i] ?? "").length);
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}
