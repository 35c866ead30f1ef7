// Validates a batch of parsed YAML documents into resources (docs/resources.md lists every rule): per-document shape by walking schema.ts, batch rules in crosscheck.ts; never reads files.

import { DocChecker, isRecord, type Path, shown, typeName } from "./checker.js";
import { type Checked, checkBatch, type Entry } from "./crosscheck.js";
import type { ConfigError, RawDocument, Validated } from "./document.js";
import { compileLaneRegex } from "./regex.js";
import {
  CONDITION_OPS,
  type Field,
  METADATA,
  type ObjectField,
  type RuleId,
  SPECS,
  type StringField,
} from "./schema.js";
import {
  API_VERSION,
  type ConditionOp,
  type Instance,
  KINDS,
  type Kind,
  type Lane,
  type LaneGroup,
  type Metadata,
  type Route,
} from "./types.js";

/** metadata.name: a DNS-1123 subdomain (lower-case letters, digits, `-` and `.`), ≤ 253 chars. */
export const NAME_PATTERN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

const compiled = new Map<string, RegExp>();
function regex(source: string): RegExp {
  let re = compiled.get(source);
  if (re === undefined) {
    re = new RegExp(source);
    compiled.set(source, re);
  }
  return re;
}

/** The field's pattern and maxLength as one JavaScript RegExp (a length bound as a lookahead). */
function jsPattern(f: StringField): RegExp | undefined {
  if (f.pattern === undefined && f.maxLength === undefined) return undefined;
  const body = f.pattern ?? "^[\\s\\S]*$";
  return regex(f.maxLength === undefined ? body : `^(?=[\\s\\S]{0,${f.maxLength}}$)(?:${body})`);
}

function stringRule(f: StringField) {
  const pattern = jsPattern(f);
  return pattern === undefined
    ? {}
    : { pattern, patternMessage: f.patternMessage ?? `must match ${f.pattern}` };
}

function checkString(
  ck: DocChecker,
  f: StringField,
  v: unknown,
  path: Path,
  parent: Record<string, unknown> | undefined,
): string | undefined {
  if (f.enum !== undefined) {
    if (typeof v === "string" && f.enum.includes(v)) return v;
    ck.error(
      path,
      f.enumMessage?.(shown(v)) ?? `must be one of ${f.enum.join(", ")}; got ${shown(v)}`,
    );
    return undefined;
  }
  const when = f.when;
  const conditional =
    when !== undefined &&
    parent !== undefined &&
    typeof parent[when.sibling] === "string" &&
    when.in.includes(parent[when.sibling] as string)
      ? {
          pattern: regex(when.pattern),
          patternMessage: when.message(parent[when.sibling] as string),
        }
      : {};
  const s = ck.string(v, path, { ...stringRule(f), ...conditional });
  if (s === undefined) return undefined;
  for (const c of f.checks ?? []) {
    if (regex(c.pattern).test(s) === (c.not === true)) {
      ck.error(path, c.message(s));
      return undefined;
    }
  }
  return s;
}

/** Check one value against its field definition; the checked value, or undefined after an error. */
function checkField(
  ck: DocChecker,
  f: Field,
  v: unknown,
  path: Path,
  parent?: Record<string, unknown>,
): unknown {
  switch (f.type) {
    case "string":
      return checkString(ck, f, v, path, parent);
    case "number":
    case "integer":
      return ck.number(v, path, f.minimum, f.maximum, f.type === "integer");
    case "boolean":
      return ck.boolean(v, path);
    case "any":
      return structuredClone(v);
    case "list": {
      if (f.items.type === "string" && f.items.enum === undefined) {
        return ck.stringList(v, path, {
          ...stringRule(f.items),
          nonEmpty: f.nonEmpty === true,
          unique: f.unique === true,
        });
      }
      if (!Array.isArray(v)) {
        ck.error(path, f.typeMessage?.(typeName(v)) ?? `must be a list; got ${typeName(v)}`);
        return undefined;
      }
      if (f.nonEmpty && v.length === 0) {
        ck.error(path, f.emptyMessage ?? "must not be empty");
        return undefined;
      }
      const out: unknown[] = [];
      v.forEach((item, i) => {
        const checked = checkField(ck, f.items, item, [...path, i]);
        if (checked !== undefined) out.push(checked);
      });
      return out;
    }
    case "map": {
      if (f.values.type === "string") {
        const m = ck.stringMap(v, path);
        if (m === undefined) return undefined;
        for (const [key, rule] of Object.entries(f.keys ?? {}))
          if (m[key] !== undefined) checkString(ck, rule, m[key], [...path, key], undefined);
        return m;
      }
      if (!isRecord(v)) {
        ck.error(path, f.typeMessage?.(typeName(v)) ?? `must be a mapping; got ${typeName(v)}`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        const checked = checkField(ck, f.values, item, [...path, key]);
        if (checked !== undefined) out[key] = checked;
      }
      return out;
    }
    case "object":
      return checkObject(ck, f, v, path);
  }
}

function checkObject(
  ck: DocChecker,
  f: ObjectField,
  v: unknown,
  path: Path,
): Record<string, unknown> | undefined {
  const names = Object.keys(f.fields);
  const required = names.filter((k) => f.fields[k]?.required === true);
  const m = ck.mapping(v, path, names, required);
  if (!m) return undefined;
  const before = ck.errorCount;
  const out: Record<string, unknown> = {};
  for (const rule of f.rules ?? []) if (rule.first) RULE_CHECKS[rule.id](ck, f, m, path);
  for (const [key, field] of Object.entries(f.fields))
    if (field.default !== undefined) out[key] = structuredClone(field.default);
  for (const [key, field] of Object.entries(f.fields)) {
    if (!present(m[key])) continue;
    const checked = field.byRule
      ? structuredClone(m[key])
      : checkField(ck, field, m[key], [...path, key], m);
    if (checked !== undefined) out[key] = checked;
  }
  for (const rule of f.rules ?? []) if (!rule.first) RULE_CHECKS[rule.id](ck, f, m, path);
  if (f.dropIfInvalid && ck.errorCount !== before) return undefined;
  return out;
}

type RuleCheck = (ck: DocChecker, f: ObjectField, m: Record<string, unknown>, path: Path) => void;

/** The validator's side of each ObjectRule in schema.ts (the CRD's side is the rule's openapi). */
const RULE_CHECKS: Record<RuleId, RuleCheck> = {
  exactlyOneMatch(ck, _f, m, path) {
    const kinds = (["prefix", "exact"] as const).filter((k) => present(m[k]));
    if (kinds.length !== 1) {
      ck.error(
        path,
        `needs exactly one of prefix or exact; got ${kinds.length === 0 ? "neither" : "both"}`,
      );
    }
  },
  valueByOp(ck, f, c, path) {
    const op = c.op as ConditionOp;
    if (!present(c.op) || !CONDITION_OPS.includes(op)) return;
    if (op === "in") {
      if (present(c.value)) {
        ck.error([...path, "value"], "op in takes `values` (a list), not `value`");
      } else if (!present(c.values)) {
        ck.error([...path, "values"], "op in needs a non-empty `values` list");
      }
      if (present(c.values) && f.fields.values)
        checkField(ck, f.fields.values, c.values, [...path, "values"]);
      return;
    }
    if (present(c.values))
      ck.error([...path, "values"], `\`values\` is only for op in; op ${op} takes \`value\``);
    if (!present(c.value)) {
      ck.error(
        [...path, "value"],
        `op ${op} needs a ${op === "percentage" ? "number 0..100" : "string"} \`value\``,
      );
    } else if (op === "percentage") {
      ck.number(c.value, [...path, "value"], 0, 100);
    } else {
      const s = ck.string(c.value, [...path, "value"]);
      if (s !== undefined && op === "regex") {
        const r = compileLaneRegex(s);
        if (!r.ok) ck.error([...path, "value"], r.message);
      }
    }
  },
  // Needs the group's mode: crosscheck.ts reports it, naming the field the mode rules out.
  matchOrWeights() {},
  guardLimit(ck, _f, m, path) {
    if (!present(m.maxErrorRate) && !present(m.maxP99Ms))
      ck.error(path, "a guard needs maxErrorRate, maxP99Ms or both: nothing to judge the lane by");
  },
};

/** A document whose shape passed every check: its kind, name and resource (never mutated). */
export interface CheckedShape {
  kind: Kind;
  docName: string | null;
  res: Entry<Route | LaneGroup | Lane | Instance>["res"];
}

/**
 * Shape checks already passed, by document object, for a caller that validates the same objects
 * again (the control plane's stored documents, a proxy's unchanged ones): the checked resource is
 * reused and only the batch rules run again. Valid only while those objects are never mutated.
 */
export type ShapeMemo = WeakMap<object, CheckedShape>;

function listOf(out: Checked, kind: Kind): Entry<Route | LaneGroup | Lane | Instance>[] {
  const lists = {
    Route: out.routes,
    LaneGroup: out.groups,
    Lane: out.lanes,
    Instance: out.instances,
  };
  return lists[kind] as Entry<Route | LaneGroup | Lane | Instance>[];
}

/** Check one document's shape; the resource it returns has undefined fields where errors were. */
function checkDocument(ck: DocChecker, value: Record<string, unknown>, out: Checked): void {
  const kind = value.kind;
  const known = typeof kind === "string" && (KINDS as readonly string[]).includes(kind);
  const meta = isRecord(value.metadata) ? value.metadata : {};
  if (known) ck.docName = `${kind}/${typeof meta.name === "string" ? meta.name : "?"}`;
  ck.mapping(
    value,
    [],
    ["apiVersion", "kind", "metadata", "spec"],
    ["apiVersion", "kind", "metadata", "spec"],
  );
  if (present(value.apiVersion) && value.apiVersion !== API_VERSION) {
    ck.error(["apiVersion"], `must be ${API_VERSION}; got ${shown(value.apiVersion)}`);
  }
  if (present(kind) && !known) {
    ck.error(["kind"], `unknown kind ${shown(kind)} (expected one of ${KINDS.join(", ")})`);
  }
  const metadata = (present(value.metadata)
    ? (checkObject(ck, METADATA, value.metadata, ["metadata"]) ?? {})
    : {}) as unknown as Metadata;
  if (!known || !present(value.spec)) return;
  const k = kind as Kind;
  const s = checkObject(ck, SPECS[k], value.spec, ["spec"]);
  if (!s) return;
  const apiVersion: typeof API_VERSION = API_VERSION;
  const base = { apiVersion, metadata };
  const entry = { ck, raw: ck.raw };
  // The batch rules read these as the types say; fields that failed are simply absent.
  const spec = s as never;
  switch (k) {
    case "Route":
      (s as { match?: object }).match ??= {};
      out.routes.push({ ...entry, res: { ...base, kind: k, spec } });
      break;
    case "LaneGroup":
      out.groups.push({ ...entry, res: { ...base, kind: k, spec } });
      break;
    case "Lane":
      out.lanes.push({ ...entry, res: { ...base, kind: k, spec } });
      break;
    case "Instance":
      out.instances.push({ ...entry, res: { ...base, kind: k, spec } });
      break;
  }
}

/**
 * Validate a whole batch as one: every rule of docs/resources.md, every error reported, nothing
 * partial. With `memo`, a document object checked before without an error is not checked again.
 */
export function validateBatch(docs: RawDocument[], memo?: ShapeMemo): Validated {
  const errors: ConfigError[] = [];
  const checked: Checked = { routes: [], groups: [], lanes: [], instances: [] };
  for (const raw of docs) {
    if (raw.value === null || raw.value === undefined) continue;
    const ck = new DocChecker(raw, errors);
    if (!isRecord(raw.value)) {
      ck.error(
        [],
        `a document must be a mapping with apiVersion, kind, metadata and spec; got ${typeName(raw.value)}`,
      );
      continue;
    }
    const known = memo?.get(raw.value);
    if (known !== undefined) {
      ck.docName = known.docName;
      listOf(checked, known.kind).push({ ck, raw, res: known.res });
      continue;
    }
    checkDocument(ck, raw.value, checked);
    if (memo === undefined || ck.errorCount > 0) continue;
    const kind = raw.value.kind as Kind;
    const list = listOf(checked, kind);
    const entry = list[list.length - 1];
    if (entry?.raw === raw) memo.set(raw.value, { kind, docName: ck.docName, res: entry.res });
  }
  checkBatch(checked);
  if (errors.length > 0) {
    const fileOrder = new Map<string, number>();
    for (const d of docs)
      if (!fileOrder.has(d.origin.file)) fileOrder.set(d.origin.file, fileOrder.size);
    const rank = (e: ConfigError) => fileOrder.get(e.file) ?? -1;
    // Stable sort: by file (input order), then document; checks keep their own order inside.
    errors.sort((a, b) => rank(a) - rank(b) || a.doc - b.doc);
    return { ok: false, errors };
  }
  return {
    ok: true,
    rules: {
      routes: checked.routes.map((c) => c.res),
      groups: checked.groups.map((c) => c.res),
      lanes: checked.lanes.map((c) => c.res),
    },
    instances: checked.instances.map((c) => c.res),
  };
}
