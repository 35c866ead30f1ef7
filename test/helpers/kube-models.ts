// Test helper: checks a Kubernetes manifest against the API's schemas offline — types, required fields and enums by the kubernetes-models validators, unknown fields (kubectl's strict validation) by the official client's model type maps; no assertions here.
import * as k8s from "@kubernetes/client-node";

type Json = Record<string, unknown>;

interface Attr {
  baseName: string;
  type: string;
}

type ModelClass = { getAttributeTypeMap(): Attr[] };

function model(name: string): ModelClass | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[name];
  return typeof m === "function" && "getAttributeTypeMap" in m ? (m as ModelClass) : undefined;
}

/** Fields a type does not have, as `path.field` strings (`{ [key: string]: T; }` and `Array<T>` followed). */
function unknownFields(v: unknown, type: string, path: string, out: string[]): void {
  if (v === null || v === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(v))
      for (const [i, x] of v.entries()) unknownFields(x, arr[1] as string, `${path}[${i}]`, out);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof v === "object")
      for (const [k, x] of Object.entries(v as Json))
        unknownFields(x, map[1] as string, `${path}.${k}`, out);
    return;
  }
  const cls = model(type);
  if (!cls || typeof v !== "object" || Array.isArray(v)) return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, x] of Object.entries(v as Json)) {
    const t = attrs.get(k);
    if (t === undefined) out.push(`${path}.${k}`);
    else unknownFields(x, t, `${path}.${k}`, out);
  }
}

/** The client's model class name for an apiVersion/kind, e.g. apps/v1 Deployment → V1Deployment. */
function className(apiVersion: string, kind: string): string {
  const version = apiVersion.split("/").pop() as string;
  return `${version[0]?.toUpperCase()}${version.slice(1)}${kind}`;
}

/** Every problem the API server would report for this object (empty = valid). */
export async function kubeProblems(obj: Json): Promise<string[]> {
  const apiVersion = String(obj.apiVersion);
  const kind = String(obj.kind);
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const spec =
    group === ""
      ? `kubernetes-models/${version}/${kind}`
      : `kubernetes-models/${group}/${version}/${kind}`;
  const problems: string[] = [];
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch {
    return [`${apiVersion} ${kind}: no schema known`];
  }
  const Model = mod[kind] as new (data: Json) => { validate(): void };
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  const cls = className(apiVersion, kind);
  if (!model(cls)) problems.push(`${cls}: no model to check fields against`);
  else unknownFields(obj, cls, kind, problems);
  return problems.map((p) =>
    p.startsWith("schema:") || p.includes(": no ") ? p : `unknown field ${p}`,
  );
}
