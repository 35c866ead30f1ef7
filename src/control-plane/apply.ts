// Plans an apply or a delete against the stored resources (merge, order, what changed); pure, it never validates or writes.
import type { ConfigError, RawDocument } from "../config/document.js";
import type { Kind } from "../config/types.js";

/** The plural names of the HTTP API and the CLI (`get lanes`). */
export const KIND_OF_PLURAL = {
  routes: "Route",
  lanegroups: "LaneGroup",
  lanes: "Lane",
  instances: "Instance",
} as const satisfies Record<string, Kind>;

export type Plural = keyof typeof KIND_OF_PLURAL;

export function isPlural(s: string): s is Plural {
  return Object.hasOwn(KIND_OF_PLURAL, s);
}

/** Where stored documents say they come from in error messages. */
export const STORE_ORIGIN = "control-plane store";

export type ApplyAction = "created" | "configured" | "unchanged";

export interface ApplyResult {
  kind: string;
  name: string;
  action: ApplyAction;
}

export interface Planned {
  /** The whole next set as one batch for validateResources, stored order kept. */
  merged: RawDocument[];
  /** What the store holds if `merged` validates. */
  next: unknown[];
  results: ApplyResult[];
  /** False when every applied document equals its stored one. */
  changed: boolean;
  /** Empty documents (null: a YAML file ending in `---`, a JSON null) left out of the batch. */
  ignored: number;
}

/** `Kind/name` of a document, or null when it has no string kind and name. */
export function identity(value: unknown): { kind: string; name: string; key: string } | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as { kind?: unknown; metadata?: { name?: unknown } | null };
  const kind = v.kind;
  const name = typeof v.metadata === "object" && v.metadata !== null ? v.metadata.name : undefined;
  if (typeof kind !== "string" || typeof name !== "string") return null;
  return { kind, name, key: `${kind}/${name}` };
}

/**
 * Merge an applied batch into the stored documents: a document with the kind and name of a stored
 * one takes its place (so declared order, which decides lane evaluation, is kept); new documents
 * are appended in batch order; a name repeated inside the batch is kept twice so the validator
 * reports it. Empty documents (null) are ignored: never stored, never a change.
 */
export function planApply(stored: readonly unknown[], batch: readonly RawDocument[]): Planned {
  const storedIndex = new Map<string, number>();
  stored.forEach((v, i) => {
    const id = identity(v);
    if (id) storedIndex.set(id.key, i);
  });
  const replacement = new Map<number, RawDocument>();
  const appended: RawDocument[] = [];
  const results: ApplyResult[] = [];
  let changed = false;
  let ignored = 0;
  for (const doc of batch) {
    if (doc.value === null || doc.value === undefined) {
      ignored++;
      continue;
    }
    const id = identity(doc.value);
    const at = id ? storedIndex.get(id.key) : undefined;
    if (id && at !== undefined && !replacement.has(at)) {
      replacement.set(at, doc);
      const same = canonicalJson(stored[at]) === canonicalJson(doc.value);
      if (!same) changed = true;
      results.push({ kind: id.kind, name: id.name, action: same ? "unchanged" : "configured" });
    } else {
      appended.push(doc);
      changed = true;
      if (id) results.push({ kind: id.kind, name: id.name, action: "created" });
    }
  }
  const merged: RawDocument[] = stored.map(
    (value, i) => replacement.get(i) ?? { origin: { file: STORE_ORIGIN, doc: i }, value },
  );
  for (const doc of appended) merged.push(doc); // no spread: a batch may hold many documents
  return { merged, next: merged.map((d) => d.value), results, changed, ignored };
}

/** The stored set without `kind/name`, or null when there is no such document. */
export function planDelete(
  stored: readonly unknown[],
  kind: string,
  name: string,
): { merged: RawDocument[]; next: unknown[] } | null {
  const key = `${kind}/${name}`;
  const at = stored.findIndex((v) => identity(v)?.key === key);
  if (at < 0) return null;
  const merged: RawDocument[] = [];
  stored.forEach((value, i) => {
    if (i !== at) merged.push({ origin: { file: STORE_ORIGIN, doc: i }, value });
  });
  return { merged, next: merged.map((d) => d.value) };
}

/** JSON with object keys sorted, so equal documents compare equal whatever their key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (typeof val !== "object" || val === null || Array.isArray(val)) return val;
    const o = val as Record<string, unknown>;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) sorted[k] = o[k];
    return sorted;
  });
}

/** What an apply gives the API: the new version and each resource's change, or every error. */
/** A change refused because the resources live elsewhere (`--store kubernetes`). */
export type ReadOnly = { ok: false; code: "LANEMESH_STORE_READ_ONLY"; message: string };

export function readOnly(message: string): ReadOnly {
  return { ok: false, code: "LANEMESH_STORE_READ_ONLY", message };
}

export type ApplyOutcome =
  | { ok: true; version: number; results: ApplyResult[]; ignored: number }
  | { ok: false; errors: ConfigError[] }
  | { ok: false; code: "LANEMESH_SNAPSHOT_TOO_LARGE"; message: string }
  | ReadOnly;

export type DeleteOutcome =
  | { ok: true; version: number }
  | { ok: false; code: "LANEMESH_NOT_FOUND"; message: string }
  | { ok: false; code: "LANEMESH_INVALID_CONFIG"; errors: ConfigError[] }
  | ReadOnly;

export type AdoptOutcome =
  | { ok?: true; version: number; epoch: string; adopts: string[] }
  | ReadOnly;
