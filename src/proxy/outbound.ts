// The sidecar's outbound listener (app → next service): classify by the carried lane context, route by host, then pick and forward; it never reads lane rules' conditions.

import { carriedLane } from "../lane/classify.js";
import type { LaneWriter, TagReader, TraceTagCache } from "../lane/propagation/index.js";
import type { LiveConfig } from "../live/live-config.js";
import { badTagHeader, ProxyError } from "./errors.js";
import { upstreamHeaders } from "./headers.js";
import type { ServiceHop } from "./hop.js";
import type { ExchangeHandler } from "./listen/listener.js";
import { outboundTarget } from "./route.js";

export interface OutboundDeps {
  readonly hop: ServiceHop;
  readonly live: LiveConfig;
  readonly reader: TagReader;
  readonly writer: LaneWriter;
  /** Shared with the inbound listener of the same sidecar, which fills it. */
  readonly cache: TraceTagCache;
}

const NOT_READY = () => new ProxyError("LANEMESH_NOT_READY", "no config received yet");

/** listener → classify (tag header, baggage, trace cache) → route (host) → pick → forward. */
export function outboundHandler(deps: OutboundDeps): ExchangeHandler {
  const plan = { appendFor: null, overwriteProto: false };
  const recorder = deps.hop.recorder;
  return (x) => {
    const req = x.req;
    const ctx = deps.reader.read(req.rawHeaders);
    if (!ctx.ok) return recorder.fail(x, badTagHeader(deps.reader.header.name, ctx.reason));
    const c = deps.live.current();
    if (c === undefined) return recorder.fail(x, NOT_READY());
    const tag = carriedLane(ctx, deps.cache);
    x.wanted = tag;
    const target = outboundTarget(req.url ?? "/", x.host, c);
    if (!target.ok) return recorder.fail(x, target.error);
    const headers = deps.writer.write(upstreamHeaders(req.rawHeaders, x.connection, plan), tag);
    deps.hop.send(x, c, target.service, tag, target.path, headers);
  };
}
