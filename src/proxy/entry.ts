// The gateway's listener (client → mesh): classify by the lane rules, strip what the client claimed, start the trace, then pick and forward; it never trusts the client's tag unless told to.

import { entryLane, keepsTrace } from "../lane/classify.js";
import {
  type EntryTraces,
  type LaneWriter,
  newTraceparent,
  type TagReader,
} from "../lane/propagation/index.js";
import { requestViewFromIncoming } from "../lane/rules/view.js";
import type { LiveConfig } from "../live/live-config.js";
import { noRoute } from "./errors.js";
import { upstreamHeaders } from "./headers.js";
import type { ServiceHop } from "./hop.js";
import type { ExchangeHandler } from "./listen/listener.js";
import { admit } from "./pipeline.js";
import { splitRequestTarget } from "./route.js";

/*
 * The client's lane claims (tag header, baggage `lane` member) are dropped and replaced by the
 * tag the gateway's rules give, unless `trustTagHeader` (a valid client tag then wins over the
 * rules). Hostile spellings of the tag header are refused with 400 even when the tag would be
 * dropped: a request that different servers could read differently is not let in at all.
 * Other baggage members pass. A request without a valid traceparent gets a fresh one, and so does
 * one whose trace id already carries another lane at this gateway (`traces`; counted through
 * `restarted`): inside the mesh a trace id carries one lane.
 */

export interface EntryDeps {
  readonly hop: ServiceHop;
  readonly live: LiveConfig;
  readonly reader: TagReader;
  readonly writer: LaneWriter;
  readonly trustTagHeader: boolean;
  /** The lane each incoming trace id was given first. */
  readonly traces: EntryTraces;
  /** A request of `service` in lane `tag` got a fresh trace: its trace id carried another lane. */
  readonly restarted: (service: string, tag: string | null) => void;
}

/** listener → classify (route + lane rules) → pick → forward. */
export function entryHandler(deps: EntryDeps): ExchangeHandler {
  const recorder = deps.hop.recorder;
  return (x) => {
    const req = x.req;
    const admitted = admit(x, deps.reader, deps.live, recorder);
    if (admitted === null) return;
    const { ctx, c } = admitted;
    const target = splitRequestTarget(req.url ?? "/", x.host);
    if (!target.ok) return recorder.fail(x, target.error);
    const decision = entryLane(c.matcher, requestViewFromIncoming(req), ctx, deps.trustTagHeader);
    if (!decision.ok) return recorder.fail(x, noRoute(req.url ?? "/"));
    let fresh: string | undefined;
    if (!keepsTrace(ctx, decision.tag, deps.traces)) {
      deps.restarted(decision.service, decision.tag);
      fresh = newTraceparent();
    } else if (!ctx.traceparent) fresh = newTraceparent();
    const plan = { appendFor: req.socket.remoteAddress ?? null, overwriteProto: true };
    const headers = deps.writer.write(
      upstreamHeaders(req.rawHeaders, x.connection, plan),
      decision.tag,
      fresh,
    );
    deps.hop.send(x, c, decision.service, decision.tag, target.path, headers);
  };
}
