// Snapshot deltas: diffDocs and applyDelta round-trip every change a store makes (in place, appended, removed), refuse what a delta cannot say, and the new fields leave an older peer's reading unchanged.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { applyDelta, type DocField, diffDocs, type FieldDocs } from "../../src/protocol/delta.js";
import {
  encodeControlMessage,
  FEATURE_DELTA,
  meshDefinition,
  PROTO_LOAD_OPTIONS,
  PROTO_PATH,
} from "../../src/protocol/wire.js";

const doc = (name: string, v = 1) => JSON.stringify({ metadata: { name }, v });
const nameOf = (text: string) =>
  (JSON.parse(text) as { metadata?: { name?: string } }).metadata?.name ?? null;

function snap(fields: Partial<Record<DocField, string[]>>): { docs: FieldDocs; names: FieldDocs } {
  const docs = { routes: [], groups: [], lanes: [], endpoints: [], ...fields };
  const names = Object.fromEntries(
    Object.entries(docs).map(([f, list]) => [f, list.map((d) => nameOf(d) as string)]),
  ) as unknown as FieldDocs;
  return { docs, names };
}

function roundTrip(base: ReturnType<typeof snap>, next: ReturnType<typeof snap>) {
  const d = diffDocs(base, next);
  assert.ok(d !== null, "expressible as a delta");
  const applied = applyDelta(base.docs, d, nameOf);
  assert.ok(applied.ok, applied.ok ? "" : applied.error);
  assert.deepEqual(applied.docs, next.docs, "the delta applied to the base is the next snapshot");
  return d;
}

test("a changed lane travels alone and takes its place; nothing else is sent", () => {
  const lanes = Array.from({ length: 1000 }, (_, i) => doc(`l${i}`));
  const changed = [...lanes];
  changed[500] = doc("l500", 2);
  const d = roundTrip(
    snap({ routes: [doc("r")], lanes }),
    snap({ routes: [doc("r")], lanes: changed }),
  );
  assert.deepEqual(d.lanes, [doc("l500", 2)]);
  assert.deepEqual([d.routes, d.groups, d.endpoints, d.removed], [[], [], [], []]);
});

test("appended, removed and changed documents in several fields at once", () => {
  const d = roundTrip(
    snap({ groups: [doc("g1"), doc("g2")], lanes: [doc("a"), doc("b"), doc("c")] }),
    snap({
      groups: [doc("g1", 2), doc("g2"), doc("g3")],
      lanes: [doc("a"), doc("c", 2), doc("d"), doc("e")],
      endpoints: [doc("i1")],
    }),
  );
  assert.deepEqual(d.groups, [doc("g1", 2), doc("g3")]);
  assert.deepEqual(d.lanes, [doc("c", 2), doc("d"), doc("e")]);
  assert.deepEqual(d.endpoints, [doc("i1")]);
  assert.deepEqual(d.removed, ["Lane/b"]);
});

test("what a delta cannot say gives null: a document moved, a new one before an old one, a name twice", () => {
  const base = snap({ lanes: [doc("a"), doc("b")] });
  assert.equal(diffDocs(base, snap({ lanes: [doc("b"), doc("a")] })), null, "moved");
  assert.equal(diffDocs(base, snap({ lanes: [doc("n"), doc("a"), doc("b")] })), null, "new first");
  assert.equal(diffDocs(base, snap({ lanes: [doc("a"), doc("a")] })), null, "name twice");
  assert.equal(diffDocs(snap({ lanes: [doc("a"), doc("a")] }), base), null, "base repeats");
  assert.deepEqual(diffDocs(base, base)?.lanes, [], "no change: an empty delta");
});

test("applyDelta refuses a delta that does not fit what is held", () => {
  const held = snap({ lanes: [doc("a")] }).docs;
  const none = { routes: [], groups: [], lanes: [], endpoints: [] };
  const r1 = applyDelta(held, { ...none, removed: ["Lane/zz"] }, nameOf);
  assert.ok(!r1.ok && /Lane\/zz, which is not held/.test(r1.error));
  const r2 = applyDelta(held, { ...none, removed: ["Nope/a"] }, nameOf);
  assert.ok(!r2.ok && /not Kind\/name/.test(r2.error));
  const r3 = applyDelta(held, { ...none, lanes: [doc("a", 3)], removed: ["Lane/a"] }, nameOf);
  assert.ok(!r3.ok && /both changes and removes/.test(r3.error));
  const r4 = applyDelta(held, { ...none, lanes: ["{}"], removed: [] }, nameOf);
  assert.ok(!r4.ok && /no name/.test(r4.error));
  // A name twice: changed twice, added twice, removed twice.
  const r5 = applyDelta(held, { ...none, lanes: [doc("a", 2), doc("a", 3)], removed: [] }, nameOf);
  assert.ok(!r5.ok && /Lane\/a twice/.test(r5.error), "changed twice");
  const r6 = applyDelta(held, { ...none, lanes: [doc("n"), doc("n", 2)], removed: [] }, nameOf);
  assert.ok(!r6.ok && /Lane\/n twice/.test(r6.error), "added twice");
  const two = snap({ lanes: [doc("a"), doc("b")] }).docs;
  const r7 = applyDelta(two, { ...none, removed: ["Lane/a", "Lane/a"] }, nameOf);
  assert.ok(!r7.ok && /removes Lane\/a twice/.test(r7.error), "removed twice");
  // More names removed than documents held: refused before any is looked at.
  const r8 = applyDelta(held, { ...none, removed: ["Lane/a", "Lane/b"] }, nameOf);
  assert.ok(!r8.ok && /removes 2 documents, 1 held/.test(r8.error));
});

const dir = mkdtempSync(join(tmpdir(), "lanemesh-old-proto-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The service as a peer built before deltas reads it: the proto without the three fields. */
function oldStream(): grpc.MethodDefinition<unknown, unknown> {
  const text = readFileSync(PROTO_PATH, "utf8");
  const without = text
    .replace(/^\s*repeated string features = 11;\n/m, "")
    .replace(/^\s*string base_version = 9;\n/m, "")
    .replace(/^\s*repeated string removed = 10;\n/m, "");
  assert.equal(text.length - without.length > 60, true, "the fields are where the test expects");
  const file = join(dir, "old.proto");
  writeFileSync(file, without);
  const def = protoLoader.loadSync(file, PROTO_LOAD_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    lanemesh: { v1: { Mesh: grpc.ServiceClientConstructor } };
  };
  return pkg.lanemesh.v1.Mesh.service.Stream as grpc.MethodDefinition<unknown, unknown>;
}

test("an older peer reads a new hello and a whole snapshot as before; the shared encoding decodes as the message", () => {
  const now = meshDefinition().service.Stream as grpc.MethodDefinition<unknown, unknown>;
  const old = oldStream();
  const hello = {
    hello: { nodeId: "n", role: "sidecar", app: "a", features: [FEATURE_DELTA] },
  };
  const read = old.requestDeserialize(now.requestSerialize(hello)) as { hello: object };
  assert.equal((read.hello as { nodeId: string }).nodeId, "n");
  assert.ok(!("features" in read.hello), "an older control plane ignores features");
  const snapshot = {
    version: "7",
    nonce: "7",
    routes: [doc("r")],
    groups: [],
    lanes: [doc("l")],
    endpoints: [],
    epoch: "e",
    adopts: [],
  };
  const bytes = encodeControlMessage({ snapshot });
  const mine = now.responseDeserialize(bytes) as { snapshot: Record<string, unknown> };
  assert.deepEqual(mine.snapshot, { ...snapshot, baseVersion: "", removed: [] });
  assert.deepEqual((old.responseDeserialize(bytes) as { snapshot: unknown }).snapshot, snapshot);
});
