// The route stage of the outbound side: which service an app's request is for (absolute-form URL, Host header, or an instance's ip:port); it never picks an instance.
import { isIP } from "node:net";
import type { Compiled } from "../sync/state.js";
import { ProxyError } from "./errors.js";

/*
 * The target authority is the absolute-form request target when the app uses the sidecar as an
 * HTTP proxy (`GET http://sc-b/path HTTP/1.1`; its Host header is then ignored, RFC 9112 §3.2.2),
 * else the Host header. `https://` targets are refused (400): TLS to the next hop would need a
 * CONNECT tunnel, which the sidecar does not offer. Userinfo (`user@host`) is refused (400).
 *
 * The host (port removed, trailing dot removed, compared case-insensitively) names a service when:
 * 1. it is a service name as is (`sc-b`, and any name that appears in the rules or discovery);
 * 2. it is an IP literal (v4, or v6 in brackets) equal to a known instance's address, with the
 *    port given (80 when absent): the service of that instance (reverse lookup), even though the
 *    request may then go to another instance of it (the lane decides the instance);
 * 3. after removing a `.svc.cluster.local` or `.svc` suffix, it is `NAME` or `NAME.NAMESPACE` and
 *    NAME is a service: Kubernetes style `sc-b.default.svc.cluster.local`, `sc-b.default.svc`,
 *    `sc-b.default`. The namespace is not checked (rules have no namespaces). Other cluster
 *    domains and longer names (`a.b.c`) are not understood.
 * Otherwise: 503 LANEMESH_UNKNOWN_SERVICE (see errors.ts for why not 404). A service named by the
 * rules but with no instance: 503 LANEMESH_NO_ENDPOINT.
 */

export type Target =
  | { ok: true; service: string /** Origin-form path for the upstream. */; path: string }
  | { ok: false; error: ProxyError };

/** Per config: lower-case names → service, and the authorities already resolved. */
interface Names {
  readonly services: Map<string, string>;
  readonly resolved: Map<string, string | null>;
}

/** Authorities remembered per config (then cleared): hosts an app uses are few. */
const MAX_RESOLVED = 1024;
const names = new WeakMap<Compiled, Names>();

function namesOf(c: Compiled): Names {
  let n = names.get(c);
  if (n === undefined) {
    const services = new Map<string, string>();
    const add = (s: string) => {
      const lower = s.toLowerCase();
      if (!services.has(lower)) services.set(lower, s);
    };
    for (const s of c.pickers.services()) add(s);
    for (const r of c.rules.routes) add(r.spec.service);
    for (const g of c.rules.groups) for (const a of g.spec.apps) add(a);
    n = { services, resolved: new Map() };
    names.set(c, n);
  }
  return n;
}

type Refused = { ok: false; error: ProxyError };

const bad = (message: string): Refused => ({
  ok: false,
  error: new ProxyError("LANEMESH_BAD_REQUEST", message),
});

/** `/path?query` of an absolute-form target (`http://host/path?q` → `/path?q`). */
export function originForm(url: string, authorityEnd: number): string {
  if (authorityEnd >= url.length) return "/";
  const c = url.charCodeAt(authorityEnd);
  return c === 0x2f /* / */ ? url.slice(authorityEnd) : `/${url.slice(authorityEnd)}`;
}

/** Index just past the authority of an absolute-form URL whose authority starts at `start`. */
function authorityEnd(url: string, start: number): number {
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) return i; // / ? #
  }
  return url.length;
}

/** The authority and origin-form path of a request target, or an error. */
export function splitRequestTarget(
  url: string,
  host: string | undefined,
): { ok: true; authority: string; path: string } | Refused {
  if (url.charCodeAt(0) === 0x2f) {
    if (host === undefined || host === "") return bad("no Host header");
    return { ok: true, authority: host, path: url };
  }
  const scheme = url.slice(0, 8).toLowerCase();
  if (scheme.startsWith("http://")) {
    const end = authorityEnd(url, 7);
    return { ok: true, authority: url.slice(7, end), path: originForm(url, end) };
  }
  if (scheme === "https://") {
    return bad("https:// targets are not proxied: send plain http:// to the sidecar");
  }
  return bad("unsupported request target");
}

/** Host and port of an authority (`h`, `h:p`, `[v6]`, `[v6]:p`); null when malformed. */
export function splitHostPort(authority: string): { host: string; port: number | null } | null {
  if (authority.includes("@")) return null;
  let host: string;
  let rest: string;
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    const close = authority.indexOf("]");
    if (close === -1) return null;
    host = authority.slice(1, close);
    rest = authority.slice(close + 1);
  } else {
    const colon = authority.indexOf(":");
    if (colon === -1) return authority === "" ? null : { host: authority, port: null };
    if (authority.indexOf(":", colon + 1) !== -1) return null;
    host = authority.slice(0, colon);
    rest = authority.slice(colon);
  }
  if (host === "") return null;
  if (rest === "" || rest === ":") return { host, port: null };
  if (rest.charCodeAt(0) !== 0x3a || !/^\d{1,5}$/.test(rest.slice(1))) return null;
  const port = Number(rest.slice(1));
  return port >= 1 && port <= 65535 ? { host, port } : null;
}

function serviceOfHost(host: string, port: number | null, c: Compiled, n: Names): string | null {
  let name = host.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  const direct = n.services.get(name);
  if (direct !== undefined) return direct;
  if (isIP(name) !== 0) return c.pickers.byAddress(name, port ?? 80)?.service ?? null;
  if (name.endsWith(".svc.cluster.local")) name = name.slice(0, -".svc.cluster.local".length);
  else if (name.endsWith(".svc")) name = name.slice(0, -".svc".length);
  const dot = name.indexOf(".");
  if (dot === -1) return n.services.get(name) ?? null;
  if (name.indexOf(".", dot + 1) !== -1) return null;
  return n.services.get(name.slice(0, dot)) ?? null;
}

/** The service an outbound request is for. `host` is the Host header. */
export function outboundTarget(url: string, host: string | undefined, c: Compiled): Target {
  const split = splitRequestTarget(url, host);
  if (!split.ok) return split;
  const n = namesOf(c);
  let service = n.resolved.get(split.authority);
  if (service === undefined) {
    const hp = splitHostPort(split.authority);
    if (hp === null) return bad("malformed host in request target");
    service = serviceOfHost(hp.host, hp.port, c, n);
    if (n.resolved.size >= MAX_RESOLVED) n.resolved.clear();
    n.resolved.set(split.authority, service);
  }
  if (service === null) {
    const shown =
      split.authority.length > 100 ? `${split.authority.slice(0, 100)}...` : split.authority;
    return {
      ok: false,
      error: new ProxyError(
        "LANEMESH_UNKNOWN_SERVICE",
        `unknown service ${shown}: no instance is registered under that name`,
      ),
    };
  }
  return { ok: true, service, path: split.path };
}
