// Header rewriting between hops: hop-by-hop fields removed (RFC 9110 §7.6.1), X-Forwarded-* set; it never touches the lane context.
import { PROXY_ERROR_HEADER } from "./errors.js";

/*
 * Removed from requests: Connection and every field it names, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding (the forwarder re-frames bodies), Upgrade, Trailer (request trailers are not
 * forwarded over HTTP/1.1), HTTP2-Settings, Expect (Node's server already answered `100 Continue` to the
 * client, the body follows without waiting) and Proxy-Authorization (credentials meant for a
 * proxy, i.e. for us).
 * Removed from responses: Connection and what it names, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding, Upgrade. `Trailer` stays: response trailers are passed on (h1/connection.ts
 * adds them to the chunked answer; HTTP/2 carries them as a trailing HEADERS frame).
 * X-Forwarded-For: the gateway and the inbound side append the peer address (client, resp. the
 * caller's sidecar); the outbound side does not (its peer is the local app on loopback).
 * X-Forwarded-Proto: the gateway overwrites it with `http` (the client's value is not trusted);
 * sidecars keep the one they received and set `http` when absent.
 */

const RESPONSE_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
]);

const REQUEST_HOP = new Set([
  ...RESPONSE_HOP,
  "trailer",
  "http2-settings",
  "expect",
  "proxy-authorization",
]);

const XFF = "x-forwarded-for";
const XFP = "x-forwarded-proto";

/** Names Connection may list that we never drop: the target and the body length. */
const PROTECTED = new Set(["host", "content-length"]);

/** Header names that must be lower-cased and looked up; a length check skips the rest cheaply. */
function lengths(names: Iterable<string>): boolean[] {
  const out: boolean[] = [];
  for (const n of names) out[n.length] = true;
  return out;
}
const REQUEST_LENGTHS = lengths([...REQUEST_HOP, XFF, XFP]);
const RESPONSE_LENGTHS = lengths(RESPONSE_HOP);

/** The field names a Connection header value lists (close/keep-alive are options, not names). */
function connectionNames(connection: string | undefined): Set<string> | null {
  if (connection === undefined) return null;
  if (connection.length <= 10 && !connection.includes(",")) {
    const only = connection.trim().toLowerCase();
    if (only === "keep-alive" || only === "close") return null;
  }
  let out: Set<string> | null = null;
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name === "" || name === "close" || name === "keep-alive" || PROTECTED.has(name)) continue;
    out ??= new Set();
    out.add(name);
  }
  return out;
}

export interface ForwardedPlan {
  /** The peer address to append to X-Forwarded-For, or null to leave it as received. */
  appendFor: string | null;
  /** True: X-Forwarded-Proto is overwritten with `http`; false: kept, `http` when absent. */
  overwriteProto: boolean;
}

/**
 * `rawHeaders` without hop-by-hop fields and with X-Forwarded-* per `plan`. `connection` is the
 * request's Connection value as Node joined it (`req.headers.connection`).
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  connection: string | undefined,
  plan: ForwardedPlan,
): string[] {
  const listed = connectionNames(connection);
  const out: string[] = [];
  let xff: string | undefined;
  let xfp: string | undefined;
  const count = rawHeaders.length - 1;
  for (let i = 0; i < count; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    if (REQUEST_LENGTHS[name.length] === true || listed !== null) {
      const lower = name.toLowerCase();
      if (REQUEST_HOP.has(lower) || listed?.has(lower)) continue;
      if (lower === XFF) {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === XFP) {
        xfp ??= value;
        continue;
      }
    }
    out.push(name, value);
  }
  if (plan.appendFor !== null) {
    out.push(XFF, xff === undefined ? plan.appendFor : `${xff}, ${plan.appendFor}`);
  } else if (xff !== undefined) {
    out.push(XFF, xff);
  }
  out.push(XFP, plan.overwriteProto || xfp === undefined ? "http" : xfp);
  return out;
}

/**
 * Response headers as an object (lower-case names, repeated fields as arrays), flattened
 * for writeHead without hop-by-hop fields.
 */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): string[] {
  const connection = headers.connection;
  const listed = connectionNames(Array.isArray(connection) ? connection.join(",") : connection);
  const out: string[] = [];
  for (const name in headers) {
    if (RESPONSE_LENGTHS[name.length] === true && RESPONSE_HOP.has(name)) continue;
    if (listed?.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === "string") out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

/**
 * A raw response header list ([name, value, …], names in any case, as llhttp hands it over)
 * without hop-by-hop fields and the fields Connection names, compacted in place: the common
 * answer without any such field is not touched at all.
 */
export function stripResponseHopHeaders(raw: string[]): void {
  let hop = false;
  let listed: Set<string> | null = null;
  const count = raw.length - 1;
  for (let i = 0; i < count; i += 2) {
    const name = raw[i] as string;
    if (RESPONSE_LENGTHS[name.length] !== true) continue;
    const lower = name.toLowerCase();
    if (!RESPONSE_HOP.has(lower)) continue;
    hop = true;
    if (lower !== "connection") continue;
    const names = connectionNames(raw[i + 1]);
    if (names === null) continue;
    if (listed === null) listed = names;
    else for (const n of names) listed.add(n);
  }
  if (!hop) return;
  let j = 0;
  for (let i = 0; i < count; i += 2) {
    const name = raw[i] as string;
    if (RESPONSE_LENGTHS[name.length] === true || listed !== null) {
      const lower = name.toLowerCase();
      if (RESPONSE_HOP.has(lower) || listed?.has(lower)) continue;
    }
    raw[j++] = name;
    raw[j++] = raw[i + 1] as string;
  }
  raw.length = j;
}

/** The `timeout=N` (seconds) of a raw response's Keep-Alive header, or -1 when it has none. */
export function keepAliveHint(raw: readonly string[]): number {
  const count = raw.length - 1;
  for (let i = 0; i < count; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== "keep-alive") continue;
    const value = (raw[i + 1] as string).toLowerCase();
    const at = value.indexOf("timeout=");
    if (at === -1) return -1;
    let n = 0;
    let digits = 0;
    for (let k = at + 8; k < value.length; k++) {
      const c = value.charCodeAt(k) - 0x30;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
      digits++;
    }
    return digits === 0 || digits > 9 ? -1 : n;
  }
  return -1;
}

/** The value of the first header `lowerName` in a raw list (names in any case). */
export function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length - 1; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * What a peer sidecar's 503 says, from its raw response headers: its app is down
 * (LANEMESH_APP_UNAVAILABLE), it is overloaded (LANEMESH_OVERLOADED), or null for anything else.
 */
export function peerRefusal(raw: readonly string[]): "app-unavailable" | "overloaded" | null {
  const code = headerValue(raw, PROXY_ERROR_HEADER);
  if (code === "LANEMESH_APP_UNAVAILABLE") return "app-unavailable";
  return code === "LANEMESH_OVERLOADED" ? "overloaded" : null;
}

/** Idempotent methods (RFC 9110 §9.2.2): the only ones a failed attempt may be retried for. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** True when the request carries a body (a positive Content-Length or chunked framing). */
export function hasBody(headers: {
  "content-length"?: string | undefined;
  "transfer-encoding"?: string | undefined;
}): boolean {
  if (headers["transfer-encoding"] !== undefined) return true;
  const cl = headers["content-length"];
  return cl !== undefined && cl !== "0";
}
