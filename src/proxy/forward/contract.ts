// The forward stage's contract: send one request to one chosen instance and stream the answer back; it never picks instances nor decides lanes.
import type { Socket } from "node:net";
import type { Readable } from "node:stream";

/*
 * A Forwarder owns the connections to upstream instances. This interface is what the listeners
 * use; `h1/forwarder.ts` implements it over its own HTTP/1.1 connection pools (Node's llhttp
 * parser, see h1/parser.ts), `h2/forwarder.ts` over pools of HTTP/2 sessions (prior-knowledge
 * h2c). `select.ts` picks one per request: a request that came over HTTP/2 (its `h2` sink is set)
 * goes to the instance over HTTP/2, any other over HTTP/1.1; the request path above does not
 * change.
 */

/** Where to send: an instance's address as discovery gave it (for a sidecar, its inbound port). */
export interface Upstream {
  readonly address: string;
  readonly port: number;
}

/** What the forwarder needs of the downstream response: a Node ServerResponse fits. */
export interface ResponseSink {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: string[]): unknown;
  /** HTTP/1.1: trailers sent with the end of a chunked response (Node's ServerResponse has it). */
  addTrailers?(trailers: [string, string][]): unknown;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(err?: Error): unknown;
  on(event: "drain" | "close", listener: () => void): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * What an HTTP/2 client's stream adds to a ResponseSink: END_STREAM on the head (a trailers-only
 * answer, as gRPC errors are), trailers, and a reset passed on with its code.
 */
export interface H2Sink extends ResponseSink {
  writeHead(status: number, headers: string[], endStream?: boolean): unknown;
  /** Flat [name, value, ...] trailers, sent when the response ends. */
  setTrailers(trailers: string[]): void;
  /** Reset the client's stream with an HTTP/2 error code (RST_STREAM). */
  reset(code: number): void;
}

/** An Upgrade request (WebSocket): the client's connection, taken over once the answer comes. */
export interface Tunnel {
  readonly socket: Socket;
  /** Bytes the client sent after its request head. */
  readonly head: Buffer;
  /** The client's Upgrade header value (e.g. `websocket`). */
  readonly protocol: string;
}

export interface ForwardCall {
  readonly upstream: Upstream;
  readonly method: string;
  /** Origin-form target: `/path?query`. */
  readonly path: string;
  /** Flat [name, value, ...] request headers, hop-by-hop fields already removed. */
  readonly headers: string[];
  /** The request body stream, or null when the request has none. */
  readonly body: Readable | null;
  /**
   * When true, a `503` carrying `x-lanemesh-error: LANEMESH_APP_UNAVAILABLE` (a peer sidecar
   * saying its app is down) or `LANEMESH_OVERLOADED` (its app's connections are all busy and its
   * queue is full or timed out) is not passed on: its body is discarded and the call fails with
   * `app-unavailable` or `overloaded`, retryable, so the caller can try another instance.
   */
  readonly interceptAppUnavailable: boolean;
  /**
   * Who the request comes from (the downstream peer's address), for the per-client share of an
   * instance's connections (h1/waiting.ts); null or absent: not counted per client.
   */
  readonly client?: string | null;
  readonly res: ResponseSink;
  /** Set for an Upgrade request: the forwarder opens a tunnel (h1/tunnel.ts) instead. */
  readonly tunnel?: Tunnel | null;
  /**
   * Set for a request that came over HTTP/2 (the same object as `res`): it goes to the instance
   * over HTTP/2 (select.ts), and trailers and resets pass through it.
   */
  readonly h2?: H2Sink | null;
  /** Called once, right after the response head was written to `res`. */
  onHead(status: number): void;
  /** Called when the attempt ends because the client's request body stalled (for metrics). */
  onClientTimeout?(): void;
}

export type ForwardFailureKind =
  /** Refused, timed out or unreachable: nothing reached the instance. */
  | "connect"
  /** Connection closed or reset before a response. */
  | "reset"
  /** No response headers within the headers timeout. */
  | "timeout"
  /** The instance answered with something that is not valid HTTP. */
  | "protocol"
  /** A peer sidecar answered 503 LANEMESH_APP_UNAVAILABLE (see interceptAppUnavailable). */
  | "app-unavailable"
  /**
   * Every connection to the instance is busy and the wait for one is over: the queue was full
   * or the pending timeout passed (or a peer sidecar said so, see interceptAppUnavailable).
   * Nothing reached the instance.
   */
  | "overloaded"
  /** The client's request body made no progress for the client body timeout (answered 408). */
  | "client-timeout"
  /** The request could not be sent as given (bad target, body shorter than Content-Length). */
  | "bad-request"
  /** The client went away; nothing is to be answered. */
  | "aborted";

/**
 * The outcome, known as soon as the response head was written (`ok`) or the attempt failed
 * before writing anything. Failures after the head are handled inside (the response is cut).
 */
export type ForwardOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      kind: ForwardFailureKind;
      /** Short cause, e.g. `connect ECONNREFUSED 127.0.0.1:9`. */
      detail: string;
      /**
       * No response was received and no byte of the request body was handed to the connection
       * (a request without a body counts as unsent body), so another attempt is safe for an
       * idempotent method.
       */
      retryable: boolean;
    };

/** A call that receives its outcome by callback (the request path's form: no promise per request). */
export interface ForwardJob extends ForwardCall {
  /** Called exactly once, with what `forward` would resolve to. */
  settle(outcome: ForwardOutcome): void;
  /**
   * HTTP/2: the request body bytes an attempt already took from `body` and kept (all of them,
   * at most the h2 forwarder's replay limit), written first by the next attempt; null when none
   * were taken. Only the forwarder writes it; a retryable h2 outcome means it is complete.
   */
  replay?: Buffer[] | null;
}

export interface Forwarder {
  /** The promise form of `dispatch`. */
  forward(call: ForwardCall): Promise<ForwardOutcome>;
  /** Start one attempt; `job.settle` is called once (possibly synchronously, e.g. pool closed). */
  dispatch(job: ForwardJob): void;
  /** Close the connections to every upstream not in `keep` (instances that left the config). */
  retain(keep: Iterable<Upstream>): void;
  /** Close all connections, waiting for requests in flight. */
  close(): Promise<void>;
  /** Close all connections now, failing requests in flight. */
  destroy(): Promise<void>;
}

/** `address:port`, with brackets for IPv6 literals: the key of an upstream's connections. */
export function upstreamKey(u: Upstream): string {
  return u.address.includes(":") ? `[${u.address}]:${u.port}` : `${u.address}:${u.port}`;
}
