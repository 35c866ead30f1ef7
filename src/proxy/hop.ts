// The pick and forward stages of one hop to a service (gateway and sidecar outbound): choose the instance for the tag, forward, retry once elsewhere when safe; it never classifies.
import type { Endpoint } from "../config/types.js";
import type { Compiled } from "../sync/state.js";
import { ProxyError, type ProxyErrorCode } from "./errors.js";
import type { Forwarder, ForwardFailureKind, ForwardOutcome } from "./forward.js";
import { hasBody, isIdempotent } from "./headers.js";
import type { Exchange, Recorder } from "./record.js";

/*
 * Retry rule: an attempt that failed before any response and before any byte of the request body
 * went out (connection refused / timed out / unreachable, or reset before the response; a peer
 * sidecar's 503 LANEMESH_APP_UNAVAILABLE) is retried ONCE, for idempotent methods only (GET HEAD
 * OPTIONS TRACE PUT DELETE), on `pick(tag, exclude = the failed instance)`: another instance of
 * the same tag, else base (counted as a fallback). A request whose body was (even partly) sent is
 * never retried: bodies are streamed, never buffered, so they cannot be replayed.
 */

export interface Hop {
  readonly forwarder: Forwarder;
  readonly recorder: Recorder;
}

const FAILURE_CODE: Record<Exclude<ForwardFailureKind, "aborted">, ProxyErrorCode> = {
  connect: "LANEMESH_UPSTREAM_CONNECT",
  reset: "LANEMESH_UPSTREAM_RESET",
  timeout: "LANEMESH_UPSTREAM_TIMEOUT",
  protocol: "LANEMESH_UPSTREAM_PROTOCOL",
  "app-unavailable": "LANEMESH_APP_UNAVAILABLE",
  "bad-request": "LANEMESH_BAD_REQUEST",
};

export function noInstance(
  code: "LANEMESH_NO_ENDPOINT" | "LANEMESH_NO_BASE_ENDPOINT",
  service: string,
  tag: string | null,
): ProxyError {
  if (code === "LANEMESH_NO_ENDPOINT") {
    return new ProxyError(code, `no instance of service ${service}`);
  }
  return new ProxyError(
    code,
    tag === null
      ? `no base instance of service ${service} (untagged requests never go to canaries)`
      : `no base instance of service ${service} to fall back to from tag ${tag}`,
  );
}

function attempt(
  hop: Hop,
  x: Exchange,
  ep: Endpoint,
  path: string,
  headers: string[],
  interceptAppUnavailable: boolean,
): Promise<ForwardOutcome> {
  x.served = ep.tag;
  x.upstream = `${ep.address}:${ep.port}`;
  const req = x.req;
  return hop.forwarder.forward({
    upstream: ep,
    method: req.method ?? "GET",
    path,
    headers,
    body: hasBody(req.headers) ? req : null,
    interceptAppUnavailable,
    res: x.res,
    onHead: (status) => hop.recorder.head(x, status),
  });
}

/**
 * Send the request to an instance of `service` for `tag` (null = base) and stream the answer
 * back. `headers` are the outgoing headers, lane context included.
 */
export async function forwardToService(
  hop: Hop,
  x: Exchange,
  c: Compiled,
  service: string,
  tag: string | null,
  path: string,
  headers: string[],
): Promise<void> {
  x.service = service;
  x.wanted = tag;
  const picker = c.pickers.get(service);
  if (picker === undefined) {
    hop.recorder.fail(x, noInstance("LANEMESH_NO_ENDPOINT", service, tag));
    return;
  }
  const first = picker.pick(tag);
  if (!first.ok) {
    hop.recorder.fail(x, noInstance(first.code, service, tag));
    return;
  }
  if (first.fallback && tag !== null) hop.recorder.fallback(x, service, tag);
  const idempotent = isIdempotent(x.req.method ?? "GET");
  let outcome = await attempt(hop, x, first.endpoint, path, headers, idempotent);
  if (!outcome.ok && outcome.retryable && idempotent) {
    const second = picker.pick(tag, first.endpoint);
    if (
      second.ok &&
      (second.endpoint.address !== first.endpoint.address ||
        second.endpoint.port !== first.endpoint.port)
    ) {
      x.retried = true;
      if (second.fallback && tag !== null) hop.recorder.fallback(x, service, tag);
      outcome = await attempt(hop, x, second.endpoint, path, headers, false);
    }
  }
  if (outcome.ok || outcome.kind === "aborted") return;
  hop.recorder.fail(x, new ProxyError(FAILURE_CODE[outcome.kind], `${service}: ${outcome.detail}`));
}
