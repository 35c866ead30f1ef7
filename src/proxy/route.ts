// The route stage of the outbound side: which service an app's request is for (absolute-form URL or Host header, looked up in the config's service names); it never picks an instance.

import type { Compiled } from "../live/compiled.js";
import { MALFORMED } from "../live/service-names.js";
import { ProxyError } from "./errors.js";

/*
 * The target authority is the absolute-form request target when the app uses the sidecar as an
 * HTTP proxy (`GET http://sc-b/path HTTP/1.1`; its Host header is then ignored, RFC 9112 §3.2.2),
 * else the Host header. `https://` targets are refused (400): TLS to the next hop would need a
 * CONNECT tunnel, which the sidecar does not offer. Userinfo (`user@host`) is refused (400).
 * Which names a service answers to: live/service-names.ts. Otherwise: 503
 * LANEMESH_UNKNOWN_SERVICE (see errors.ts for why not 404). A service named by the rules but with
 * no instance: 503 LANEMESH_NO_ENDPOINT.
 */

export type Target =
  | { ok: true; service: string /** Origin-form path for the upstream. */; path: string }
  | { ok: false; error: ProxyError };

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

/** The service an outbound request is for. `host` is the Host header. */
export function outboundTarget(url: string, host: string | undefined, c: Compiled): Target {
  const split = splitRequestTarget(url, host);
  if (!split.ok) return split;
  const service = c.names.resolve(split.authority);
  if (service === MALFORMED) return bad("malformed host in request target");
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
