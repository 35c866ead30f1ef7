// Validates a batch of parsed YAML documents into resources (docs/resources.md lists every rule): per-document shape here, batch rules in crosscheck.ts; never reads files.

import { DocChecker, isRecord, type Path, shown, typeName } from "./checker.js";
import { type Checked, checkBatch } from "./crosscheck.js";
import type { ConfigError, RawDocument, Validated } from "./document.js";
import { LANE_TAG_PATTERN, TAG_METADATA_KEYS } from "./lane-tag.js";
import { compileLaneRegex } from "./regex.js";
import {
  API_VERSION,
  type Condition,
  type ConditionOp,
  type ConditionType,
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
/** Services, apps and gateways: what registries use (`sc-A`, `com.shop.Cart`), no spaces. */
const SERVICE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;
/** RFC 9110 token: header and cookie names. */
const TOKEN_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ADDRESS_PATTERN = /^[A-Za-z0-9.\-:[\]%_]+$/;

const OPS: readonly ConditionOp[] = ["==", "!=", "in", "percentage", "regex"];
const TYPES: readonly ConditionType[] = ["header", "cookie", "query"];
const name = {
  pattern: NAME_PATTERN,
  patternMessage: "must be a DNS-like name (a-z, 0-9, '-', '.')",
};
const service = {
  pattern: SERVICE_PATTERN,
  patternMessage: "must be a service name without spaces",
};
const tagRule = {
  pattern: LANE_TAG_PATTERN,
  patternMessage: "must be a token of 1-63 letters, digits, '.', '_' or '-'",
};

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function checkTag(ck: DocChecker, v: unknown, path: Path): string | undefined {
  const tag = ck.string(v, path, tagRule);
  if (tag !== undefined && tag.toLowerCase() === "base") {
    ck.error(path, `"${tag}" is reserved for untagged instances; leave the tag out for base`);
    return undefined;
  }
  return tag;
}

function checkMetadata(ck: DocChecker, v: unknown): Metadata {
  const m = ck.mapping(v, ["metadata"], ["name", "labels"], ["name"]) ?? {};
  const meta = {
    name: present(m.name) ? ck.string(m.name, ["metadata", "name"], name) : undefined,
  } as Metadata;
  if (present(m.labels)) {
    const labels = ck.stringMap(m.labels, ["metadata", "labels"]);
    if (labels) meta.labels = labels;
  }
  return meta;
}

function checkRoute(ck: DocChecker, s: Record<string, unknown>): Route["spec"] {
  const spec = {} as Route["spec"];
  if (present(s.gateway))
    spec.gateway = ck.string(s.gateway, ["spec", "gateway"], service) as string;
  if (present(s.service))
    spec.service = ck.string(s.service, ["spec", "service"], service) as string;
  spec.match = {};
  if (present(s.match)) {
    const m = ck.mapping(s.match, ["spec", "match"], ["prefix", "exact"]);
    if (m) {
      const kinds = (["prefix", "exact"] as const).filter((k) => present(m[k]));
      if (kinds.length !== 1) {
        ck.error(
          ["spec", "match"],
          `needs exactly one of prefix or exact; got ${kinds.length === 0 ? "neither" : "both"}`,
        );
      }
      for (const k of kinds) {
        const p = ck.string(m[k], ["spec", "match", k]);
        if (p === undefined) continue;
        if (!p.startsWith("/"))
          ck.error(["spec", "match", k], `must start with "/"; got ${JSON.stringify(p)}`);
        else if (/[?#\s]/.test(p))
          ck.error(["spec", "match", k], "must be a path without query, fragment or spaces");
        else spec.match[k] = p;
      }
    }
  }
  return spec;
}

function checkGroup(ck: DocChecker, s: Record<string, unknown>): LaneGroup["spec"] {
  const spec = {} as LaneGroup["spec"];
  if (present(s.entry)) {
    const e = ck.mapping(s.entry, ["spec", "entry"], ["gateway", "routes"], ["gateway", "routes"]);
    if (e) {
      spec.entry = {
        gateway: present(e.gateway)
          ? (ck.string(e.gateway, ["spec", "entry", "gateway"], service) as string)
          : (undefined as unknown as string),
        routes: present(e.routes)
          ? (ck.stringList(e.routes, ["spec", "entry", "routes"], {
              ...name,
              nonEmpty: true,
              unique: true,
            }) as string[])
          : (undefined as unknown as string[]),
      };
    }
  }
  if (present(s.apps)) {
    spec.apps = ck.stringList(s.apps, ["spec", "apps"], {
      ...service,
      nonEmpty: true,
      unique: true,
    }) as string[];
  }
  if (present(s.mode)) {
    if (s.mode === "content" || s.mode === "ratio") spec.mode = s.mode;
    else ck.error(["spec", "mode"], `must be content or ratio; got ${shown(s.mode)}`);
  }
  return spec;
}

function checkCondition(ck: DocChecker, v: unknown, path: Path): Condition | undefined {
  // Counted before the mapping check: a condition without its op never reaches the op's checks.
  const before = ck.errorCount;
  const c = ck.mapping(v, path, ["type", "name", "op", "value", "values"], ["type", "name", "op"]);
  if (!c) return undefined;
  if (present(c.type) && !TYPES.includes(c.type as ConditionType)) {
    ck.error(
      [...path, "type"],
      `unknown condition type ${shown(c.type)} (expected one of ${TYPES.join(", ")})`,
    );
  }
  if (present(c.name)) {
    const isToken = c.type === "header" || c.type === "cookie";
    ck.string(
      c.name,
      [...path, "name"],
      isToken ? { pattern: TOKEN_PATTERN, patternMessage: `must be a valid ${c.type} name` } : {},
    );
  }
  const op = c.op as ConditionOp;
  if (present(c.op) && !OPS.includes(op)) {
    ck.error([...path, "op"], `unknown op ${shown(c.op)} (expected one of ${OPS.join(", ")})`);
  } else if (op === "in") {
    if (present(c.value)) {
      ck.error([...path, "value"], "op in takes `values` (a list), not `value`");
    } else if (!present(c.values)) {
      ck.error([...path, "values"], "op in needs a non-empty `values` list");
    }
    if (present(c.values)) ck.stringList(c.values, [...path, "values"], { nonEmpty: true });
  } else if (present(c.op)) {
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
  }
  if (ck.errorCount !== before) return undefined;
  const out: Condition = { type: c.type as ConditionType, name: c.name as string, op };
  if (present(c.value)) out.value = c.value as string | number;
  if (present(c.values)) out.values = (c.values as string[]).slice();
  return out;
}

function checkLane(ck: DocChecker, s: Record<string, unknown>): Lane["spec"] {
  const spec = { enabled: true } as Lane["spec"];
  if (present(s.group)) spec.group = ck.string(s.group, ["spec", "group"], name) as string;
  if (present(s.tag)) spec.tag = checkTag(ck, s.tag, ["spec", "tag"]) as string;
  if (present(s.enabled)) spec.enabled = ck.boolean(s.enabled, ["spec", "enabled"]) ?? true;
  if (present(s.apps)) {
    const apps = ck.stringList(s.apps, ["spec", "apps"], {
      ...service,
      nonEmpty: true,
      unique: true,
    });
    if (apps) spec.apps = apps;
  }
  if (present(s.match)) {
    const m = ck.mapping(s.match, ["spec", "match"], ["mode", "conditions"], ["conditions"]);
    if (m) {
      let mode: "all" | "any" = "all";
      if (present(m.mode)) {
        if (m.mode === "all" || m.mode === "any") mode = m.mode;
        else ck.error(["spec", "match", "mode"], `must be all or any; got ${shown(m.mode)}`);
      }
      const conditions: Condition[] = [];
      if (present(m.conditions)) {
        const path = ["spec", "match", "conditions"];
        if (!Array.isArray(m.conditions))
          ck.error(path, `must be a list of conditions; got ${typeName(m.conditions)}`);
        else if (m.conditions.length === 0) ck.error(path, "must list at least one condition");
        else {
          m.conditions.forEach((c, i) => {
            const checked = checkCondition(ck, c, [...path, i]);
            if (checked) conditions.push(checked);
          });
        }
      }
      spec.match = { mode, conditions };
    }
  }
  if (present(s.weight)) {
    const w = ck.number(s.weight, ["spec", "weight"], 0, 100);
    if (w !== undefined) spec.weight = w;
  }
  if (present(s.weights)) {
    if (!isRecord(s.weights))
      ck.error(
        ["spec", "weights"],
        `must be a mapping of route name to percent; got ${typeName(s.weights)}`,
      );
    else {
      const weights: Record<string, number> = {};
      for (const [route, w] of Object.entries(s.weights)) {
        const n = ck.number(w, ["spec", "weights", route], 0, 100);
        if (n !== undefined) weights[route] = n;
      }
      spec.weights = weights;
    }
  }
  return spec;
}

function checkInstance(ck: DocChecker, s: Record<string, unknown>): Instance["spec"] {
  const spec = {} as Instance["spec"];
  if (present(s.service))
    spec.service = ck.string(s.service, ["spec", "service"], service) as string;
  if (present(s.address)) {
    spec.address = ck.string(s.address, ["spec", "address"], {
      pattern: ADDRESS_PATTERN,
      patternMessage: "must be an IP address or host name, without scheme or port",
    }) as string;
  }
  if (present(s.port)) spec.port = ck.number(s.port, ["spec", "port"], 1, 65535, true) as number;
  if (present(s.tag)) {
    const tag = checkTag(ck, s.tag, ["spec", "tag"]);
    if (tag !== undefined) spec.tag = tag;
  }
  if (present(s.weight)) {
    const w = ck.number(s.weight, ["spec", "weight"], 0, 10000, true);
    if (w !== undefined) spec.weight = w;
  }
  if (present(s.healthy)) {
    const h = ck.boolean(s.healthy, ["spec", "healthy"]);
    if (h !== undefined) spec.healthy = h;
  }
  if (present(s.metadata)) {
    const m = ck.stringMap(s.metadata, ["spec", "metadata"]);
    if (m) {
      for (const key of TAG_METADATA_KEYS)
        if (m[key] !== undefined) checkTag(ck, m[key], ["spec", "metadata", key]);
      spec.metadata = m;
    }
  }
  return spec;
}

const SPEC_FIELDS: Record<Kind, { allowed: string[]; required: string[] }> = {
  Route: { allowed: ["gateway", "match", "service"], required: ["gateway", "match", "service"] },
  LaneGroup: { allowed: ["entry", "apps", "mode"], required: ["entry", "apps", "mode"] },
  Lane: {
    allowed: ["group", "tag", "enabled", "apps", "match", "weight", "weights"],
    required: ["group", "tag"],
  },
  Instance: {
    allowed: ["service", "address", "port", "tag", "weight", "healthy", "metadata"],
    required: ["service", "address", "port"],
  },
};

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
  const metadata = present(value.metadata) ? checkMetadata(ck, value.metadata) : ({} as Metadata);
  if (!known || !present(value.spec)) return;
  const k = kind as Kind;
  const s = ck.mapping(value.spec, ["spec"], SPEC_FIELDS[k].allowed, SPEC_FIELDS[k].required);
  if (!s) return;
  const apiVersion: typeof API_VERSION = API_VERSION;
  const base = { apiVersion, metadata };
  const entry = { ck, raw: ck.raw };
  switch (k) {
    case "Route":
      out.routes.push({ ...entry, res: { ...base, kind: k, spec: checkRoute(ck, s) } });
      break;
    case "LaneGroup":
      out.groups.push({ ...entry, res: { ...base, kind: k, spec: checkGroup(ck, s) } });
      break;
    case "Lane":
      out.lanes.push({ ...entry, res: { ...base, kind: k, spec: checkLane(ck, s) } });
      break;
    case "Instance":
      out.instances.push({ ...entry, res: { ...base, kind: k, spec: checkInstance(ck, s) } });
      break;
  }
}

/** Validate a whole batch as one: every rule of docs/resources.md, every error reported, nothing partial. */
export function validateBatch(docs: RawDocument[]): Validated {
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
    checkDocument(ck, raw.value, checked);
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
