// Builds the snapshot every proxy receives (stored resources + registered instances) once per version; no I/O.
import { validateResources } from "../config/load.js";
import { API_VERSION, type Instance } from "../config/types.js";
import { type DocField, type FieldDocs, fieldOfKind } from "../protocol/delta.js";
import type { SnapshotContent } from "../protocol/snapshot-check.js";
import { identity } from "./apply.js";
import type { Registration } from "./registry.js";

/**
 * A snapshot built once per version and shared by every stream (its encoding too, see
 * pushes.ts; the per-push nonce is added on send), with each document's metadata.name.
 */
export type BuiltSnapshot = Readonly<SnapshotContent> & { readonly names: FieldDocs };

/**
 * Each stored document's snapshot text and name, by document object, so a version built after a
 * change of one document serializes only that one. Valid while stored documents are never mutated.
 */
export type DocTextMemo = WeakMap<object, { json: string; kind: string | undefined; name: string }>;

/** Label marking Instance documents that come from the registry, not from the store. */
export const SOURCE_LABEL = "lanemesh.io/source";
export const NODE_ID_KEY = "lanemesh.io/node-id";

/**
 * Sort the stored documents into the snapshot's fields (declared order kept) and add one Instance
 * document per registered sidecar, named after its node id and never clashing with a stored name.
 */
export function buildSnapshot(
  store: { version: number; epoch: string; adopts: readonly string[] },
  resources: readonly unknown[],
  registered: readonly Registration[],
  memo?: DocTextMemo,
): BuiltSnapshot {
  const docs: Record<DocField, string[]> = { routes: [], groups: [], lanes: [], endpoints: [] };
  const names: Record<DocField, string[]> = { routes: [], groups: [], lanes: [], endpoints: [] };
  const add = (kind: string | undefined, json: string, name: string) => {
    const f = fieldOfKind(kind);
    if (f === undefined) return;
    docs[f].push(json);
    names[f].push(name);
  };
  for (const v of resources) {
    const known = typeof v === "object" && v !== null ? memo?.get(v) : undefined;
    if (known !== undefined) {
      add(known.kind, known.json, known.name);
      continue;
    }
    const id = identity(v);
    const json = JSON.stringify(id?.kind === "Lane" ? withoutGuard(v) : v);
    const text = { json, kind: id?.kind, name: id?.name ?? "" };
    if (typeof v === "object" && v !== null) memo?.set(v, text);
    add(text.kind, text.json, text.name);
  }
  for (const doc of registrationDocuments(resources, registered, new Set(names.endpoints)))
    add("Instance", JSON.stringify(doc), doc.metadata.name);
  return {
    version: String(store.version),
    epoch: store.epoch,
    adopts: [...store.adopts],
    ...docs,
    names,
  };
}

/**
 * A Lane as proxies receive it: without `spec.guard`, which only the control plane acts on (a
 * proxy older than guards would refuse the snapshot for an unknown field).
 */
function withoutGuard(v: unknown): unknown {
  const spec = (v as { spec?: Record<string, unknown> }).spec;
  if (spec === null || typeof spec !== "object" || !("guard" in spec)) return v;
  const { guard: _guard, ...rest } = spec;
  return { ...(v as object), spec: rest };
}

/**
 * The registered sidecars as Instance documents (what `get instances` also shows); `stored`: the
 * names of the stored Instances when the caller has them.
 */
export function registrationDocuments(
  resources: readonly unknown[],
  registered: readonly Registration[],
  stored?: Set<string>,
): Instance[] {
  const taken = stored ?? new Set<string>();
  if (stored === undefined)
    for (const v of resources) {
      const id = identity(v);
      if (id?.kind === "Instance") taken.add(id.name);
    }
  return registered.map((r) => {
    const name = uniqueName(resourceName(r.nodeId), taken);
    taken.add(name);
    const doc: Instance = {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: { name, labels: { [SOURCE_LABEL]: "registry" } },
      spec: {
        service: r.service,
        address: r.address,
        port: r.port,
        ...(r.tag ? { tag: r.tag } : {}),
        metadata: { [NODE_ID_KEY]: r.nodeId },
      },
    };
    return doc;
  });
}

/** A node id made into a DNS-1123-style resource name (lower case, `a-z0-9.-`, ≤ 253). */
export function resourceName(nodeId: string): string {
  const s = nodeId
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .slice(0, 240)
    .replace(/^[-.]+|[-.]+$/g, "");
  return s || "node";
}

function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

/** Why a hello's instance cannot be served (checked with the resource validator), or null. */
export function registrationProblem(reg: Omit<Registration, "since">): string | null {
  const [doc] = registrationDocuments([], [{ ...reg, since: 0 }]);
  const v = validateResources([{ origin: { file: "hello", doc: 0 }, value: doc }]);
  if (v.ok) return null;
  return `hello of ${reg.nodeId} gives an invalid instance: ${v.errors
    .map((e) => `${e.path}: ${e.message}`)
    .join("; ")}`;
}
