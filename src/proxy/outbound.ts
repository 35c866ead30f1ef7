// The sidecar's outbound listener (app → next service): classify by the carried lane context, route by host, then pick and forward; it never reads lane rules' conditions.

import { carriedLane } from "../lane/classify.js";
import type { LaneWriter, TagReader, TraceTagCache } from "../lane/propagation/index.js";
import type { LiveConfig } from "../live/live-config.js";
import { upstreamHeaders } from "./headers.js";
import type { ServiceHop } from "./hop.js";
import type { ExchangeHandler } from "./listen/listener.js";
import { admit } from "./pipeline.js";
import { outboundTarget } from "./route.js";

export interface OutboundDeps {
  readonly hop: ServiceHop;
  readonly live: LiveConfig;
  readonly reader: TagReader;
  readonly writer: LaneWriter;
  /** Shared with the inbound listener of the same sidecar, which fills it. */
  readonly cache: TraceTagCache;
}

/** listener → classify (tag header, baggage, trace cache) → route (host) → pick → forward. */
export function outboundHandler(deps: OutboundDeps): ExchangeHandler {
  const plan = { appendFor: null, overwriteProto: false };
  const recorder = deps.hop.recorder;
  return (x) => {
    const admitted = admit(x, deps.reader, deps.live, recorder);
    if (admitted === null) return;
    const { ctx, c } = admitted;
    const tag = carriedLane(ctx, deps.cache);
    x.wanted = tag;
    const target = outboundTarget(x.req.url ?? "/", x.host, c);
    if (!target.ok) return recorder.fail(x, target.error);
    const headers = deps.writer.write(upstreamHeaders(x.req.rawHeaders, x.connection, plan), tag);
    deps.hop.send(x, c, target.service, tag, target.path, headers);
  };
}
