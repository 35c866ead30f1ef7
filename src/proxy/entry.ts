// The gateway's listener (client → mesh): classify by the lane rules, strip what the client claimed, start the trace, then pick and forward; it never trusts the client's tag unless told to.

import type { IncomingHttpHeaders } from "node:http";
import { entryLane, keepsTrace } from "../lane/classify.js";
import {
  type EntryTraces,
  type LaneWriter,
  newTraceparent,
  type TagReader,
} from "../lane/propagation/index.js";
import { type IncomingLike, requestViewFromIncoming } from "../lane/rules/view.js";
import type { LiveConfig } from "../live/live-config.js";
import { noRoute } from "./errors.js";
import type { RequestLike } from "./exchange.js";
import { upstreamHeaders } from "./headers.js";
import type { ServiceHop } from "./hop.js";
import type { ExchangeHandler } from "./listen/listener.js";
import { normalizeTarget } from "./path.js";
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
 *
 * Routes are a boundary: the path is normalized (path.ts: dot segments, escapes, repeated
 * slashes; encoded slashes refused) before the routes and lane rules see it, and the upstream
 * receives the normalized path.
 */

/** The request as the lane rules see it, with its normalized target (headers read on demand). */
class NormalizedRequest implements IncomingLike {
  constructor(
    private readonly req: RequestLike,
    readonly url: string,
  ) {}
  get method(): string | undefined {
    return this.req.method;
  }
  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }
}

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
    const normal = normalizeTarget(target.path);
    if (!normal.ok) return recorder.fail(x, normal.error);
    const path = normal.target;
    // The same object when nothing changed: the view reads the request as it came.
    const seen = path === req.url ? req : new NormalizedRequest(req, path);
    const decision = entryLane(c.matcher, requestViewFromIncoming(seen), ctx, deps.trustTagHeader);
    if (!decision.ok) return recorder.fail(x, noRoute(path));
    let fresh: string | undefined;
    if (!keepsTrace(ctx, decision.tag, deps.traces)) {
      deps.restarted(decision.service, decision.tag);
      fresh = newTraceparent();
    } else if (!ctx.traceparent) fresh = newTraceparent();
    x.client = req.socket.remoteAddress ?? null;
    const plan = { appendFor: x.client, overwriteProto: true };
    const headers = deps.writer.write(
      upstreamHeaders(req.rawHeaders, x.connection, plan),
      decision.tag,
      fresh,
    );
    deps.hop.send(x, c, decision.service, decision.tag, path, headers);
  };
}
