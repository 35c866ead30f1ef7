// Test helper: validates a custom resource against a CRD's openAPIV3Schema with ajv, reading the Kubernetes extensions as the API server does (list-type set = unique items, preserve-unknown-fields = any value, strict field validation = unknown fields refused); no assertions here.
import { Ajv, type ErrorObject } from "ajv";
import { formatPath } from "../../src/config/checker.js";

type Json = Record<string, unknown>;

/** The schema as JSON Schema: extensions translated, every object with properties closed. */
function translate(s: unknown, inJunctor = false): unknown {
  if (Array.isArray(s)) return s.map((x) => translate(x, inJunctor));
  if (typeof s !== "object" || s === null) return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s as Json)) {
    if (k === "x-kubernetes-list-type") {
      if (v === "set") out.uniqueItems = true;
    } else if (k.startsWith("x-kubernetes-")) {
      // preserve-unknown-fields: no constraint; the others do not occur here.
    } else if (k === "properties" && typeof v === "object" && v !== null) {
      out.properties = Object.fromEntries(
        Object.entries(v as Json).map(([p, ps]) => [p, translate(ps, inJunctor)]),
      );
    } else if (k === "allOf" || k === "anyOf" || k === "oneOf" || k === "not") {
      out[k] = translate(v, true);
    } else out[k] = translate(v, inJunctor);
  }
  // Strict field validation (kubectl's default): an unknown field is an error, not pruned.
  if (!inJunctor && out.type === "object" && out.properties !== undefined)
    out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

/** A validator for one CRD schema: the field paths (lanemesh's notation) of the errors it finds. */
export function crdValidator(
  openAPIV3Schema: unknown,
): (cr: unknown) => { path: string; message: string }[] {
  const schema = translate(openAPIV3Schema) as Json;
  // The top level holds apiVersion/kind/metadata/spec/status: leave it open as the API server does.
  delete schema.additionalProperties;
  const validate = ajv.compile(schema);
  return (cr) => {
    if (validate(cr)) return [];
    return (
      (validate.errors ?? [])
        // A failed anyOf/oneOf branch is not an error of its own (the junctor reports); allOf's are.
        .filter((e: ErrorObject) => !/\/(anyOf|oneOf)\/\d+\/|\/not\//.test(e.schemaPath))
        .map((e: ErrorObject) => {
          const segs: (string | number)[] = e.instancePath
            .split("/")
            .slice(1)
            .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
            .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
          if (e.keyword === "required") segs.push(String(e.params.missingProperty));
          if (e.keyword === "additionalProperties") segs.push(String(e.params.additionalProperty));
          return { path: formatPath(segs), message: `${e.keyword}: ${e.message ?? ""}` };
        })
    );
  };
}
