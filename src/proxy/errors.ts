// The proxy's own failures as typed errors with stable codes, and the one place that turns them into HTTP responses; it never decides when to fail.
import type { Socket } from "node:net";
import type { BadTagReason } from "../lane/propagation/index.js";
import { GrpcCode, type GrpcStatus, trailersOnly } from "./grpc-status.js";

/*
 * Codes and statuses (every response the proxy makes itself carries `x-lanemesh-error: <code>`
 * and a one-line text body naming the cause; a response without that header came from an app):
 *
 *   LANEMESH_BAD_REQUEST          400  malformed request (parser error, framing refused, bad target)
 *   LANEMESH_BAD_TAG_HEADER       400  tag header duplicated, comma-joined, spelled with `_`, bad value
 *   LANEMESH_NO_ROUTE             404  gateway: no Route matches the path (Envoy's "NR")
 *   LANEMESH_REQUEST_TIMEOUT      408  the client did not send its headers / body in time
 *   LANEMESH_HEADERS_TOO_LARGE    431  header section over the size limit or over the count limit
 *   LANEMESH_INTERNAL             500  a bug in the proxy (logged with its stack)
 *   LANEMESH_UPSTREAM_RESET       502  the instance closed or reset the connection before answering
 *   LANEMESH_UPSTREAM_PROTOCOL    502  the instance answered with something that is not valid HTTP
 *   LANEMESH_UNKNOWN_SERVICE      503  outbound: no instance was ever registered under that name
 *   LANEMESH_NO_ENDPOINT          503  the service has no usable instance at all
 *   LANEMESH_NO_BASE_ENDPOINT     503  the request needs a base instance and only canaries are left
 *   LANEMESH_UPSTREAM_CONNECT     503  connection to the instance refused / timed out / unreachable
 *   LANEMESH_APP_UNAVAILABLE      503  inbound: the app beside this sidecar refuses connections
 *                                      (the caller's sidecar retries an idempotent request elsewhere)
 *   LANEMESH_NOT_READY            503  no config received yet
 *   LANEMESH_OVERLOADED           503  every connection to the instance is busy and the wait for one
 *                                      is over (queue full, or the pending timeout passed), or the
 *                                      listener holds its most tunnels; nothing reached the instance
 *                                      (the caller's sidecar retries an idempotent request elsewhere)
 *   LANEMESH_UPSTREAM_TIMEOUT     504  the instance sent no response headers in time
 *
 * On a gRPC call (content-type application/grpc*) the same error is a gRPC status instead
 * (`GRPC_STATUS` below): HTTP 200 with a trailers-only `grpc-status`, `grpc-message` (the cause)
 * and `x-lanemesh-error: <code>` as metadata, which a gRPC client reads as a status where it
 * could not read an HTTP error page. HTTP/2 responses carry no `connection` field.
 *
 * UNKNOWN_SERVICE is a 503, not Envoy's 404 "NR": a name with no instance is most often a service
 * whose instances are not registered yet (or all went away), which is a transient condition; a 404
 * would look like the application's own "not found" and could be cached by clients.
 */

export const PROXY_ERROR_HEADER = "x-lanemesh-error";

const STATUS = {
  LANEMESH_BAD_REQUEST: 400,
  LANEMESH_BAD_TAG_HEADER: 400,
  LANEMESH_NO_ROUTE: 404,
  LANEMESH_REQUEST_TIMEOUT: 408,
  LANEMESH_HEADERS_TOO_LARGE: 431,
  LANEMESH_INTERNAL: 500,
  LANEMESH_UPSTREAM_RESET: 502,
  LANEMESH_UPSTREAM_PROTOCOL: 502,
  LANEMESH_UNKNOWN_SERVICE: 503,
  LANEMESH_NO_ENDPOINT: 503,
  LANEMESH_NO_BASE_ENDPOINT: 503,
  LANEMESH_UPSTREAM_CONNECT: 503,
  LANEMESH_APP_UNAVAILABLE: 503,
  LANEMESH_NOT_READY: 503,
  LANEMESH_OVERLOADED: 503,
  LANEMESH_UPSTREAM_TIMEOUT: 504,
} as const;

export type ProxyErrorCode = keyof typeof STATUS;

/**
 * The gRPC status of each code, after gRPC's own HTTP-to-gRPC mapping (doc/http-grpc-status-
 * mapping.md: 404 → UNIMPLEMENTED, 502/503/504 → UNAVAILABLE) with the finer meaning where the
 * proxy knows it: OVERLOADED and HEADERS_TOO_LARGE are RESOURCE_EXHAUSTED, a bad tag header
 * INVALID_ARGUMENT, the timeouts DEADLINE_EXCEEDED. Every UNAVAILABLE is one a gRPC client may
 * retry (nothing was processed, or the instance went away).
 */
export const GRPC_STATUS: Readonly<Record<ProxyErrorCode, GrpcStatus>> = {
  LANEMESH_BAD_REQUEST: GrpcCode.INTERNAL,
  LANEMESH_BAD_TAG_HEADER: GrpcCode.INVALID_ARGUMENT,
  LANEMESH_NO_ROUTE: GrpcCode.UNIMPLEMENTED,
  LANEMESH_REQUEST_TIMEOUT: GrpcCode.DEADLINE_EXCEEDED,
  LANEMESH_HEADERS_TOO_LARGE: GrpcCode.RESOURCE_EXHAUSTED,
  LANEMESH_INTERNAL: GrpcCode.INTERNAL,
  LANEMESH_UPSTREAM_RESET: GrpcCode.UNAVAILABLE,
  LANEMESH_UPSTREAM_PROTOCOL: GrpcCode.INTERNAL,
  LANEMESH_UNKNOWN_SERVICE: GrpcCode.UNAVAILABLE,
  LANEMESH_NO_ENDPOINT: GrpcCode.UNAVAILABLE,
  LANEMESH_NO_BASE_ENDPOINT: GrpcCode.UNAVAILABLE,
  LANEMESH_UPSTREAM_CONNECT: GrpcCode.UNAVAILABLE,
  LANEMESH_APP_UNAVAILABLE: GrpcCode.UNAVAILABLE,
  LANEMESH_NOT_READY: GrpcCode.UNAVAILABLE,
  LANEMESH_OVERLOADED: GrpcCode.RESOURCE_EXHAUSTED,
  LANEMESH_UPSTREAM_TIMEOUT: GrpcCode.DEADLINE_EXCEEDED,
};

const REASON: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A failure of the proxy itself; `message` is the short cause shown to the client. */
export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  readonly status: number;

  constructor(code: ProxyErrorCode, message: string) {
    super(message);
    this.name = "ProxyError";
    this.code = code;
    this.status = STATUS[code];
  }
}

/** The HTTP status a code maps to. */
export function statusOf(code: ProxyErrorCode): number {
  return STATUS[code];
}

export interface ErrorResponse {
  status: number;
  /** Flat [name, value, ...] list, ready for writeHead. */
  headers: string[];
  body: string;
}

/**
 * THE mapping from a proxy error to the response the client gets. A 408 closes the connection:
 * the rest of a stalled request body would otherwise be read (and thrown away) at the client's pace.
 */
export function errorResponse(err: ProxyError): ErrorResponse {
  const body = `${err.message}\n`;
  const headers = [
    PROXY_ERROR_HEADER,
    err.code,
    "content-type",
    "text/plain; charset=utf-8",
    "content-length",
    String(Buffer.byteLength(body)),
    "cache-control",
    "no-store",
  ];
  if (err.status === 408) headers.push("connection", "close");
  return { status: err.status, headers, body };
}

/** What sendError needs of a response: a Node ServerResponse (or an HTTP/2 stream's) fits. */
export interface ErrorSink {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  /** Set on a gRPC call's response (listen/h2-exchange.ts): errors are answered as statuses. */
  readonly grpc?: boolean;
  writeHead(status: number, headers: string[], endStream?: boolean): unknown;
  end(body?: string): unknown;
  destroy(err?: Error): unknown;
}

/**
 * Answer with `err` (nothing when the client is gone). When the response has already started (an upstream failed mid-body), the
 * only honest signal left is to cut the connection, so the client sees a truncated response.
 */
export function sendError(res: ErrorSink, err: ProxyError): void {
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  if (res.grpc === true) {
    res.writeHead(
      200,
      trailersOnly(GRPC_STATUS[err.code], err.message, PROXY_ERROR_HEADER, err.code),
      true,
    );
    return;
  }
  const r = errorResponse(err);
  res.writeHead(r.status, r.headers);
  res.end(r.body);
}

/** Answer on a raw socket (the server's parser failed, so there is no ServerResponse), then close. */
export function sendRawError(socket: Socket, err: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const r = errorResponse(err);
  let head = `HTTP/1.1 ${r.status} ${REASON[r.status] ?? "Error"}\r\n`;
  for (let i = 0; i < r.headers.length; i += 2) {
    if (r.headers[i] !== "connection") head += `${r.headers[i]}: ${r.headers[i + 1]}\r\n`;
  }
  socket.end(`${head}connection: close\r\n\r\n${r.body}`);
}

const BAD_TAG_TEXT: Record<BadTagReason, string> = {
  duplicate: "given more than once",
  "comma-joined": "holds a comma-joined list",
  "underscore-spelling": "spelled with an underscore",
  "invalid-value": "is not a lane tag (letters, digits, . _ -; at most 63)",
};

/** The 400 for a tag header the lane context reader refused. */
export function badTagHeader(header: string, reason: BadTagReason): ProxyError {
  return new ProxyError("LANEMESH_BAD_TAG_HEADER", `tag header ${header} ${BAD_TAG_TEXT[reason]}`);
}

/** The 404 for an entry request no Route matches. */
export function noRoute(path: string): ProxyError {
  const shown = path.length > 100 ? `${path.slice(0, 100)}...` : path;
  return new ProxyError("LANEMESH_NO_ROUTE", `no route for ${shown}`);
}
