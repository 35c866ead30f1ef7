// `lanemesh inject`'s file side: finds every pod template in a YAML stream (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, List) and applies inject.ts's JSONPatch to the YAML nodes, so comments and every other field survive; it must never decide what to inject.
import { type Document, isMap, isSeq, parseAllDocuments } from "yaml";
import { type InjectOptions, type PodLike, planInjection } from "./inject.js";
import { quoteAmbiguous, STRINGIFY } from "./yaml-out.js";

type Json = Record<string, unknown>;
type Path = (string | number)[];

/** Where each kind keeps its pod template. */
const TEMPLATE_PATHS: Record<string, Path> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

export interface InjectReport {
  /** `Kind/name` of each workload, with what happened to it. */
  results: { workload: string; injected: boolean; reason?: string; warn: boolean }[];
}

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function getAt(v: unknown, path: Path): unknown {
  let cur = v;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** Every pod template in one parsed object: its path, the workload's `Kind/name` and name. */
function* templates(
  obj: unknown,
  base: Path,
): Generator<{ path: Path; workload: string; name?: string }> {
  if (!isObj(obj)) return;
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  if ((kind === "List" || kind.endsWith("List")) && Array.isArray(obj.items)) {
    for (let i = 0; i < obj.items.length; i++)
      yield* templates(obj.items[i], [...base, "items", i]);
    return;
  }
  const rel = TEMPLATE_PATHS[kind];
  if (rel === undefined) return;
  const name = getAt(obj, ["metadata", "name"]);
  const n = typeof name === "string" ? name : undefined;
  if (isObj(getAt(obj, rel)))
    yield { path: [...base, ...rel], workload: `${kind}/${n ?? "?"}`, ...(n ? { name: n } : {}) };
}

function decode(segment: string): string | number {
  const s = segment.replaceAll("~1", "/").replaceAll("~0", "~");
  return /^\d+$/.test(s) ? Number(s) : s;
}

/** Apply an `add` op (RFC 6902) to the YAML node at `base`. */
function addAt(doc: Document, base: Path, pointer: string, value: unknown): void {
  const segs = pointer.split("/").slice(1).map(decode);
  const last = segs.pop() as string | number;
  const parent = doc.getIn([...base, ...segs], true);
  const node = doc.createNode(value, { aliasDuplicateObjects: false });
  quoteAmbiguous(node);
  if (isSeq(parent)) {
    if (last === "-") parent.items.push(node);
    else parent.items.splice(Number(last), 0, node);
  } else if (isMap(parent)) {
    parent.set(String(last), node);
  } else {
    throw new Error(`inject: no mapping or list at ${[...base, ...segs].join(".")}`);
  }
}

/** Inject every pod template of a YAML stream; documents without one come back as they were. */
export function injectYaml(text: string, o: InjectOptions): { text: string } & InjectReport {
  const docs = parseAllDocuments(text);
  if ("empty" in docs) return { text, results: [] };
  const results: InjectReport["results"] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new Error(`document ${i + 1}: YAML syntax: ${doc.errors[0]?.message ?? "?"}`);
    const obj = doc.toJS({ maxAliasCount: 100 }) as unknown;
    for (const t of templates(obj, [])) {
      const plan = planInjection(getAt(obj, t.path) as PodLike, o, t.name);
      if (plan.action === "skip") {
        results.push({
          workload: t.workload,
          injected: false,
          reason: plan.reason,
          warn: plan.warn,
        });
        continue;
      }
      for (const op of plan.patch) addAt(doc, t.path, op.path, op.value);
      results.push({ workload: t.workload, injected: true, warn: false });
    }
  });
  return { text: docs.map((d) => d.toString(STRINGIFY)).join(""), results };
}
