// The propagation stage's public surface: reading and writing the lane context; re-exports only, no logic.

export { isLaneTag, LANE_TAG_PATTERN } from "../../config/lane-tag.js";
export {
  BAGGAGE_MAX_BYTES,
  BAGGAGE_MAX_MEMBERS,
  LANE_BAGGAGE_KEY,
  laneFromBaggage,
  withLane,
} from "./baggage.js";
export { EntryTraces, type EntryTracesOptions } from "./entry-traces.js";
export { LaneWriter } from "./outgoing.js";
export {
  type BadTagHeader,
  type BadTagReason,
  DEFAULT_TAG_HEADER,
  type LaneContext,
  TagHeaderName,
  TagHeaderNameError,
  type TagNameMatch,
  type TagRead,
  TagReader,
  type TagSource,
} from "./tag.js";
export { TraceTagCache, type TraceTagCacheOptions } from "./trace-cache.js";
export {
  newTraceparent,
  parseTraceparent,
  type RandomBytes,
  TRACEPARENT_LENGTH,
} from "./traceparent.js";
