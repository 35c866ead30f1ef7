// The steps every side's pipeline opens with: read the lane context the request carries (refusing a hostile tag header) and take the config in force (refusing before the first one); it never routes nor forwards.
import type { LaneContext, TagReader } from "../lane/propagation/index.js";
import type { Compiled, LiveConfig } from "../live/live-config.js";
import { badTagHeader, ProxyError } from "./errors.js";
import type { Exchange } from "./exchange.js";
import type { Recorder } from "./record.js";

/** The request's lane context, or null once it was answered 400 for a hostile tag header. */
export function readLane(x: Exchange, reader: TagReader, recorder: Recorder): LaneContext | null {
  const ctx = reader.read(x.req.rawHeaders);
  if (ctx.ok) return ctx;
  recorder.fail(x, badTagHeader(reader.header.name, ctx.reason));
  return null;
}

/**
 * The lane context and the config in force, or null once the request was answered: 400 for a
 * hostile tag header, 503 before the first config.
 */
export function admit(
  x: Exchange,
  reader: TagReader,
  live: LiveConfig,
  recorder: Recorder,
): { ctx: LaneContext; c: Compiled } | null {
  const ctx = readLane(x, reader, recorder);
  if (ctx === null) return null;
  const c = live.current();
  if (c !== undefined) return { ctx, c };
  recorder.fail(x, new ProxyError("LANEMESH_NOT_READY", "no config received yet"));
  return null;
}
