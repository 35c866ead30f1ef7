// The shape of every resource kind as data (each field's type, pattern, enum, range, list rules, default and description): validate.ts walks it and src/kubernetes/crds.ts turns it into the CRDs' OpenAPI schemas, so the two cannot drift; it must never hold checking code or import anything that does I/O.
import { LANE_TAG_PATTERN } from "./lane-tag.js";
import type { ConditionOp, ConditionType, Kind } from "./types.js";

/*
 * Patterns are written once as source text that both engines read the same way: JavaScript's
 * RegExp (the validator) and Go's RE2 (the Kubernetes API server, for the CRDs). So: anchored,
 * no lookaround, no backreferences. A length bound is `maxLength`, never a lookahead.
 */

interface Common {
  /** Shown by `kubectl explain` and in docs/kubernetes.md. */
  description: string;
  /** The mapping that holds this field must have it (`required field is missing`). */
  required?: boolean;
  /** Applied when the field is absent, by the validator and (through the CRD) by the API server. */
  default?: unknown;
  /** Checked by one of the holding object's rules instead of by the field walker. */
  byRule?: boolean;
}

/** A further check on a string, in order after the pattern; the first one that fails is reported. */
export interface StringCheck {
  pattern: string;
  /** true: the value must NOT match `pattern`. */
  not?: boolean;
  message: (value: string) => string;
}

export interface StringField extends Common {
  type: "string";
  /** Anchored, RE2- and JS-compatible. The empty string is always refused ("must not be empty"). */
  pattern?: string;
  maxLength?: number;
  /** What `pattern`/`maxLength` failing says; `; got "value"` follows it. */
  patternMessage?: string;
  checks?: readonly StringCheck[];
  /** A closed set: any other value (of any type) is refused with `enumMessage(shown value)`. */
  enum?: readonly string[];
  enumMessage?: (shown: string) => string;
  /** A pattern that applies only while a sibling field holds one of `in` (condition names). */
  when?: {
    sibling: string;
    in: readonly string[];
    pattern: string;
    message: (siblingValue: string) => string;
  };
}

export interface NumberField extends Common {
  /** "integer": whole numbers only. */
  type: "number" | "integer";
  minimum: number;
  maximum: number;
}

export interface BooleanField extends Common {
  type: "boolean";
}

export interface ListField extends Common {
  type: "list";
  items: Field;
  nonEmpty?: boolean;
  /** No two equal items (lists of strings only; a CRD says `x-kubernetes-list-type: set`). */
  unique?: boolean;
  /** Message when the value is not a list (`got …` is appended by the message itself). */
  typeMessage?: (got: string) => string;
  emptyMessage?: string;
}

export interface MapField extends Common {
  type: "map";
  values: StringField | NumberField;
  /** Keys with a stricter rule than `values` (instance metadata's tag keys); validator only. */
  keys?: Record<string, StringField>;
  typeMessage?: (got: string) => string;
}

/** A check across fields of one object, stated twice: as the validator runs it and as OpenAPI says it. */
export interface ObjectRule {
  /** The validator's implementation is keyed by this id (validate.ts, RULE_CHECKS). */
  id: RuleId;
  description: string;
  /** Merged into the object's OpenAPI schema: junctors (oneOf/anyOf/not) over fields declared above. */
  openapi: Record<string, unknown> | null;
  /** Checked before the fields (its error is listed first), else after them. */
  first?: boolean;
}

export type RuleId = "exactlyOneMatch" | "valueByOp" | "matchOrWeights" | "guardLimit";

export interface ObjectField extends Common {
  type: "object";
  /** In the order the validator lists them in "allowed:" messages. */
  fields: Record<string, Field>;
  rules?: readonly ObjectRule[];
  /** The whole object is left out of the result when anything inside it failed (conditions). */
  dropIfInvalid?: boolean;
}

/** Any JSON value; its holder's rules decide (a condition's value: a string or a number by op). */
export interface AnyField extends Common {
  type: "any";
}

export type Field =
  | StringField
  | NumberField
  | BooleanField
  | ListField
  | MapField
  | ObjectField
  | AnyField;

/** metadata.name, lane group and route references: a DNS-1123 subdomain. */
export const NAME_FIELD = {
  type: "string",
  pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
  maxLength: 253,
  patternMessage: "must be a DNS-like name (a-z, 0-9, '-', '.')",
} as const satisfies Omit<StringField, "description">;

/** Services, apps and gateways: what registries use (`sc-A`, `com.shop.Cart`), no spaces. */
const SERVICE = {
  type: "string",
  pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$",
  patternMessage: "must be a service name without spaces",
} as const satisfies Omit<StringField, "description">;

/** RFC 9110 token: header and cookie names. */
export const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

const TAG = {
  type: "string",
  pattern: LANE_TAG_PATTERN.source,
  patternMessage: "must be a token of 1-63 letters, digits, '.', '_' or '-'",
  checks: [
    {
      pattern: "^[Bb][Aa][Ss][Ee]$",
      not: true,
      message: (v: string) =>
        `"${v}" is reserved for untagged instances; leave the tag out for base`,
    },
  ],
} as const satisfies Omit<StringField, "description">;

const PATH_CHECKS: readonly StringCheck[] = [
  { pattern: "^/", message: (v) => `must start with "/"; got ${JSON.stringify(v)}` },
  { pattern: "^[^?#\\s]*$", message: () => "must be a path without query, fragment or spaces" },
];

export const CONDITION_OPS: readonly ConditionOp[] = ["==", "!=", "in", "percentage", "regex"];
export const CONDITION_TYPES: readonly ConditionType[] = ["header", "cookie", "query"];

export const METADATA: ObjectField = {
  type: "object",
  description: "The resource's name (unique per kind) and labels.",
  fields: {
    name: { ...NAME_FIELD, required: true, description: "Unique per kind; a DNS-1123 subdomain." },
    labels: {
      type: "map",
      values: { type: "string", description: "A label value." },
      description: "Free-form labels; lanemesh does not read them.",
    },
  },
};

const CONDITION: ObjectField = {
  type: "object",
  description: "One test on the request.",
  dropIfInvalid: true,
  fields: {
    type: {
      type: "string",
      required: true,
      enum: CONDITION_TYPES,
      enumMessage: (got) =>
        `unknown condition type ${got} (expected one of ${CONDITION_TYPES.join(", ")})`,
      description:
        "What the key names: a header (case-insensitive), a cookie or a query parameter.",
    },
    name: {
      type: "string",
      required: true,
      when: {
        sibling: "type",
        in: ["header", "cookie"],
        pattern: TOKEN_PATTERN,
        message: (type) => `must be a valid ${type} name`,
      },
      description: "The header, cookie or query parameter name.",
    },
    op: {
      type: "string",
      required: true,
      enum: CONDITION_OPS,
      enumMessage: (got) => `unknown op ${got} (expected one of ${CONDITION_OPS.join(", ")})`,
      description:
        "==, != (a request without the key matches neither), in (values), percentage (murmur3 of the value % 100 < value), regex (RE2, a search).",
    },
    value: {
      type: "any",
      byRule: true,
      description:
        "==, !=, regex: a string; percentage: a number 0..100. The regex must be linear-time safe (checked by lanemesh, reported in status).",
    },
    values: {
      type: "list",
      byRule: true,
      nonEmpty: true,
      items: { type: "string", description: "One accepted value." },
      description: "in: the accepted values, at least one.",
    },
  },
  rules: [
    {
      id: "valueByOp",
      description: "op in takes values (a non-empty list), every other op takes value",
      openapi: {
        oneOf: [
          {
            properties: { op: { enum: ["in"] } },
            required: ["values"],
            not: { required: ["value"] },
          },
          {
            properties: { op: { enum: CONDITION_OPS.filter((o) => o !== "in") } },
            required: ["value"],
            not: { required: ["values"] },
          },
        ],
      },
    },
  ],
};

const ROUTE_SPEC: ObjectField = {
  type: "object",
  description: "A base route of an entry gateway: a path match that sends traffic to one service.",
  fields: {
    gateway: { ...SERVICE, required: true, description: "The gateway this route belongs to." },
    match: {
      type: "object",
      required: true,
      description: "Exactly one of prefix (path-segment boundaries) or exact.",
      fields: {
        prefix: {
          type: "string",
          checks: PATH_CHECKS,
          description: "Matches the path and everything under it: /a matches /a and /a/x, not /ab.",
        },
        exact: { type: "string", checks: PATH_CHECKS, description: "Matches this path only." },
      },
      rules: [
        {
          id: "exactlyOneMatch",
          first: true,
          description: "exactly one of prefix or exact",
          openapi: { oneOf: [{ required: ["prefix"] }, { required: ["exact"] }] },
        },
      ],
    },
    service: { ...SERVICE, required: true, description: "The service that gets the traffic." },
  },
};

const GROUP_SPEC: ObjectField = {
  type: "object",
  description: "A set of apps whose lanes share an entry and a mode.",
  fields: {
    entry: {
      type: "object",
      required: true,
      description: "Where the group's traffic enters: a gateway and some of its routes.",
      fields: {
        gateway: { ...SERVICE, required: true, description: "The entry gateway." },
        routes: {
          type: "list",
          required: true,
          nonEmpty: true,
          unique: true,
          items: { ...NAME_FIELD, description: "A Route of that gateway." },
          description: "Names of the Routes whose traffic the lanes classify.",
        },
      },
    },
    apps: {
      type: "list",
      required: true,
      nonEmpty: true,
      unique: true,
      items: { ...SERVICE, description: "A service (app) name." },
      description: "The services that take part in the group's lanes.",
    },
    mode: {
      type: "string",
      required: true,
      enum: ["content", "ratio"],
      enumMessage: (got) => `must be content or ratio; got ${got}`,
      description: "content: lanes match on the request; ratio: lanes take a share of traffic.",
    },
  },
};

const PERCENT = {
  type: "number",
  minimum: 0,
  maximum: 100,
} as const satisfies Omit<NumberField, "description">;

/** A guarded lane: the control plane closes it when its traffic breaks these limits (docs/resources.md). */
const GUARD: ObjectField = {
  type: "object",
  description:
    "Automatic rollback: the control plane closes the lane (enabled: false) when, over the window and once minRequests of the lane's requests were seen at one app, that app's lane traffic is over a limit and worse than its base traffic; it never reopens it.",
  fields: {
    maxErrorRate: {
      ...{ type: "number", minimum: 0, maximum: 1 },
      description:
        "Largest share of the lane's requests (0..1) that may fail (5xx or a proxy error) at an app.",
    },
    maxP99Ms: {
      ...{ type: "number", minimum: 1, maximum: 600000 },
      description: "Largest 99th percentile of the lane's time to response head at an app, in ms.",
    },
    minRequests: {
      type: "integer",
      minimum: 1,
      maximum: 1000000000,
      default: 20,
      description: "Lane requests an app must have served in the window before it is judged.",
    },
    window: {
      type: "string",
      pattern: "^([1-9][0-9]?s|[1-5][0-9]{2}s|600s|([1-9]|10)m)$",
      patternMessage: "must be a duration from 1s to 10m such as 30s or 2m",
      default: "30s",
      description:
        "How far back the lane's traffic is judged (1s..10m); traffic from before the lane was last changed is not.",
    },
  },
  rules: [
    {
      id: "guardLimit",
      description: "a guard needs maxErrorRate, maxP99Ms or both",
      openapi: { anyOf: [{ required: ["maxErrorRate"] }, { required: ["maxP99Ms"] }] },
    },
  ],
};

const LANE_SPEC: ObjectField = {
  type: "object",
  description: "A tag that requests entering through a group's routes get, by content or by ratio.",
  fields: {
    group: { ...NAME_FIELD, required: true, description: "The LaneGroup this lane belongs to." },
    tag: { ...TAG, required: true, description: "The tag requests in this lane carry." },
    enabled: {
      type: "boolean",
      default: true,
      description: "false = closed: the tag is ignored everywhere and traffic goes to base.",
    },
    apps: {
      type: "list",
      nonEmpty: true,
      unique: true,
      items: { ...SERVICE, description: "One of the group's apps." },
      description: "The apps of the group that take part (default: all of them).",
    },
    match: {
      type: "object",
      description: "Content mode: which requests enter the lane.",
      fields: {
        mode: {
          type: "string",
          enum: ["all", "any"],
          enumMessage: (got) => `must be all or any; got ${got}`,
          default: "all",
          description: "all: every condition must hold; any: one is enough.",
        },
        conditions: {
          type: "list",
          required: true,
          nonEmpty: true,
          items: CONDITION,
          typeMessage: (got) => `must be a list of conditions; got ${got}`,
          emptyMessage: "must list at least one condition",
          description: "Tests on the request, in order.",
        },
      },
    },
    weight: { ...PERCENT, description: "Ratio mode: percent of every entry route's traffic." },
    weights: {
      type: "map",
      values: { ...PERCENT, description: "Percent of that route's traffic." },
      typeMessage: (got) => `must be a mapping of route name to percent; got ${got}`,
      description: "Ratio mode: percent per entry route name.",
    },
    guard: GUARD,
  },
  rules: [
    {
      id: "matchOrWeights",
      description:
        "a lane has either match (content mode) or weight/weights (ratio mode), not both; which one its group's mode says (checked by lanemesh across documents)",
      openapi: {
        not: { anyOf: [{ required: ["match", "weight"] }, { required: ["match", "weights"] }] },
      },
    },
  ],
};

const INSTANCE_SPEC: ObjectField = {
  type: "object",
  description: "One instance of a service, for static discovery files.",
  fields: {
    service: { ...SERVICE, required: true, description: "The service it is an instance of." },
    address: {
      type: "string",
      required: true,
      pattern: "^[A-Za-z0-9.\\-:[\\]%_]+$",
      patternMessage: "must be an IP address or host name, without scheme or port",
      description: "IP address or host name.",
    },
    port: { type: "integer", required: true, minimum: 1, maximum: 65535, description: "Port." },
    tag: { ...TAG, description: "Lane tag; absent = base." },
    weight: { type: "integer", minimum: 0, maximum: 10000, description: "Default 100." },
    healthy: { type: "boolean", description: "Default true." },
    metadata: {
      type: "map",
      values: { type: "string", description: "A metadata value." },
      keys: {
        "lanemesh.io/tag": { ...TAG, description: "Lane tag, when spec.tag is absent." },
        "alicloud.service.tag": { ...TAG, description: "MSE's tag key." },
      },
      description: "Free-form metadata; lanemesh.io/tag or alicloud.service.tag carry a tag.",
    },
  },
};

/** Each kind's spec. Route, LaneGroup and Lane are also CRDs; Instance lives only in files. */
export const SPECS: Record<Kind, ObjectField> = {
  Route: ROUTE_SPEC,
  LaneGroup: GROUP_SPEC,
  Lane: LANE_SPEC,
  Instance: INSTANCE_SPEC,
};
