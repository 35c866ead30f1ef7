// Who a proxy's stream belongs to (bootstrap tokens, or no check at all) and which hellos that identity may say; it never registers anything nor talks to the proxy.
import * as grpc from "@grpc/grpc-js";
import type { Hello } from "../protocol/wire.js";
import { type Clock, realClock } from "../runtime/clock.js";
import { parseHostPort } from "./registry.js";
import { type ProxyRole, TokenError, verifyToken } from "./tokens.js";

/** The proxy behind a stream, as its credential proves it. */
export interface ProxyIdentity {
  /** What a registration is bound to: `token:<id>`, `k8s:<ns>/<sa>/<pod>`, or `anonymous`. */
  key: string;
  /** For logs and `get proxies`. */
  subject: string;
  role: ProxyRole | "any";
  services: readonly string[] | "any";
  gateways: readonly string[] | "any";
  /** On Kubernetes: the pod the token is bound to; its IP and labels bind the hello. */
  pod?: PodFacts;
}

/** What the control plane knows of a proxy's pod. */
export interface PodFacts {
  namespace: string;
  name: string;
  ip: string;
  /** `app.kubernetes.io/name`, else `app`; null when neither. */
  app: string | null;
  /** `lanemesh.io/tag` (absent or "base" = null). */
  tag: string | null;
  /** `lanemesh.io/gateway`: the gateway name the pod may serve; null = not a gateway. */
  gateway: string | null;
}

/** Why a stream was refused (the `reason` label of lanemesh_cp_streams_refused_total). */
export type RefusalReason =
  | "unauthenticated"
  | "permission_denied"
  | "node_id_taken"
  | "invalid_hello"
  | "auth_unavailable";

/** A refusal with the gRPC status the stream ends with. */
export class AuthError extends Error {
  constructor(
    readonly status: grpc.status,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export const unauthenticated = (m: string) =>
  new AuthError(grpc.status.UNAUTHENTICATED, "unauthenticated", m);
export const denied = (m: string) =>
  new AuthError(grpc.status.PERMISSION_DENIED, "permission_denied", m);

/** Checks the credential a stream came with (`authorization: Bearer …`). */
export interface ProxyAuthenticator {
  readonly mode: "tokens" | "kubernetes" | "none";
  /** The identity behind `token` (undefined when the stream has none), or rejects with an AuthError. */
  authenticate(token: string | undefined): Promise<ProxyIdentity>;
}

/** The bearer token of a stream's metadata, if any. */
export function bearerOf(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get("authorization")[0];
  if (typeof v !== "string") return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(v);
  return m?.[1];
}

const NO_TOKEN =
  "no credential: start the proxy with --token-file FILE (a token from `lanemesh token create`)";

/** Bootstrap tokens signed with the data dir's key (`lanemesh token create`). */
export function tokenAuthenticator(key: Buffer, clock: Clock = realClock): ProxyAuthenticator {
  return {
    mode: "tokens",
    async authenticate(token) {
      if (token === undefined) throw unauthenticated(NO_TOKEN);
      try {
        const c = verifyToken(key, token, Math.floor(clock.now() / 1000));
        const covers = c.role === "sidecar" ? c.services : c.gateways;
        return {
          key: `token:${c.id}`,
          subject: `token ${c.id} (${c.role} ${covers.join(",")})`,
          role: c.role,
          services: c.services,
          gateways: c.gateways,
        };
      } catch (err) {
        if (err instanceof TokenError) throw unauthenticated(`${err.message} (${err.code})`);
        throw err;
      }
    },
  };
}

/** `--proxy-auth none`: every stream is the same anonymous identity (the old behaviour). */
export const noAuthentication: ProxyAuthenticator = {
  mode: "none",
  async authenticate() {
    return {
      key: "anonymous",
      subject: "anonymous",
      role: "any",
      services: "any",
      gateways: "any",
    };
  },
};

/** The host of a gRPC peer string (`1.2.3.4:5`, `::1:5`, `[::1]:5`, `::ffff:1.2.3.4:5`). */
export function peerHost(peer: string): string | null {
  const colon = peer.lastIndexOf(":");
  if (colon <= 0 || !/^\d+$/.test(peer.slice(colon + 1))) return null;
  return normalizeHost(peer.slice(0, colon));
}

function normalizeHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h.startsWith("::ffff:") && h.includes(".") ? h.slice("::ffff:".length) : h;
}

export function isLoopback(host: string): boolean {
  const h = normalizeHost(host);
  return h === "::1" || h === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

const covered = (list: readonly string[] | "any", v: string) => list === "any" || list.includes(v);
const shown = (list: readonly string[] | "any") => (list === "any" ? "any" : list.join(", "));

/**
 * Why `id` may not say `hello` over a stream from `peer`, or null. The role, app and gateway must
 * be the credential's; the address a sidecar registers must be its pod's IP (Kubernetes) and its
 * stream's peer address, unless that peer is loopback (a proxy on the control plane's host).
 */
export function helloRefusal(id: ProxyIdentity, hello: Hello, peer: string): AuthError | null {
  const who = id.subject;
  if (id.role !== "any" && id.role !== hello.role)
    return denied(`${who} is for a ${id.role}, not a ${hello.role}`);
  const pod = id.pod;
  if (hello.role === "sidecar" && hello.app !== "") {
    if (!covered(id.services, hello.app))
      return denied(`${who} covers service(s) ${shown(id.services)}, not ${hello.app}`);
    if (pod && pod.app !== hello.app)
      return denied(
        `pod ${pod.namespace}/${pod.name} is app ${pod.app ?? "(no app.kubernetes.io/name or app label)"}, not ${hello.app}`,
      );
    if (pod && (pod.tag ?? "") !== hello.tag)
      return denied(
        `pod ${pod.namespace}/${pod.name} has lane tag ${pod.tag ?? "(base)"}, not ${hello.tag || "(base)"}`,
      );
  }
  if (hello.role === "gateway") {
    const name = hello.gateway || "default";
    if (!covered(id.gateways, name))
      return denied(`${who} covers gateway(s) ${shown(id.gateways)}, not ${name}`);
    if (pod && pod.gateway !== name)
      return denied(
        `pod ${pod.namespace}/${pod.name} is not gateway ${name} (label lanemesh.io/gateway: ${pod.gateway ?? "none"})`,
      );
  }
  if (hello.address !== "") {
    const host = normalizeHost(parseHostPort(hello.address)?.address ?? "");
    if (pod && host !== normalizeHost(pod.ip))
      return denied(
        `address ${hello.address} is not the IP of pod ${pod.namespace}/${pod.name} (${pod.ip})`,
      );
    const from = peerHost(peer);
    if (from !== null && !isLoopback(from) && host !== from)
      return denied(`address ${hello.address} is not this stream's peer address ${from}`);
  }
  return null;
}
