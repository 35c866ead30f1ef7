// The demo's resources: the example YAML files of the chosen mode, sent to the control plane as one batch the way `lanemesh apply` sends them; it starts no process.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatError, type RawDocument } from "../config/document.js";
import { parseDocuments } from "../config/load.js";
import { callServer } from "../control-plane/api-client.js";

/** dist/src/demo/scenario.js → examples/ at the repository (package) root. */
export const EXAMPLES_DIR = fileURLToPath(new URL("../../../examples/", import.meta.url));

export type DemoMode = "content" | "ratio";
export type DemoProtocol = "http" | "grpc";

/** The example files each mode applies, in order. */
export const MODE_FILES: Record<DemoMode, readonly string[]> = {
  content: ["mall-routes.yaml", "mall-content.yaml"],
  ratio: ["mall-routes.yaml", "mall-ratio.yaml"],
};

/** The files a mode applies; over gRPC the route takes the gRPC service's paths. */
export function scenarioFiles(mode: DemoMode, protocol: DemoProtocol): readonly string[] {
  const files = MODE_FILES[mode];
  if (protocol === "http") return files;
  return files.map((f) => (f === "mall-routes.yaml" ? "mall-routes-grpc.yaml" : f));
}

/** The example that closes the gray lane (shown in the demo's "try this"). */
export const CLOSED_LANE_FILE = "mall-gray-closed.yaml";

export type Loaded = { ok: true; docs: RawDocument[] } | { ok: false; message: string };

/**
 * Parse the mode's example files; with `weight`, every ratio Lane gets that weight (replacing a
 * per-route `weights`). Errors name the file and document, as `lanemesh apply` prints them.
 */
export function loadScenario(
  mode: DemoMode,
  weight: number | null,
  dir = EXAMPLES_DIR,
  protocol: DemoProtocol = "http",
): Loaded {
  const docs: RawDocument[] = [];
  for (const name of scenarioFiles(mode, protocol)) {
    const file = `${dir}${name}`;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      return { ok: false, message: `${file}: cannot read: ${(err as Error).message}` };
    }
    const parsed = parseDocuments(text, file);
    if (parsed.errors.length > 0)
      return { ok: false, message: parsed.errors.map(formatError).join("\n") };
    docs.push(...parsed.docs);
  }
  if (weight === null) return { ok: true, docs };
  return { ok: true, docs: docs.map((d) => withWeight(d, weight)) };
}

/** A copy of a ratio Lane document with `spec.weight` set; other documents as they are. */
function withWeight(d: RawDocument, weight: number): RawDocument {
  const v = d.value as { kind?: unknown; spec?: Record<string, unknown> } | null;
  if (v?.kind !== "Lane" || v.spec === undefined || v.spec.match !== undefined) return d;
  const { weights: _dropped, ...spec } = v.spec;
  return { origin: d.origin, value: { ...v, spec: { ...spec, weight } } };
}

export type Applied = { ok: true; version: number } | { ok: false; message: string };

/** POST the batch to the control plane's HTTP API (the request `lanemesh apply` makes). */
export async function applyScenario(
  server: string,
  docs: readonly RawDocument[],
  adminToken: string,
): Promise<Applied> {
  const documents = docs.map((d) => ({ file: d.origin.file, doc: d.origin.doc, value: d.value }));
  const r = await callServer(server, "POST", "v1/resources", { documents }, { token: adminToken });
  if (!r.ok) return { ok: false, message: r.message };
  return { ok: true, version: (r.body as { version: number }).version };
}
