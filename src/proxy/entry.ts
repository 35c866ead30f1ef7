// The gateway's listener (client → mesh): classify by the lane rules, strip what the client claimed, start the trace, then pick and forward; it never trusts the client's tag unless told to.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type LaneWriter, newTraceparent, type TagReader } from "../propagation/index.js";
import type { LiveConfig } from "../sync/state.js";
import { badTagHeader, classifyEntry } from "./classify.js";
import { ProxyError } from "./errors.js";
import { upstreamHeaders } from "./headers.js";
import { forwardToService, type Hop } from "./hop.js";
import type { RequestHandler } from "./listener.js";
import { splitRequestTarget } from "./route.js";

/*
 * The client's lane claims (tag header, baggage `lane` member) are dropped and replaced by the
 * tag the gateway's rules give, unless `trustTagHeader` (a valid client tag then wins over the
 * rules). Hostile spellings of the tag header are refused with 400 even when the tag would be
 * dropped: a request that different servers could read differently is not let in at all.
 * Other baggage members pass. A request without a valid traceparent gets a fresh one.
 */

export interface EntryDeps extends Hop {
  readonly live: LiveConfig;
  readonly reader: TagReader;
  readonly writer: LaneWriter;
  readonly trustTagHeader: boolean;
}

/** listener → classify (route + lane rules) → pick → forward. */
export function entryHandler(deps: EntryDeps): RequestHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    const x = deps.recorder.track(req, res);
    const ctx = deps.reader.read(req.rawHeaders);
    if (!ctx.ok) return deps.recorder.fail(x, badTagHeader(deps.reader.header.name, ctx.reason));
    const c = deps.live.current();
    if (c === undefined) {
      return deps.recorder.fail(x, new ProxyError("LANEMESH_NOT_READY", "no config received yet"));
    }
    const target = splitRequestTarget(req.url ?? "/", req.headers.host);
    if (!target.ok) return deps.recorder.fail(x, target.error);
    const decision = classifyEntry(c, req, ctx, deps.trustTagHeader);
    if (!decision.ok) return deps.recorder.fail(x, decision.error);
    const plan = { appendFor: req.socket.remoteAddress ?? null, overwriteProto: true };
    const headers = deps.writer.write(
      upstreamHeaders(req.rawHeaders, req.headers.connection, plan),
      decision.tag,
      ctx.traceparent ? undefined : newTraceparent(),
    );
    return forwardToService(deps, x, c, decision.service, decision.tag, target.path, headers);
  };
}
