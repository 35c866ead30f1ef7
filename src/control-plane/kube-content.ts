// What a Kubernetes-backed control plane serves, computed from the custom resources and endpoints it watches: the accepted resources in a fixed order, each resource's status, and the content's hash; pure, it never talks to a cluster.
import { createHash } from "node:crypto";
import { type CustomObject, rawDocumentsOf } from "../config/custom-resource.js";
import type { ConfigError } from "../config/document.js";
import { validateResources } from "../config/load.js";
import { API_VERSION, type Endpoint, type Instance } from "../config/types.js";
import { SOURCE_LABEL } from "./snapshot.js";

/** A custom resource as the informers hold it. */
export interface WatchedObject extends CustomObject {
  metadata?: CustomObject["metadata"] & {
    creationTimestamp?: string | Date;
    generation?: number;
  };
  status?: { accepted?: boolean; error?: string; observedGeneration?: number };
}

/** The status a resource should carry. */
export interface ResourceStatus {
  accepted: boolean;
  error?: string;
  observedGeneration?: number;
}

export interface Content {
  /** Accepted custom resources then the endpoints' Instance documents, as lanemesh documents. */
  resources: unknown[];
  /** `Kind/namespace/name` → its status. */
  statuses: Map<string, ResourceStatus>;
  /** sha256 of `resources`: every replica computes the same hash for the same content. */
  hash: string;
  accepted: number;
  refused: number;
}

/** `Kind/namespace/name`, as validation errors name a custom resource. */
export function keyOf(o: CustomObject): string {
  return `${o.kind ?? "?"}/${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? "?"}`;
}

/**
 * Validate every custom resource together with the endpoints; a resource with an error is refused
 * and the rest validated again (a lane whose group was refused is refused in turn) until what is
 * left validates. Resources are ordered by creation time, then namespace and name, so declared
 * order is the order they were created in and every replica orders them alike.
 */
export function assemble(
  objects: readonly WatchedObject[],
  endpoints: readonly Endpoint[],
): Content {
  const sorted = [...objects].sort(byCreation);
  const instances = endpointDocuments(endpoints);
  const statuses = new Map<string, ResourceStatus>();
  let left = sorted;
  for (let round = 0; round <= sorted.length; round++) {
    const raw = rawDocumentsOf(left);
    const v = validateResources([
      ...raw,
      ...instances.map((value, doc) => ({ origin: { file: "endpoints", doc }, value })),
    ]);
    if (v.ok) break;
    const byKey = new Map<string, ConfigError[]>();
    for (const e of v.errors) byKey.set(e.file, [...(byKey.get(e.file) ?? []), e]);
    const refused = left.filter((o) => byKey.has(keyOf(o)));
    if (refused.length === 0) {
      // Only endpoint documents failed (they come from the cluster): serve the resources without
      // them rather than nothing; this cannot happen with the mapping of src/discovery.
      instances.length = 0;
      continue;
    }
    for (const o of refused) {
      const errs = byKey.get(keyOf(o)) ?? [];
      statuses.set(keyOf(o), {
        accepted: false,
        error: errs.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; "),
        ...generation(o),
      });
    }
    left = left.filter((o) => !byKey.has(keyOf(o)));
  }
  for (const o of left) statuses.set(keyOf(o), { accepted: true, ...generation(o) });
  const resources: unknown[] = [...rawDocumentsOf(left).map((d) => d.value), ...instances];
  const hash = createHash("sha256").update(JSON.stringify(resources)).digest("hex");
  return { resources, statuses, hash, accepted: left.length, refused: sorted.length - left.length };
}

/** Whether the stored status already says what `want` says (generation included). */
export function sameStatus(have: WatchedObject["status"], want: ResourceStatus): boolean {
  return (
    have?.accepted === want.accepted &&
    (have?.error ?? undefined) === want.error &&
    have?.observedGeneration === want.observedGeneration
  );
}

/**
 * Endpoints as Instance documents, sorted, named after service, tag, address and port (the same
 * names on every replica). Marked with the source label, as registered sidecars are.
 */
export function endpointDocuments(endpoints: readonly Endpoint[]): Instance[] {
  const docs = endpoints.map((e) => {
    const spec: Instance["spec"] = { service: e.service, address: e.address, port: e.port };
    if (e.tag !== null) spec.tag = e.tag;
    if (e.weight !== 100) spec.weight = e.weight;
    if (!e.healthy) spec.healthy = false;
    if (Object.keys(e.metadata).length > 0) spec.metadata = sortKeys(e.metadata);
    const name = `${e.service}-${e.tag ?? "base"}-${e.address}-${e.port}`
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, "-")
      .slice(0, 253)
      .replace(/^[-.]+|[-.]+$/g, "");
    const doc: Instance = {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: { name: name || "endpoint", labels: { [SOURCE_LABEL]: "kubernetes" } },
      spec,
    };
    return doc;
  });
  docs.sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const seen = new Set<string>();
  return docs.filter((d) => {
    if (seen.has(d.metadata.name)) return false;
    seen.add(d.metadata.name);
    return true;
  });
}

function generation(o: WatchedObject): { observedGeneration?: number } {
  const g = o.metadata?.generation;
  return typeof g === "number" ? { observedGeneration: g } : {};
}

function byCreation(a: WatchedObject, b: WatchedObject): number {
  const ta = stamp(a.metadata?.creationTimestamp);
  const tb = stamp(b.metadata?.creationTimestamp);
  if (ta !== tb) return ta - tb;
  return cmp(keyOf(a), keyOf(b));
}

function stamp(t: string | Date | undefined): number {
  if (t === undefined) return 0;
  const n = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(n) ? 0 : n;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => cmp(a, b)));
}
