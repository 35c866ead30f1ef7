// The listener stage: an HTTP/1.1 server on raw sockets (listen/h1-server.ts; HTTP/2 on the same port through listen/h2.ts) with the edge limits every proxy port applies, in-flight tracking and drain; it never routes.
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Server } from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import { ProxyError, sendError } from "../errors.js";
import { Exchange } from "../exchange.js";
import { headerValue } from "../headers.js";
import type { Recorder } from "../record.js";
import { checkRequest, namesH2c, upgradeProtocol } from "./edge.js";
import { NO_BODY, type RawRequest, type RawResponse } from "./h1-message.js";
import { H1Server } from "./h1-server.js";
import { H2Front } from "./h2.js";
import { type Stall, sweep, sweepInterval, type Watchable, type WatchLimits } from "./watch.js";

/*
 * Limits of every proxy listener (gateway, sidecar inbound and outbound, admin):
 *
 * | what                      | value   | when exceeded                                          |
 * |---------------------------|---------|--------------------------------------------------------|
 * | header section size       | 16 KiB  | 431 LANEMESH_HEADERS_TOO_LARGE (request line included) |
 * | header field count        | 100     | 431 LANEMESH_HEADERS_TOO_LARGE                         |
 * | time to receive headers   | 15 s    | 408 LANEMESH_REQUEST_TIMEOUT, connection closed         |
 * | time to receive a request | 300 s   | 408 LANEMESH_REQUEST_TIMEOUT (headers and whole body)   |
 * | idle client keep-alive    | 60 s    | connection closed                                      |
 * | response not read         | 60 s    | connection reset (--send-timeout; watch.ts)            |
 * | open tunnels              | --max-tunnels | 503 LANEMESH_OVERLOADED for the next Upgrade     |
 * | tunnel without traffic    | 1 h     | both connections closed (--tunnel-idle-timeout)        |
 * The HTTP/1.1 server (h1-server.ts) checks the two request timers and the keep-alive bound every
 * second, so they fire up to 1 s late; the listener's own sweep (watch.ts) runs every 1/8 of its
 * shortest timeout, at most every second.
 *
 * Upstream side (forward/h1/forwarder.ts), per instance: up to 128 connections (a share per client:
 * limits.ts), at most 1,024 requests waiting for one, for 5 s at most (→ 503 LANEMESH_OVERLOADED),
 * a request body without progress for 60 s (→ 408), idle connections closed after
 * 4 s (below the usual 5 s server keep-alive); connect timeout 5 s (→ 503
 * LANEMESH_UPSTREAM_CONNECT, retried elsewhere when idempotent); response headers within 60 s
 * (→ 504 LANEMESH_UPSTREAM_TIMEOUT); at most 300 s of silence inside a response body (→ the
 * response is cut). Response headers from an upstream: 16 KiB (Node's default), parsed by the
 * same strict llhttp (→ 502 LANEMESH_UPSTREAM_PROTOCOL beyond it or when malformed).
 *
 * Parsing is strict: Node's llhttp in strict mode (the insecure parser is refused: starting with
 * `--insecure-http-parser` in the command line or NODE_OPTIONS throws InsecureParserError, and
 * every parser is made with its lenient flags off). Malformed requests get 400 LANEMESH_BAD_REQUEST
 * and the connection is closed. On top of llhttp (see edge.ts): Transfer-Encoding other than
 * exactly `chunked` (`,chunked`, `gzip, chunked`, ...) → 400; Content-Length with
 * Transfer-Encoding → 400; two Host headers → 400. Tag header given twice, comma-joined, spelled
 * with `_` or not a lane tag → 400 LANEMESH_BAD_TAG_HEADER (lane/propagation/tag.ts, at every
 * listener, the gateway included even when it strips the tag). A refused request is never
 * forwarded. CONNECT is not supported: such connections are closed. Upgrade requests (WebSocket)
 * pass the same checks and stages as any request and become tunnels (forward/h1/tunnel.ts); while draining
 * they are refused with 503. `Upgrade: h2c` is not a tunnel (see H2C_UPGRADE).
 */
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_HEADERS = 100;
export const HEADERS_TIMEOUT_MS = 15_000;
export const REQUEST_TIMEOUT_MS = 300_000;
/*
 * Long, as Envoy's (1 h) and nginx's (75 s): a client that reuses a keep-alive connection just as
 * the server closes it gets ECONNRESET on a request that never reached us, and apps' pools often
 * do not close idle connections first (Node's own Agent without a `timeout` ignores the server's
 * Keep-Alive hint). With 5 s, an app behind the sidecar saw such resets under bursty load.
 */
export const CLIENT_KEEP_ALIVE_MS = 60_000;
export const TIMEOUT_CHECK_INTERVAL_MS = 5_000;
/** nginx's send_timeout default. */
export const SEND_TIMEOUT_MS = 60_000;
/** An hour without a byte either way: WebSocket apps that ping (most do: 20-60 s) never meet it. */
export const TUNNEL_IDLE_MS = 3_600_000;
/** Open tunnels per listener when not told (the CLI derives its default from the fd limit). */
export const MAX_TUNNELS = 1_000;

/**
 * HTTP/2 over cleartext by Upgrade (RFC 7540 §3.2) stays off: HTTP/2 is taken with prior knowledge
 * (listen/h2.ts). An `Upgrade: h2c` request is served as the HTTP/1.1 request it also is, its
 * Upgrade and HTTP2-Settings dropped; tunnelled, it would carry requests no stage sees (h2c
 * smuggling).
 */
export const H2C_UPGRADE = false;

export class InsecureParserError extends Error {
  readonly code = "LANEMESH_INSECURE_PARSER";
  constructor(where: string) {
    super(
      `refusing to start: --insecure-http-parser is set (${where}); it lets through requests ` +
        "that upstreams may read differently (request smuggling)",
    );
    this.name = "InsecureParserError";
  }
}

/** Throws when this process runs with Node's lenient HTTP parser. */
export function refuseInsecureParser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): void {
  if (execArgv.some((a) => a === "--insecure-http-parser")) {
    throw new InsecureParserError("node command line");
  }
  if (nodeOptions?.split(/\s+/).includes("--insecure-http-parser")) {
    throw new InsecureParserError("NODE_OPTIONS");
  }
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A proxy listener's stage after the edge checks; synchronous, it answers through the Exchange. */
export type ExchangeHandler = (x: Exchange) => void;

/** The listener's limits on slow clients and tunnels (defaults above). */
export interface ListenerLimits extends WatchLimits {
  readonly maxTunnels: number;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  sendTimeoutMs: SEND_TIMEOUT_MS,
  tunnelIdleMs: TUNNEL_IDLE_MS,
  maxTunnels: MAX_TUNNELS,
};

export interface ListenerOptions {
  /** Short name used in logs and `ports` (`inbound`, `outbound`, `gateway`, `admin`). */
  name: string;
  host: string;
  port: number;
  log: Logger;
  /**
   * A proxy listener: framing tricks and header floods are refused before `handle` runs, and
   * every request (refusals included) is counted by `recorder`.
   */
  proxy?: { recorder: Recorder; handle: ExchangeHandler };
  /** A plain listener (admin, on node:http): no edge checks, no bookkeeping. */
  serve?: RequestHandler;
  /** Slow clients and tunnels (default DEFAULT_LISTENER_LIMITS). */
  limits?: ListenerLimits;
}

type Proxy = NonNullable<ListenerOptions["proxy"]>;

async function bind(server: Server, opts: ListenerOptions): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // After binding, a server error (e.g. EMFILE on accept) must not crash the process.
  server.on("error", (err) => opts.log.error({ err }, "listener error"));
  return (server.address() as AddressInfo).port;
}

/** One listening server and the requests in flight on it. */
export class Listener {
  private readonly inFlight = new Set<RawResponse>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** Upgrade requests whose connection is open (handshakes and tunnels). */
  private tunnels = 0;
  private readonly watch: NodeJS.Timeout;
  /** The HTTP/2 server behind the same port (proxy listeners only; listen/h2.ts). */
  h2: H2Front | null = null;
  /** The raw HTTP/1.1 server of a proxy listener (null for a plain one). */
  private h1: H1Server | null = null;
  /** node:http's server of a plain listener (admin). */
  private http: HttpServer | null = null;
  private proxy: Proxy | null = null;

  private constructor(
    readonly name: string,
    /** The listening socket server (fronts such as interception take its connections). */
    readonly server: Server,
    private readonly limits: ListenerLimits,
    private readonly log: Logger,
  ) {
    this.watch = setInterval(() => this.sweep(), sweepInterval(limits));
    this.watch.unref();
  }

  /** The bound port. */
  port = 0;

  static async open(opts: ListenerOptions): Promise<Listener> {
    refuseInsecureParser();
    const limits = opts.limits ?? DEFAULT_LISTENER_LIMITS;
    const proxy = opts.proxy;
    if (proxy === undefined) return Listener.openPlain(opts, limits);
    let listener: Listener | null = null;
    const h1 = new H1Server(
      {
        maxHeaderBytes: MAX_HEADER_BYTES,
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        keepAliveMs: CLIENT_KEEP_ALIVE_MS,
      },
      {
        request: (req, res) => listener?.accept(req, res),
        upgrade: (req, res, head) => listener?.acceptUpgrade(req, res, head),
        refused: (err, code) =>
          opts.log.debug({ err: err.message, code }, "refused malformed request"),
      },
    );
    listener = new Listener(opts.name, h1.server, limits, opts.log);
    listener.h1 = h1;
    listener.proxy = proxy;
    const l = listener;
    l.h2 = new H2Front(h1.server, {
      recorder: proxy.recorder,
      log: opts.log,
      handle: (x, hasBody) => l.handle(x, proxy, hasBody),
      maxHeaders: MAX_HEADERS,
      silentMs: CLIENT_KEEP_ALIVE_MS,
    });
    try {
      l.port = await bind(h1.server, opts);
    } catch (err) {
      h1.stop();
      clearInterval(l.watch);
      throw err;
    }
    return l;
  }

  /** The admin port: node:http with the same header bounds, no edge checks or bookkeeping. */
  private static async openPlain(opts: ListenerOptions, limits: ListenerLimits): Promise<Listener> {
    const server = createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      insecureHTTPParser: false,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    });
    server.maxHeadersCount = MAX_HEADERS + 1;
    const listener = new Listener(opts.name, server, limits, opts.log);
    listener.http = server;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (listener.draining) res.setHeader("connection", "close");
      listener.serve(req, res, opts);
    });
    try {
      listener.port = await bind(server, opts);
    } catch (err) {
      clearInterval(listener.watch);
      throw err;
    }
    return listener;
  }

  private track(req: RawRequest, res: RawResponse, proxy: Proxy): Exchange {
    this.inFlight.add(res);
    res.closed = this.responseClosed;
    const x = new Exchange(req, res, proxy.recorder, req.body ?? NO_BODY);
    res.exchange = x;
    return x;
  }

  /** A response closed (finished or cut): out of flight, and its Exchange's bookkeeping done. */
  private readonly responseClosed = (res: RawResponse): void => {
    this.finished(res);
    const x = res.exchange;
    if (x !== null) x.recorder.closed(x);
  };

  private accept(req: RawRequest, res: RawResponse): void {
    const proxy = this.proxy as Proxy;
    if (this.draining) res.setHeader("connection", "close");
    this.handle(this.track(req, res, proxy), proxy);
  }

  /**
   * The edge checks, then the listener's stages; a refusal is answered and closes the connection.
   * `h2Body`: an HTTP/2 request's framing says whether a body follows (no Content-Length needed).
   */
  private handle(x: Exchange, proxy: Proxy, h2Body?: boolean): void {
    const refused = checkRequest(x.req.rawHeaders, MAX_HEADERS, x);
    if (h2Body !== undefined) x.hasBody = h2Body;
    if (refused !== null) {
      x.res.setHeader("connection", "close");
      proxy.recorder.fail(x, refused);
      return;
    }
    try {
      proxy.handle(x);
    } catch (err) {
      proxy.recorder.crashed(x, err);
    }
  }

  /**
   * An Upgrade request: the connection is handed over. Its response answers refusals and errors
   * like any request's (then the connection closes); otherwise the forwarder tunnels.
   */
  private acceptUpgrade(req: RawRequest, res: RawResponse, head: Buffer): void {
    const proxy = this.proxy as Proxy;
    const socket = req.socket;
    socket.on("error", () => socket.destroy());
    res.closeAfter = true;
    const x = this.track(req, res, proxy);
    const protocol = upgradeProtocol(req.rawHeaders);
    if (!H2C_UPGRADE && namesH2c(protocol)) {
      // Served as plain HTTP/1.1 on this connection, then closed; its body (if any) was not
      // parsed (it follows an upgrade), so such a request cannot be forwarded.
      const length = headerValue(req.rawHeaders, "content-length");
      const body =
        (length !== undefined && length !== "0") ||
        headerValue(req.rawHeaders, "transfer-encoding") !== undefined;
      if (body || head.length > 0) {
        proxy.recorder.fail(
          x,
          new ProxyError("LANEMESH_BAD_REQUEST", "an h2c upgrade with a body is not supported"),
        );
        return;
      }
      req.complete = true;
      this.handle(x, proxy);
      return;
    }
    x.tunnel = { socket, head, protocol };
    if (this.draining) {
      proxy.recorder.fail(x, new ProxyError("LANEMESH_NOT_READY", "draining: no new tunnels"));
      return;
    }
    if (this.tunnels >= this.limits.maxTunnels) {
      proxy.recorder.fail(
        x,
        new ProxyError("LANEMESH_OVERLOADED", `${this.limits.maxTunnels} tunnels open: no more`),
      );
      return;
    }
    this.tunnels++;
    socket.once("close", () => {
      this.tunnels--;
    });
    req.complete = true;
    this.handle(x, proxy);
  }

  /** Open tunnels (and handshakes on their way), for tests and the admin port. */
  get openTunnels(): number {
    return this.tunnels;
  }

  /** The periodic check of slow readers and idle tunnels (watch.ts). */
  private sweep(): void {
    if (this.inFlight.size === 0) return;
    sweep(this.inFlight, performance.now(), this.limits, this.stalled);
  }

  private readonly stalled = (item: Watchable, kind: Stall): void => {
    const res = item as RawResponse;
    const x = res.exchange;
    this.log.debug({ kind, url: x?.req.url, service: x?.service }, "closing a stalled client");
    if (x !== null) x.recorder.clientTimeout(x, kind);
    if (kind === "tunnel-idle") {
      item.tunnelSocket()?.destroy();
      return;
    }
    // A reset (nginx's reset_timedout_connection): the bytes the client did not take are
    // dropped at once instead of lingering in the kernel's send queue.
    const socket = res.socket;
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  private serve(req: IncomingMessage, res: ServerResponse, opts: ListenerOptions): void {
    try {
      const pending = opts.serve?.(req, res);
      if (pending !== undefined) pending.catch((err: unknown) => this.crashed(opts.log, res, err));
    } catch (err) {
      this.crashed(opts.log, res, err);
    }
  }

  private crashed(log: Logger, res: ServerResponse, err: unknown): void {
    log.error({ err }, "request handler failed");
    sendError(res, new ProxyError("LANEMESH_INTERNAL", "internal proxy error"));
  }

  /** The response closed (finished or cut): it is no longer in flight. */
  private finished(res: RawResponse): void {
    this.inFlight.delete(res);
    if (!this.draining) return;
    this.closeIdle();
    if (this.inFlight.size === 0) {
      for (const w of this.idleWaiters) w();
      this.idleWaiters = [];
    }
  }

  private closeIdle(): void {
    this.h1?.closeIdle();
    this.http?.closeIdleConnections();
  }

  /** Requests currently in flight (HTTP/2 streams included). */
  get active(): number {
    return this.inFlight.size + (this.h2?.active ?? 0);
  }

  /**
   * Stop accepting connections, close idle keep-alive ones, and make every response not yet
   * started carry `Connection: close`. Resolves when no request is in flight.
   */
  drain(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      if (this.h1 !== null) this.h1.draining = true;
      this.server.close();
      for (const res of this.inFlight) {
        if (!res.headersSent) res.setHeader("connection", "close");
      }
      this.closeIdle();
    }
    const h2 = this.h2?.drain() ?? Promise.resolve();
    if (this.inFlight.size === 0) return h2;
    return Promise.all([h2, new Promise<void>((resolve) => this.idleWaiters.push(resolve))]).then(
      () => undefined,
    );
  }

  /** Close the server and every connection now (tunnels included). */
  close(): Promise<void> {
    this.draining = true;
    if (this.h1 !== null) this.h1.draining = true;
    clearInterval(this.watch);
    this.h1?.stop();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.h1?.closeAll();
      this.http?.closeAllConnections();
      this.h2?.close();
      for (const res of this.inFlight) res.socket.destroy();
      for (const w of this.idleWaiters) w();
      this.idleWaiters = [];
    });
  }
}
