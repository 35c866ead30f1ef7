// A Nacos instance as an endpoint (address, weight, health, tag from its metadata); pure, it never talks to Nacos.
import { TAG_METADATA_KEYS } from "../../config/lane-tag.js";
import type { Endpoint } from "../../config/types.js";

/** One instance as the client hands it over (the list answer's `hosts[]`). */
export interface NacosHost {
  ip: string;
  port: number;
  weight?: number;
  healthy?: boolean;
  /** 1.x name of `healthy`. */
  valid?: boolean;
  enabled?: boolean;
  serviceName?: string;
  clusterName?: string;
  metadata?: Record<string, unknown>;
}

/**
 * A Nacos instance as an Endpoint: weight × 100 (Nacos 1.0 = our 100), healthy only when healthy
 * AND enabled, the tag from `lanemesh.io/tag` else `alicloud.service.tag` (the first non-empty;
 * `base` = untagged), as static discovery reads the same keys. Null for an unusable address.
 */
export function nacosEndpoint(service: string, host: NacosHost): Endpoint | null {
  const port = Number(host.port);
  if (typeof host.ip !== "string" || host.ip === "") return null;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(host.metadata ?? {})) {
    if (v !== null && v !== undefined) metadata[k] = String(v);
  }
  let tag: string | null = null;
  for (const key of TAG_METADATA_KEYS) {
    const v = metadata[key]?.trim();
    if (tag === null && v !== undefined && v !== "") tag = v;
  }
  // "base" is reserved for untagged instances; any other value is kept as is, even one no lane
  // can carry: a misspelt canary must never be taken for base and receive base traffic.
  if (tag !== null && tag.toLowerCase() === "base") tag = null;
  const weight = Number(host.weight ?? 1);
  return {
    service: stripGroup(host.serviceName ?? service),
    address: host.ip,
    port,
    tag,
    weight: Number.isFinite(weight) && weight > 0 ? Math.round(weight * 100) : 0,
    healthy: (host.healthy ?? host.valid ?? true) !== false && host.enabled !== false,
    metadata,
  };
}

export function stripGroup(name: string): string {
  const at = name.indexOf("@@");
  return at >= 0 ? name.slice(at + 2) : name;
}
