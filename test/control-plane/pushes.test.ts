// Pushes: each version's message encoded once and shared by every stream, deltas only to proxies that take them and from a version they ACKed on that stream, a NACKed delta followed by the version whole, one push in flight per stream as before.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { PushEncodings } from "../../src/control-plane/pushes.js";
import { buildSnapshot } from "../../src/control-plane/snapshot.js";
import type { RunningControlPlane } from "../../src/control-plane/start.js";
import {
  type ControlMessage,
  FEATURE_DELTA,
  type MeshClient,
  type MeshStream,
  meshDefinition,
  type SnapshotMessage,
} from "../../src/protocol/wire.js";
import { VirtualClock } from "../helpers/clock.js";
import { admin, bearer, docs, proxyToken, startCp, subscribe } from "../helpers/control-plane.js";
import { headerLane, instance, mallRules, tempDir, when } from "../helpers/sync-fixtures.js";

const store = (version: number, epoch = "e1") => ({ version, epoch, adopts: [] });
const lanes = (n: number, changed = -1) =>
  Array.from({ length: n }, (_, i) =>
    headerLane(`l${i}`, "mall", i === changed ? `x${i}` : `t${i}`),
  );

test("PushEncodings: one message per version and form, shared; a delta only from a recent version of the epoch", () => {
  const p = new PushEncodings();
  const base = buildSnapshot(store(1), [...mallRules(), ...lanes(50)], []);
  const next = buildSnapshot(store(2), [...mallRules(), ...lanes(50, 7)], []);
  p.remember(base);
  p.remember(next);
  const whole = p.push(next, null);
  assert.equal(p.push(next, null), whole, "the whole message is encoded once");
  assert.equal(whole.base, null);
  assert.equal(whole.nonce, "2");
  const delta = p.push(next, "1");
  assert.equal(p.push(next, "1"), delta, "the delta from version 1 is encoded once");
  assert.deepEqual([delta.base, delta.nonce], ["1", "2<1"]);
  assert.ok(delta.bytes.length < whole.bytes.length / 10, "a delta of one lane is small");
  const stream = meshDefinition().service.Stream as grpc.MethodDefinition<unknown, ControlMessage>;
  const m = stream.responseDeserialize(delta.bytes);
  assert.deepEqual(
    [m.snapshot?.baseVersion, m.snapshot?.lanes.length, m.snapshot?.groups.length],
    ["1", 1, 0],
  );
  assert.equal(p.push(next, "0").base, null, "a version this control plane never built: whole");
  const other = buildSnapshot(store(3, "e2"), mallRules(), []);
  p.remember(other);
  assert.equal(p.push(other, "2").base, null, "another epoch: whole");
  // A snapshot that is not the newest any more is still encoded right, only not kept.
  assert.deepEqual(p.push(next, "1").bytes, delta.bytes);
});

test("PushEncodings: the history of bases is bounded: a proxy further behind than 8 versions is sent the whole snapshot", () => {
  const p = new PushEncodings();
  for (let v = 1; v <= 10; v++)
    p.remember(buildSnapshot(store(v), [...mallRules(), ...lanes(50, v)], []));
  const newest = buildSnapshot(store(11), [...mallRules(), ...lanes(50, 11)], []);
  p.remember(newest);
  // Kept: versions 4 to 11 (8); 1 to 3 are gone.
  assert.equal(p.push(newest, "3").base, null, "version 3 is no longer a base");
  assert.equal(p.push(newest, "4").base, "4");
  assert.equal(p.push(newest, "10").base, "10");
});

test("PushEncodings: a delta no smaller than the whole snapshot is not used", () => {
  const p = new PushEncodings();
  // One document, changed: the delta carries it and its base, the whole snapshot only it.
  const a = buildSnapshot(store(1), [headerLane("l", "g", "t")], []);
  const b = buildSnapshot(store(2), [headerLane("l", "g", "u")], []);
  p.remember(a);
  p.remember(b);
  assert.equal(p.push(b, "1").base, null);
});

interface RawProxy {
  received: SnapshotMessage[];
  call: MeshStream;
  /** Resolves once `n` snapshots arrived. */
  nth(n: number): Promise<void>;
}

/** A gateway stream that records every snapshot and answers through `answer`. */
function rawGateway(
  client: MeshClient,
  cp: RunningControlPlane,
  nodeId: string,
  features: string[],
  answer: (s: SnapshotMessage, i: number) => "ack" | "nack" | "none" = () => "ack",
  hello: Record<string, unknown> = {},
): RawProxy {
  const received: SnapshotMessage[] = [];
  const waiters = new Set<() => void>();
  const call = client.Stream(bearer(proxyToken(cp, "gateway", "default")));
  call.on("error", () => {});
  call.on("data", (m: ControlMessage) => {
    const s = m.snapshot;
    if (!s) return;
    received.push(s);
    const a = answer(s, received.length - 1);
    if (a === "ack") call.write({ ack: { version: s.version, nonce: s.nonce } });
    if (a === "nack")
      call.write({ nack: { version: "", nonce: s.nonce, error: "cannot", code: "INVALID" } });
    for (const w of [...waiters]) w();
  });
  call.write({ hello: { nodeId, role: "gateway", gateway: "default", features, ...hello } });
  const nth = (n: number) =>
    when(
      (cb) => {
        waiters.add(cb);
        return () => waiters.delete(cb);
      },
      () => received.length >= n,
      `${nodeId}: ${n} snapshots`,
    );
  return { received, call, nth };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, clock?: VirtualClock) {
  const dir = tempDir("cp-pushes");
  const cp = await startCp(dir.path, 1, 35, clock ? { clock } : {});
  const { Client } = meshDefinition();
  const client = new Client(cp.grpcTarget, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await cp.close();
    dir.remove();
  });
  const apply = async (values: unknown[]) => {
    const r = await admin(cp, "POST", "v1/resources", docs(values));
    assert.ok(r.ok, r.ok ? "" : r.message);
    return String((r.body as { version: number }).version);
  };
  return { cp, client, apply };
}

const pushMetric = async (cp: RunningControlPlane, name: string) =>
  Number(
    new RegExp(`^${name} (\\d+)$`, "m").exec(await cp.controlPlane.metrics.registry.metrics())?.[1],
  );

test("a change reaches proxies that take deltas as the changed lane alone, the others whole; every stream ACKs it", async (t) => {
  const { cp, client, apply } = await setup(t);
  await apply([...mallRules(), ...lanes(20)]);
  const a = rawGateway(client, cp, "gw-a", [FEATURE_DELTA]);
  const b = rawGateway(client, cp, "gw-b", [FEATURE_DELTA]);
  const old = rawGateway(client, cp, "gw-old", []);
  await Promise.all([a.nth(1), b.nth(1), old.nth(1)]);
  for (const p of [a, b, old]) {
    assert.equal(p.received[0]?.baseVersion, "", "the first push is always whole");
    assert.equal(p.received[0]?.lanes.length, 21);
  }
  const version = await apply([headerLane("l5", "mall", "changed")]);
  await Promise.all([a.nth(2), b.nth(2), old.nth(2)]);
  for (const p of [a, b]) {
    const s = p.received[1] as SnapshotMessage;
    assert.deepEqual(
      [s.version, s.baseVersion, s.nonce, s.lanes.length, s.routes.length, s.removed],
      [version, String(Number(version) - 1), `${version}<${Number(version) - 1}`, 1, 0, []],
    );
    assert.match(s.lanes[0] as string, /"changed"/);
  }
  const whole = old.received[1] as SnapshotMessage;
  assert.deepEqual([whole.baseVersion, whole.lanes.length, whole.nonce], ["", 21, version]);
  await when(
    (cb) => cp.controlPlane.onProxyChange(cb),
    () => cp.controlPlane.proxies().every((p) => p.status === "in-sync"),
    "every proxy in sync",
  );
  for (const p of cp.controlPlane.proxies()) assert.equal(p.ackedVersion, version);
  assert.equal(await pushMetric(cp, "lanemesh_cp_delta_pushes_total"), 2);
  assert.equal(await pushMetric(cp, "lanemesh_cp_pushes_total"), 6);
});

test("a NACKed delta is followed by the same version whole, and is no refusal by itself", async (t) => {
  const { cp, client, apply } = await setup(t);
  await apply(mallRules());
  const p = rawGateway(client, cp, "gw-n", [FEATURE_DELTA], (s) =>
    s.baseVersion ? "nack" : "ack",
  );
  await p.nth(1);
  const version = await apply([headerLane("gray", "mall", "blue")]);
  await p.nth(3);
  const [delta, whole] = p.received.slice(1) as [SnapshotMessage, SnapshotMessage];
  assert.deepEqual([delta.version, delta.baseVersion], [version, "1"]);
  assert.deepEqual([whole.version, whole.baseVersion, whole.lanes.length], [version, "", 1]);
  await when(
    (cb) => cp.controlPlane.onProxyChange(cb),
    () => cp.controlPlane.proxies()[0]?.status === "in-sync",
    "in sync after the whole push",
  );
  const info = cp.controlPlane.proxies()[0];
  assert.deepEqual([info?.ackedVersion, info?.lastNack], [version, null]);
  assert.equal(await pushMetric(cp, "lanemesh_cp_nacks_total"), 0);

  // The whole push NACKed too: that is a refusal, recorded as always.
  const q = rawGateway(client, cp, "gw-q", [FEATURE_DELTA], (_s, i) => (i === 0 ? "ack" : "nack"));
  await q.nth(1);
  const next = await apply([headerLane("gray", "mall", "green")]);
  await q.nth(3);
  assert.deepEqual(
    q.received.slice(1).map((s) => [s.version, s.baseVersion]),
    [
      [next, version],
      [next, ""],
    ],
  );
  await when(
    (cb) => cp.controlPlane.onProxyChange(cb),
    () => cp.controlPlane.proxies().find((x) => x.nodeId === "gw-q")?.status === "refused",
    "gw-q refused",
  );
  assert.equal(await pushMetric(cp, "lanemesh_cp_nacks_total"), 1);
});

test("no delta from a version the proxy did not ACK on its stream (its hello's, or a NACKed one)", async (t) => {
  const { cp, client, apply } = await setup(t);
  await apply(mallRules());
  const epoch = cp.controlPlane.current().epoch;
  // Says it holds version 1 (persisted), and refuses the first push: it holds 1 but not from us.
  const p = rawGateway(client, cp, "gw-h", [FEATURE_DELTA], (_s, i) => (i === 0 ? "nack" : "ack"), {
    lastVersion: "1",
    lastEpoch: epoch,
  });
  await p.nth(1);
  const v2 = await apply([headerLane("gray", "mall", "blue")]);
  await p.nth(2);
  assert.deepEqual([p.received[1]?.version, p.received[1]?.baseVersion], [v2, ""]);
  const v3 = await apply([headerLane("gray", "mall", "green")]);
  await p.nth(3);
  assert.deepEqual([p.received[2]?.version, p.received[2]?.baseVersion], [v3, v2]);
});

test("one push in flight per stream: changes meanwhile are coalesced into one delta from the version ACKed", async (t) => {
  const clock = new VirtualClock();
  const { cp, client, apply } = await setup(t, clock);
  await apply(mallRules());
  clock.advance(1000);
  let hold = true;
  const p = rawGateway(client, cp, "gw-slow", [FEATURE_DELTA], () => (hold ? "none" : "ack"));
  await p.nth(1);
  const first = p.received[0] as SnapshotMessage;
  await apply([headerLane("gray", "mall", "a")]);
  await apply([headerLane("gray", "mall", "b")]);
  const last = await apply([headerLane("blue", "mall", "blue")]);
  clock.advance(5000);
  assert.equal(await pushMetric(cp, "lanemesh_cp_pushes_total"), 1, "nothing while unanswered");
  hold = false;
  p.call.write({ ack: { version: first.version, nonce: first.nonce } });
  await p.nth(2);
  const s = p.received[1] as SnapshotMessage;
  assert.deepEqual([s.version, s.baseVersion], [last, first.version]);
  assert.equal(s.lanes.length, 2, "gray changed and blue added, in one delta");
  assert.equal(p.received.length, 2);
});

test("a real proxy (startSync) takes changes as deltas over its stream and ends with the control plane's whole config", async (t) => {
  const { cp, apply } = await setup(t);
  await apply([...mallRules(), ...lanes(20), instance("a-base", "sc-a", 7001)]);
  const dir = tempDir("cp-pushes-proxy");
  const stateFile = join(dir.path, "state.json");
  const proxy = subscribe(cp.grpcTarget, stateFile, "gw-real", cp);
  t.after(async () => {
    await proxy.sub.close();
    dir.remove();
  });
  await proxy.at(cp.controlPlane.current().version);
  const before = await pushMetric(cp, "lanemesh_cp_delta_pushes_total");

  // A lane changed and one added; then a lane and the instance deleted.
  const v1 = await apply([headerLane("l5", "mall", "changed"), headerLane("blue", "mall", "blue")]);
  await proxy.at(v1);
  assert.ok((await admin(cp, "DELETE", "v1/resources/lanes/l3")).ok);
  assert.ok((await admin(cp, "DELETE", "v1/resources/instances/a-base")).ok);
  const last = String(cp.controlPlane.version());
  await proxy.at(last);
  assert.ok(
    (await pushMetric(cp, "lanemesh_cp_delta_pushes_total")) - before >= 2,
    "the changes went as deltas",
  );

  const c = proxy.live.current();
  const tags = new Map(c?.rules.lanes.map((l) => [l.metadata.name, l.spec.tag]));
  assert.equal(tags.get("l5"), "changed");
  assert.equal(tags.get("blue"), "blue");
  assert.equal(tags.has("l3"), false);
  assert.equal(c?.rules.lanes.length, 21);
  assert.deepEqual(c?.endpoints, []);
  await when(
    (cb) => cp.controlPlane.onProxyChange(cb),
    () => cp.controlPlane.proxies()[0]?.ackedVersion === last,
    "the control plane has the proxy's ACK",
  );
  await proxy.sub.close();
  // What the proxy made from the deltas is the control plane's whole snapshot, document by document.
  const saved = JSON.parse(readFileSync(stateFile, "utf8")) as SnapshotMessage;
  const whole = cp.controlPlane.current();
  for (const f of ["routes", "groups", "lanes", "endpoints"] as const)
    assert.deepEqual(saved[f], whole[f], f);
  assert.equal(saved.version, last);
});
