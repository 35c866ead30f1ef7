// The sidecar's inbound listener (caller → this app): remember the request's lane under its trace ids, ensure a traceparent, forward to the app; it never picks instances.

import {
  type LaneWriter,
  newTraceparent,
  type TagReader,
  type TraceTagCache,
} from "../lane/propagation/index.js";
import { ProxyError, type ProxyErrorCode } from "./errors.js";
import type { Exchange, Flow } from "./exchange.js";
import type {
  Forwarder,
  ForwardFailureKind,
  ForwardOutcome,
  Upstream,
} from "./forward/contract.js";
import { isIdempotent, upstreamHeaders } from "./headers.js";
import type { ExchangeHandler } from "./listen/listener.js";
import { readLane } from "./pipeline.js";
import type { Recorder } from "./record.js";
import { splitRequestTarget } from "./route.js";

/*
 * The request reaches the app with its lane context kept and made explicit: the tag header and
 * the baggage `lane` member both carry the tag when it was found in either (harmless for the app;
 * an app that forwards either one keeps the lane without the trace cache). A request without a
 * valid traceparent gets a fresh one (and loses its tracestate), remembered with the tag.
 *
 * When the app refuses the connection (down, restarting), the answer is 503
 * LANEMESH_APP_UNAVAILABLE: the caller's sidecar treats it as a refused connection and retries an
 * idempotent request on another instance. So does an app that dies with an idempotent request
 * (GET HEAD OPTIONS TRACE PUT DELETE, no body) in flight and closes the connection before any
 * answer: repeating such a request is what RFC 9110 §9.2.2 allows, and what Envoy's `reset` retry
 * policy does. Other failures after the app accepted the connection keep their own codes (reset
 * 502, timeout 504): the app may have acted on the request.
 */

export interface InboundDeps {
  readonly app: string;
  readonly tag: string | null;
  readonly appUpstream: Upstream;
  readonly forwarder: Forwarder;
  readonly recorder: Recorder;
  readonly reader: TagReader;
  readonly writer: LaneWriter;
  readonly cache: TraceTagCache;
}

const FAILURE_CODE: Record<Exclude<ForwardFailureKind, "aborted">, ProxyErrorCode> = {
  connect: "LANEMESH_APP_UNAVAILABLE",
  reset: "LANEMESH_UPSTREAM_RESET",
  timeout: "LANEMESH_UPSTREAM_TIMEOUT",
  protocol: "LANEMESH_UPSTREAM_PROTOCOL",
  "app-unavailable": "LANEMESH_APP_UNAVAILABLE",
  "bad-request": "LANEMESH_BAD_REQUEST",
  overloaded: "LANEMESH_OVERLOADED",
  "client-timeout": "LANEMESH_REQUEST_TIMEOUT",
};

/** The inbound side's outcome rule: failures to reach the app, as the caller's sidecar reads them. */
class AppHop implements Flow {
  constructor(private readonly deps: InboundDeps) {}

  settled(x: Exchange, outcome: ForwardOutcome): void {
    if (outcome.ok || outcome.kind === "aborted") return;
    const unavailable =
      outcome.kind === "connect" ||
      (outcome.kind === "reset" && outcome.retryable && (x.h2 !== null || isIdempotent(x.method)));
    const code = unavailable ? "LANEMESH_APP_UNAVAILABLE" : FAILURE_CODE[outcome.kind];
    const detail = unavailable
      ? `app ${this.deps.app} is unavailable: ${outcome.detail}`
      : outcome.detail;
    this.deps.recorder.fail(x, new ProxyError(code, detail));
  }
}

/** listener → classify (read and remember the lane) → forward to the app. */
export function inboundHandler(deps: InboundDeps): ExchangeHandler {
  const flow = new AppHop(deps);
  const recorder = deps.recorder;
  return (x) => {
    const req = x.req;
    // Every inbound request is for this app's instance, refused ones included (their metrics).
    x.service = deps.app;
    x.served = deps.tag;
    const ctx = readLane(x, deps.reader, recorder);
    if (ctx === null) return;
    x.wanted = ctx.tag;
    const target = splitRequestTarget(req.url ?? "/", x.host);
    if (!target.ok) return recorder.fail(x, target.error);
    const fresh = ctx.traceparent ? undefined : newTraceparent();
    deps.cache.remember(ctx, ctx.tag, fresh);
    x.client = req.socket.remoteAddress ?? null;
    const plan = { appendFor: x.client, overwriteProto: false };
    const headers = deps.writer.write(
      upstreamHeaders(req.rawHeaders, x.connection, plan),
      ctx.tag,
      fresh,
    );
    x.prepare(target.path, headers, flow, false);
    x.sendTo(deps.forwarder, deps.appUpstream, deps.tag);
  };
}
