// The classify stage: which lane tag a request travels in (gateway rules, or the context it carries); it never picks instances nor writes headers.
import type { IncomingMessage } from "node:http";
import type { BadTagReason, LaneContext, TraceTagCache } from "../propagation/index.js";
import { requestViewFromIncoming } from "../rules/view.js";
import type { Compiled } from "../sync/state.js";
import { ProxyError } from "./errors.js";

const BAD_TAG_TEXT: Record<BadTagReason, string> = {
  duplicate: "given more than once",
  "comma-joined": "holds a comma-joined list",
  "underscore-spelling": "spelled with an underscore",
  "invalid-value": "is not a lane tag (letters, digits, . _ -; at most 63)",
};

/** The 400 for a tag header refused by the propagation reader. */
export function badTagHeader(header: string, reason: BadTagReason): ProxyError {
  return new ProxyError("LANEMESH_BAD_TAG_HEADER", `tag header ${header} ${BAD_TAG_TEXT[reason]}`);
}

/**
 * Sidecar outbound: the tag the app's request carries (tag header, else baggage lane member),
 * else the one the inbound side remembered for its trace id; null = base.
 */
export function laneOfOutbound(ctx: LaneContext, cache: TraceTagCache): string | null {
  if (ctx.tag !== null) return ctx.tag;
  if (ctx.traceId === null) return null;
  return cache.recall(ctx) ?? null;
}

export type EntryDecision =
  | { ok: true; route: string; service: string; tag: string | null }
  | { ok: false; error: ProxyError };

/**
 * Gateway: the route and lane of an entry request. The client's own tag counts only when the
 * gateway trusts it (`trustTagHeader`, e.g. behind another lanemesh gateway); otherwise the
 * gateway's lane rules alone decide, and whatever tag the client sent is overwritten.
 */
export function classifyEntry(
  c: Compiled,
  req: IncomingMessage,
  ctx: LaneContext,
  trustTagHeader: boolean,
): EntryDecision {
  const decision = c.matcher.match(requestViewFromIncoming(req));
  if (decision.route === null || decision.service === null) {
    const path = req.url ?? "/";
    const shown = path.length > 100 ? `${path.slice(0, 100)}...` : path;
    return { ok: false, error: new ProxyError("LANEMESH_NO_ROUTE", `no route for ${shown}`) };
  }
  const tag = trustTagHeader && ctx.tag !== null ? ctx.tag : decision.tag;
  return { ok: true, route: decision.route, service: decision.service, tag };
}
