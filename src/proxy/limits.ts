// The bounds a proxy puts on waiting (connections per instance and per client, the pending queue, slow bodies and readers, tunnels) with their defaults, and what each side's forwarder and listeners take from them; pure, it never enforces anything itself.
import {
  CLIENT_BODY_TIMEOUT_MS,
  CONNECTIONS,
  type H1ForwarderOptions,
  MAX_PENDING,
  PENDING_TIMEOUT_MS,
} from "./forward/h1/forwarder.js";
import {
  H2_SESSIONS,
  H2_STREAMS_PER_SESSION,
  type H2ForwarderOptions,
} from "./forward/h2/forwarder.js";
import {
  type ListenerLimits,
  MAX_TUNNELS,
  SEND_TIMEOUT_MS,
  TUNNEL_IDLE_MS,
} from "./listen/listener.js";

/*
 * One client (the downstream peer's address) can never take every connection to an instance:
 * `clientReserve` connections stay out of its reach.
 * - Gateway: a client holds at most `connectionsPerInstance - clientReserve` (96 of 128) of each
 *   instance's connections; the rest stay free for the other clients whatever one of them does
 *   (slow bodies, responses it does not read, or simply many requests). Its further requests wait
 *   (bounded, with the pending timeout) for its own connections to come back.
 * - Sidecar inbound: the callers are proxies (the gateway, other sidecars), each holding at most
 *   `connectionsPerInstance` connections to this instance, and one slow client of the gateway is
 *   one of those. So a caller may hold `connectionsPerInstance` connections to the app and the
 *   pool to the app is `connectionsPerInstance + clientReserve` (160): no caller is ever held back
 *   by its own share, and a client reaching the inbound port directly still leaves the reserve.
 * - Sidecar outbound: no share: its only client is the app beside it.
 * Why per address and not per downstream connection: an HTTP/1.1 connection carries one request
 * at a time, so it holds at most one upstream connection already; an attacker opens many.
 */

export interface ProxyLimits {
  /** Connections to one instance (`--max-connections-per-instance`). */
  connectionsPerInstance: number;
  /** Connections of each instance no single client may take (`--client-reserve`, 0 = none). */
  clientReserve: number;
  /** Requests waiting for a busy instance (`--max-pending-requests`). */
  maxPendingRequests: number;
  /** Longest wait for a busy instance, ms (`--pending-timeout`). */
  pendingTimeoutMs: number;
  /** A request body without progress, ms (`--client-body-timeout`). */
  clientBodyTimeoutMs: number;
  /** A response the client does not read, ms (`--send-timeout`). */
  sendTimeoutMs: number;
  /** Open tunnels per listener (`--max-tunnels`). */
  maxTunnels: number;
  /** A tunnel with no byte either way, ms (`--tunnel-idle-timeout`). */
  tunnelIdleMs: number;
}

/** 32 of 128: a quarter of each instance stays out of any one client's reach. */
export const CLIENT_RESERVE = 32;

export const DEFAULT_LIMITS: Readonly<ProxyLimits> = {
  connectionsPerInstance: CONNECTIONS,
  clientReserve: CLIENT_RESERVE,
  maxPendingRequests: MAX_PENDING,
  pendingTimeoutMs: PENDING_TIMEOUT_MS,
  clientBodyTimeoutMs: CLIENT_BODY_TIMEOUT_MS,
  sendTimeoutMs: SEND_TIMEOUT_MS,
  maxTunnels: MAX_TUNNELS,
  tunnelIdleMs: TUNNEL_IDLE_MS,
};

export function limitsOf(given: Partial<ProxyLimits> | undefined): Readonly<ProxyLimits> {
  return given === undefined ? DEFAULT_LIMITS : { ...DEFAULT_LIMITS, ...given };
}

function common(l: ProxyLimits): H1ForwarderOptions {
  return {
    maxPending: l.maxPendingRequests,
    pendingTimeoutMs: l.pendingTimeoutMs,
    clientBodyTimeoutMs: l.clientBodyTimeoutMs,
  };
}

/** The gateway's forwarder: each client under its share of every instance. */
export function gatewayForwarder(l: ProxyLimits): H1ForwarderOptions {
  const n = l.connectionsPerInstance;
  return { ...common(l), connections: n, perClient: Math.max(1, n - l.clientReserve) };
}

/** A sidecar's forwarder to other services: no share (the app is its only client). */
export function outboundForwarder(l: ProxyLimits): H1ForwarderOptions {
  return { ...common(l), connections: l.connectionsPerInstance };
}

/** A sidecar's forwarder to its app: each caller may hold as much as its own pool to us. */
export function inboundForwarder(l: ProxyLimits): H1ForwarderOptions {
  const n = l.connectionsPerInstance;
  return { ...common(l), connections: n + l.clientReserve, perClient: n };
}

/**
 * HTTP/2 streams to one instance, per side, the same shape as above: the gateway keeps a quarter
 * of an instance's 800 streams out of any one client's reach (600 each); the inbound side has
 * 1,000 streams to its app and lets each caller (a proxy with 800 of its own) hold 800; the
 * outbound side has no share. A client past its share is answered LANEMESH_OVERLOADED at once
 * (HTTP/2 has no wait queue: its streams are cheap to refuse and the client may retry).
 */
export function h2ForwarderFor(side: "gateway" | "inbound" | "outbound"): H2ForwarderOptions {
  const streams = H2_SESSIONS * H2_STREAMS_PER_SESSION;
  if (side === "gateway") return { perClient: (streams * 3) / 4 };
  if (side === "inbound") return { sessions: H2_SESSIONS + 2, perClient: streams };
  return {};
}

export function listenerLimits(l: ProxyLimits): ListenerLimits {
  return { sendTimeoutMs: l.sendTimeoutMs, tunnelIdleMs: l.tunnelIdleMs, maxTunnels: l.maxTunnels };
}
