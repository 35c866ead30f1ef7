// Per-request bookkeeping: the request metrics and the optional access log line of each Exchange; it records outcomes, it never decides them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Compiled } from "../live/compiled.js";
import type { LoadCell } from "../telemetry/load.js";
import type { Logger } from "../telemetry/logger.js";
import type {
  CounterChild,
  Direction,
  HistogramChild,
  ProxyMetrics,
} from "../telemetry/metrics.js";
import { ProxyError, sendError } from "./errors.js";
import { type ClientTimeoutKind, Exchange, type ExchangeLog, upstreamOf } from "./exchange.js";
import { upstreamKey } from "./forward/contract.js";

/*
 * `lanemesh_requests_total{direction,service,tag,code}` and
 * `lanemesh_request_duration_seconds{direction,service,tag}` are recorded once per request, when
 * its response head is written (the duration is time to response head). A request whose client
 * left before any response counts with code `499` (nginx's "client closed request") when the
 * connection closes. `service` is the target service, `unknown` when none was resolved (no route,
 * unknown host, refused request: never a client-chosen string, so clients cannot grow the label
 * set); `tag` is the tag of the instance that served (or was tried), `base` when untagged or none:
 * a tag from the config (instances' tags), never one a client sent.
 * `lanemesh_fallback_total{service,tag}`: `tag` is the tag the request wanted, which a client can
 * choose (tag header, baggage; the gateway with --trust-tag-header): it is a label only when the
 * config in force knows it (a lane's tag or an instance's tag), else `unknown`, so clients cannot
 * grow the series (50,000 invented tags make one `unknown` series, test/proxy/metric-labels).
 */

const UNKNOWN_TAG = "unknown";

const BASE = "base";
const CLIENT_CLOSED = 499;
/** Bound on cached label children per direction (they stay in the registry either way). */
const MAX_CACHED = 4096;

interface Series {
  readonly duration: HistogramChild;
  /** The same request counted for the control plane's load reports (telemetry/load.ts). */
  readonly load: LoadCell;
  /** Request counters by status code. */
  readonly codes: Map<number, CounterChild>;
}

export class Recorder implements ExchangeLog {
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
    return new Exchange(req, res, this, req);
  }

  /** The response head is being written with `status`. */
  head(x: Exchange, status: number): void {
    if (x.recorded) return;
    x.recorded = true;
    if (x.tunnel !== null) x.res.statusCode = status; // written raw: for the access log
    const s = this.seriesFor(x.service, x.served ?? BASE);
    const ms = performance.now() - x.started;
    s.duration.observe(ms / 1000);
    s.load.record(ms, status >= 500 || x.error !== null);
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
    if (err.code === "LANEMESH_OVERLOADED") {
      this.metrics.overloaded.inc({ direction: this.direction, service: x.service });
    }
    if (!x.res.headersSent) {
      this.head(x, err.status);
      // A body not read to its end would be read (and thrown away) at the client's pace.
      if (x.hasBody && !x.req.complete) x.res.setHeader("connection", "close");
    }
    sendError(x.res, err);
  }

  /** A bug in the request path: logged, answered 500 (or the response cut). */
  crashed(x: Exchange, err: unknown): void {
    this.log?.error({ err }, "request handler failed");
    this.fail(x, new ProxyError("LANEMESH_INTERNAL", "internal proxy error"));
  }

  /** The exchange was ended because the client stalled. */
  clientTimeout(_x: Exchange, kind: ClientTimeoutKind): void {
    this.metrics.clientTimeouts.inc({ direction: this.direction, kind });
  }

  /** An HTTP/2 client connection was closed by an abuse bound (listen/h2.ts). */
  h2Refused(reason: "rapid-reset" | "protocol" | "idle"): void {
    this.metrics.h2Refused.inc({ direction: this.direction, reason });
  }

  /** A tagged request went to a base instance; `wanted` is a label only when `config` knows it. */
  fallback(x: Exchange, service: string, wanted: string, config: Compiled): void {
    if (x.fallback) return;
    x.fallback = true;
    const tag = config.knownTags.has(wanted) ? wanted : UNKNOWN_TAG;
    this.metrics.fallback.child(service, tag).inc();
    this.metrics.load.cell(this.direction, service, tag).fallbacks++;
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
        load: this.metrics.load.cell(this.direction, service, tag),
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
      upstream: upstreamOrNull(x),
      fallback: x.fallback,
      retried: x.hop?.retried ?? false,
      error: x.error,
      complete: x.res.writableFinished,
      ms: Math.round((performance.now() - x.started) * 100) / 100,
    });
  }
}

function upstreamOrNull(x: Exchange): string | null {
  const u = upstreamOf(x);
  return u === null ? null : upstreamKey(u);
}
