// The HTTP/2 side of a proxy listener: tells prior-knowledge HTTP/2 from HTTP/1.1 by the connection preface on the same port, serves each HTTP/2 stream as an Exchange through the same edge checks and stages, and bounds what one client connection may cost; it never routes.
import {
  constants,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Server as NetServer, Socket } from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import { ProxyError } from "../errors.js";
import { Exchange } from "../exchange.js";
import type { Recorder } from "../record.js";
import { H2Request, H2Response } from "./h2-exchange.js";

/*
 * Sniffing: a connection's first bytes are read once, before the HTTP/1.1 server sees the
 * connection. When they start with HTTP/2's connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
 * RFC 9113 §3.4; `PRI` is no HTTP/1.1 method) the connection goes to a `node:http2` server,
 * otherwise to the HTTP/1.1 server, with the bytes read put back either way. The cost is one
 * read per connection, none per request. A connection that sends nothing for the idle keep-alive
 * bound (60 s) is closed, as an idle connection after a request is.
 *
 * Bounds per client connection (session), and why:
 * | bound                              | value        | past it                                  |
 * |------------------------------------|--------------|------------------------------------------|
 * | concurrent streams (SETTINGS)      | 100          | the stream is refused (REFUSED_STREAM); past 100 refused streams the session is closed (Node's maxSessionRejectedStreams) |
 * | streams reset by the client        | 200 a second | GOAWAY ENHANCE_YOUR_CALM, connection closed (rapid reset, CVE-2023-44487: each reset stream cost an upstream request) |
 * | header list (SETTINGS_MAX_HEADER_LIST_SIZE) | 16 KiB | the stream is reset; the HTTP/1.1 header bound |
 * | header fields                      | 100 (+4 pseudo) | the stream is reset, or 431 from the edge checks |
 * | CONTINUATION frames for one header block | nghttp2's 8 | the session fails (CONTINUATION flood, CVE-2024-27983) |
 * | session memory (HPACK, buffers)    | 10 MB        | new streams refused, then the session fails |
 * | invalid frames                     | 1,000        | the session fails (Node's maxSessionInvalidFrames) |
 * | no stream open                     | 60 s         | GOAWAY NO_ERROR (graceful), as the HTTP/1.1 keep-alive bound |
 * Every closed session is logged (warn, with the peer's address) and counted in
 * `lanemesh_http2_refused_total{direction,reason}`.
 */

export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const H2_MAX_CONCURRENT_STREAMS = 100;
/** Streams one client connection may see reset within one second (rapid reset). */
export const H2_MAX_RESETS_PER_SECOND = 200;
export const H2_MAX_HEADER_LIST_BYTES = 16 * 1024;
export const H2_MAX_SESSION_MEMORY_MB = 10;
/** No stream open for this long: the session is closed gracefully. */
export const H2_IDLE_MS = 60_000;

export interface H2FrontOptions {
  readonly recorder: Recorder;
  readonly log: Logger;
  /** The listener's edge checks and stages for one Exchange; `hasBody`: the HTTP/2 framing's say. */
  readonly handle: (x: Exchange, hasBody: boolean) => void;
  /** Header section bound in bytes and fields (the listener's, shared with HTTP/1.1). */
  readonly maxHeaders: number;
  /** How long a new connection may stay silent before its first bytes. */
  readonly silentMs: number;
}

interface SessionState {
  resets: number;
  windowStart: number;
  streams: number;
}

const STATE = new WeakMap<ServerHttp2Session, SessionState>();

type ConnectionListener = (socket: Socket) => void;

/** The HTTP/2 server behind one listener's port, and its open sessions. */
export class H2Front {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  /** Connections whose first bytes have not come yet. */
  private readonly sniffing = new Set<Socket>();
  private streams = 0;
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    http: NetServer,
    private readonly opts: H2FrontOptions,
  ) {
    this.server = createH2Server({
      settings: {
        maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
        maxHeaderListSize: H2_MAX_HEADER_LIST_BYTES,
        enablePush: false,
      },
      maxHeaderListPairs: opts.maxHeaders + 4,
      maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
      maxSessionInvalidFrames: 1000,
      maxSessionRejectedStreams: 100,
    });
    this.server.on("session", (s: ServerHttp2Session) => this.session(s));
    this.server.on(
      "stream",
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) =>
        this.stream(stream, headers, flags, raw),
    );
    // Session errors are handled per session; the server must not throw for them.
    this.server.on("sessionError", () => {});
    const h1 = http.listeners("connection") as ConnectionListener[];
    http.removeAllListeners("connection");
    const toH1 = (socket: Socket): void => {
      for (const l of h1) l.call(http, socket);
    };
    http.on("connection", (socket: Socket) => this.sniff(socket, toH1));
  }

  /** Streams in flight on every session. */
  get active(): number {
    return this.streams;
  }

  /** Open client sessions (tests, admin). */
  get openSessions(): number {
    return this.sessions.size;
  }

  private sniff(socket: Socket, toH1: ConnectionListener): void {
    let got: Buffer | null = null;
    const onData = (chunk: Buffer): void => {
      got = got === null ? chunk : Buffer.concat([got, chunk]);
      const n = Math.min(got.length, H2_PREFACE.length);
      if (got.compare(H2_PREFACE, 0, n, 0, n) !== 0) decide(false);
      else if (got.length >= H2_PREFACE.length) decide(true);
    };
    const onError = (): void => {
      socket.off("data", onData);
      this.sniffing.delete(socket);
      socket.destroy();
    };
    const decide = (h2: boolean): void => {
      this.sniffing.delete(socket);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(got as Buffer);
      if (!h2) {
        toH1(socket);
        socket.resume();
      } else if (this.draining) socket.destroy();
      // The session reads what is buffered on its first tick (Node's http2 core).
      else {
        socket.setNoDelay(true);
        this.server.emit("connection", socket);
      }
    };
    this.sniffing.add(socket);
    socket.once("close", () => this.sniffing.delete(socket));
    socket.setTimeout(this.opts.silentMs, () => socket.destroy());
    socket.on("data", onData);
    socket.on("error", onError);
  }

  private session(session: ServerHttp2Session): void {
    const state: SessionState = { resets: 0, windowStart: 0, streams: 0 };
    STATE.set(session, state);
    this.sessions.add(session);
    const peer = session.socket?.remoteAddress;
    session.setTimeout(H2_IDLE_MS, () => {
      if (state.streams > 0) return;
      this.opts.recorder.h2Refused("idle");
      session.close();
    });
    session.on("error", (err: Error & { code?: string }) => {
      this.opts.log.warn({ peer, err: err.message, code: err.code }, "HTTP/2 session failed");
      this.opts.recorder.h2Refused("protocol");
    });
    session.on("frameError", () => {});
    session.once("close", () => {
      this.sessions.delete(session);
      this.idle();
    });
  }

  private stream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    raw: string[],
  ): void {
    const session = stream.session as ServerHttp2Session | undefined;
    const state = session === undefined ? undefined : STATE.get(session);
    const req = new H2Request(stream, headers, raw, session?.socket?.remoteAddress);
    const res = new H2Response(stream, req.grpc);
    const x = new Exchange(req, res, this.opts.recorder, stream);
    x.h2 = res;
    x.grpc = req.grpc;
    this.streams++;
    if (state !== undefined) state.streams++;
    stream.on("error", () => {});
    stream.once("close", () => {
      this.streams--;
      if (state !== undefined) state.streams--;
      this.opts.recorder.closed(x);
      // Reset by the client before its answer was over: counted against the rate bound.
      if (state !== undefined && session !== undefined && stream.rstCode !== 0 && !res.over) {
        this.reset(session, state);
      }
      this.idle();
    });
    if (req.url === undefined) {
      // CONNECT (no :path): not supported, as over HTTP/1.1.
      this.opts.recorder.fail(
        x,
        new ProxyError("LANEMESH_BAD_REQUEST", "CONNECT is not supported"),
      );
      return;
    }
    // An HTTP/2 request has a body unless its HEADERS frame ended the stream.
    this.opts.handle(x, (flags & constants.NGHTTP2_FLAG_END_STREAM) === 0);
  }

  /** One more stream reset before its answer ended: past the rate bound, the session goes. */
  private reset(session: ServerHttp2Session, state: SessionState): void {
    const now = performance.now();
    if (now - state.windowStart > 1000) {
      state.windowStart = now;
      state.resets = 0;
    }
    if (++state.resets <= H2_MAX_RESETS_PER_SECOND || session.destroyed) return;
    this.opts.log.warn(
      { peer: session.socket?.remoteAddress, resets: state.resets },
      "HTTP/2 rapid reset: closing the client connection",
    );
    this.opts.recorder.h2Refused("rapid-reset");
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }

  private idle(): void {
    if (!this.draining || this.streams > 0) return;
    for (const w of this.idleWaiters) w();
    this.idleWaiters = [];
  }

  /** GOAWAY to every session (streams in flight finish); resolves when none is in flight. */
  drain(): Promise<void> {
    this.draining = true;
    for (const s of this.sessions) if (!s.closed) s.close();
    if (this.streams === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Close every session now. */
  close(): void {
    this.draining = true;
    for (const s of this.sniffing) s.destroy();
    this.sniffing.clear();
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.idle();
  }
}
