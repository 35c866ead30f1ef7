// One request's state on its way through a proxy, each part written by the one stage named beside it; it decides nothing and records nothing.
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { Picker } from "../balancer/picker.js";
import type { Endpoint } from "../config/types.js";
import type { Compiled } from "../live/compiled.js";
import type { ErrorSink } from "./errors.js";
import type {
  Forwarder,
  ForwardJob,
  ForwardOutcome,
  H2Sink,
  ResponseSink,
  Tunnel,
  Upstream,
} from "./forward/contract.js";
import type { RequestFacts } from "./listen/edge.js";

/*
 * One Exchange is the whole per-request state: the stages fill it, the forwarder takes it as its
 * job (no call object, no closure, no promise per request) and hands the outcome to `flow`.
 * Who writes what:
 *
 * | part                              | written by                                       |
 * |-----------------------------------|--------------------------------------------------|
 * | req, res, method, started         | the listener, at construction                    |
 * | tunnel                            | the listener, for an Upgrade request             |
 * | host, connection, hasBody         | the edge checks (listen/edge.ts: RequestFacts)   |
 * | service, wanted, client           | the side's pipeline (entry, inbound, outbound)   |
 * | path, headers, body, flow, ...    | `prepare` (the pipeline or the hop: one place)   |
 * | served, upstream                  | `sendTo` (the hop's attempts, the inbound side)  |
 * | hop                               | the hop (hop.ts), once its first pick succeeded  |
 * | recorded, error, fallback         | the Recorder (record.ts)                         |
 */

/**
 * What the stages read of a request: a Node IncomingMessage, or an HTTP/2 stream's request
 * (listen/h2-exchange.ts: pseudo-headers kept out of `rawHeaders`, `:authority` as `host`).
 */
export interface RequestLike {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  /** The whole body was received. */
  readonly complete: boolean;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** What the stages and the Recorder write to: a Node ServerResponse, or an HTTP/2 stream's. */
export interface ResponseLike extends ResponseSink, ErrorSink {
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: string[]): unknown;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
  destroy(err?: Error): unknown;
}

export const UNKNOWN_SERVICE = "unknown";
const NO_HEADERS: string[] = [];
const NOWHERE: Upstream = { address: "", port: 0 };

/** Who receives the outcome of an Exchange's forward attempt (a hop's retry rule). */
export interface Flow {
  settled(x: Exchange, outcome: ForwardOutcome): void;
}

/** What an Exchange reports to its bookkeeping (record.ts's Recorder). */
export interface ExchangeLog {
  head(x: Exchange, status: number): void;
  crashed(x: Exchange, err: unknown): void;
  /** The response closed (finished, or the client left); called once. */
  closed(x: Exchange): void;
  /** The exchange was ended because the client stalled (`kind`: what it stopped doing). */
  clientTimeout(x: Exchange, kind: ClientTimeoutKind): void;
}

/** What a stalled client stopped doing: sending its body, reading the answer, using its tunnel. */
export type ClientTimeoutKind = "body" | "send" | "tunnel-idle";

/** A hop's picks for one request: the picker and first instance (for one retry elsewhere). */
export class HopAttempts {
  /** The instance tried last. */
  current: Endpoint;
  retried = false;

  constructor(
    readonly picker: Picker,
    readonly first: Endpoint,
    /** The config the picks came from (its known tags label the fallback metric). */
    readonly config: Compiled,
  ) {
    this.current = first;
  }
}

/** What one request became; filled by the stages as they run. */
export class Exchange implements ForwardJob, RequestFacts {
  readonly started = performance.now();
  readonly method: string;

  // The pipeline: where the request goes and in which lane.
  service = UNKNOWN_SERVICE;
  /** Tag asked for (header, baggage, trace cache or gateway rules); null = base. */
  wanted: string | null = null;
  /**
   * The downstream peer's address, for its share of an instance's connections (gateway and
   * inbound); null on the outbound side, whose only client is the app beside it.
   */
  client: string | null = null;

  // sendTo: the instance tried last.
  /** Tag of the instance that served (or was last tried); null = base. */
  served: string | null = null;
  /** The instance tried last (NOWHERE until one is chosen). */
  upstream: Upstream = NOWHERE;

  // The hop (outbound and gateway).
  hop: HopAttempts | null = null;

  // The Recorder.
  fallback = false;
  error: string | null = null;
  recorded = false;

  // RequestFacts, from the edge pass over the raw headers (listen/edge.ts).
  host: string | undefined = undefined;
  connection: string | undefined = undefined;
  hasBody = false;

  // prepare: the forward job.
  path = "/";
  headers: string[] = NO_HEADERS;
  body: Readable | null = null;
  interceptAppUnavailable = false;
  flow: Flow | null = null;

  /** An Upgrade request: its connection, for the tunnel (listener.ts, forward/h1/tunnel.ts). */
  tunnel: Tunnel | null = null;
  /** An HTTP/2 request: its stream's response (the same object as `res`; listen/h2.ts). */
  h2: H2Sink | null = null;
  /** A gRPC call (content-type application/grpc*): the proxy's own errors are gRPC statuses. */
  grpc = false;
  /** HTTP/2: body bytes an attempt took and kept for the next one (forward/contract.ts). */
  replay: Buffer[] | null = null;

  constructor(
    readonly req: RequestLike,
    readonly res: ResponseLike,
    readonly recorder: ExchangeLog,
    /** Where the body is read from: the IncomingMessage itself, or the HTTP/2 stream. */
    private readonly source: Readable,
  ) {
    this.method = req.method ?? "GET";
  }

  /**
   * The forward job, set once: what to send and who takes the outcome. `interceptAppUnavailable`:
   * a peer sidecar's 503 LANEMESH_APP_UNAVAILABLE fails the attempt instead of being passed on.
   */
  prepare(path: string, headers: string[], flow: Flow, interceptAppUnavailable: boolean): void {
    this.path = path;
    this.headers = headers;
    this.body = this.hasBody ? this.source : null;
    this.interceptAppUnavailable = interceptAppUnavailable;
    this.flow = flow;
  }

  /** One attempt: send the prepared job to `upstream`, an instance tagged `tag` (null = base). */
  sendTo(forwarder: Forwarder, upstream: Upstream, tag: string | null): void {
    this.served = tag;
    this.upstream = upstream;
    forwarder.dispatch(this);
  }

  onHead(status: number): void {
    this.recorder.head(this, status);
  }

  onClientTimeout(): void {
    this.recorder.clientTimeout(this, "body");
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

/** The upstream of an Exchange for logs: null until an instance was chosen. */
export function upstreamOf(x: Exchange): Upstream | null {
  return x.upstream === NOWHERE ? null : x.upstream;
}
