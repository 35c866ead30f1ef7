// Writes the lane context onto a request about to be forwarded (tag header, baggage lane member, optional fresh traceparent); it never decides the tag and never does I/O.

/*
 * `write(rawHeaders, tag)` returns a new raw header array ([name, value, ...]) in which:
 * - every spelling of the tag header is removed: any case, and `_`-for-`-` variants
 *   (x_lane_tag), so no stale or smuggled tag reaches the next hop; with a tag, one
 *   `<tag-header>: <tag>` is appended (lower-case name);
 * - every `baggage` header is removed and, when something is left, one `baggage` header is appended:
 *   the old members joined in order, with `lane=<tag>` set, or the lane member removed when the
 *   tag is null (withLane, baggage.ts: W3C limits apply). Apps that forward only baggage thus
 *   keep the lane, and a base request carries neither a tag header nor a lane member;
 * - with `traceparent` given (the inbound side, when the request had no valid one), every
 *   `traceparent` and `tracestate` header is replaced by that single traceparent: a tracestate
 *   belongs to the traceparent it came with and is meaningless for a restarted trace.
 * Everything else keeps its order and case; hop-by-hop headers are the forwarder's business.
 * `tag` must be a valid lane tag (isLaneTag): it is written as is.
 */

import { withLane } from "./baggage.js";
import { DEFAULT_TAG_HEADER, TagHeaderName } from "./tag.js";

/** Writes the lane context for the next hop; build once per listener, call per request. */
export class LaneWriter {
  readonly header: TagHeaderName;

  constructor(tagHeader: string | TagHeaderName = DEFAULT_TAG_HEADER) {
    this.header = typeof tagHeader === "string" ? new TagHeaderName(tagHeader) : tagHeader;
  }

  /** `rawHeaders` with the lane context of `tag` (null = base); the input is not modified. */
  write(rawHeaders: readonly string[], tag: string | null, traceparent?: string): string[] {
    const out: string[] = [];
    let baggage: string | undefined;
    const count = rawHeaders.length - 1;
    for (let i = 0; i < count; i += 2) {
      const name = rawHeaders[i] as string;
      const value = rawHeaders[i + 1] as string;
      if (this.header.match(name) !== null) continue;
      const length = name.length;
      if (length === 7 && name.toLowerCase() === "baggage") {
        baggage = baggage === undefined ? value : `${baggage},${value}`;
        continue;
      }
      if (traceparent !== undefined && (length === 11 || length === 10)) {
        const lower = name.toLowerCase();
        if (lower === "traceparent" || lower === "tracestate") continue;
      }
      out.push(name, value);
    }
    if (tag !== null) out.push(this.header.name, tag);
    const nextBaggage = withLane(baggage, tag);
    if (nextBaggage !== undefined) out.push("baggage", nextBaggage);
    if (traceparent !== undefined) out.push("traceparent", traceparent);
    return out;
  }
}
