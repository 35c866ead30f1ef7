// `lanemesh get KIND [NAME]`: lists resources or proxies of a running control plane as a table, YAML or JSON; it only reads and prints.
import { type Command, InvalidArgumentError, Option } from "commander";
import { stringify } from "yaml";
import { callServer } from "../control-plane/api-client.js";
import { addTokenOptions, apiToken, serverOption, type TokenFlags } from "./server-client.js";

export type GetKind = "routes" | "lanegroups" | "lanes" | "instances" | "proxies";

const ALIASES: Record<string, GetKind> = {
  routes: "routes",
  route: "routes",
  lanegroups: "lanegroups",
  lanegroup: "lanegroups",
  lanes: "lanes",
  lane: "lanes",
  instances: "instances",
  instance: "instances",
  proxies: "proxies",
  proxy: "proxies",
};

/** `Lane`, `lane`, `lanes` → `lanes`; null when unknown. */
export function normalizeKind(s: string): GetKind | null {
  return ALIASES[s.toLowerCase()] ?? null;
}

export function register(program: Command): void {
  const cmd = program
    .command("get")
    .description("list resources (routes|lanegroups|lanes|instances) or connected proxies")
    .argument("<kind>", "routes | lanegroups | lanes | instances | proxies", (v: string) => {
      const k = normalizeKind(v);
      if (!k)
        throw new InvalidArgumentError("expected routes, lanegroups, lanes, instances or proxies.");
      return k;
    })
    .argument("[name]", "only this one")
    .addOption(
      new Option("-o, --output <FORMAT>", "table, yaml or json")
        .choices(["table", "yaml", "json"])
        .default("table"),
    )
    .addOption(serverOption());
  addTokenOptions(cmd).action(
    async (
      kind: GetKind,
      name: string | undefined,
      opts: { output: "table" | "yaml" | "json"; server: string } & TokenFlags,
    ) => {
      const token = apiToken(opts);
      if (!token.ok) {
        process.stderr.write(`${token.message}\n`);
        process.exitCode = 1;
        return;
      }
      const base = kind === "proxies" ? "v1/proxies" : `v1/resources/${kind}`;
      const path = name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
      const r = await callServer(opts.server, "GET", path, undefined, { token: token.token });
      if (!r.ok) {
        process.stderr.write(`${r.message}\n`);
        process.exitCode = 1;
        return;
      }
      const items = name === undefined ? ((r.body as { items: unknown[] }).items ?? []) : [r.body];
      process.stdout.write(render(kind, items, opts.output, name !== undefined));
    },
  );
}

/** The printed form of a listing (a named get prints the object itself in yaml/json). */
export function render(
  kind: GetKind,
  items: unknown[],
  output: "table" | "yaml" | "json",
  single = false,
): string {
  if (output === "json") return `${JSON.stringify(single ? items[0] : { items }, null, 2)}\n`;
  if (output === "yaml") {
    if (single) return stringify(items[0]);
    return items.map((i) => stringify(i)).join("---\n");
  }
  if (items.length === 0) return `No ${kind} found.\n`;
  const [header, row] = COLUMNS[kind];
  return table([header, ...items.map((i) => row(i as Doc))]);
}

// biome-ignore lint/suspicious/noExplicitAny: rows read loosely-typed documents as users wrote them
type Doc = any;

const COLUMNS: Record<GetKind, [string[], (d: Doc) => string[]]> = {
  routes: [
    ["NAME", "GATEWAY", "MATCH", "SERVICE"],
    (d) => [
      name(d),
      str(d.spec?.gateway),
      d.spec?.match?.exact !== undefined
        ? `exact ${d.spec.match.exact}`
        : `prefix ${str(d.spec?.match?.prefix)}`,
      str(d.spec?.service),
    ],
  ],
  lanegroups: [
    ["NAME", "MODE", "GATEWAY", "ROUTES", "APPS"],
    (d) => [
      name(d),
      str(d.spec?.mode),
      str(d.spec?.entry?.gateway),
      list(d.spec?.entry?.routes),
      list(d.spec?.apps),
    ],
  ],
  lanes: [
    ["NAME", "GROUP", "TAG", "ENABLED", "APPS", "RULE"],
    (d) => [
      name(d),
      str(d.spec?.group),
      str(d.spec?.tag),
      String(d.spec?.enabled ?? true),
      d.spec?.apps ? list(d.spec.apps) : "(group)",
      laneRule(d.spec ?? {}),
    ],
  ],
  instances: [
    ["NAME", "SERVICE", "ADDRESS", "TAG", "WEIGHT", "HEALTHY", "SOURCE"],
    (d) => [
      name(d),
      str(d.spec?.service),
      `${str(d.spec?.address)}:${str(d.spec?.port)}`,
      d.spec?.tag ?? "(base)",
      String(d.spec?.weight ?? 100),
      String(d.spec?.healthy ?? true),
      d.metadata?.labels?.["lanemesh.io/source"] ?? "static",
    ],
  ],
  proxies: [
    ["NODE", "ROLE", "APP", "TAG", "ADDRESS", "STATUS", "ACKED", "CONNECTED SINCE", "LAST NACK"],
    (d) => [
      str(d.nodeId),
      str(d.role),
      d.app || "-",
      d.tag ?? "(base)",
      d.address || "-",
      str(d.status),
      d.ackedVersion ?? "-",
      str(d.connectedSince),
      d.lastNack
        ? `v${d.lastNack.version || "?"} ${d.lastNack.code ?? ""}: ${oneLine(d.lastNack.error)}`
        : "-",
    ],
  ],
};

function laneRule(spec: Doc): string {
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

function name(d: Doc): string {
  return str(d?.metadata?.name);
}

function str(v: unknown): string {
  return v === undefined || v === null ? "-" : String(v);
}

function list(v: unknown): string {
  return Array.isArray(v) ? v.join(",") : "-";
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
