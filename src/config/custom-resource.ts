// Custom resources as the lanemesh validator reads them (a Route/LaneGroup/Lane object from the API server → a lanemesh document); pure, it must never talk to a cluster.
import type { RawDocument } from "./document.js";
import { API_VERSION } from "./types.js";

/** A custom resource as the API server returns it (free-form JSON). */
export interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: unknown;
  status?: unknown;
}

/**
 * The lanemesh document a custom resource stands for: its name and labels, its spec. The API
 * server's own metadata (namespace, uid, resourceVersion, managedFields…) and the status are left
 * out, so the validator that checks files checks custom resources alike.
 */
export function documentOf(cr: CustomObject): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: cr.metadata?.name };
  if (cr.metadata?.labels && Object.keys(cr.metadata.labels).length > 0)
    metadata.labels = { ...cr.metadata.labels };
  return { apiVersion: cr.apiVersion ?? API_VERSION, kind: cr.kind, metadata, spec: cr.spec };
}

/** RawDocuments for validateResources, each named `namespace/name` in error messages. */
export function rawDocumentsOf(objects: readonly CustomObject[]): RawDocument[] {
  return objects.map((cr) => ({
    origin: {
      file: `${cr.kind ?? "?"}/${cr.metadata?.namespace ?? ""}/${cr.metadata?.name ?? "?"}`,
      doc: 0,
    },
    value: documentOf(cr),
  }));
}
