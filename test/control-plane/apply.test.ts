// Table tests of the control plane's pure parts: apply/delete planning, snapshot building, hello checks, body parsing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalJson, planApply, planDelete } from "../../src/control-plane/apply.js";
import { registrationProblem } from "../../src/control-plane/control-plane.js";
import { parseBody } from "../../src/control-plane/http-api.js";
import { helloProblem } from "../../src/control-plane/server.js";
import { buildSnapshot, resourceName } from "../../src/control-plane/snapshot.js";
import type { Hello } from "../../src/protocol/wire.js";
import { group, headerLane, instance, route } from "../helpers/sync-fixtures.js";

const raw = (values: unknown[], file = "f.yaml") =>
  values.map((value, doc) => ({ origin: { file, doc }, value }));
const names = (values: unknown[]) =>
  values.map((v) => (v as { metadata: { name: string } }).metadata.name);

test("planApply keeps stored order, replaces in place, appends new, reports each action", () => {
  const stored = [route("r1", "/1", "s"), headerLane("l1", "g", "t1"), headerLane("l2", "g", "t2")];
  const plan = planApply(
    stored,
    raw([headerLane("l3", "g", "t3"), headerLane("l1", "g", "t9"), headerLane("l2", "g", "t2")]),
  );
  assert.deepEqual(
    names(plan.next),
    ["r1", "l1", "l2", "l3"],
    "l1 keeps its place: lane order decides evaluation",
  );
  assert.deepEqual(
    plan.results.map((r) => `${r.name} ${r.action}`),
    ["l3 created", "l1 configured", "l2 unchanged"],
  );
  assert.equal(plan.changed, true);
  assert.deepEqual(
    plan.merged.map((d) => `${d.origin.file}#${d.origin.doc}`),
    ["control-plane store#0", "f.yaml#1", "f.yaml#2", "f.yaml#0"],
    "errors name the user's file for applied documents",
  );
});

test("planApply: the same documents in another key order are unchanged; a name twice in one batch is kept twice", () => {
  const stored = [route("r1", "/1", "s")];
  const reordered = {
    spec: { service: "s", match: { prefix: "/1" }, gateway: "default" },
    metadata: { name: "r1" },
    kind: "Route",
    apiVersion: "lanemesh.io/v1alpha1",
  };
  const same = planApply(stored, raw([reordered]));
  assert.equal(same.changed, false);
  assert.deepEqual(same.results, [{ kind: "Route", name: "r1", action: "unchanged" }]);
  const twice = planApply(stored, raw([route("r1", "/a", "s"), route("r1", "/b", "s")]));
  assert.equal(twice.merged.length, 2, "the duplicate stays so validation reports it");
});

test("planDelete removes exactly one document or says it is not there", () => {
  const stored = [route("r1", "/1", "s"), group("g", ["r1"], ["s"]), headerLane("l1", "g", "t1")];
  assert.deepEqual(names(planDelete(stored, "Lane", "l1")?.next ?? []), ["r1", "g"]);
  assert.equal(planDelete(stored, "Lane", "r1"), null, "kind matters");
  assert.equal(planDelete(stored, "Route", "nope"), null);
});

test("canonicalJson ignores key order only", () => {
  assert.equal(
    canonicalJson({ a: 1, b: { d: [2, 1], c: 3 } }),
    canonicalJson({ b: { c: 3, d: [2, 1] }, a: 1 }),
  );
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
});

test("buildSnapshot sorts documents into fields and adds registered sidecars with unique names", () => {
  const s = buildSnapshot(
    { version: 4, epoch: "e1", adopts: [] },
    [
      headerLane("l1", "g", "t"),
      route("r1", "/1", "s"),
      instance("node-a", "s", 1),
      group("g", ["r1"], ["s"]),
    ],
    [
      {
        nodeId: "Node_A",
        service: "s",
        tag: "t",
        address: "10.0.0.1",
        port: 80,
        since: 0,
        owner: "",
      },
      { nodeId: "b", service: "s", tag: null, address: "10.0.0.2", port: 81, since: 0, owner: "" },
    ],
  );
  assert.equal(s.version, "4");
  assert.equal(s.epoch, "e1");
  assert.deepEqual(
    [s.routes.length, s.groups.length, s.lanes.length, s.endpoints.length],
    [1, 1, 1, 3],
  );
  const eps = s.endpoints.map(
    (e) => JSON.parse(e) as { metadata: { name: string }; spec: { tag?: string; port: number } },
  );
  assert.deepEqual(
    eps.map((e) => e.metadata.name),
    ["node-a", "node-a-2", "b"],
    "a registered name never clashes with a stored one",
  );
  assert.equal(eps[1]?.spec.tag, "t");
  assert.equal(eps[2]?.spec.tag, undefined, "base instances carry no tag");
});

test("resourceName makes any node id a valid resource name", () => {
  const cases: [string, string][] = [
    ["sc-a-1", "sc-a-1"],
    ["SC_A@host:123", "sc-a-host-123"],
    ["--x--", "x"],
    ["é", "node"],
    ["a".repeat(300), "a".repeat(240)],
  ];
  for (const [id, want] of cases) assert.equal(resourceName(id), want, id);
});

test("helloProblem and registrationProblem refuse hellos that cannot be served", () => {
  const base: Hello = {
    nodeId: "n",
    role: "sidecar",
    app: "sc-a",
    tag: "",
    address: "127.0.0.1:1",
    gateway: "",
    lastVersion: "",
    proxyVersion: "",
    lastEpoch: "",
    previousError: "",
  };
  const cases: [Partial<Hello>, RegExp | null][] = [
    [{}, null],
    [{ role: "gateway", app: "", address: "" }, null],
    [{ nodeId: "" }, /node_id/],
    [{ role: "mesh" }, /role/],
    [{ address: "nowhere" }, /host:port/],
    [{ app: "" }, /app/],
    [{ features: ["delta", "x".repeat(64)] }, null],
    [{ features: Array.from({ length: 17 }, (_, i) => `f${i}`) }, /17 features, at most 16/],
    [{ features: ["x".repeat(65)] }, /over 64 characters/],
  ];
  for (const [patch, want] of cases) {
    const p = helloProblem({ ...base, ...patch });
    if (want === null) assert.equal(p, null, JSON.stringify(patch));
    else assert.match(p ?? "", want, JSON.stringify(patch));
  }
  assert.equal(
    registrationProblem({
      nodeId: "n",
      service: "sc-a",
      tag: "gray",
      address: "127.0.0.1",
      port: 1,
      owner: "",
    }),
    null,
  );
  assert.match(
    registrationProblem({
      nodeId: "n",
      service: "sc a",
      tag: null,
      address: "127.0.0.1",
      port: 1,
      owner: "",
    }) ?? "",
    /spec\.service/,
  );
  assert.match(
    registrationProblem({
      nodeId: "n",
      service: "sc-a",
      tag: "base",
      address: "127.0.0.1",
      port: 1,
      owner: "",
    }) ?? "",
    /spec\.tag/,
  );
});

test("parseBody reads YAML, a JSON list, and the CLI's {documents} form", () => {
  const url = new URL("http://x/v1/resources?file=mine.yaml");
  const yaml = parseBody("kind: Route\n---\nkind: Lane\n", "application/yaml", url);
  assert.deepEqual(
    yaml.docs.map((d) => [d.origin.file, d.origin.doc]),
    [
      ["mine.yaml", 0],
      ["mine.yaml", 1],
    ],
  );
  const list = parseBody(
    JSON.stringify([{ kind: "Route" }]),
    "application/json",
    new URL("http://x/"),
  );
  assert.deepEqual(
    list.docs.map((d) => [d.origin.file, d.origin.doc]),
    [["request", 0]],
  );
  const documents = parseBody(
    JSON.stringify({ documents: [{ file: "a.yaml", doc: 3, value: { kind: "Lane" } }] }),
    "application/json",
    url,
  );
  assert.deepEqual(documents.docs, [
    { origin: { file: "a.yaml", doc: 3 }, value: { kind: "Lane" } },
  ]);
  assert.throws(() => parseBody("{nope", "application/json", url), /not JSON/);
});

test("buildSnapshot with a text memo serializes each stored object once and builds the same snapshot", () => {
  const stored = [route("r1", "/1", "s"), group("g", ["r1"], ["s"]), headerLane("l1", "g", "t")];
  const reg = [
    { nodeId: "n", service: "s", tag: null, address: "10.0.0.1", port: 80, since: 0, owner: "" },
  ];
  const memo = new WeakMap();
  const st = { version: 1, epoch: "e", adopts: [] };
  const first = buildSnapshot(st, stored, reg, memo);
  assert.deepEqual(first, buildSnapshot(st, stored, reg));
  assert.deepEqual(first.names, { routes: ["r1"], groups: ["g"], lanes: ["l1"], endpoints: ["n"] });
  // A later version with one lane replaced: the other documents' texts are the very same strings.
  const next = [...stored.slice(0, 2), headerLane("l1", "g", "u")];
  const second = buildSnapshot({ ...st, version: 2 }, next, reg, memo);
  assert.deepEqual(second, buildSnapshot({ ...st, version: 2 }, next, reg));
  assert.ok(second.routes[0] === first.routes[0] && second.groups[0] === first.groups[0]);
  assert.notEqual(second.lanes[0], first.lanes[0]);
});
