// One HTTP/1.1 request and its response on a raw client connection (listen/h1-server.ts): the request as the stages read it, the response framed and written straight to the socket; it never routes and never reads the socket itself.
import { type IncomingHttpHeaders, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { Exchange, RequestLike, ResponseLike } from "../exchange.js";
import type { Watchable } from "./watch.js";

/*
 * Framing of a response (what Node's ServerResponse did, without its streams):
 * - Content-Length from the head: the body passes as written;
 * - no body by the rules of HTTP (HEAD, 1xx, 204, 304): nothing after the head;
 * - otherwise, to an HTTP/1.1 client: chunked (the instance's chunks or Node's re-framed); to an
 *   HTTP/1.0 client: the body until the connection closes.
 * Every head carries `connection: keep-alive` and `keep-alive: timeout=60` when the connection
 * stays open (the hint lets clients close before we do), `connection: close` when it does not.
 * The head waits for the first body write of the same event-loop turn and leaves with it in one
 * buffer, one write (a small answer, the usual case, costs one syscall and no writev); a head with
 * no body written in its turn is flushed alone on the next tick. Chunk framing is corked with its
 * chunk.
 */

/** What a response needs of its connection. */
export interface ResponseOwner {
  /** The response ended (its bytes are written or queued); the connection may read on. */
  responded(res: RawResponse): void;
  /** Keep-alive hint in seconds for the head. */
  readonly keepAliveSeconds: number;
}

/** Header names whose repeats Node's `req.headers` drops (the first wins). */
const SINGLE = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/** `req.headers` as Node builds it from the raw list (names lower-cased, repeats joined). */
export function joinHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = name === "set-cookie" ? [value] : value;
    else if (name === "set-cookie") (prev as string[]).push(value);
    else if (SINGLE.has(name)) continue;
    else out[name] = `${prev}${name === "cookie" ? "; " : ", "}${value}`;
  }
  return out as IncomingHttpHeaders;
}

/** A request body, pushed by the connection's parser; the socket pauses while it is full. */
export class RequestBody extends Readable {
  constructor(private readonly socket: Socket) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    if (this.socket.isPaused() && !this.socket.destroyed) this.socket.resume();
  }
}

/** A stand-in body for requests without one: never read. */
export const NO_BODY = new Readable({ read() {} });

export class RawRequest implements RequestLike {
  /** The whole body was received (or there was none). */
  complete = false;
  private joined: IncomingHttpHeaders | null = null;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
    readonly versionMinor: number,
    readonly socket: Socket,
    /** The body stream, or null when the head announced none. */
    readonly body: RequestBody | null,
  ) {}

  get headers(): IncomingHttpHeaders {
    if (this.joined === null) this.joined = joinHeaders(this.rawHeaders);
    return this.joined;
  }
}

type Listener0 = () => void;

function uncork(socket: Socket): void {
  socket.uncork();
}

function flushHeadNT(res: RawResponse): void {
  res.flushHead();
}

const CRLF = "\r\n";
const CHUNK_END = "0\r\n\r\n";

export class RawResponse implements ResponseLike, Watchable {
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  /** Set by the listener: the Exchange this answers, for the sweep and the access log. */
  exchange: Exchange | null = null;
  /** The listener's one handler for a closed response (no closure per request). */
  closed: ((res: RawResponse) => void) | null = null;
  watchMark = -1;
  watchSince = 0;
  /** Close the connection after this response (the client asked, or we do). */
  closeAfter: boolean;
  private extra: string[] | null = null;
  private chunked = false;
  private noBody = false;
  private ended = false;
  private trailers: [string, string][] | null = null;
  private drains: Listener0[] | null = null;
  private closes: Listener0[] | null = null;
  private closeEmitted = false;
  /** The head, written with the first body bytes of its turn (or alone on the next tick). */
  private pendingHead: string | null = null;

  constructor(
    readonly socket: Socket,
    private readonly owner: ResponseOwner,
    private readonly versionMinor: number,
    private readonly head: boolean,
    keepAlive: boolean,
  ) {
    this.closeAfter = !keepAlive;
  }

  tunnelSocket(): Socket | null {
    return this.exchange?.tunnel?.socket ?? null;
  }

  setHeader(name: string, value: string): this {
    if (name === "connection") {
      if (value.toLowerCase() === "close") this.closeAfter = true;
      return this;
    }
    if (this.extra === null) this.extra = [];
    this.extra.push(name, value);
    return this;
  }

  writeHead(status: number, headers: string[]): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.headersSent = true;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    let length = false;
    let chunkedUpstream = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      if (name.length === 14 && name.toLowerCase() === "content-length") length = true;
      else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
        chunkedUpstream = true;
        continue;
      }
      text += `${name}: ${headers[i + 1]}\r\n`;
    }
    const extra = this.extra;
    if (extra !== null) {
      for (let i = 0; i < extra.length; i += 2) {
        if (extra[i] === "content-length") length = true;
        text += `${extra[i]}: ${extra[i + 1]}\r\n`;
      }
    }
    this.noBody = this.head || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!this.noBody && !length) {
      if (this.versionMinor >= 1) {
        this.chunked = true;
        text += "transfer-encoding: chunked\r\n";
      } else {
        this.closeAfter = true;
      }
    } else if (chunkedUpstream && this.head && this.versionMinor >= 1) {
      // A HEAD answer says what a GET would have carried.
      text += "transfer-encoding: chunked\r\n";
    }
    if (this.closeAfter) text += "connection: close\r\n\r\n";
    else if (this.versionMinor >= 1)
      text += `keep-alive: timeout=${this.owner.keepAliveSeconds}\r\n\r\n`;
    else
      text += `connection: keep-alive\r\nkeep-alive: timeout=${this.owner.keepAliveSeconds}\r\n\r\n`;
    if (this.socket.destroyed) return this;
    this.pendingHead = text;
    process.nextTick(flushHeadNT, this);
    return this;
  }

  /** Write the head if no body took it along. */
  flushHead(): void {
    const head = this.pendingHead;
    if (head === null) return;
    this.pendingHead = null;
    if (!this.socket.destroyed) this.socket.write(head, "latin1");
  }

  /** The head and the first bytes after it as one buffer. */
  private withHead(head: string, chunk: Uint8Array): boolean {
    this.pendingHead = null;
    const n = Buffer.byteLength(head, "latin1");
    const buf = Buffer.allocUnsafe(n + chunk.length);
    buf.write(head, 0, n, "latin1");
    buf.set(chunk, n);
    return this.socket.write(buf);
  }

  addTrailers(trailers: [string, string][]): void {
    this.trailers = trailers;
  }

  write(chunk: Uint8Array): boolean {
    if (this.ended || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    if (this.noBody || chunk.length === 0) return true;
    const socket = this.socket;
    if (!this.chunked) {
      const head = this.pendingHead;
      return head === null ? socket.write(chunk) : this.withHead(head, chunk);
    }
    this.flushHead();
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
    socket.write(chunk);
    const ok = socket.write(CRLF, "latin1");
    process.nextTick(uncork, socket);
    return ok;
  }

  end(body?: string): this {
    if (this.ended || this.destroyed) return this;
    if (!this.headersSent) {
      if (body !== undefined && body.length > 0) {
        this.setHeader("content-length", String(Buffer.byteLength(body)));
      } else if (!this.head) {
        this.setHeader("content-length", "0");
      }
      this.writeHead(this.statusCode, []);
    }
    const socket = this.socket;
    if (body !== undefined && body.length > 0 && !this.noBody && !this.chunked) {
      socket.cork();
      this.flushHead();
      socket.write(body);
      socket.uncork();
      body = undefined;
    }
    this.flushHead();
    if (body !== undefined && body.length > 0 && !this.noBody) {
      if (this.chunked) {
        socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
      } else socket.write(body);
    }
    if (this.chunked && !this.noBody) {
      const trailers = this.trailers;
      if (trailers === null) socket.write(CHUNK_END, "latin1");
      else {
        let text = "0\r\n";
        for (const [n, v] of trailers) text += `${n}: ${v}\r\n`;
        socket.write(`${text}\r\n`, "latin1");
      }
    }
    this.ended = true;
    this.writableFinished = true;
    this.owner.responded(this);
    this.emitClose();
    return this;
  }

  destroy(_err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.ended) this.socket.destroy();
    this.emitClose();
    return this;
  }

  /** The connection answered for this response (a refusal written raw): it writes nothing more. */
  abandon(): void {
    this.destroyed = true;
    this.ended = true;
    this.emitClose();
  }

  /** The connection closed under this response (the client left, or it was cut). */
  socketClosed(): void {
    if (!this.ended) this.destroyed = true;
    this.emitClose();
  }

  /** The socket drained: pass it on to whoever waits to write. */
  drained(): void {
    const d = this.drains;
    if (d === null) return;
    this.drains = null;
    for (const f of d) f();
  }

  on(event: "drain" | "close", listener: Listener0): this {
    if (event === "drain") {
      if (this.drains === null) this.drains = [listener];
      else this.drains.push(listener);
    } else if (this.closes === null) this.closes = [listener];
    else this.closes.push(listener);
    return this;
  }

  once(event: "drain" | "close", listener: Listener0): this {
    return this.on(event, listener);
  }

  off(event: "drain" | "close", listener: Listener0): this {
    const list = event === "drain" ? this.drains : this.closes;
    if (list === null) return this;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    process.nextTick(emitCloseNT, this);
  }

  /** Called on the next tick after the response ended or was cut. */
  runClose(): void {
    const c = this.closes;
    this.closes = null;
    this.drains = null;
    this.closed?.(this);
    if (c !== null) for (const f of c) f();
  }
}

function emitCloseNT(res: RawResponse): void {
  res.runClose();
}
