// The hostile-edge checks on a parsed request's raw headers (count, framing, Host); pure, it never answers nor forwards.
import { ProxyError } from "./errors.js";

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
 * - more header lines than the count limit → 431 (Node does not refuse them: `maxHeadersCount`
 *   only truncates `req.headers`, `req.rawHeaders` keeps them all).
 */

const TOO_MANY = (limit: number) =>
  new ProxyError("LANEMESH_HEADERS_TOO_LARGE", `more than ${limit} header fields`);

/** The first reason to refuse the request's header section, or null when it may go on. */
export function checkFraming(rawHeaders: readonly string[], maxHeaders: number): ProxyError | null {
  if (rawHeaders.length > maxHeaders * 2) return TOO_MANY(maxHeaders);
  let hosts = 0;
  let contentLength = false;
  let transferEncodings = 0;
  let transferEncoding = "";
  const count = rawHeaders.length - 1;
  for (let i = 0; i < count; i += 2) {
    const name = rawHeaders[i] as string;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === "host") hosts++;
        break;
      case 14:
        if (name.toLowerCase() === "content-length") contentLength = true;
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
  if (transferEncodings === 0) return null;
  if (contentLength) {
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
  return null;
}
