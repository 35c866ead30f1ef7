// `lanemesh describe KIND NAME`: one resource (or proxy) in detail, with its status in the served config, the instances it concerns and which proxies have it; fetching plus a pure formatter, it changes nothing.
import { type Command, InvalidArgumentError } from "commander";
import { stringify } from "yaml";
import { callServer, type ServedConfig } from "../control-plane/api-client.js";
import type { StatusView } from "../control-plane/status.js";
import { connectOrFail, serverOption, tokenFileOption, tokenOption } from "./server-client.js";
import { formatStatus } from "./status.js";
import {
  type Doc,
  type GetKind,
  KIND_OF,
  laneRule,
  list,
  normalizeKind,
  str,
  table,
} from "./tables.js";

/** One proxy as GET /v1/proxies lists it (the fields describe reads). */
export interface ProxyView {
  nodeId: string;
  role: string;
  app: string;
  tag: string | null;
  address?: string;
  peer?: string;
  connectedSince?: string;
  ackedVersion: string | null;
  pendingVersion: string | null;
  status?: string;
  /** Store epoch of ackedVersion. */
  epoch?: string | null;
  lastNack: { version: string; error: string; code?: string } | null;
}

export function register(program: Command): void {
  program
    .command("describe")
    .description(
      "show one resource in detail: its fields, its status in the served config, the instances it concerns, which proxies have it",
    )
    .argument("<kind>", "route | lanegroup | lane | instance | proxy (plural works too)", (v) => {
      const k = normalizeKind(v);
      if (!k) throw new InvalidArgumentError("expected route, lanegroup, lane, instance or proxy.");
      return k;
    })
    .argument("<name>", "metadata.name (for a proxy: its node id, as `get proxies` lists it)")
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(async (kind: GetKind, name: string, _opts: unknown, cmd: Command) => {
      const c = connectOrFail(cmd);
      if (c === null) return;
      const { server, token } = c;
      const path =
        kind === "proxies"
          ? `v1/proxies/${encodeURIComponent(name)}`
          : `v1/resources/${kind}/${encodeURIComponent(name)}`;
      const [one, config, proxies] = await Promise.all([
        callServer(server, "GET", path, undefined, { token }),
        callServer(server, "GET", "v1/config", undefined, { token }),
        callServer(server, "GET", "v1/proxies", undefined, { token }),
      ]);
      const failed = [one, config, proxies].find((r) => !r.ok);
      if (failed !== undefined && !failed.ok) {
        process.stderr.write(`${failed.message}\n`);
        process.exitCode = 1;
        return;
      }
      const live = (config.ok ? config.body : null) as ServedConfig;
      const list = (proxies.ok ? (proxies.body as { items: ProxyView[] }).items : []) ?? [];
      process.stdout.write(describe(kind, one.ok ? one.body : null, live, list));
      if (kind === "lanes") {
        const group = (one.ok ? (one.body as Doc) : null)?.spec?.group;
        const st = await callServer(
          server,
          "GET",
          `v1/status?group=${encodeURIComponent(String(group))}`,
          undefined,
          { token },
        );
        const view = st.ok ? (st.body as StatusView) : null;
        const g = view?.groups[0];
        if (view && g)
          process.stdout.write(
            `Traffic (lanemesh status):\n${formatStatus({ ...view, groups: [{ ...g, lanes: g.lanes.filter((l) => l.name === name) }] })}`,
          );
      }
    });
}

type Field = [string, string];

/** The description of one resource or proxy against the served config and the proxies. Pure. */
export function describe(
  kind: GetKind,
  doc: Doc,
  live: ServedConfig,
  proxies: readonly ProxyView[],
): string {
  if (kind === "proxies") return fields(proxyFields(doc as ProxyView, live.version));
  const head: Field[] = [
    ["Name", str(doc?.metadata?.name)],
    ["Kind", KIND_OF[kind]],
    ["Labels", labels(doc?.metadata?.labels)],
  ];
  const spec = doc?.spec ?? {};
  const parts: string[] = [];
  switch (kind) {
    case "routes":
      parts.push(fields([...head, ...routeFields(doc, live)]));
      parts.push(instancesOf(live, (e) => e.service === spec.service, "Instances of the service"));
      break;
    case "lanegroups":
      parts.push(fields([...head, ...groupFields(doc, live)]));
      break;
    case "lanes":
      parts.push(fields([...head, ...laneFields(doc, live)]));
      parts.push(laneInstances(doc, live));
      break;
    case "instances":
      parts.push(fields([...head, ...instanceFields(doc, live)]));
      break;
  }
  parts.push(whoHasIt(kind, doc, live, proxies));
  parts.push(`Spec:\n${indent(stringify(spec))}`);
  return parts.join("\n");
}

function routeFields(doc: Doc, live: ServedConfig): Field[] {
  const m = doc.spec?.match ?? {};
  const groups = live.rules.groups.filter((g) => g.spec.entry.routes.includes(doc.metadata?.name));
  return [
    ["Gateway", str(doc.spec?.gateway)],
    ["Match", m.exact !== undefined ? `exact ${m.exact}` : `prefix ${str(m.prefix)}`],
    ["Service", str(doc.spec?.service)],
    [
      "Lane groups",
      groups.length === 0
        ? "none: every request on this route is base"
        : groups.map((g) => `${g.metadata.name} (${g.spec.mode})`).join(", "),
    ],
  ];
}

function groupFields(doc: Doc, live: ServedConfig): Field[] {
  const lanes = live.rules.lanes.filter((l) => l.spec.group === doc.metadata?.name);
  return [
    ["Mode", str(doc.spec?.mode)],
    ["Entry", `gateway ${str(doc.spec?.entry?.gateway)}, routes ${list(doc.spec?.entry?.routes)}`],
    ["Apps", list(doc.spec?.apps)],
    [
      "Lanes",
      lanes.length === 0
        ? "none"
        : lanes
            .map(
              (l) =>
                `${l.metadata.name} (tag ${l.spec.tag}, ${l.spec.enabled === false ? "closed" : "enabled"})`,
            )
            .join(", "),
    ],
  ];
}

function laneFields(doc: Doc, live: ServedConfig): Field[] {
  const spec = doc.spec ?? {};
  const group = live.rules.groups.find((g) => g.metadata.name === spec.group);
  const enabled = spec.enabled !== false;
  return [
    [
      "Group",
      group === undefined
        ? `${str(spec.group)} (not served)`
        : `${group.metadata.name} (mode ${group.spec.mode}; gateway ${group.spec.entry.gateway}, routes ${group.spec.entry.routes.join(",")})`,
    ],
    ["Tag", str(spec.tag)],
    [
      "Status",
      enabled
        ? "enabled: matching requests take the lane"
        : "closed (enabled: false): the tag is ignored everywhere, its traffic goes to base",
    ],
    ["Apps", spec.apps ? list(spec.apps) : `all of the group's (${list(group?.spec.apps)})`],
    ["Rule", laneRule(spec)],
    ...guardFields(doc),
  ];
}

/** A guarded lane's limits, and why its guard closed it (the Lane's status.guard). */
function guardFields(doc: Doc): Field[] {
  const g = doc.spec?.guard;
  const out: Field[] = [];
  if (g)
    out.push([
      "Guard",
      [
        g.maxErrorRate === undefined ? null : `maxErrorRate ${g.maxErrorRate}`,
        g.maxP99Ms === undefined ? null : `maxP99Ms ${g.maxP99Ms}`,
        `minRequests ${g.minRequests ?? 20}`,
        `window ${g.window ?? "30s"}`,
      ]
        .filter((x) => x !== null)
        .join(", "),
    ]);
  const trip = doc.status?.guard;
  if (trip)
    out.push([
      "Closed by its guard",
      `${str(trip.closedAt)} (version ${str(trip.version)}): ${str(trip.reason)}; apply it with enabled: true to reopen`,
    ]);
  return out;
}

function instanceFields(doc: Doc, live: ServedConfig): Field[] {
  const spec = doc.spec ?? {};
  const lanes = live.rules.lanes.filter((l) => {
    if (spec.tag === undefined || l.spec.tag !== spec.tag) return false;
    const apps =
      l.spec.apps ?? live.rules.groups.find((g) => g.metadata.name === l.spec.group)?.spec.apps;
    return apps?.includes(spec.service) ?? false;
  });
  return [
    ["Service", str(spec.service)],
    ["Address", `${str(spec.address)}:${str(spec.port)}`],
    ["Tag", spec.tag ?? "(base): serves untagged traffic and the fallback of every lane"],
    ["Weight", String(spec.weight ?? 100)],
    ["Healthy", String(spec.healthy ?? true)],
    ["Source", doc.metadata?.labels?.["lanemesh.io/source"] ?? "static (applied)"],
    [
      "Lanes",
      spec.tag === undefined
        ? "none"
        : lanes.length === 0
          ? `none: no lane with tag ${spec.tag} includes ${spec.service}, so it gets no traffic`
          : lanes
              .map((l) => `${l.metadata.name} (${l.spec.enabled === false ? "closed" : "enabled"})`)
              .join(", "),
    ],
  ];
}

/** Per app of the lane: its instances with the lane's tag, or where its lane traffic goes. */
function laneInstances(doc: Doc, live: ServedConfig): string {
  const spec = doc.spec ?? {};
  const group = live.rules.groups.find((g) => g.metadata.name === spec.group);
  const apps: string[] = spec.apps ?? group?.spec.apps ?? [];
  const rows: string[][] = [["APP", "INSTANCE", "TAG"]];
  for (const app of apps) {
    const tagged = live.endpoints.filter((e) => e.service === app && e.tag === spec.tag);
    if (tagged.length === 0) rows.push([app, "-", `none: ${spec.tag} traffic falls back to base`]);
    for (const e of tagged)
      rows.push([app, hostPort(e), `${e.tag}${e.healthy ? "" : " (unhealthy)"}`]);
  }
  const outside = (group?.spec.apps ?? []).filter((a) => !apps.includes(a));
  const note =
    outside.length === 0 ? "" : `  not in the lane (base for its traffic): ${outside.join(", ")}\n`;
  return `Instances of the lane:\n${indent(table(rows))}${note}`;
}

function instancesOf(
  live: ServedConfig,
  keep: (e: ServedConfig["endpoints"][number]) => boolean,
  title: string,
): string {
  const rows = live.endpoints
    .filter(keep)
    .map((e) => [hostPort(e), e.tag ?? "(base)", String(e.healthy)]);
  if (rows.length === 0) return `${title}: none\n`;
  return `${title}:\n${indent(table([["INSTANCE", "TAG", "HEALTHY"], ...rows]))}`;
}

/**
 * Every proxy receives the whole config (state of the world): a proxy has the resource as served
 * now once it ACKed the served version; one still on an older version, or that refused this one,
 * does not (yet).
 */
function whoHasIt(
  kind: GetKind,
  doc: Doc,
  live: ServedConfig,
  proxies: readonly ProxyView[],
): string {
  const served = isServed(kind, doc, live);
  const head = `Served:  ${served ? `yes, in config version ${live.version}` : `no: the served config (version ${live.version}) does not hold it`}\n`;
  if (proxies.length === 0) return `${head}Proxies: none connected\n`;
  const have = proxies.filter((p) => p.ackedVersion === live.version).length;
  const rows = proxies.map((p) => [
    p.nodeId,
    p.role,
    p.ackedVersion ?? "-",
    !served
      ? "-"
      : p.ackedVersion === live.version
        ? "yes"
        : p.lastNack?.version === live.version
          ? `refused: ${p.lastNack.error.split("\n")[0]}`
          : "not yet",
  ]);
  return `${head}Proxies: ${served ? `${have} of ${proxies.length} have it` : `${proxies.length} connected`}\n${indent(table([["NODE", "ROLE", "ACKED", "HAS IT"], ...rows]))}`;
}

function isServed(kind: GetKind, doc: Doc, live: ServedConfig): boolean {
  const name = doc?.metadata?.name;
  const pool: { metadata?: { name?: string } }[] =
    kind === "routes"
      ? live.rules.routes
      : kind === "lanegroups"
        ? live.rules.groups
        : kind === "lanes"
          ? live.rules.lanes
          : [];
  if (kind === "instances")
    return live.endpoints.some(
      (e) =>
        e.service === doc?.spec?.service &&
        e.address === doc?.spec?.address &&
        e.port === doc?.spec?.port,
    );
  return pool.some((r) => r.metadata?.name === name);
}

function proxyFields(p: ProxyView, version: string): Field[] {
  return [
    ["Node", p.nodeId],
    ["Role", p.role],
    ["App", p.app || "-"],
    ["Tag", p.role === "gateway" ? "-" : (p.tag ?? "(base)")],
    ["Address", p.address || "-"],
    ["Peer", str(p.peer)],
    ["Connected since", str(p.connectedSince)],
    ["Status", str(p.status)],
    [
      "Config",
      p.ackedVersion === version
        ? `version ${version} (the served one)`
        : `version ${p.ackedVersion ?? "none"} (served: ${version}${p.pendingVersion ? `, ${p.pendingVersion} sent` : ""})`,
    ],
    ["Store epoch", str(p.epoch)],
    [
      "Last NACK",
      p.lastNack
        ? `version ${p.lastNack.version}${p.lastNack.code ? ` (${p.lastNack.code})` : ""}: ${p.lastNack.error}`
        : "none",
    ],
  ];
}

function fields(list: Field[]): string {
  const width = Math.max(...list.map(([k]) => k.length)) + 2;
  return list.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join("");
}

function labels(m: unknown): string {
  const e = Object.entries((m ?? {}) as Record<string, string>);
  return e.length === 0 ? "<none>" : e.map(([k, v]) => `${k}=${v}`).join(",");
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n")
    .concat("\n");
}

function hostPort(e: { address: string; port: number }): string {
  return e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
