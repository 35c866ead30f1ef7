// Batch-wide validation rules (names, references, modes, tags, ratio sums) over shape-checked resources; never parses.
import type { DocChecker } from "./checker.js";
import type { RawDocument } from "./document.js";
import type { Instance, Lane, LaneGroup, Route } from "./types.js";

export interface Entry<T> {
  ck: DocChecker;
  raw: RawDocument;
  /** Shape-checked resource; fields that failed their checks are undefined. */
  res: T;
}

export interface Checked {
  routes: Entry<Route>[];
  groups: Entry<LaneGroup>[];
  lanes: Entry<Lane>[];
  instances: Entry<Instance>[];
}

/** Whether the user wrote `spec.<field>` at all (its value may have failed its own check). */
function wrote(e: Entry<unknown>, field: string): boolean {
  const spec = (e.raw.value as { spec?: Record<string, unknown> } | null)?.spec;
  return (
    typeof spec === "object" && spec !== null && spec[field] !== undefined && spec[field] !== null
  );
}

function where(e: Entry<unknown>): string {
  return `${e.raw.origin.file} document ${e.raw.origin.doc + 1}`;
}

function uniqueNames<T extends Route | LaneGroup | Lane | Instance>(
  list: Entry<T>[],
): Map<string, Entry<T>> {
  const byName = new Map<string, Entry<T>>();
  for (const e of list) {
    const name = e.res.metadata.name;
    if (typeof name !== "string") continue;
    const first = byName.get(name);
    if (first)
      e.ck.error(
        ["metadata", "name"],
        `duplicate name: ${e.res.kind}/${name} is already defined in ${where(first)}`,
      );
    else byName.set(name, e);
  }
  return byName;
}

function checkRoutes(c: Checked): void {
  const seen = new Map<string, Entry<Route>>();
  for (const e of c.routes) {
    const { gateway, match } = e.res.spec;
    const path =
      match.exact !== undefined
        ? `exact ${match.exact}`
        : match.prefix !== undefined
          ? `prefix ${match.prefix}`
          : undefined;
    if (typeof gateway !== "string" || path === undefined) continue;
    const key = `${gateway}\u0000${path}`;
    const first = seen.get(key);
    if (first) {
      e.ck.error(
        ["spec", "match"],
        `Route/${first.res.metadata.name} (${where(first)}) already matches ${path} on gateway ${gateway}`,
      );
    } else seen.set(key, e);
  }
}

function checkGroups(c: Checked, routes: Map<string, Entry<Route>>): void {
  for (const e of c.groups) {
    const entry = e.res.spec.entry;
    if (!entry || !Array.isArray(entry.routes)) continue;
    entry.routes.forEach((name, i) => {
      const route = routes.get(name);
      if (!route)
        e.ck.error(["spec", "entry", "routes", i], `no Route named ${JSON.stringify(name)}`);
      else if (
        typeof entry.gateway === "string" &&
        typeof route.res.spec.gateway === "string" &&
        route.res.spec.gateway !== entry.gateway
      ) {
        e.ck.error(
          ["spec", "entry", "routes", i],
          `Route/${name} belongs to gateway ${route.res.spec.gateway}, not to this entry's gateway ${entry.gateway}`,
        );
      }
    });
  }
}

function checkLaneAgainstGroup(e: Entry<Lane>, group: Entry<LaneGroup>): void {
  const spec = e.res.spec;
  const g = group.res.spec;
  const gname = `LaneGroup/${group.res.metadata.name}`;
  const hasRatio = wrote(e, "weight") || wrote(e, "weights");
  if (g.mode === "content") {
    if (!wrote(e, "match"))
      e.ck.error(
        ["spec", "match"],
        `required: ${gname} is in content mode, so its lanes need match`,
      );
    if (wrote(e, "weight"))
      e.ck.error(["spec", "weight"], `ratio mode only: ${gname} is in content mode (use match)`);
    if (wrote(e, "weights"))
      e.ck.error(["spec", "weights"], `ratio mode only: ${gname} is in content mode (use match)`);
  } else if (g.mode === "ratio") {
    if (wrote(e, "match"))
      e.ck.error(
        ["spec", "match"],
        `content mode only: ${gname} is in ratio mode (use weight or weights)`,
      );
    if (!hasRatio) e.ck.error(["spec"], `weight or weights required: ${gname} is in ratio mode`);
  }
  if (spec.apps && Array.isArray(g.apps)) {
    spec.apps.forEach((app, i) => {
      if (!g.apps.includes(app))
        e.ck.error(
          ["spec", "apps", i],
          `${app} is not one of the apps of ${gname} (${g.apps.join(", ")})`,
        );
    });
  }
  if (spec.weights && g.entry && Array.isArray(g.entry.routes)) {
    for (const route of Object.keys(spec.weights)) {
      if (!g.entry.routes.includes(route)) {
        e.ck.error(
          ["spec", "weights", route],
          `${route} is not an entry route of ${gname} (${g.entry.routes.join(", ")})`,
        );
      }
    }
  }
}

function checkLanes(c: Checked, groups: Map<string, Entry<LaneGroup>>): void {
  const tags = new Map<string, Entry<Lane>>();
  for (const e of c.lanes) {
    const spec = e.res.spec;
    if (typeof spec.group !== "string") continue;
    const group = groups.get(spec.group);
    if (!group) {
      e.ck.error(["spec", "group"], `no LaneGroup named ${JSON.stringify(spec.group)}`);
      const hasRatio = wrote(e, "weight") || wrote(e, "weights");
      if (wrote(e, "match") && hasRatio) {
        e.ck.error(
          ["spec"],
          "a lane has either match (content mode) or weight/weights (ratio mode), not both",
        );
      }
      continue;
    }
    checkLaneAgainstGroup(e, group);
    if (typeof spec.tag === "string") {
      const key = `${spec.group}\u0000${spec.tag}`;
      const first = tags.get(key);
      if (first) {
        e.ck.error(
          ["spec", "tag"],
          `Lane/${first.res.metadata.name} (${where(first)}) already has tag ${spec.tag} in LaneGroup/${spec.group}`,
        );
      } else tags.set(key, e);
    }
  }
}

/** Sum of ratio weights per route across all groups (closed lanes count: enabling must stay valid). */
function checkRatioSums(c: Checked, groups: Map<string, Entry<LaneGroup>>): void {
  const shares = new Map<string, { e: Entry<Lane>; w: number; perRoute: boolean }[]>();
  for (const e of c.lanes) {
    const spec = e.res.spec;
    const group = typeof spec.group === "string" ? groups.get(spec.group) : undefined;
    const routes = group?.res.spec.entry?.routes;
    if (group?.res.spec.mode !== "ratio" || !Array.isArray(routes)) continue;
    for (const route of routes) {
      const perRoute = spec.weights?.[route];
      const w = perRoute ?? spec.weight;
      if (w === undefined || w === 0) continue;
      const list = shares.get(route) ?? [];
      shares.set(route, list);
      list.push({ e, w, perRoute: perRoute !== undefined });
    }
  }
  for (const [route, list] of shares) {
    const total = list.reduce((sum, s) => sum + s.w, 0);
    if (total <= 100) continue;
    const parts = list.map((s) => `Lane/${s.e.res.metadata.name} ${s.w}`).join(" + ");
    let running = 0;
    // Report at the lane that takes the route past 100.
    const over = list.find((s) => {
      running += s.w;
      return running > 100;
    });
    if (!over) continue;
    const path = over.perRoute ? ["spec", "weights", route] : ["spec", "weight"];
    over.e.ck.error(
      path,
      `ratio weights on Route/${route} add up to ${total} across all lane groups (${parts}); at most 100`,
    );
  }
}

function checkInstances(c: Checked): void {
  const seen = new Map<string, Entry<Instance>>();
  for (const e of c.instances) {
    const { service, address, port } = e.res.spec;
    if (typeof service !== "string" || typeof address !== "string" || typeof port !== "number")
      continue;
    const key = `${service} ${address}:${port}`;
    const first = seen.get(key);
    if (first) {
      e.ck.error(
        ["spec", "port"],
        `Instance/${first.res.metadata.name} (${where(first)}) is already ${service} at ${address}:${port}`,
      );
    } else seen.set(key, e);
  }
}

/** Run every batch-wide rule; errors go to each document's checker. */
export function checkBatch(c: Checked): void {
  const routes = uniqueNames(c.routes);
  const groups = uniqueNames(c.groups);
  uniqueNames(c.lanes);
  uniqueNames(c.instances);
  checkRoutes(c);
  checkGroups(c, routes);
  checkLanes(c, groups);
  checkRatioSums(c, groups);
  checkInstances(c);
}
