// Per-request bookkeeping for telemetry: the §7 request metrics and the optional access log line; it records outcomes, it never decides them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../telemetry/logger.js";
import type { Direction, ProxyMetrics } from "../telemetry/metrics.js";
import { type ProxyError, sendError } from "./errors.js";

/*
 * `lanemesh_requests_total{direction,service,tag,code}` and
 * `lanemesh_request_duration_seconds{direction,service,tag}` are recorded once per request, when
 * its response head is written (the duration is time to response head). A request whose client
 * left before any response counts with code `499` (nginx's "client closed request") when the
 * connection closes. `service` is the target service, `unknown` when none was resolved (no route,
 * unknown host, refused request: never a client-chosen string, so clients cannot grow the label
 * set); `tag` is the tag of the instance that served (or was tried), `base` when untagged or none.
 */

export const UNKNOWN_SERVICE = "unknown";
const BASE = "base";
const CLIENT_CLOSED = 499;
/** Bound on cached label children per direction (they stay in the registry either way). */
const MAX_CACHED = 4096;

/** What one request became; filled by the stages as they run. */
export class Exchange {
  readonly started = performance.now();
  service = UNKNOWN_SERVICE;
  /** Tag asked for (header, baggage, trace cache or gateway rules); null = base. */
  wanted: string | null = null;
  /** Tag of the instance that served (or was last tried); null = base. */
  served: string | null = null;
  upstream: string | null = null;
  fallback = false;
  retried = false;
  error: string | null = null;
  recorded = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {}
}

interface Children {
  duration: { observe(v: number): void };
  codes: Map<number, { inc(): void }>;
}

export class Recorder {
  private readonly children = new Map<string, Children>();

  constructor(
    private readonly metrics: ProxyMetrics,
    readonly direction: Direction,
    private readonly access: Logger | null,
  ) {}

  /** Start bookkeeping for a request; the access line (if on) is written when it closes. */
  track(req: IncomingMessage, res: ServerResponse): Exchange {
    const x = new Exchange(req, res);
    res.once("close", () => this.closed(x));
    return x;
  }

  /** The response head is being written with `status`. */
  head(x: Exchange, status: number): void {
    if (x.recorded) return;
    x.recorded = true;
    const c = this.childrenFor(x.service, x.served ?? BASE);
    c.duration.observe((performance.now() - x.started) / 1000);
    let counter = c.codes.get(status);
    if (counter === undefined) {
      counter = this.metrics.requests.labels({
        direction: this.direction,
        service: x.service,
        tag: x.served ?? BASE,
        code: String(status),
      });
      c.codes.set(status, counter);
    }
    counter.inc();
  }

  /** Answer the request with the proxy's own error, recorded like any response. */
  fail(x: Exchange, err: ProxyError): void {
    x.error = err.code;
    if (!x.res.headersSent) this.head(x, err.status);
    sendError(x.res, err);
  }

  /** A tagged request went to a base instance. */
  fallback(x: Exchange, service: string, wanted: string): void {
    if (x.fallback) return;
    x.fallback = true;
    this.metrics.fallback.labels({ service, tag: wanted }).inc();
  }

  private childrenFor(service: string, tag: string): Children {
    const key = `${service}\u0000${tag}`;
    let c = this.children.get(key);
    if (c === undefined) {
      if (this.children.size >= MAX_CACHED) this.children.clear();
      c = {
        duration: this.metrics.duration.labels({ direction: this.direction, service, tag }),
        codes: new Map(),
      };
      this.children.set(key, c);
    }
    return c;
  }

  private closed(x: Exchange): void {
    const status = x.res.headersSent ? x.res.statusCode : CLIENT_CLOSED;
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
      upstream: x.upstream,
      fallback: x.fallback,
      retried: x.retried,
      error: x.error,
      complete: x.res.writableFinished,
      ms: Math.round((performance.now() - x.started) * 100) / 100,
    });
  }
}
