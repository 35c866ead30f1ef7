// Snapshot deltas (Snapshot.base_version): the change from one snapshot to a later one as the documents added or changed and the names removed, and a held snapshot brought forward by one; pure, no I/O.

/** The document fields of a snapshot, in the order a snapshot lists them. */
export const DOC_FIELDS = ["routes", "groups", "lanes", "endpoints"] as const;
export type DocField = (typeof DOC_FIELDS)[number];

/** The kind of every document of a field. */
export const FIELD_KIND: Readonly<Record<DocField, string>> = {
  routes: "Route",
  groups: "LaneGroup",
  lanes: "Lane",
  endpoints: "Instance",
};

/** The field a document of `kind` goes in, or undefined for a kind no snapshot carries. */
export function fieldOfKind(kind: unknown): DocField | undefined {
  return DOC_FIELDS.find((f) => FIELD_KIND[f] === kind);
}

/** A snapshot's documents (JSON text), field by field. */
export type FieldDocs = Readonly<Record<DocField, readonly string[]>>;

/** A delta's documents (added or changed, field by field) and the `Kind/name` of those removed. */
export interface DeltaDocs extends Record<DocField, string[]> {
  removed: string[];
}

/** Name → index, or null when a name is there twice (no delta can name its documents apart). */
function indexOf(names: readonly string[]): Map<string, number> | null {
  const at = new Map<string, number>();
  for (let i = 0; i < names.length; i++) at.set(names[i] as string, i);
  return at.size === names.length ? at : null;
}

/**
 * What `next` adds to, changes in and removes from `base`, both given as documents and their
 * names (metadata.name) field by field; null when next cannot be made from base by applyDelta:
 * a name twice in a field, a document of base moved, or a new one placed before one of base.
 */
export function diffDocs(
  base: { docs: FieldDocs; names: FieldDocs },
  next: { docs: FieldDocs; names: FieldDocs },
): DeltaDocs | null {
  const out: DeltaDocs = { routes: [], groups: [], lanes: [], endpoints: [], removed: [] };
  for (const f of DOC_FIELDS) {
    const at = indexOf(base.names[f]);
    if (at === null || indexOf(next.names[f]) === null) return null;
    const baseDocs = base.docs[f];
    const nextDocs = next.docs[f];
    const nextNames = next.names[f];
    const kept = new Uint8Array(baseDocs.length);
    const added: string[] = [];
    let last = -1;
    for (let i = 0; i < nextDocs.length; i++) {
      const doc = nextDocs[i] as string;
      const j = at.get(nextNames[i] as string);
      if (j === undefined) {
        added.push(doc);
        continue;
      }
      // A held document after a new one, or out of its held order: not a delta's result.
      if (added.length > 0 || j < last) return null;
      last = j;
      kept[j] = 1;
      if (baseDocs[j] !== doc) out[f].push(doc);
    }
    for (const doc of added) out[f].push(doc);
    const baseNames = base.names[f];
    for (let j = 0; j < kept.length; j++)
      if (kept[j] === 0) out.removed.push(`${FIELD_KIND[f]}/${baseNames[j]}`);
  }
  return out;
}

/**
 * `held` brought forward by a delta: a document whose name a held one of its field has takes
 * that one's place, the others follow the held documents in the delta's order, the removed ones
 * are dropped. An error when the delta removes or changes what `held` does not have in that way
 * (the proxy does not hold the delta's base), or names a document twice (in `removed`, or in a
 * field). `nameOf` gives a document's metadata.name, or null.
 */
export function applyDelta(
  held: FieldDocs,
  delta: Readonly<Record<DocField, readonly string[]>> & { removed: readonly string[] },
  nameOf: (doc: string) => string | null,
): { ok: true; docs: Record<DocField, string[]> } | { ok: false; error: string } {
  // Each name removed must be held once: no more names than held documents (bounds the work).
  const heldCount = DOC_FIELDS.reduce((n, f) => n + held[f].length, 0);
  if (delta.removed.length > heldCount)
    return { ok: false, error: `removes ${delta.removed.length} documents, ${heldCount} held` };
  const gone = new Map<string, Set<string>>();
  for (const key of delta.removed) {
    const slash = key.indexOf("/");
    const f = fieldOfKind(key.slice(0, slash));
    if (slash < 0 || f === undefined) return { ok: false, error: `removes ${key}: not Kind/name` };
    const names = gone.get(f) ?? new Set<string>();
    gone.set(f, names);
    const name = key.slice(slash + 1);
    if (names.has(name)) return { ok: false, error: `removes ${key} twice` };
    names.add(name);
  }
  const docs = {} as Record<DocField, string[]>;
  for (const f of DOC_FIELDS) {
    const names: string[] = [];
    for (const doc of held[f]) {
      const name = nameOf(doc);
      if (name === null) return { ok: false, error: `a held ${FIELD_KIND[f]} has no name` };
      names.push(name);
    }
    const at = indexOf(names);
    if (at === null) return { ok: false, error: `the held ${f} repeat a name` };
    const out = held[f].slice();
    const drop = new Uint8Array(out.length);
    for (const name of gone.get(f) ?? []) {
      const j = at.get(name);
      if (j === undefined)
        return { ok: false, error: `removes ${FIELD_KIND[f]}/${name}, which is not held` };
      drop[j] = 1;
    }
    const added: string[] = [];
    const named = new Set<string>();
    for (const doc of delta[f]) {
      const name = nameOf(doc);
      if (name === null) return { ok: false, error: `a ${FIELD_KIND[f]} of the delta has no name` };
      if (named.has(name)) return { ok: false, error: `gives ${FIELD_KIND[f]}/${name} twice` };
      named.add(name);
      const j = at.get(name);
      if (j === undefined) added.push(doc);
      else if (drop[j] === 1)
        return { ok: false, error: `both changes and removes ${FIELD_KIND[f]}/${name}` };
      else out[j] = doc;
    }
    const kept: string[] = [];
    for (let j = 0; j < out.length; j++) if (drop[j] === 0) kept.push(out[j] as string);
    for (const doc of added) kept.push(doc);
    docs[f] = kept;
  }
  return { ok: true, docs };
}
