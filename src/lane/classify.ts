// The classify stage, where a request's lane is decided: by the gateway's lane rules at the entry, by the lane context it carries at every other hop; pure, it never picks instances, writes headers nor answers.
import type { EntryTraces, LaneContext, TraceTagCache } from "./propagation/index.js";
import type { Matcher } from "./rules/matcher.js";
import type { RequestView } from "./rules/request.js";

/*
 * Two decisions, one per kind of hop:
 * - entry (gateway): the Route the request matches, and the tag of the first enabled lane whose
 *   conditions hold (ratio groups: a draw). The client's own tag counts only when the gateway
 *   trusts it (`trustTagHeader`, e.g. behind another lanemesh gateway).
 * - carried (sidecar outbound): the tag the app's request carries (tag header, else baggage lane
 *   member), else the one the inbound side remembered for its trace id; null = base.
 * Sidecars never evaluate lane rules: a lane is decided once, at the entry, and then carried.
 *
 * A trace id carries one lane inside the mesh (issue 10, item 2): the gateway gives a request a
 * fresh trace when its incoming trace id already carries another lane there (`keepsTrace`), and a
 * sidecar's cache sends a trace id it saw in two lanes to base (trace-cache.ts).
 */

export type EntryLane =
  | { ok: true; route: string; service: string; tag: string | null }
  /** No Route matches the request. */
  | { ok: false };

const NO_ROUTE: EntryLane = Object.freeze({ ok: false });

/** Gateway: the route and lane of an entry request. */
export function entryLane(
  matcher: Matcher,
  view: RequestView,
  ctx: LaneContext,
  trustTagHeader: boolean,
): EntryLane {
  const decision = matcher.match(view);
  if (decision.route === null || decision.service === null) return NO_ROUTE;
  const tag = trustTagHeader && ctx.tag !== null ? ctx.tag : decision.tag;
  return { ok: true, route: decision.route, service: decision.service, tag };
}

/**
 * Gateway: may the request keep its incoming trace id in lane `tag` (null = base)? Only a valid
 * traceparent is at stake (a request without one gets a fresh trace anyway). False when the id
 * already carries another lane at this gateway: the caller then starts a fresh trace.
 */
export function keepsTrace(ctx: LaneContext, tag: string | null, traces: EntryTraces): boolean {
  return !ctx.traceparent || ctx.traceId === null || traces.claim(ctx.traceId, tag);
}

/**
 * Sidecar outbound: the lane the request carries, else the one remembered for its trace (null
 * when that trace was seen in base or in two lanes).
 */
export function carriedLane(ctx: LaneContext, cache: TraceTagCache): string | null {
  if (ctx.tag !== null) return ctx.tag;
  if (ctx.traceId === null) return null;
  return cache.recall(ctx) ?? null;
}
