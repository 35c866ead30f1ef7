// Per-request bookkeeping: the Exchange a request becomes (also the forwarder's job), the §7 request metrics and the optional access log line; it records outcomes, it never decides them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Picker } from "../balancer/picker.js";
import type { Endpoint } from "../config/types.js";
import type { Logger } from "../telemetry/logger.js";
import type {
  CounterChild,
  Direction,
  HistogramChild,
  ProxyMetrics,
} from "../telemetry/metrics.js";
import { ProxyError, sendError } from "./errors.js";
import type { ForwardJob, ForwardOutcome, Tunnel, Upstream } from "./forward/contract.js";
import { upstreamKey } from "./forward/contract.js";
import type { RequestFacts } from "./listen/edge.js";

/*
 * `lanemesh_requests_total{direction,service,tag,code}` and
 * `lanemesh_request_duration_seconds{direction,service,tag}` are recorded once per request, when
 * its response head is written (the duration is time to response head). A request whose client
 * left before any response counts with code `499` (nginx's "client closed request") when the
 * connection closes. `service` is the target service, `unknown` when none was resolved (no route,
 * unknown host, refused request: never a client-chosen string, so clients cannot grow the label
 * set); `tag` is the tag of the instance that served (or was tried), `base` when untagged or none.
 *
 * One Exchange is the whole per-request state: the stages fill it, the forwarder takes it as its
 * job (no call object, no closure, no promise per request) and hands the outcome to `flow`.
 */

export const UNKNOWN_SERVICE = "unknown";
const BASE = "base";
const CLIENT_CLOSED = 499;
/** Bound on cached label children per direction (they stay in the registry either way). */
const MAX_CACHED = 4096;
const NO_HEADERS: string[] = [];
const NOWHERE: Upstream = { address: "", port: 0 };

/** Who receives the outcome of an Exchange's forward attempt (a hop's retry rule). */
export interface Flow {
  settled(x: Exchange, outcome: ForwardOutcome): void;
}

/** What one request became; filled by the stages as they run. */
export class Exchange implements ForwardJob, RequestFacts {
  readonly started = performance.now();
  readonly method: string;
  service = UNKNOWN_SERVICE;
  /** Tag asked for (header, baggage, trace cache or gateway rules); null = base. */
  wanted: string | null = null;
  /** Tag of the instance that served (or was last tried); null = base. */
  served: string | null = null;
  fallback = false;
  retried = false;
  error: string | null = null;
  recorded = false;

  // Request facts, from the edge pass over the raw headers (edge.ts).
  host: string | undefined = undefined;
  connection: string | undefined = undefined;
  hasBody = false;

  // The forward job (forward.ts): where and what to send.
  /** The instance tried last (NOWHERE until one is chosen). */
  upstream: Upstream = NOWHERE;
  path = "/";
  headers: string[] = NO_HEADERS;
  body: Readable | null = null;
  interceptAppUnavailable = false;
  /** An Upgrade request: its connection, for the tunnel (listener.ts, tunnel.ts). */
  tunnel: Tunnel | null = null;
  flow: Flow | null = null;
  /** Outbound and gateway: the picker and first instance, for one retry elsewhere. */
  picker: Picker | null = null;
  first: Endpoint | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly recorder: Recorder,
  ) {
    this.method = req.method ?? "GET";
  }

  onHead(status: number): void {
    this.recorder.head(this, status);
  }

  settle(outcome: ForwardOutcome): void {
    const flow = this.flow;
    if (flow === null) return;
    try {
      flow.settled(this, outcome);
    } catch (err) {
      this.recorder.crashed(this, err);
    }
  }
}

interface Series {
  readonly duration: HistogramChild;
  /** Request counters by status code. */
  readonly codes: Map<number, CounterChild>;
}

export class Recorder {
  /** service → tag → series. */
  private readonly series = new Map<string, Map<string, Series>>();
  private cached = 0;

  constructor(
    private readonly metrics: ProxyMetrics,
    readonly direction: Direction,
    private readonly access: Logger | null,
    private readonly log: Logger | null = null,
  ) {}

  /** Start bookkeeping for a request; `closed` is called by the listener when it closes. */
  track(req: IncomingMessage, res: ServerResponse): Exchange {
    return new Exchange(req, res, this);
  }

  /** The response head is being written with `status`. */
  head(x: Exchange, status: number): void {
    if (x.recorded) return;
    x.recorded = true;
    if (x.tunnel !== null) x.res.statusCode = status; // written raw: for the access log
    const s = this.seriesFor(x.service, x.served ?? BASE);
    s.duration.observe((performance.now() - x.started) / 1000);
    let counter = s.codes.get(status);
    if (counter === undefined) {
      counter = this.metrics.requests.child(
        this.direction,
        x.service,
        x.served ?? BASE,
        String(status),
      );
      s.codes.set(status, counter);
    }
    counter.inc();
  }

  /** Answer the request with the proxy's own error, recorded like any response. */
  fail(x: Exchange, err: ProxyError): void {
    x.error = err.code;
    if (!x.res.headersSent) this.head(x, err.status);
    sendError(x.res, err);
  }

  /** A bug in the request path: logged, answered 500 (or the response cut). */
  crashed(x: Exchange, err: unknown): void {
    this.log?.error({ err }, "request handler failed");
    this.fail(x, new ProxyError("LANEMESH_INTERNAL", "internal proxy error"));
  }

  /** A tagged request went to a base instance. */
  fallback(x: Exchange, service: string, wanted: string): void {
    if (x.fallback) return;
    x.fallback = true;
    this.metrics.fallback.child(service, wanted).inc();
  }

  private seriesFor(service: string, tag: string): Series {
    let byTag = this.series.get(service);
    if (byTag === undefined) {
      if (this.cached >= MAX_CACHED) {
        this.series.clear();
        this.cached = 0;
      }
      byTag = new Map();
      this.series.set(service, byTag);
    }
    let s = byTag.get(tag);
    if (s === undefined) {
      s = {
        duration: this.metrics.duration.child(this.direction, service, tag),
        codes: new Map(),
      };
      byTag.set(tag, s);
      this.cached++;
    }
    return s;
  }

  /** The response closed (finished, or the client left); called once per Exchange. */
  closed(x: Exchange): void {
    const status =
      x.res.headersSent || (x.tunnel !== null && x.recorded) ? x.res.statusCode : CLIENT_CLOSED;
    if (!x.recorded) this.head(x, status);
    if (this.access === null) return;
    this.access.info({
      direction: this.direction,
      method: x.req.method,
      path: x.req.url,
      status,
      service: x.service,
      wanted: x.wanted,
      served: x.served ?? BASE,
      upstream: x.upstream === NOWHERE ? null : upstreamKey(x.upstream),
      fallback: x.fallback,
      retried: x.retried,
      error: x.error,
      complete: x.res.writableFinished,
      ms: Math.round((performance.now() - x.started) * 100) / 100,
    });
  }
}
