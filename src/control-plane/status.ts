// What `GET /v1/status` answers: per lane group and lane, per app, the lane's traffic beside base's, instances per tag, the edges between apps, and the lane's state and guard; pure, built from the stored resources, the served endpoints and the load reports.
import type { Endpoint } from "../config/types.js";
import { identity } from "./apply.js";
import { appTraffic, type Guard, guardOf, type LaneDoc, type Side } from "./guard.js";
import type { GuardTrip } from "./guard-keeper.js";
import type { ProxyTraffic } from "./load.js";

/** One app of a lane: instances per tag ("base" for untagged) and the two sides of its traffic. */
export interface AppStatus {
  app: string;
  /** The lane takes this app (its apps, or all of its group's). */
  inLane: boolean;
  instances: Record<string, number>;
  lane: Side;
  base: Side;
}

export interface LaneStatus {
  name: string;
  tag: string;
  enabled: boolean;
  /** The group's mode. */
  mode: string;
  /** Content mode: the lane's match as stored. */
  match: unknown;
  /** Ratio mode: percent of every entry route. */
  weight: number | null;
  /** Ratio mode: percent per entry route. */
  weights: Record<string, number> | null;
  guard: Guard | null;
  /** Why the control plane closed the lane (until a user applies it open again). */
  guardTrip: GuardTrip | null;
  apps: AppStatus[];
}

/** Traffic between two apps as the caller's proxy saw it (the gateway is `gateway:NAME`). */
export interface Edge {
  from: string;
  /** Tag of the calling instance, null = base (and for a gateway). */
  fromTag: string | null;
  to: string;
  /** Tag of the instance served ("base" for none); on fallback rows, the tag that was wanted. */
  tag: string;
  rps: number;
  requests: number;
  errors: number;
  /** Requests for `tag` that went to base. */
  fallbacks: number;
}

export interface GroupStatus {
  name: string;
  mode: string;
  apps: string[];
  lanes: LaneStatus[];
  /** Calls into the group's apps. */
  edges: Edge[];
}

export interface StatusView {
  /** ISO time of the answer. */
  at: string;
  /** The window rates and percentiles are computed over. */
  windowSeconds: number;
  /** Proxies with a report in the window. */
  reporting: number;
  groups: GroupStatus[];
}

export interface StatusInput {
  now: number;
  windowMs: number;
  resources: readonly unknown[];
  endpoints: readonly Endpoint[];
  traffic: readonly ProxyTraffic[];
  trip(lane: string): GuardTrip | undefined;
  /** Only this group (null: all). */
  group: string | null;
}

interface GroupDoc {
  metadata?: { name?: string };
  spec?: { apps?: string[]; mode?: string };
}

/** Instances per service and tag ("base" for untagged), healthy ones only. */
function instanceCounts(endpoints: readonly Endpoint[]): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const e of endpoints) {
    if (!e.healthy) continue;
    let byTag = out.get(e.service);
    if (byTag === undefined) {
      byTag = {};
      out.set(e.service, byTag);
    }
    const tag = e.tag ?? "base";
    byTag[tag] = (byTag[tag] ?? 0) + 1;
  }
  return out;
}

/** Outbound and gateway rows merged per (from, fromTag, to, tag). */
export function edgesOf(traffic: readonly ProxyTraffic[]): Edge[] {
  const edges = new Map<string, Edge>();
  for (const p of traffic) {
    const r0 = p.reporter;
    const from = r0.role === "gateway" ? `gateway:${r0.gateway || "default"}` : r0.app;
    const fromTag = r0.role === "gateway" ? null : r0.tag;
    for (const r of p.rows) {
      if (r.direction === "inbound") continue;
      const key = `${from}\u0000${fromTag ?? ""}\u0000${r.service}\u0000${r.tag}`;
      let e = edges.get(key);
      if (e === undefined) {
        e = {
          from,
          fromTag,
          to: r.service,
          tag: r.tag,
          rps: 0,
          requests: 0,
          errors: 0,
          fallbacks: 0,
        };
        edges.set(key, e);
      }
      e.rps += r.rps;
      e.requests += r.requests;
      e.errors += r.errors;
      e.fallbacks += r.fallbacks;
    }
  }
  return [...edges.values()];
}

export function buildStatus(input: StatusInput): StatusView {
  const counts = instanceCounts(input.endpoints);
  const groups: GroupStatus[] = [];
  const lanes = input.resources.filter((d) => identity(d)?.kind === "Lane") as LaneDoc[];
  const edges = edgesOf(input.traffic);
  for (const doc of input.resources) {
    const id = identity(doc);
    if (id?.kind !== "LaneGroup" || (input.group !== null && id.name !== input.group)) continue;
    const g = doc as GroupDoc;
    const apps = g.spec?.apps ?? [];
    const mode = g.spec?.mode ?? "content";
    const laneStatus: LaneStatus[] = [];
    for (const lane of lanes) {
      const spec = lane.spec ?? {};
      if (spec.group !== id.name || spec.tag === undefined) continue;
      const name = lane.metadata?.name ?? "";
      const inLane = new Set(spec.apps ?? apps);
      const s = spec as Record<string, unknown>;
      laneStatus.push({
        name,
        tag: spec.tag,
        enabled: spec.enabled !== false,
        mode,
        match: s.match ?? null,
        weight: typeof s.weight === "number" ? s.weight : null,
        weights: (s.weights as Record<string, number> | undefined) ?? null,
        guard: guardOf(lane),
        guardTrip: input.trip(name) ?? null,
        apps: apps.map((app) => ({
          app,
          inLane: inLane.has(app),
          instances: { ...(counts.get(app) ?? {}) },
          lane: appTraffic(input.traffic, app, spec.tag as string),
          base: appTraffic(input.traffic, app, null),
        })),
      });
    }
    const inGroup = new Set(apps);
    groups.push({
      name: id.name,
      mode,
      apps: [...apps],
      lanes: laneStatus,
      edges: edges.filter((e) => inGroup.has(e.to)),
    });
  }
  return {
    at: new Date(input.now).toISOString(),
    windowSeconds: input.windowMs / 1000,
    reporting: input.traffic.length,
    groups,
  };
}
