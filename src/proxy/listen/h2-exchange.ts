// An HTTP/2 request's stream seen as the request and the response the stages read and write (what an IncomingMessage and a ServerResponse give them over HTTP/1.1); it decides nothing and forwards nothing.
import {
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { H2Sink } from "../forward/contract.js";
import { isGrpcContentType } from "../grpc-status.js";

/*
 * The request: `rawHeaders` holds the regular fields only (pseudo-headers are read into `method`
 * and `url`), and `:authority` stands in as `host` (a `host` field beside it is dropped:
 * RFC 9113 §8.3.1 makes `:authority` win), so the edge checks, the lane context and the route
 * read an HTTP/2 request exactly as an HTTP/1.1 one.
 *
 * The response: `writeHead` sends the HEADERS frame at once (a gRPC server's early metadata is
 * not held back), with END_STREAM when asked (a trailers-only answer); otherwise the stream
 * waits for trailers when it ends and sends those added (an empty trailer section when none,
 * as Node's own compatibility API does). Connection-specific fields, which HTTP/2 forbids
 * (RFC 9113 §8.2.2), are never written.
 */

const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/** The request side of one HTTP/2 stream. */
export class H2Request {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress: string | undefined };
  /** A gRPC call (content-type application/grpc*). */
  readonly grpc: boolean;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    raw: readonly string[],
    remoteAddress: string | undefined,
  ) {
    this.method = headers[":method"];
    this.url = headers[":path"];
    const authority = headers[":authority"];
    const out: string[] = [];
    if (authority !== undefined) out.push("host", authority);
    for (let i = 0; i < raw.length - 1; i += 2) {
      const name = raw[i] as string;
      if (name.charCodeAt(0) === 0x3a /* : */) continue;
      if (authority !== undefined && name === "host") continue;
      out.push(name, raw[i + 1] as string);
    }
    this.rawHeaders = out;
    if (authority !== undefined) headers.host = authority;
    this.socket = { remoteAddress };
    this.grpc = isGrpcContentType(headers["content-type"]);
  }

  get complete(): boolean {
    return this.stream.readableEnded;
  }
}

/** Flat [name, value, ...] fields as an HTTP/2 header object (repeated names as arrays). */
export function h2HeaderObject(flat: readonly string[], into: OutgoingHttpHeaders = {}) {
  for (let i = 0; i < flat.length - 1; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 0x3a) continue;
    const value = flat[i + 1] as string;
    const had = into[name];
    if (had === undefined) into[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else into[name] = [String(had), value];
  }
  return into;
}

/** The response side of one HTTP/2 stream. */
export class H2Response implements H2Sink {
  statusCode = 200;
  headersSent = false;
  /** The answer went out whole (END_STREAM sent), or the proxy itself reset the stream. */
  over = false;
  private trailers: OutgoingHttpHeaders = {};

  constructor(
    readonly stream: ServerHttp2Stream,
    /** A gRPC call: the proxy's own errors are gRPC statuses (errors.ts). */
    readonly grpc: boolean,
  ) {
    stream.on("wantTrailers", () => {
      this.over = true;
      if (!stream.destroyed) stream.sendTrailers(this.trailers);
    });
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  /** Only `connection: close` is ever set by the stages: HTTP/2 has no such field. */
  setHeader(_name: string, _value: string): this {
    return this;
  }

  writeHead(status: number, headers: string[], endStream = false): this {
    if (this.headersSent || this.stream.destroyed) return this;
    this.statusCode = status;
    this.headersSent = true;
    if (endStream) this.over = true;
    const out = h2HeaderObject(headers, { ":status": status });
    try {
      this.stream.respond(out, endStream ? { endStream: true } : { waitForTrailers: true });
    } catch (err) {
      this.stream.destroy(err as Error);
    }
    if (endStream) this.drainRequest();
    return this;
  }

  setTrailers(trailers: string[]): void {
    h2HeaderObject(trailers, this.trailers);
  }

  write(chunk: Uint8Array): boolean {
    return this.stream.write(chunk);
  }

  end(body?: string): this {
    if (this.stream.writableEnded || this.stream.destroyed) return this;
    if (body === undefined) this.stream.end();
    else this.stream.end(body);
    this.drainRequest();
    return this;
  }

  /** The answer is complete: the rest of the request body, if any, is read and dropped. */
  private drainRequest(): void {
    if (!this.stream.readableEnded) this.stream.resume();
  }

  reset(code: number): void {
    this.over = true;
    if (!this.stream.destroyed) this.stream.close(code);
  }

  /** The answer is cut: the client's stream is reset (INTERNAL_ERROR), HTTP/2's cut connection. */
  destroy(_err?: Error): this {
    this.over = true;
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return this;
  }

  on(event: "drain" | "close", listener: () => void): this {
    this.stream.on(event, listener);
    return this;
  }

  once(event: "drain" | "close", listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }

  off(event: "drain" | "close", listener: () => void): this {
    this.stream.off(event, listener);
    return this;
  }
}
