// The shape of src/: no import circles, no import from a lower layer to a higher one, the forwarder and the request path kept apart, no file over 450 lines.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  againstLayers,
  circles,
  importGraph,
  importsBetween,
  sourceFiles,
} from "./helpers/imports.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/*
 * The floors of src/ (ARCHITECTURE.md draws them): a folder may import its own files and folders
 * on lower floors only. Shared plumbing sits at the bottom so that both sides of the control-plane
 * protocol can import it without importing each other.
 */
const LAYERS = new Map<string, number>([
  ["src/runtime", 0],
  ["src/telemetry", 0],
  ["src/config", 1],
  ["src/protocol", 2],
  ["src/lane", 2],
  ["src/balancer", 2],
  ["src/live", 3],
  ["src/discovery", 3],
  ["src/sync", 4],
  ["src/proxy", 4],
  ["src/control-plane", 4],
  ["src/kubernetes", 5],
  ["src/demo", 5],
  ["src/cli", 6],
]);

const files = sourceFiles(REPO, "src");
const graph = importGraph(REPO, files);

describe("src/ layering", () => {
  it("reads the whole tree", () => {
    assert.ok(files.length > 50, `only ${files.length} files found under ${REPO}src`);
    assert.ok(graph.get("src/cli/program.ts")?.includes("src/cli/sidecar.ts"));
  });

  it("has no import circle", () => {
    assert.deepEqual(circles(graph), []);
  });

  it("imports only downwards", () => {
    assert.deepEqual(againstLayers(graph, LAYERS), []);
  });

  it("keeps the forwarder apart: it knows its contract, headers and errors, not the stages", () => {
    const allowed = ["src/proxy/forward", "src/proxy/headers.ts", "src/proxy/errors.ts"];
    const bad = (graph.get("src/proxy/forward/contract.ts") ?? [])
      .concat(
        ...files.filter((f) => f.startsWith("src/proxy/forward/")).map((f) => graph.get(f) ?? []),
      )
      .filter((d) => d.startsWith("src/") && !allowed.some((a) => d === a || d.startsWith(`${a}/`)))
      .filter((d) => !["src/runtime", "src/telemetry"].some((r) => d.startsWith(`${r}/`)));
    assert.deepEqual([...new Set(bad)], []);
  });

  it("the request path never imports Kubernetes-only code, nor the control plane", () => {
    for (const from of [
      "src/proxy",
      "src/lane",
      "src/balancer",
      "src/live",
      "src/discovery",
      "src/sync",
    ]) {
      assert.deepEqual(
        importsBetween(graph, from, ["src/kubernetes", "src/control-plane", "src/cli"]),
        [],
      );
    }
  });

  it("the control plane never imports its client, nor the proxies", () => {
    assert.deepEqual(
      importsBetween(graph, "src/control-plane", ["src/sync", "src/proxy", "src/live"]),
      [],
    );
  });

  it("no file over 450 lines", () => {
    const long = files
      .map((f) => ({ f, lines: readFileSync(join(REPO, f), "utf8").split("\n").length }))
      .filter((x) => x.lines > 451);
    assert.deepEqual(long, []);
  });

  it("every file opens with one sentence of what it is", () => {
    const bare = files.filter((f) => {
      const first = readFileSync(join(REPO, f), "utf8")
        .split("\n")
        .find((l) => !l.startsWith("#!"));
      return !first?.startsWith("// ");
    });
    assert.deepEqual(bare, []);
  });
});

describe("the checks themselves", () => {
  const g = new Map([
    ["src/a/x.ts", ["src/b/y.ts"]],
    ["src/b/y.ts", ["src/a/x.ts"]],
    ["src/b/z.ts", ["src/b/z.ts"]],
    ["src/c/w.ts", []],
  ]);
  it("finds circles, self-imports included", () => {
    assert.deepEqual(circles(g), [["src/a/x.ts", "src/b/y.ts"], ["src/b/z.ts"]]);
  });
  it("finds an import that runs upwards, and a file in no room", () => {
    const layers = new Map([
      ["src/a", 1],
      ["src/b", 0],
    ]);
    assert.deepEqual(againstLayers(g, layers), [
      "src/b/y.ts (src/b, floor 0) imports src/a/x.ts (src/a, floor 1)",
      "src/c/w.ts is in no room of the layer table",
    ]);
  });
});
