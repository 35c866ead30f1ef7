// The hostile-edge checks on a parsed request's raw headers (count, framing, Host); pure, it never answers nor forwards.
import { ProxyError } from "../errors.js";

/*
 * Node 20's llhttp (strict mode) already refuses, with a 400 before any handler runs: two
 * Transfer-Encoding headers, `chunked` not last (`chunked, identity`), unknown codings alone
 * (`identity`, `chunkedx`), Content-Length together with Transfer-Encoding, two Content-Length
 * headers, obs-fold, bare LF line ends, a space before the colon, HTTP/1.1 without Host.
 * It ACCEPTS, and this module refuses:
 * - `Transfer-Encoding: ,chunked` and `gzip, chunked` (llhttp reads chunked framing, an upstream or
 *   a middlebox may not) → 400: the only Transfer-Encoding accepted is exactly `chunked` (any
 *   case, as llhttp trims the surrounding whitespace); the forwarder then drops the header and
 *   re-frames the body itself, so no Transfer-Encoding is ever passed on;
 * - Content-Length with Transfer-Encoding, re-checked here in case a future parser is lenient;
 * - two Host headers (RFC 9112 §3.2: a server MUST answer 400; llhttp passes them through and
 *   Node keeps the first, an upstream might keep the last);
 * - a Content-Length with leading zeros (`005`, `00`) → 400: the grammar allows it, but a parser
 *   may read it as octal or refuse it, and it would be passed on as received;
 * - more header lines than the count limit → 431 (Node does not refuse them: `maxHeadersCount`
 *   only truncates `req.headers`, `req.rawHeaders` keeps them all).
 */

const TOO_MANY = (limit: number) =>
  new ProxyError("LANEMESH_HEADERS_TOO_LARGE", `more than ${limit} header fields`);

/**
 * What the later stages need from the raw headers, read in the same pass, so that nothing on
 * the request path touches `req.headers` (Node builds that object on first access).
 */
export interface RequestFacts {
  /** The Host header (the first; two are refused). */
  host: string | undefined;
  /** Every Connection header's value, joined with ", " as Node joins them. */
  connection: string | undefined;
  /** A positive Content-Length or chunked framing. */
  hasBody: boolean;
}

/**
 * The first reason to refuse the request's header section, or null when it may go on; `facts`
 * is filled along the way (only meaningful when null is returned).
 */
export function checkRequest(
  rawHeaders: readonly string[],
  maxHeaders: number,
  facts: RequestFacts,
): ProxyError | null {
  if (rawHeaders.length > maxHeaders * 2) return TOO_MANY(maxHeaders);
  let hosts = 0;
  let contentLength: string | undefined;
  let transferEncodings = 0;
  let transferEncoding = "";
  const count = rawHeaders.length - 1;
  for (let i = 0; i < count; i += 2) {
    const name = rawHeaders[i] as string;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === "host") {
          if (hosts++ === 0) facts.host = rawHeaders[i + 1] as string;
        }
        break;
      case 10:
        if (name.toLowerCase() === "connection") {
          const value = rawHeaders[i + 1] as string;
          facts.connection =
            facts.connection === undefined ? value : `${facts.connection}, ${value}`;
        }
        break;
      case 14:
        if (name.toLowerCase() === "content-length") contentLength = rawHeaders[i + 1] as string;
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") {
          transferEncodings++;
          transferEncoding = rawHeaders[i + 1] as string;
        }
        break;
    }
  }
  if (hosts > 1) return new ProxyError("LANEMESH_BAD_REQUEST", "more than one Host header");
  if (
    contentLength !== undefined &&
    contentLength.length > 1 &&
    contentLength.charCodeAt(0) === 0x30 /* 0 */
  ) {
    return new ProxyError("LANEMESH_BAD_REQUEST", "Content-Length with leading zeros");
  }
  if (transferEncodings === 0) {
    facts.hasBody = contentLength !== undefined && contentLength !== "0";
    return null;
  }
  if (contentLength !== undefined) {
    return new ProxyError(
      "LANEMESH_BAD_REQUEST",
      "Content-Length and Transfer-Encoding in one request",
    );
  }
  if (transferEncodings > 1 || transferEncoding.toLowerCase() !== "chunked") {
    return new ProxyError(
      "LANEMESH_BAD_REQUEST",
      "Transfer-Encoding other than exactly `chunked` is refused",
    );
  }
  facts.hasBody = true;
  return null;
}

/** The first reason to refuse the request's header section, or null when it may go on. */
export function checkFraming(rawHeaders: readonly string[], maxHeaders: number): ProxyError | null {
  return checkRequest(rawHeaders, maxHeaders, {
    host: undefined,
    connection: undefined,
    hasBody: false,
  });
}

/** True when the Upgrade value names h2c among its protocols (`h2c`, `websocket, h2c`). */
export function namesH2c(protocol: string): boolean {
  for (const token of protocol.split(",")) if (token.trim().toLowerCase() === "h2c") return true;
  return false;
}

/** The Upgrade header's value as received (the last one when repeated). */
export function upgradeProtocol(raw: readonly string[]): string {
  let value = "";
  for (let i = 0; i < raw.length - 1; i += 2) {
    const name = raw[i] as string;
    if (name.length === 7 && name.toLowerCase() === "upgrade") value = raw[i + 1] as string;
  }
  return value;
}
