// The CRDs' schemas come from the validator's own field definitions: the same documents fed to the generated CRD schema (ajv, with the API server's extensions) and to the lanemesh validator are accepted and refused alike, at the same fields; what only lanemesh can check is listed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rawDocumentsOf } from "../../src/config/custom-resource.js";
import { formatError } from "../../src/config/document.js";
import { validateResources } from "../../src/config/load.js";
import { customResourceDefinitions, resourceSchema } from "../../src/kubernetes/crds.js";
import { crdValidator } from "../helpers/crd-schema.js";

type Kind = "Route" | "LaneGroup" | "Lane";
type Json = Record<string, unknown>;

const cr = (kind: Kind, spec: unknown, name = "t") => ({
  apiVersion: "lanemesh.io/v1alpha1",
  kind,
  metadata: { name, namespace: "mall", uid: "x", resourceVersion: "7", generation: 1 },
  spec,
});

/** Valid neighbours, so a test document fails only for what it holds itself. */
const CONTEXT = [
  cr("Route", { gateway: "default", match: { prefix: "/a" }, service: "sc-a" }, "a-route"),
  cr(
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["sc-a", "sc-b"], mode: "content" },
    "content-g",
  ),
  cr(
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["sc-a"], mode: "ratio" },
    "ratio-g",
  ),
];

const validators = Object.fromEntries(
  (["Route", "LaneGroup", "Lane"] as const).map((k) => [k, crdValidator(resourceSchema(k))]),
) as Record<Kind, ReturnType<typeof crdValidator>>;

function lanemeshErrors(doc: ReturnType<typeof cr>): { path: string; message: string }[] {
  const v = validateResources(rawDocumentsOf([...CONTEXT, doc]));
  if (v.ok) return [];
  const others = v.errors.filter((e) => e.doc !== 0 || !e.file.endsWith("/t"));
  assert.deepEqual(others, [], `the context is valid:\n${others.map(formatError).join("\n")}`);
  return v.errors.map((e) => ({ path: e.path, message: e.message }));
}

const cond = (c: Json) => ({
  group: "content-g",
  tag: "gray",
  match: { conditions: [{ type: "header", name: "canary", ...c }] },
});

const VALID: [Kind, unknown][] = [
  ["Route", { gateway: "default", match: { prefix: "/t" }, service: "sc-t" }],
  ["Route", { gateway: "edge", match: { exact: "/t/x" }, service: "com.shop.Cart" }],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["sc-a", "sc-b"], mode: "content" },
  ],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["sc-a"], mode: "ratio" },
  ],
  ["Lane", cond({ op: "==", value: "gray" })],
  ["Lane", cond({ op: "!=", value: "x" })],
  ["Lane", cond({ op: "in", values: ["a", "b"] })],
  ["Lane", cond({ op: "percentage", value: 12.5 })],
  ["Lane", cond({ op: "regex", value: "^gr(a|e)y$" })],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g-2.x",
      enabled: false,
      apps: ["sc-a"],
      match: {
        mode: "any",
        conditions: [
          { type: "query", name: "not a token", op: "==", value: "1" },
          { type: "cookie", name: "c", op: "==", value: "v" },
        ],
      },
    },
  ],
  ["Lane", { group: "ratio-g", tag: "gray", weight: 30 }],
  ["Lane", { group: "ratio-g", tag: "gray", weights: { "a-route": 0 } }],
];

/** [kind, spec, the field lanemesh names]; the CRD must refuse it at that field or an object holding it. */
const INVALID: [Kind, unknown, string][] = [
  ["Route", { gateway: "default", match: { prefix: "/t" } }, "spec.service"],
  [
    "Route",
    { gateway: "default", match: { prefix: "/t", exact: "/t" }, service: "s" },
    "spec.match",
  ],
  ["Route", { gateway: "default", match: {}, service: "s" }, "spec.match"],
  ["Route", { gateway: "default", match: { prefix: "t" }, service: "s" }, "spec.match.prefix"],
  ["Route", { gateway: "default", match: { exact: "/t x" }, service: "s" }, "spec.match.exact"],
  ["Route", { gateway: "de fault", match: { prefix: "/t" }, service: "s" }, "spec.gateway"],
  [
    "Route",
    { gateway: "default", match: { prefix: "/t" }, service: "s", weight: 1 },
    "spec.weight",
  ],
  ["Route", { gateway: "default", match: { prefix: "/t" }, service: "" }, "spec.service"],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["sc-a"], mode: "canary" },
    "spec.mode",
  ],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: [], mode: "content" },
    "spec.apps",
  ],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["a-route"] }, apps: ["a", "a"], mode: "content" },
    "spec.apps[1]",
  ],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["Bad_Name"] }, apps: ["a"], mode: "content" },
    "spec.entry.routes[0]",
  ],
  [
    "LaneGroup",
    { entry: { routes: ["a-route"] }, apps: ["a"], mode: "content" },
    "spec.entry.gateway",
  ],
  ["Lane", { ...cond({ op: "==", value: "g" }), tag: "Base" }, "spec.tag"],
  ["Lane", { ...cond({ op: "==", value: "g" }), tag: "-x" }, "spec.tag"],
  ["Lane", { ...cond({ op: "==", value: "g" }), enabled: "yes" }, "spec.enabled"],
  ["Lane", { ...cond({ op: "==", value: "g" }), apps: ["sc-a", 1] }, "spec.apps[1]"],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      match: { mode: "most", conditions: [{ type: "header", name: "a", op: "==", value: "b" }] },
    },
    "spec.match.mode",
  ],
  ["Lane", { group: "content-g", tag: "g", match: { conditions: [] } }, "spec.match.conditions"],
  ["Lane", { group: "content-g", tag: "g", match: {} }, "spec.match.conditions"],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      match: { conditions: [{ type: "body", name: "a", op: "==", value: "b" }] },
    },
    "spec.match.conditions[0].type",
  ],
  ["Lane", cond({ op: "=~", value: "g" }), "spec.match.conditions[0].op"],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      match: { conditions: [{ type: "header", name: "bad name", op: "==", value: "b" }] },
    },
    "spec.match.conditions[0].name",
  ],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      match: { conditions: [{ type: "cookie", name: "a;b", op: "==", value: "b" }] },
    },
    "spec.match.conditions[0].name",
  ],
  ["Lane", cond({ op: "in", value: "g" }), "spec.match.conditions[0].value"],
  ["Lane", cond({ op: "in" }), "spec.match.conditions[0].values"],
  ["Lane", cond({ op: "in", values: [] }), "spec.match.conditions[0].values"],
  ["Lane", cond({ op: "==", value: "g", values: ["g"] }), "spec.match.conditions[0].values"],
  ["Lane", cond({ op: "==" }), "spec.match.conditions[0].value"],
  ["Lane", cond({ op: "==", value: "g", extra: 1 }), "spec.match.conditions[0].extra"],
  ["Lane", { group: "ratio-g", tag: "g", weight: 101 }, "spec.weight"],
  [
    "Lane",
    { group: "ratio-g", tag: "g", weight: 60, weights: { "a-route": 101 } },
    "spec.weights.a-route",
  ],
  ["Lane", { group: "ratio-g", tag: "g", weights: { "a-route": -1 } }, "spec.weights.a-route"],
  ["Lane", { group: "ratio-g", tag: "g", weights: [] }, "spec.weights"],
  [
    "Lane",
    {
      group: "ratio-g",
      tag: "g",
      weight: 10,
      match: { conditions: [{ type: "header", name: "a", op: "==", value: "b" }] },
    },
    "spec.match",
  ],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      weights: { "a-route": 10 },
      match: { conditions: [{ type: "header", name: "a", op: "==", value: "b" }] },
    },
    "spec.weights",
  ],
  [
    "Lane",
    {
      group: "content-g",
      tag: "g",
      enabeld: true,
      match: { conditions: [{ type: "header", name: "a", op: "==", value: "b" }] },
    },
    "spec.enabeld",
  ],
  ["Lane", { tag: "g", weight: 1 }, "spec.group"],
];

/** Refused by lanemesh only: needs another document, or a check OpenAPI cannot express. */
const LANEMESH_ONLY: [Kind, unknown, string, RegExp][] = [
  [
    "Lane",
    cond({ op: "regex", value: "(a)\\1" }),
    "spec.match.conditions[0].value",
    /unsafe regex/,
  ],
  ["Lane", cond({ op: "regex", value: "(" }), "spec.match.conditions[0].value", /does not compile/],
  [
    "Lane",
    cond({ op: "percentage", value: "10" }),
    "spec.match.conditions[0].value",
    /must be a number/,
  ],
  ["Lane", cond({ op: "==", value: 5 }), "spec.match.conditions[0].value", /must be a string/],
  [
    "Lane",
    cond({ op: "percentage", value: 150 }),
    "spec.match.conditions[0].value",
    /between 0 and 100/,
  ],
  ["Lane", { group: "no-such", tag: "g", weight: 1 }, "spec.group", /no LaneGroup/],
  ["Lane", { group: "content-g", tag: "g" }, "spec.match", /content mode/],
  [
    "Lane",
    { ...cond({ op: "==", value: "g" }), apps: ["sc-z"] },
    "spec.apps[0]",
    /not one of the apps/,
  ],
  [
    "LaneGroup",
    { entry: { gateway: "default", routes: ["missing"] }, apps: ["a"], mode: "content" },
    "spec.entry.routes[0]",
    /no Route named/,
  ],
  [
    "Route",
    { gateway: "default", match: { prefix: "/a" }, service: "s" },
    "spec.match",
    /already matches/,
  ],
];

const isAtOrAbove = (crdPath: string, field: string) =>
  field === crdPath ||
  field.startsWith(`${crdPath}.`) ||
  field.startsWith(`${crdPath}[`) ||
  crdPath === "";

describe("CRD schemas and the lanemesh validator agree", () => {
  it("both accept every valid document", () => {
    for (const [kind, spec] of VALID) {
      const doc = cr(kind, spec);
      assert.deepEqual(validators[kind](doc), [], `CRD refuses ${JSON.stringify(spec)}`);
      assert.deepEqual(lanemeshErrors(doc), [], `lanemesh refuses ${JSON.stringify(spec)}`);
    }
  });

  it("both refuse every shape error, at the same field (the CRD may report at the object holding it)", () => {
    for (const [kind, spec, field] of INVALID) {
      const doc = cr(kind, spec);
      const ours = lanemeshErrors(doc);
      assert.deepEqual(
        ours.map((e) => e.path),
        [field],
        `lanemesh on ${JSON.stringify(spec)}: ${JSON.stringify(ours)}`,
      );
      const theirs = validators[kind](doc);
      assert.ok(theirs.length > 0, `CRD accepts ${JSON.stringify(spec)}`);
      for (const e of theirs)
        assert.ok(isAtOrAbove(e.path, field), `CRD error at ${e.path} (${e.message}) for ${field}`);
      assert.ok(
        theirs.some((e) => e.path === field || field.startsWith(e.path)),
        `${field}: ${JSON.stringify(theirs)}`,
      );
    }
  });

  it("what only lanemesh refuses (regex safety, a value's type by op, other documents) passes the CRD and shows in status", () => {
    for (const [kind, spec, field, message] of LANEMESH_ONLY) {
      const doc = cr(kind, spec);
      assert.deepEqual(
        validators[kind](doc),
        [],
        `CRD now refuses ${JSON.stringify(spec)}: move it to INVALID`,
      );
      const ours = lanemeshErrors(doc);
      assert.ok(
        ours.some((e) => e.path === field && message.test(e.message)),
        `${field} ${message}: ${JSON.stringify(ours)}`,
      );
    }
  });

  it("the CRDs: names, scope, status subresource, printer columns, defaults the validator applies too", () => {
    const crds = customResourceDefinitions() as Json[];
    assert.deepEqual(
      crds.map((c) => (c.metadata as Json).name),
      ["routes.lanemesh.io", "lanegroups.lanemesh.io", "lanes.lanemesh.io"],
    );
    for (const c of crds) {
      const spec = c.spec as Json;
      assert.equal(spec.scope, "Namespaced");
      const v = (spec.versions as Json[])[0] as Json;
      assert.equal(v.name, "v1alpha1");
      assert.deepEqual(v.subresources, { status: {} });
      const cols = (v.additionalPrinterColumns as Json[]).map((x) => x.name);
      assert.ok(cols.includes("Accepted"), String(cols));
      const status = ((v.schema as Json).openAPIV3Schema as Json).properties as Json;
      assert.deepEqual(Object.keys((status.status as Json).properties as Json), [
        "accepted",
        "error",
        "observedGeneration",
      ]);
    }
    const cols = (name: string) => {
      const crd = crds.find((c) => (c.metadata as Json).name === name) as Json;
      return ((crd.spec as Json).versions as Json[])[0]?.additionalPrinterColumns as Json[];
    };
    assert.deepEqual(
      cols("lanes.lanemesh.io")
        .map((c) => c.jsonPath)
        .slice(0, 3),
      [".spec.group", ".spec.tag", ".spec.enabled"],
    );
    assert.equal(cols("lanegroups.lanemesh.io")[0]?.jsonPath, ".spec.mode");
    const lane = (resourceSchema("Lane").properties as Json).spec as Json;
    assert.equal(((lane.properties as Json).enabled as Json).default, true);
  });

  it("every schema node is structural: a type (or preserve-unknown-fields) everywhere, junctors hold no types or descriptions", () => {
    const walk = (s: Json, where: string, inJunctor: boolean): void => {
      if (inJunctor) {
        for (const k of ["type", "description", "default", "additionalProperties", "nullable"])
          assert.ok(!(k in s), `${where}: ${k} inside a junctor`);
      } else
        assert.ok(
          typeof s.type === "string" || s["x-kubernetes-preserve-unknown-fields"] === true,
          `${where}: no type`,
        );
      assert.ok(!("uniqueItems" in s), `${where}: uniqueItems is not allowed in a CRD`);
      for (const [k, v] of Object.entries((s.properties as Json) ?? {}))
        walk(v as Json, `${where}.${k}`, inJunctor);
      if (s.items) walk(s.items as Json, `${where}[]`, inJunctor);
      if (typeof s.additionalProperties === "object")
        walk(s.additionalProperties as Json, `${where}{}`, inJunctor);
      for (const j of ["allOf", "anyOf", "oneOf"])
        for (const b of (s[j] as Json[] | undefined) ?? []) walk(b, `${where}/${j}`, true);
      if (s.not) walk(s.not as Json, `${where}/not`, true);
    };
    for (const k of ["Route", "LaneGroup", "Lane"] as const) walk(resourceSchema(k), k, false);
  });
});
