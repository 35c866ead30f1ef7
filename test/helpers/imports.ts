// Reads the import graph of a source tree (static, dynamic and re-export specifiers that start with `.`) and finds circles and imports against a layer order; it reads files, it never runs them.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/** file (relative to the root, `.ts`) → the files it imports (same form). */
export type ImportGraph = Map<string, string[]>;

const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*${},\s]+?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Every `.ts` file under `root/dir`, as paths relative to `root`. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(join(root, d), { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The relative imports of each file, resolved to source paths (`./x.js` → `x.ts`). */
export function importGraph(root: string, files: readonly string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8").replace(/^\s*\/\/.*$/gm, "");
    const deps = new Set<string>();
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = (m[1] ?? m[2]) as string;
      if (!spec.endsWith(".js")) continue;
      deps.add(normalize(join(dirname(file), `${spec.slice(0, -3)}.ts`)));
    }
    graph.set(file, [...deps].sort());
  }
  return graph;
}

/** The import circles: strongly connected components of more than one file, or a self-import. */
export function circles(graph: ImportGraph): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** A room of the layer table: the longest listed folder prefix of a file. */
export function roomOf(file: string, rooms: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const r of rooms) {
    if (file.startsWith(`${r}/`) && (best === undefined || r.length > best.length)) best = r;
  }
  return best;
}

/**
 * Imports that run against the layers: `layers` gives each room (a folder) its floor; a file may
 * import its own room and rooms on lower floors only. Files in no room are reported too.
 */
export function againstLayers(graph: ImportGraph, layers: ReadonlyMap<string, number>): string[] {
  const rooms = [...layers.keys()];
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = roomOf(file, rooms);
    if (from === undefined) {
      bad.push(`${file} is in no room of the layer table`);
      continue;
    }
    for (const dep of deps) {
      const to = roomOf(dep, rooms);
      if (to === undefined || to === from) continue;
      if ((layers.get(to) as number) >= (layers.get(from) as number)) {
        bad.push(
          `${file} (${from}, floor ${layers.get(from)}) imports ${dep} (${to}, floor ${layers.get(to)})`,
        );
      }
    }
  }
  return bad;
}

/** Imports from files under `from` to files under `to` (both folder prefixes or files). */
export function importsBetween(graph: ImportGraph, from: string, to: readonly string[]): string[] {
  const under = (f: string, p: string) => f === p || f.startsWith(`${p}/`);
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    if (!under(file, from)) continue;
    for (const dep of deps) if (to.some((p) => under(dep, p))) bad.push(`${file} imports ${dep}`);
  }
  return bad;
}

export function rel(root: string, p: string): string {
  return relative(root, p);
}
