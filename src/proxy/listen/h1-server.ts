// The HTTP/1.1 server of a proxy listener on raw sockets: Node's strict llhttp reads each request head and body, the head goes to the listener as a RawRequest and RawResponse, with the client timeouts and keep-alive of Node's server; it never routes and never answers but to refuse.
import { createServer, type Server, type Socket } from "node:net";
import { ProxyError, sendRawError } from "../errors.js";
import { METHODS, type NativeParser, requestParser } from "../forward/h1/parser.js";
import { RawRequest, RawResponse, RequestBody, type ResponseOwner } from "./h1-message.js";

/*
 * Why not `node:http`: its server builds an IncomingMessage and a ServerResponse (two streams
 * with their state machines, timers and events) per request; on the benchmark machine that was
 * half of a proxy's user CPU per request. Here a connection owns one parser and one set of
 * callbacks for its life, and a request costs its head's strings, two small objects and, only
 * when it has a body, one Readable.
 *
 * What it keeps of Node's server, so that clients see no difference:
 * - strict llhttp, 16 KiB of head (→ 431), malformed input → 400, both with `connection: close`
 *   written straight to the socket when no response has started on it (then the connection is
 *   closed; a response under way is cut instead);
 * - HTTP/1.1 without Host → 400 (Node's `requireHostHeader`);
 * - `Expect: 100-continue` answered `100 Continue` at once; another expectation → 417;
 * - keep-alive per HTTP/1.0 and 1.1 rules and `Connection: close`; a request whose body was not
 *   read to its end closes the connection after its answer;
 * - pipelined requests are answered in order, one at a time: a request read while another is
 *   answered waits (its body buffered up to the stream's bound, then the socket pauses);
 * - the head must arrive within `headersTimeoutMs` and the whole request within
 *   `requestTimeoutMs` (→ 408, connection closed), an idle keep-alive connection is closed after
 *   `keepAliveMs`: one sweep a second over the connections checks the three;
 * - Upgrade requests are handed over with the bytes that followed their head; CONNECT is closed.
 */

export interface H1Settings {
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveMs: number;
}

export interface H1Handlers {
  /** A request head, not an upgrade; its body (if any) follows through `req.body`. */
  request(req: RawRequest, res: RawResponse): void;
  /** An Upgrade request: the connection is the handler's from here, `head` the bytes after it. */
  upgrade(req: RawRequest, res: RawResponse, head: Buffer): void;
  /** The head or body was malformed (for logs). */
  refused(err: ProxyError, code: string | undefined): void;
}

const HEAD = 0;
const BODY = 1;
const WAIT = 2;
const IDLE = 3;
const DONE = 4;

const HEADER_ERRORS: Record<string, () => ProxyError> = {
  HPE_HEADER_OVERFLOW: () =>
    new ProxyError("LANEMESH_HEADERS_TOO_LARGE", "header section larger than the limit"),
};

function parseError(code: string | undefined): ProxyError {
  const known = code === undefined ? undefined : HEADER_ERRORS[code];
  if (known !== undefined) return known();
  return new ProxyError("LANEMESH_BAD_REQUEST", `malformed request (${code ?? "parse error"})`);
}

const EXPECT_CONTINUE = /^\s*100-continue\s*$/i;
const EXPECTATION_FAILED =
  "HTTP/1.1 417 Expectation Failed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

function startQueued(c: H1Connection): void {
  c.next();
}

class H1Connection implements ResponseOwner {
  private readonly parser: NativeParser;
  private state = HEAD;
  /** performance.now() when the current state began (the request's start in HEAD and BODY). */
  since = performance.now();
  /** Bytes of the current head have arrived (an idle connection has none). */
  private started = false;
  private partial: string[] | null = null;
  private partialUrl = "";
  /** The request being answered, and the one being read (the same unless pipelined). */
  private active: RawRequest | null = null;
  private activeRes: RawResponse | null = null;
  private reading: RawRequest | null = null;
  private queue: [RawRequest, RawResponse][] | null = null;
  readonly keepAliveSeconds: number;

  constructor(
    private readonly server: H1Server,
    readonly socket: Socket,
  ) {
    this.keepAliveSeconds = Math.floor(server.settings.keepAliveMs / 1000);
    this.parser = requestParser(
      {
        onHeaders: (headers, url) => {
          if (this.partial === null) this.partial = headers;
          else for (const h of headers) this.partial.push(h);
          this.partialUrl += url;
        },
        onHeadersComplete: (_maj, minor, headers, method, url, _s, _m, upgrade, keepAlive) =>
          this.onHead(minor, headers, method, url, upgrade, keepAlive),
        onBody: (chunk) => this.onBody(chunk),
        onMessageComplete: () => this.onMessageComplete(),
      },
      server.settings.maxHeaderBytes,
    );
    socket.setNoDelay(true);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", noop);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === DONE) return;
    if (this.state === IDLE) {
      this.state = HEAD;
      this.since = performance.now();
    }
    this.started = true;
    const r = this.parser.execute(chunk);
    if (this.state === DONE) return;
    if (typeof r !== "number") {
      this.refuse(parseError(r.code), r.code);
      return;
    }
    const up = this.upgrading;
    if (up !== null) {
      this.upgrading = null;
      this.handedOver = up[1];
      this.detach();
      this.server.handlers.upgrade(up[0], up[1], chunk.subarray(r));
    }
  };

  private upgrading: [RawRequest, RawResponse] | null = null;
  /** An Upgrade request's response once the connection was handed over (closed with it). */
  private handedOver: RawResponse | null = null;

  private onHead(
    minor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if (this.state === DONE) return 1;
    let raw = headers ?? [];
    if (this.partial !== null) {
      raw = headers === undefined ? this.partial : this.partial.concat(headers);
      this.partial = null;
    }
    const target = this.partialUrl + (url ?? "");
    this.partialUrl = "";
    let host = false;
    let body = false;
    let expect: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const n = name.length;
      if (n === 4) host ||= name.toLowerCase() === "host";
      else if (n === 14) body ||= name.toLowerCase() === "content-length" && raw[i + 1] !== "0";
      else if (n === 17) body ||= name.toLowerCase() === "transfer-encoding";
      else if (n === 6 && name.toLowerCase() === "expect") expect = raw[i + 1];
    }
    if (minor >= 1 && !host) {
      this.refuse(new ProxyError("LANEMESH_BAD_REQUEST", "HTTP/1.1 request without Host"), "host");
      return 1;
    }
    const name = METHODS[method] ?? "GET";
    const socket = this.socket;
    const req = new RawRequest(
      name,
      target,
      raw,
      minor,
      socket,
      body && !upgrade ? new RequestBody(socket) : null,
    );
    const res = new RawResponse(
      socket,
      this,
      minor,
      name === "HEAD",
      keepAlive && !this.server.draining,
    );
    if (upgrade) {
      if (name === "CONNECT" || this.active !== null) {
        this.detach();
        socket.destroy();
        return 1;
      }
      this.upgrading = [req, res];
      return 0;
    }
    // A request without a body is whole at its head (a synchronous answer may end it at once).
    if (req.body === null) req.complete = true;
    else this.reading = req;
    if (expect !== undefined && minor >= 1) {
      if (!EXPECT_CONTINUE.test(expect)) {
        const first = this.active === null;
        this.detach();
        if (first) socket.end(EXPECTATION_FAILED, "latin1");
        else socket.destroy();
        return 1;
      }
      if (this.active === null) socket.write("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
    }
    if (this.active === null) {
      this.active = req;
      this.activeRes = res;
      this.state = req.body === null ? WAIT : BODY;
      this.server.handlers.request(req, res);
    } else {
      if (this.queue === null) this.queue = [];
      this.queue.push([req, res]);
      if (this.queue.length > 1_000) socket.destroy();
    }
    return 0;
  }

  private onBody(chunk: Buffer): void {
    if (this.state === DONE) return;
    const body = this.reading?.body;
    if (body === undefined || body === null) return;
    if (!body.push(chunk)) this.socket.pause();
  }

  private onMessageComplete(): void {
    const req = this.reading;
    if (req === null) return;
    this.reading = null;
    req.complete = true;
    req.body?.push(null);
    if (req === this.active && this.state === BODY) this.state = WAIT;
    if (this.state === HEAD && req !== this.active) this.started = false;
  }

  /** The active response ended: the connection reads on, or closes. */
  responded(res: RawResponse): void {
    if (res !== this.activeRes) {
      // An Upgrade request's answer (a refusal): the connection was handed over, close it.
      if (this.state === DONE && res.closeAfter && !this.socket.destroyed) this.socket.end();
      return;
    }
    const req = this.active as RawRequest;
    this.active = null;
    this.activeRes = null;
    if (res.closeAfter || !req.complete || this.server.draining) {
      this.finish();
      return;
    }
    if (this.queue !== null && this.queue.length > 0) {
      process.nextTick(startQueued, this);
      return;
    }
    if (this.reading === null) {
      this.state = IDLE;
      this.started = false;
      this.since = performance.now();
    } else {
      this.state = HEAD;
    }
  }

  /** Start the next pipelined request. */
  next(): void {
    const q = this.queue;
    if (q === null || this.active !== null || this.state === DONE) return;
    const item = q.shift();
    if (item === undefined) return;
    const [req, res] = item;
    this.active = req;
    this.activeRes = res;
    this.state = req.complete ? WAIT : BODY;
    this.since = performance.now();
    if (this.server.draining) res.closeAfter = true;
    this.server.handlers.request(req, res);
  }

  /** Answer a refusal on the socket (or cut the response under way) and close. */
  private refuse(err: ProxyError, code: string | undefined): void {
    const res = this.activeRes;
    const answered = res !== null && (res.headersSent || res.destroyed);
    this.reading?.body?.destroy();
    this.server.handlers.refused(err, code);
    if (answered) {
      this.detach();
      this.socket.destroy();
      return;
    }
    res?.abandon();
    this.detach();
    sendRawError(this.socket, err);
  }

  /**
   * End the connection once the bytes written are flushed; what the client still sends (the rest
   * of a body not read) is read and dropped, so that the answer is not lost to a reset.
   */
  private finish(): void {
    this.state = DONE;
    this.server.forget(this);
    this.socket.end();
    this.socket.resume();
  }

  /** Stop reading requests from this socket. */
  private detach(): void {
    this.state = DONE;
    this.socket.off("data", this.onData);
    this.server.forget(this);
  }

  private readonly onEnd = (): void => {
    // The client half-closed: finish what it asked for, then close.
    if (this.state === DONE) return;
    if (this.activeRes !== null) {
      this.activeRes.closeAfter = true;
      this.reading?.body?.destroy();
      return;
    }
    this.detach();
    this.socket.end();
  };

  private readonly onDrain = (): void => {
    this.activeRes?.drained();
  };

  private readonly onClose = (): void => {
    this.state = DONE;
    this.server.forget(this);
    this.parser.close();
    this.reading?.body?.destroy();
    this.active?.body?.destroy();
    this.activeRes?.socketClosed();
    this.activeRes = null;
    this.handedOver?.socketClosed();
    if (this.queue !== null) for (const [, r] of this.queue) r.socketClosed();
    this.queue = null;
  };

  /** The sweep's look at the client timers: a connection past one is answered or closed. */
  check(now: number): void {
    const s = this.server.settings;
    if (this.state === IDLE) {
      if (now - this.since >= s.keepAliveMs) this.close();
    } else if (this.state === HEAD) {
      if (now - this.since >= s.headersTimeoutMs) this.timedOut();
    } else if (this.state === BODY) {
      if (now - this.since >= s.requestTimeoutMs) this.timedOut();
    }
  }

  private timedOut(): void {
    this.refuse(
      new ProxyError("LANEMESH_REQUEST_TIMEOUT", "request not received in time"),
      "timeout",
    );
  }

  /** No request under way (idle keep-alive, or nothing of a head yet). */
  get idle(): boolean {
    return this.state === IDLE || (this.state === HEAD && !this.started && this.active === null);
  }

  close(): void {
    this.detach();
    this.socket.destroy();
  }
}

function noop(): void {}

/** The raw HTTP/1.1 server of one listener and its open connections. */
export class H1Server {
  readonly server: Server;
  draining = false;
  private readonly connections = new Set<H1Connection>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly settings: H1Settings,
    readonly handlers: H1Handlers,
  ) {
    // Half-open as node:http's server: a client's FIN still gets its answer.
    this.server = createServer({ allowHalfOpen: true });
    this.server.on("connection", (socket: Socket) => this.accept(socket));
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  /** Serve HTTP/1.1 on a connection (also called by the fronts that sniff first bytes). */
  accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.connections.add(new H1Connection(this, socket));
  }

  forget(c: H1Connection): void {
    this.connections.delete(c);
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.connections) c.check(now);
  }

  /** Close connections with no request under way. */
  closeIdle(): void {
    for (const c of this.connections) if (c.idle) c.close();
  }

  /** Close every connection now. */
  closeAll(): void {
    for (const c of this.connections) c.close();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
