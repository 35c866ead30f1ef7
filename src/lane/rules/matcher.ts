// Compiles a RuleSet into the gateway's synchronous lane matcher (route, then lane); all work at compile time, none per request beyond reading.
import type { Lane, LaneGroup, Route, RuleSet } from "../../config/types.js";
import {
  type CompileContext,
  combine,
  compileCondition,
  newCompileContext,
  type Predicate,
  RuleCompileError,
} from "./conditions.js";
import type { RequestView } from "./request.js";

export { RuleCompileError } from "./conditions.js";

/** The outcome of classifying one entry request. All null fields = no route / base. */
export interface LaneDecision {
  /** Name of the matched Route, null when no route matched (the gateway answers 404). */
  route: string | null;
  /** The Route's target service, null when no route matched. */
  service: string | null;
  group: string | null;
  lane: string | null;
  /** The lane tag; null = base. */
  tag: string | null;
}

export interface MatcherOptions {
  /** Gateway name whose routes are used (Route.spec.gateway, LaneGroup.spec.entry.gateway). */
  gateway: string;
  /** Ratio-mode draw source in [0, 1); Math.random by default. */
  random?: () => number;
}

export interface Matcher {
  /**
   * Classify one request. Synchronous; returns shared frozen decisions (do not mutate them).
   * `random` is called once per request, and only when the route has enabled ratio lanes.
   */
  match(req: RequestView): LaneDecision;
}

/** The decision for a request that matched no route. */
export const NO_ROUTE: LaneDecision = Object.freeze({
  route: null,
  service: null,
  group: null,
  lane: null,
  tag: null,
});

interface ContentLane {
  readonly test: Predicate;
  readonly decision: LaneDecision;
}

interface CompiledRoute {
  readonly base: LaneDecision;
  readonly content: readonly ContentLane[];
  /** Cumulative ratio weights (percent) of the enabled ratio lanes, in declared order. */
  readonly ratioUpTo: readonly number[];
  readonly ratio: readonly LaneDecision[];
}

interface PrefixRoute {
  readonly prefix: string;
  readonly endsWithSlash: boolean;
  readonly route: CompiledRoute;
}

function decision(route: Route, group: LaneGroup | null, lane: Lane | null): LaneDecision {
  return Object.freeze({
    route: route.metadata.name,
    service: route.spec.service,
    group: group ? group.metadata.name : null,
    lane: lane ? lane.metadata.name : null,
    tag: lane ? lane.spec.tag : null,
  });
}

/** Percent of `route`'s traffic a ratio lane takes: weights[route] ?? weight ?? 0. */
export function ratioWeight(lane: Lane, route: string): number {
  const w = lane.spec.weights?.[route] ?? lane.spec.weight ?? 0;
  return Number.isFinite(w) && w > 0 ? w : 0;
}

function compileLane(lane: Lane, ctx: CompileContext): Predicate | null {
  const m = lane.spec.match;
  if (!m || !Array.isArray(m.conditions) || m.conditions.length === 0) return null;
  const where = `Lane/${lane.metadata.name}: spec.match.conditions`;
  const preds = m.conditions.map((c, i) => compileCondition(c, `${where}[${i}]`, ctx));
  return combine(m.mode === "any" ? "any" : "all", preds);
}

function compileRoute(
  route: Route,
  rules: RuleSet,
  gateway: string,
  predicates: Map<Lane, Predicate | null>,
  lanesOf: Map<string, Lane[]>,
): CompiledRoute {
  const name = route.metadata.name;
  const content: ContentLane[] = [];
  const ratioUpTo: number[] = [];
  const ratio: LaneDecision[] = [];
  let total = 0;
  for (const group of rules.groups) {
    if (group.spec.entry.gateway !== gateway || !group.spec.entry.routes.includes(name)) continue;
    for (const lane of lanesOf.get(group.metadata.name) ?? []) {
      if (lane.spec.enabled === false) continue;
      if (group.spec.mode === "content") {
        const test = predicates.get(lane);
        if (test) content.push({ test, decision: decision(route, group, lane) });
      } else {
        const w = ratioWeight(lane, name);
        if (w === 0) continue;
        total += w;
        ratioUpTo.push(total);
        ratio.push(decision(route, group, lane));
      }
    }
  }
  return { base: decision(route, null, null), content, ratioUpTo, ratio };
}

/**
 * Compile the rules for one gateway. Throws RuleCompileError on a rule that validation would
 * have refused (e.g. an uncompilable regex); nothing else is checked here.
 *
 * Route match: exact beats prefix; the longest prefix wins; a prefix matches on a path-segment
 * boundary (`/a` matches `/a`, `/a/`, `/a/x`, not `/ab`; a prefix ending in `/` matches any path
 * that starts with it), as Kubernetes Ingress `Prefix` and Envoy `path_separated_prefix` do.
 * Lanes: content lanes of the route's groups first (groups, then lanes, in declared order; first
 * match wins); then one ratio draw r = random()*100 against the cumulative weights of the
 * enabled ratio lanes; the remainder, and everything unmatched, is base.
 */
export function compileMatcher(rules: RuleSet, opts: MatcherOptions): Matcher {
  const random = opts.random ?? Math.random;
  const predicates = new Map<Lane, Predicate | null>();
  const clock = { epoch: 0 };
  const ctx = newCompileContext(clock);
  for (const lane of rules.lanes) {
    if (lane.spec.enabled !== false) predicates.set(lane, compileLane(lane, ctx));
  }
  // Each group's lanes in declared order, so a route's compile reads its groups' lanes only.
  const lanesOf = new Map<string, Lane[]>();
  for (const lane of rules.lanes) {
    const list = lanesOf.get(lane.spec.group);
    if (list === undefined) lanesOf.set(lane.spec.group, [lane]);
    else list.push(lane);
  }
  const exact = new Map<string, CompiledRoute>();
  const prefixes: PrefixRoute[] = [];
  for (const route of rules.routes) {
    if (route.spec.gateway !== opts.gateway) continue;
    const compiled = compileRoute(route, rules, opts.gateway, predicates, lanesOf);
    const m = route.spec.match;
    if (typeof m.exact === "string") {
      if (!exact.has(m.exact)) exact.set(m.exact, compiled);
    } else if (typeof m.prefix === "string") {
      prefixes.push({ prefix: m.prefix, endsWithSlash: m.prefix.endsWith("/"), route: compiled });
    } else {
      throw new RuleCompileError(
        "a route needs match.prefix or match.exact",
        `Route/${route.metadata.name}: spec.match`,
      );
    }
  }
  // Longest first; Array.prototype.sort is stable, so equal lengths keep declared order.
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);

  const findRoute = (path: string): CompiledRoute | undefined => {
    const e = exact.get(path);
    if (e !== undefined) return e;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i] as PrefixRoute;
      if (!path.startsWith(p.prefix)) continue;
      if (
        p.endsWithSlash ||
        path.length === p.prefix.length ||
        path.charCodeAt(p.prefix.length) === 47
      ) {
        return p.route;
      }
    }
    return undefined;
  };

  return {
    match(req: RequestView): LaneDecision {
      const route = findRoute(req.path);
      if (route === undefined) return NO_ROUTE;
      // New request: memoized reads and shared conditions start over.
      clock.epoch++;
      const content = route.content;
      for (let i = 0; i < content.length; i++) {
        const lane = content[i] as ContentLane;
        if (lane.test(req)) return lane.decision;
      }
      const upTo = route.ratioUpTo;
      if (upTo.length > 0) {
        const r = random() * 100;
        for (let i = 0; i < upTo.length; i++) {
          if (r < (upTo[i] as number)) return route.ratio[i] as LaneDecision;
        }
      }
      return route.base;
    },
  };
}
