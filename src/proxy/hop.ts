// The pick and forward stages of one hop to a service (gateway and sidecar outbound): choose the instance for the tag, forward, retry once elsewhere when safe; it never classifies.
import type { Compiled } from "../live/compiled.js";
import type { OutcomeSink } from "./ejection.js";
import { ProxyError, type ProxyErrorCode } from "./errors.js";
import { type Exchange, type Flow, HopAttempts } from "./exchange.js";
import type { Forwarder, ForwardFailureKind, ForwardOutcome } from "./forward/contract.js";
import { isIdempotent } from "./headers.js";
import type { Recorder } from "./record.js";

/*
 * Retry rule: an attempt that failed before any response and before any byte of the request body
 * went out (connection refused / timed out / unreachable, or reset before the response; a peer
 * sidecar's 503 LANEMESH_APP_UNAVAILABLE or LANEMESH_OVERLOADED; the instance's connections all
 * busy past the pending bound or timeout) is retried ONCE, for idempotent methods only (GET HEAD
 * OPTIONS TRACE PUT DELETE), on `pick(tag, exclude = the failed instance)`: another instance of
 * the same tag, else base (counted as a fallback). A request whose body was (even partly) sent is
 * never retried: bodies are streamed, never buffered, so they cannot be replayed. HTTP/2 (gRPC)
 * requests of any method follow the same rule, with the first 64 KiB of body kept for a replay
 * (`retriable` below).
 */

const FAILURE_CODE: Record<Exclude<ForwardFailureKind, "aborted">, ProxyErrorCode> = {
  connect: "LANEMESH_UPSTREAM_CONNECT",
  reset: "LANEMESH_UPSTREAM_RESET",
  timeout: "LANEMESH_UPSTREAM_TIMEOUT",
  protocol: "LANEMESH_UPSTREAM_PROTOCOL",
  "app-unavailable": "LANEMESH_APP_UNAVAILABLE",
  "bad-request": "LANEMESH_BAD_REQUEST",
  overloaded: "LANEMESH_OVERLOADED",
  "client-timeout": "LANEMESH_REQUEST_TIMEOUT",
};

/**
 * May a failed attempt of `x` go to another instance? An idempotent method, or any HTTP/2
 * request (gRPC calls are POSTs): an HTTP/2 outcome is retryable only when the instance did not
 * process the stream and its body is kept whole for the replay (forward/h2/attempt.ts), as gRPC's
 * own transparent retry does.
 */
function retriable(x: Exchange): boolean {
  return x.h2 !== null || isIdempotent(x.method);
}

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

/**
 * The pick and forward stages for one service: `send` picks the instance for the tag and hands
 * the Exchange to the forwarder; `settled` applies the retry rule to the outcome. One per
 * listener, shared by its requests (their state is in the Exchange).
 */
export class ServiceHop implements Flow {
  /** `outcomes`: where every attempt's outcome goes for outlier detection (ejection.ts). */
  constructor(
    readonly forwarder: Forwarder,
    readonly recorder: Recorder,
    private readonly outcomes: OutcomeSink | null = null,
  ) {}

  /**
   * Send the request to an instance of `service` for `tag` (null = base) and stream the answer
   * back. `headers` are the outgoing headers, lane context included.
   */
  send(
    x: Exchange,
    c: Compiled,
    service: string,
    tag: string | null,
    path: string,
    headers: string[],
  ): void {
    x.service = service;
    x.wanted = tag;
    const picker = c.pickers.get(service);
    if (picker === undefined) {
      this.recorder.fail(x, noInstance("LANEMESH_NO_ENDPOINT", service, tag));
      return;
    }
    const first = picker.pick(tag);
    if (!first.ok) {
      this.recorder.fail(x, noInstance(first.code, service, tag));
      return;
    }
    if (first.fallback && tag !== null) this.recorder.fallback(x, service, tag, c);
    x.hop = new HopAttempts(picker, first.endpoint, c);
    x.prepare(path, headers, this, retriable(x));
    x.sendTo(this.forwarder, first.endpoint, first.endpoint.tag);
  }

  settled(x: Exchange, outcome: ForwardOutcome): void {
    const hop = x.hop;
    if (hop === null) return;
    if (this.outcomes !== null) this.outcomes.observe(hop.current, outcome);
    if (outcome.ok) return;
    if (outcome.retryable && !hop.retried && retriable(x)) {
      const first = hop.first;
      const second = hop.picker.pick(x.wanted, first);
      if (
        second.ok &&
        (second.endpoint.address !== first.address || second.endpoint.port !== first.port)
      ) {
        hop.retried = true;
        hop.current = second.endpoint;
        if (second.fallback && x.wanted !== null) {
          this.recorder.fallback(x, x.service, x.wanted, hop.config);
        }
        x.interceptAppUnavailable = false;
        x.sendTo(this.forwarder, second.endpoint, second.endpoint.tag);
        return;
      }
    }
    if (outcome.kind === "aborted") return;
    this.recorder.fail(
      x,
      new ProxyError(FAILURE_CODE[outcome.kind], `${x.service}: ${outcome.detail}`),
    );
  }
}
