// A guarded lane judged against base: which reports count as an app's lane and base traffic, and whether the lane's traffic breaks its guard; pure, it closes nothing.
import { guardWindowMs } from "../config/types.js";
import { quantileMs } from "../telemetry/load.js";
import { type ProxyTraffic, sumTraffic, type Traffic } from "./load.js";

/** A lane's guard with its defaults applied (schema.ts: minRequests 20, window 30s). */
export interface Guard {
  maxErrorRate: number | null;
  maxP99Ms: number | null;
  minRequests: number;
  window: string;
  windowMs: number;
}

/** A stored Lane document as the guard reads it (loosely typed: stored documents are raw). */
export interface LaneDoc {
  metadata?: { name?: string };
  spec?: {
    group?: string;
    tag?: string;
    enabled?: boolean;
    apps?: string[];
    guard?: Record<string, unknown>;
  };
}

/** The guard of a stored Lane, or null when it has none. */
export function guardOf(doc: LaneDoc): Guard | null {
  const g = doc.spec?.guard;
  if (g === undefined || g === null || typeof g !== "object") return null;
  const num = (v: unknown): number | null => (typeof v === "number" ? v : null);
  const window = typeof g.window === "string" ? g.window : "30s";
  return {
    maxErrorRate: num(g.maxErrorRate),
    maxP99Ms: num(g.maxP99Ms),
    minRequests: num(g.minRequests) ?? 20,
    window,
    windowMs: guardWindowMs(window),
  };
}

/** One side (lane or base) of an app's traffic, as status and a guard verdict show it. */
export interface Side {
  requests: number;
  errors: number;
  /** 0..1, null without requests. */
  errorRate: number | null;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  fallbacks: number;
}

export function side(t: Traffic): Side {
  return {
    requests: t.requests,
    errors: t.errors,
    errorRate: t.requests === 0 ? null : t.errors / t.requests,
    rps: t.rps,
    p50Ms: quantileMs(t.latency, 0.5),
    p99Ms: quantileMs(t.latency, 0.99),
    fallbacks: t.fallbacks,
  };
}

/**
 * An app's traffic served by instances of `tag` (null = base): what the app's own sidecars
 * answered (inbound), or when no sidecar of the app reported, what its callers' proxies got
 * (outbound and gateway). Fallbacks are the requests that wanted `tag` and went to base.
 */
export function appTraffic(
  traffic: readonly ProxyTraffic[],
  app: string,
  tag: string | null,
): Side {
  const want = tag ?? "base";
  const inbound = traffic.some((p) =>
    p.rows.some((r) => r.direction === "inbound" && r.service === app),
  );
  const served = sumTraffic(
    traffic,
    (r) =>
      r.service === app &&
      r.tag === want &&
      (inbound ? r.direction === "inbound" : r.direction !== "inbound"),
  );
  const fell = sumTraffic(
    traffic,
    (r) => r.service === app && r.tag === want && r.direction !== "inbound",
  );
  return side({ ...served, fallbacks: tag === null ? 0 : fell.fallbacks });
}

/** Why a guard closes its lane. */
export interface Verdict {
  app: string;
  reason: string;
  lane: Side;
  base: Side;
}

const pct = (r: number | null): string => (r === null ? "-" : `${(r * 100).toFixed(1)}%`);

/**
 * The first app (in `apps` order) whose lane traffic over the window breaks the guard: at least
 * minRequests lane requests, and an error rate over maxErrorRate and above base's, or a p99 over
 * maxP99Ms and above base's. Null when the lane holds.
 */
export function judge(
  guard: Guard,
  tag: string,
  apps: readonly string[],
  traffic: readonly ProxyTraffic[],
): Verdict | null {
  for (const app of apps) {
    const lane = appTraffic(traffic, app, tag);
    if (lane.requests < guard.minRequests) continue;
    const base = appTraffic(traffic, app, null);
    const over = `over ${guard.window} (${lane.requests} lane requests, ${base.requests} base)`;
    if (
      guard.maxErrorRate !== null &&
      lane.errorRate !== null &&
      lane.errorRate > guard.maxErrorRate &&
      lane.errorRate > (base.errorRate ?? 0)
    )
      return {
        app,
        lane,
        base,
        reason: `${app}: lane ${tag} error rate ${pct(lane.errorRate)} > maxErrorRate ${pct(guard.maxErrorRate)} (base ${pct(base.errorRate)}) ${over}`,
      };
    if (
      guard.maxP99Ms !== null &&
      lane.p99Ms !== null &&
      lane.p99Ms > guard.maxP99Ms &&
      lane.p99Ms > (base.p99Ms ?? 0)
    )
      return {
        app,
        lane,
        base,
        reason: `${app}: lane ${tag} p99 ${lane.p99Ms.toFixed(1)} ms > maxP99Ms ${guard.maxP99Ms} (base ${base.p99Ms === null ? "-" : `${base.p99Ms.toFixed(1)} ms`}) ${over}`,
      };
  }
  return null;
}
