// The names an outbound request may give a service (its name in any case, Kubernetes-style `name.ns.svc…`, an instance's ip:port), indexed once per config; pure, it never picks an instance.

import { isIP } from "node:net";
import type { PickerTable } from "../balancer/picker.js";
import type { RuleSet } from "../config/types.js";

/*
 * The host of an authority (port removed, trailing dot removed, compared case-insensitively)
 * names a service when:
 * 1. it is a service name as is (`sc-b`, and any name that appears in the rules or discovery);
 * 2. it is an IP literal (v4, or v6 in brackets) equal to a known instance's address, with the
 *    port given (80 when absent): the service of that instance (reverse lookup), even though the
 *    request may then go to another instance of it (the lane decides the instance);
 * 3. after removing a `.svc.cluster.local` or `.svc` suffix, it is `NAME` or `NAME.NAMESPACE` and
 *    NAME is a service: Kubernetes style `sc-b.default.svc.cluster.local`, `sc-b.default.svc`,
 *    `sc-b.default`. The namespace is not checked (rules have no namespaces). Other cluster
 *    domains and longer names (`a.b.c`) are not understood.
 */

/** Authorities remembered per config (then cleared): the hosts an app uses are few. */
const MAX_RESOLVED = 1024;

/** What `resolve` answers for an authority that is not `host[:port]`. */
export const MALFORMED = Symbol("malformed authority");

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

/** One config's service names; part of the compiled config, replaced with it. */
export class ServiceNames {
  /** Lower-case name → service name as written. */
  private readonly services = new Map<string, string>();
  /** Authorities already resolved (a bounded memo: the only mutable part). */
  private readonly resolved = new Map<string, string | null>();

  constructor(
    rules: RuleSet,
    private readonly pickers: PickerTable,
  ) {
    for (const s of pickers.services()) this.add(s);
    for (const r of rules.routes) this.add(r.spec.service);
    for (const g of rules.groups) for (const a of g.spec.apps) this.add(a);
  }

  private add(service: string): void {
    const lower = service.toLowerCase();
    if (!this.services.has(lower)) this.services.set(lower, service);
  }

  /** The service an authority (`host[:port]`) names, null when none, MALFORMED when not one. */
  resolve(authority: string): string | null | typeof MALFORMED {
    const known = this.resolved.get(authority);
    if (known !== undefined) return known;
    const hp = splitHostPort(authority);
    if (hp === null) return MALFORMED;
    const service = this.serviceOfHost(hp.host, hp.port);
    if (this.resolved.size >= MAX_RESOLVED) this.resolved.clear();
    this.resolved.set(authority, service);
    return service;
  }

  private serviceOfHost(host: string, port: number | null): string | null {
    let name = host.toLowerCase();
    if (name.endsWith(".")) name = name.slice(0, -1);
    const direct = this.services.get(name);
    if (direct !== undefined) return direct;
    if (isIP(name) !== 0) return this.pickers.byAddress(name, port ?? 80)?.service ?? null;
    if (name.endsWith(".svc.cluster.local")) name = name.slice(0, -".svc.cluster.local".length);
    else if (name.endsWith(".svc")) name = name.slice(0, -".svc".length);
    const dot = name.indexOf(".");
    if (dot === -1) return this.services.get(name) ?? null;
    if (name.indexOf(".", dot + 1) !== -1) return null;
    return this.services.get(name.slice(0, dot)) ?? null;
  }
}
