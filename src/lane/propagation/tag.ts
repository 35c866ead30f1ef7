// Reads the lane context (tag header, baggage lane member, trace ids) from a request's raw headers in one pass; it never writes headers nor touches the trace cache.

/*
 * Precedence: the tag header, else the first valid `lane` member of the `baggage` headers
 * (several are joined), else no tag (the caller may then ask the TraceTagCache).
 *
 * Hostile edges, refused with LANEMESH_BAD_TAG_HEADER (the listener answers 400), reported at the
 * first defect met in header order:
 * - `underscore-spelling`: a name equal to the tag header once `_` is read as `-` (x_lane_tag,
 *   X_Lane-Tag): servers that normalize underscores would see a second tag header, so it is
 *   refused rather than guessed;
 * - `duplicate`: the tag header present twice, in any case, even with equal values;
 * - `comma-joined`: a comma in its value (a list folded by an intermediary);
 * - `invalid-value`: not a lane tag token (LANE_TAG_PATTERN), the empty value included.
 * A malformed baggage member is never fatal: it is skipped.
 *
 * Trace ids (keys of the trace-id → tag cache), each taken only when its header appears exactly
 * once and is valid, else null:
 * - `traceparent`: strict W3C (see traceparent.ts); `traceparent: true` means "exactly one valid
 *   traceparent" — when false, the inbound side should write a fresh one;
 * - `x-b3-traceid`: 16 or 32 hex digits, not all zero, returned lower-cased (so a 128-bit B3 id
 *   equals the W3C trace id of the same trace);
 * - `x-request-id`: 1 to 128 visible ASCII characters (bounded: it becomes a cache key).
 * `traceId` is the first of traceparent, b3, request id; all three are returned so the inbound
 * side can remember the tag under every id the app might forward.
 */

import { isLaneTag } from "../../config/lane-tag.js";
import { laneFromBaggage } from "./baggage.js";
import { parseTraceparent } from "./traceparent.js";

export { isLaneTag, LANE_TAG_PATTERN } from "../../config/lane-tag.js";

/** The default tag header (docs/lane-context.md); `--tag-header` changes it, e.g. `x-mse-tag`. */
export const DEFAULT_TAG_HEADER = "x-lane-tag";

export type TagSource = "header" | "baggage";
export type BadTagReason = "duplicate" | "comma-joined" | "underscore-spelling" | "invalid-value";

/** The lane context of a request that passed the hostile-edge rules. */
export interface LaneContext {
  ok: true;
  /** The lane tag, or null (base, or unknown until the trace cache is asked). */
  tag: string | null;
  source: TagSource | null;
  /** Preferred trace id: traceparent's, else x-b3-traceid, else x-request-id; null if none. */
  traceId: string | null;
  /** Exactly one valid traceparent header is present. */
  traceparent: boolean;
  /** Lower-cased x-b3-traceid when valid, else null. */
  b3TraceId: string | null;
  /** x-request-id when valid, else null. */
  requestId: string | null;
}

export interface BadTagHeader {
  ok: false;
  code: "LANEMESH_BAD_TAG_HEADER";
  reason: BadTagReason;
}

export type TagRead = LaneContext | BadTagHeader;

/** Thrown at construction for a tag header name that cannot be used. */
export class TagHeaderNameError extends Error {
  readonly code = "LANEMESH_BAD_TAG_HEADER_NAME";
  constructor(name: string, why: string) {
    super(`tag header name ${JSON.stringify(name)}: ${why}`);
    this.name = "TagHeaderNameError";
  }
}

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Names the tag header may not take: they carry something else on the same request. */
const RESERVED = new Set([
  "baggage",
  "traceparent",
  "tracestate",
  "x-b3-traceid",
  "x-request-id",
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "keep-alive",
  "proxy-connection",
]);

function dashed(lowerName: string): string {
  return lowerName.includes("_") ? lowerName.replaceAll("_", "-") : lowerName;
}

/**
 * How a raw header name relates to the tag header: `exact` is the tag header in any case,
 * `variant` is spelled with `_` where the tag header has `-` (or the reverse), null is unrelated.
 */
export type TagNameMatch = "exact" | "variant" | null;

/** The configured tag header name, validated and prepared for case-insensitive matching. */
export class TagHeaderName {
  /** Lower-case name, as written on outgoing requests. */
  readonly name: string;
  private readonly canonical: string;
  private readonly length: number;

  constructor(name: string = DEFAULT_TAG_HEADER) {
    if (!HEADER_TOKEN.test(name)) throw new TagHeaderNameError(name, "not an HTTP header token");
    const lower = name.toLowerCase();
    if (RESERVED.has(dashed(lower))) throw new TagHeaderNameError(name, "reserved header name");
    this.name = lower;
    this.canonical = dashed(lower);
    this.length = lower.length;
  }

  /** Compare a raw header name (any case) with the tag header. */
  match(rawName: string): TagNameMatch {
    if (rawName.length !== this.length) return null;
    const lower = rawName.toLowerCase();
    if (lower === this.name) return "exact";
    return dashed(lower) === this.canonical ? "variant" : null;
  }
}

function refusal(reason: BadTagReason): BadTagHeader {
  return Object.freeze({ ok: false, code: "LANEMESH_BAD_TAG_HEADER", reason }) as BadTagHeader;
}

const REFUSED: Readonly<Record<BadTagReason, BadTagHeader>> = {
  duplicate: refusal("duplicate"),
  "comma-joined": refusal("comma-joined"),
  "underscore-spelling": refusal("underscore-spelling"),
  "invalid-value": refusal("invalid-value"),
};

const B3_TRACE_ID = /^(?:[0-9a-fA-F]{16}){1,2}$/;
const ALL_ZERO = /^0+$/;
const REQUEST_ID = /^[!-~]{1,128}$/;

function b3TraceId(value: string): string | null {
  if (!B3_TRACE_ID.test(value) || ALL_ZERO.test(value)) return null;
  return value.toLowerCase();
}

/** Reads the lane context of one request; build once per listener, call per request. */
export class TagReader {
  readonly header: TagHeaderName;

  constructor(tagHeader: string | TagHeaderName = DEFAULT_TAG_HEADER) {
    this.header = typeof tagHeader === "string" ? new TagHeaderName(tagHeader) : tagHeader;
  }

  /** One pass over `rawHeaders` ([name, value, name, value, ...], names in any case). */
  read(rawHeaders: readonly string[]): TagRead {
    let tagValue: string | undefined;
    let baggage: string | undefined;
    let moreBaggage: string[] | undefined;
    let traceparent: string | undefined;
    let traceparents = 0;
    let b3: string | undefined;
    let b3s = 0;
    let requestId: string | undefined;
    let requestIds = 0;

    const count = rawHeaders.length - 1;
    for (let i = 0; i < count; i += 2) {
      const name = rawHeaders[i] as string;
      const value = rawHeaders[i + 1] as string;
      const match = this.header.match(name);
      if (match !== null) {
        if (match === "variant") return REFUSED["underscore-spelling"];
        if (tagValue !== undefined) return REFUSED.duplicate;
        tagValue = value;
        continue;
      }
      switch (name.length) {
        case 7:
          if (name.toLowerCase() === "baggage") {
            if (baggage === undefined) baggage = value;
            else if (moreBaggage === undefined) moreBaggage = [value];
            else moreBaggage.push(value);
          }
          break;
        case 11:
          if (name.toLowerCase() === "traceparent") {
            traceparent = value;
            traceparents++;
          }
          break;
        case 12: {
          const lower = name.toLowerCase();
          if (lower === "x-b3-traceid") {
            b3 = value;
            b3s++;
          } else if (lower === "x-request-id") {
            requestId = value;
            requestIds++;
          }
          break;
        }
      }
    }

    let tag: string | null = null;
    let source: TagSource | null = null;
    if (tagValue !== undefined) {
      if (tagValue.includes(",")) return REFUSED["comma-joined"];
      if (!isLaneTag(tagValue)) return REFUSED["invalid-value"];
      tag = tagValue;
      source = "header";
    } else if (baggage !== undefined) {
      tag = laneFromBaggage(baggage);
      if (tag === null && moreBaggage !== undefined) {
        for (const value of moreBaggage) {
          tag = laneFromBaggage(value);
          if (tag !== null) break;
        }
      }
      if (tag !== null) source = "baggage";
    }

    const traceparentId = traceparents === 1 ? parseTraceparent(traceparent as string) : null;
    const b3Id = b3s === 1 ? b3TraceId(b3 as string) : null;
    const rid =
      requestIds === 1 && REQUEST_ID.test(requestId as string) ? (requestId as string) : null;
    return {
      ok: true,
      tag,
      source,
      traceId: traceparentId ?? b3Id ?? rid,
      traceparent: traceparentId !== null,
      b3TraceId: b3Id,
      requestId: rid,
    };
  }
}
