// The CustomResourceDefinitions of Route, LaneGroup and Lane, generated from src/config/schema.ts (the validator's own field definitions) so the two cannot drift; pure data, it must never talk to a cluster.
import type { Field, ObjectField, StringField } from "../config/schema.js";
import { SPECS } from "../config/schema.js";
import { API_VERSION } from "../config/types.js";
import { PART_OF, VERSION } from "./names.js";

export const GROUP = "lanemesh.io";
export const CRD_VERSION = "v1alpha1";

type Json = Record<string, unknown>;

/** What the status subresource holds: the control plane writes it after validating the resource. */
export const STATUS_SCHEMA: Json = {
  type: "object",
  description: "Written by the lanemesh control plane after validating the resource.",
  properties: {
    accepted: {
      type: "boolean",
      description: "true: valid and pushed to proxies; false: refused, see error.",
    },
    error: {
      type: "string",
      description: "Why the resource was refused, naming the field (as lanemesh validate says it).",
    },
    observedGeneration: {
      type: "integer",
      format: "int64",
      description: "The metadata.generation the status describes.",
    },
  },
};

function stringSchema(f: StringField): Json {
  if (f.enum !== undefined) return { type: "string", enum: [...f.enum] };
  const out: Json = { type: "string", minLength: 1 };
  if (f.maxLength !== undefined) out.maxLength = f.maxLength;
  const patterns = [
    ...(f.pattern === undefined ? [] : [f.pattern]),
    ...(f.checks ?? []).filter((c) => !c.not).map((c) => c.pattern),
  ];
  const nots = (f.checks ?? []).filter((c) => c.not).map((c) => ({ pattern: c.pattern }));
  const [first, ...more] = patterns;
  if (first !== undefined) out.pattern = first;
  // One `pattern` per schema: any further one (and every "must not match") goes in allOf.
  const all: Json[] = [...more.map((pattern) => ({ pattern })), ...nots.map((n) => ({ not: n }))];
  if (all.length > 0) out.allOf = all;
  return out;
}

/** One field as a structural OpenAPI v3 schema (what a CRD accepts). */
export function openApiOf(f: Field): Json {
  let out: Json;
  switch (f.type) {
    case "string":
      out = stringSchema(f);
      break;
    case "number":
    case "integer":
      out = { type: f.type, minimum: f.minimum, maximum: f.maximum };
      break;
    case "boolean":
      out = { type: "boolean" };
      break;
    case "any":
      // A string or a number by op: the API server keeps it as written, lanemesh checks it.
      out = { "x-kubernetes-preserve-unknown-fields": true };
      break;
    case "list":
      out = { type: "array", items: openApiOf(f.items) };
      if (f.nonEmpty) out.minItems = 1;
      if (f.unique) out["x-kubernetes-list-type"] = "set";
      break;
    case "map":
      out = { type: "object", additionalProperties: openApiOf(f.values) };
      break;
    case "object":
      out = objectSchema(f);
      break;
  }
  const head: Json = { description: f.description };
  if (f.default !== undefined) head.default = f.default;
  return { ...head, ...out };
}

function objectSchema(f: ObjectField): Json {
  const properties: Json = {};
  const required: string[] = [];
  const junctors: Json[] = [];
  for (const [name, field] of Object.entries(f.fields)) {
    properties[name] = openApiOf(field);
    if (field.required) required.push(name);
    if (field.type === "string" && field.when !== undefined) {
      const w = field.when;
      junctors.push({
        anyOf: [
          { properties: { [w.sibling]: { not: { enum: [...w.in] } } } },
          { properties: { [name]: { pattern: w.pattern } } },
        ],
      });
    }
  }
  for (const rule of f.rules ?? []) if (rule.openapi !== null) junctors.push(rule.openapi);
  const out: Json = { type: "object" };
  if (required.length > 0) out.required = required;
  out.properties = properties;
  if (junctors.length === 1) Object.assign(out, junctors[0]);
  else if (junctors.length > 1) out.allOf = junctors;
  return out;
}

interface CrdKind {
  kind: "Route" | "LaneGroup" | "Lane";
  plural: string;
  shortNames: string[];
  description: string;
  columns: { name: string; type: string; jsonPath: string; priority?: number }[];
}

const STATUS_COLUMNS = [
  { name: "Accepted", type: "boolean", jsonPath: ".status.accepted" },
  { name: "Error", type: "string", jsonPath: ".status.error", priority: 1 },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
];

const KINDS: CrdKind[] = [
  {
    kind: "Route",
    plural: "routes",
    shortNames: ["lmroute"],
    description: "A base route of an entry gateway: a path prefix or exact path sent to a service.",
    columns: [
      { name: "Gateway", type: "string", jsonPath: ".spec.gateway" },
      { name: "Prefix", type: "string", jsonPath: ".spec.match.prefix" },
      { name: "Exact", type: "string", jsonPath: ".spec.match.exact", priority: 1 },
      { name: "Service", type: "string", jsonPath: ".spec.service" },
    ],
  },
  {
    kind: "LaneGroup",
    plural: "lanegroups",
    shortNames: ["lmgroup"],
    description: "Apps whose lanes share an entry (gateway routes) and a mode (content or ratio).",
    columns: [
      { name: "Mode", type: "string", jsonPath: ".spec.mode" },
      { name: "Gateway", type: "string", jsonPath: ".spec.entry.gateway" },
    ],
  },
  {
    kind: "Lane",
    plural: "lanes",
    shortNames: ["lmlane"],
    description: "A lane: the tag requests get at the entry, by content match or by ratio.",
    columns: [
      { name: "Group", type: "string", jsonPath: ".spec.group" },
      { name: "Tag", type: "string", jsonPath: ".spec.tag" },
      { name: "Enabled", type: "boolean", jsonPath: ".spec.enabled" },
      { name: "Weight", type: "number", jsonPath: ".spec.weight", priority: 1 },
    ],
  },
];

/** The whole openAPIV3Schema of one kind's custom resource. */
export function resourceSchema(kind: CrdKind["kind"]): Json {
  const info = KINDS.find((k) => k.kind === kind) as CrdKind;
  return {
    type: "object",
    description: info.description,
    required: ["spec"],
    properties: {
      apiVersion: { type: "string", description: `${API_VERSION}` },
      kind: { type: "string", description: kind },
      metadata: { type: "object" },
      spec: openApiOf(SPECS[kind]),
      status: STATUS_SCHEMA,
    },
  };
}

/** The three CustomResourceDefinitions, in the order `kubectl apply` should see them. */
export function customResourceDefinitions(): Json[] {
  return KINDS.map((k) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${k.plural}.${GROUP}`,
      labels: { ...PART_OF, "app.kubernetes.io/version": VERSION },
    },
    spec: {
      group: GROUP,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        shortNames: k.shortNames,
        categories: ["lanemesh"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: resourceSchema(k.kind) },
          subresources: { status: {} },
          additionalPrinterColumns: [...k.columns, ...STATUS_COLUMNS],
        },
      ],
    },
  }));
}
