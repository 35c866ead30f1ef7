// The HTTP/1.1 forwarder: one undici Pool per upstream instance, bodies streamed both ways; it never picks instances nor retries.
import { type Dispatcher, Pool } from "undici";
import { PROXY_ERROR_HEADER } from "./errors.js";
import type {
  ForwardCall,
  Forwarder,
  ForwardFailureKind,
  ForwardOutcome,
  ResponseSink,
  Upstream,
} from "./forward.js";
import { upstreamKey } from "./forward.js";
import { downstreamHeaders } from "./headers.js";

/*
 * Defaults (constants until flags exist):
 * - KEEP_ALIVE_MS = 4 s: idle upstream connections are closed after 4 s, below the 5 s keep-alive
 *   of Node's and most servers' defaults, so we never reuse a connection the server is closing.
 *   A server's `Keep-Alive: timeout=N` hint can only shorten it.
 * - CONNECTIONS = 128 per instance: at most 128 requests in flight to one instance (HTTP/1.1
 *   carries one at a time, no pipelining); more wait in the pool's queue.
 * - CONNECT_TIMEOUT_MS = 5 s: TCP connect to an instance (then `connect` failure, retryable).
 * - HEADERS_TIMEOUT_MS = 60 s: from the request sent to the response head (then 504).
 * - BODY_TIMEOUT_MS = 300 s: longest silence between two chunks of a response body (then the
 *   response is cut); long enough for streams with heartbeats.
 */
export const KEEP_ALIVE_MS = 4_000;
export const CONNECTIONS = 128;
export const CONNECT_TIMEOUT_MS = 5_000;
export const HEADERS_TIMEOUT_MS = 60_000;
export const BODY_TIMEOUT_MS = 300_000;

const APP_UNAVAILABLE = "LANEMESH_APP_UNAVAILABLE";

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

function failureKind(err: Error & { code?: string }): ForwardFailureKind {
  const code = err.code ?? "";
  if (CONNECT_CODES.has(code)) return "connect";
  if (RESET_CODES.has(code)) return "reset";
  if (code === "UND_ERR_HEADERS_TIMEOUT") return "timeout";
  if (code === "UND_ERR_ABORTED") return "aborted";
  if (code === "UND_ERR_INVALID_ARG" || code === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH") {
    return "bad-request";
  }
  return "protocol";
}

/** One attempt: undici's handler, writing the answer to the client as it arrives. */
class Attempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private connected = false;
  private discard = false;
  private clientGone = false;
  private awaitingDrain = false;
  private readonly res: ResponseSink;
  private readonly resume = () => {
    this.awaitingDrain = false;
    this.controller?.resume();
  };
  private readonly onClientClose = () => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new Error("client closed the connection"));
  };

  constructor(
    private readonly call: ForwardCall,
    private readonly timeouts: { connect: number; headers: number },
    private readonly done: (o: ForwardOutcome) => void,
  ) {
    this.res = call.res;
    this.res.once("close", this.onClientClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.connected = true;
    if (this.clientGone) controller.abort(new Error("client closed the connection"));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status < 200) return;
    if (
      status === 503 &&
      this.call.interceptAppUnavailable &&
      headers[PROXY_ERROR_HEADER] === APP_UNAVAILABLE
    ) {
      this.discard = true;
      return;
    }
    try {
      this.res.writeHead(status, downstreamHeaders(headers));
    } catch (err) {
      // A header Node refuses to send (e.g. an invalid character): report it as a bad answer.
      controller.abort(err as Error);
      return;
    }
    this.call.onHead(status);
    this.settle({ ok: true, status });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard) return;
    if (!this.res.write(chunk) && !this.awaitingDrain) {
      this.awaitingDrain = true;
      controller.pause();
      this.res.once("drain", this.resume);
    }
  }

  onResponseEnd(): void {
    this.res.off("close", this.onClientClose);
    if (this.discard) {
      this.settle({
        ok: false,
        kind: "app-unavailable",
        detail: `the app behind ${upstreamKey(this.call.upstream)} is unavailable`,
        retryable: this.call.body === null,
      });
      return;
    }
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(err);
  }

  /** The attempt failed (undici reported an error, or dispatch threw). */
  fail(err: Error): void {
    this.res.off("close", this.onClientClose);
    this.res.off("drain", this.resume);
    if (this.settled) {
      // The head went out: cut the response so the client cannot take it for complete.
      this.res.destroy(err);
      return;
    }
    const kind = this.clientGone ? "aborted" : failureKind(err);
    const retryable =
      (kind === "connect" || kind === "reset") && (this.call.body === null || !this.connected);
    this.settle({
      ok: false,
      kind,
      detail: describe(err, this.call.upstream, this.timeouts),
      retryable,
    });
  }

  private settle(o: ForwardOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.done(o);
  }
}

function describe(
  err: Error & { code?: string },
  u: Upstream,
  timeouts: { connect: number; headers: number },
): string {
  const where = upstreamKey(u);
  switch (err.code) {
    case "ECONNREFUSED":
      return `connection refused by ${where}`;
    case "UND_ERR_CONNECT_TIMEOUT":
      return `connect timeout to ${where} after ${timeouts.connect} ms`;
    case "UND_ERR_HEADERS_TIMEOUT":
      return `no response headers from ${where} within ${timeouts.headers} ms`;
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return `connection to ${where} closed before a response`;
    default:
      return `${where}: ${err.message}`;
  }
}

/** Overrides of the defaults above (tests; flags later). */
export interface H1ForwarderOptions {
  connections?: number;
  keepAliveMs?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

export class H1Forwarder implements Forwarder {
  private readonly pools = new Map<string, Pool>();
  private readonly poolOptions: Pool.Options;
  private readonly timeouts: { connect: number; headers: number };

  constructor(opts: H1ForwarderOptions = {}) {
    const keepAlive = opts.keepAliveMs ?? KEEP_ALIVE_MS;
    this.timeouts = {
      connect: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      headers: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
    };
    this.poolOptions = {
      connections: opts.connections ?? CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: keepAlive,
      headersTimeout: this.timeouts.headers,
      bodyTimeout: opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS,
      connect: { timeout: this.timeouts.connect },
    };
  }

  private pool(u: Upstream): Pool {
    const key = upstreamKey(u);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(`http://${key}`, this.poolOptions);
      this.pools.set(key, pool);
    }
    return pool;
  }

  forward(call: ForwardCall): Promise<ForwardOutcome> {
    return new Promise((resolve) => {
      const attempt = new Attempt(call, this.timeouts, resolve);
      try {
        this.pool(call.upstream).dispatch(
          {
            path: call.path,
            method: call.method as Dispatcher.HttpMethod,
            headers: call.headers,
            body: call.body,
          },
          attempt,
        );
      } catch (err) {
        attempt.fail(err as Error);
      }
    });
  }

  retain(keep: Iterable<Upstream>): void {
    const keys = new Set<string>();
    for (const u of keep) keys.add(upstreamKey(u));
    for (const [key, pool] of this.pools) {
      if (keys.has(key)) continue;
      this.pools.delete(key);
      void pool.close().catch(() => {});
    }
  }

  /** Upstreams with open pools (for tests and /config). */
  upstreams(): string[] {
    return [...this.pools.keys()];
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}
