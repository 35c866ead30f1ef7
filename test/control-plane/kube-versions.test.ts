// The version Lease shared by control-plane replicas, against the fake API server through the official client: one epoch made once, only the holder numbers contents, a follower serves only what the Lease numbered, takeover after the holder stops renewing, compare-and-swap races; and the content every replica computes (order, refusal cascade, hash).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import type { Endpoint } from "../../src/config/types.js";
import { assemble, endpointDocuments } from "../../src/control-plane/kube-content.js";
import {
  EPOCH_KEY,
  type LeaseApi,
  VERSION_LEASE,
  VersionLease,
  versionOf,
} from "../../src/control-plane/kube-versions.js";
import { FakeKubeApiServer } from "../helpers/kube-api-server.js";
import { group, headerLane, route, silentLog } from "../helpers/sync-fixtures.js";

const NS = "lanemesh-system";

describe("the version Lease (fake API server, official client)", () => {
  let api: FakeKubeApiServer;
  let leases: LeaseApi;
  let now = 1_000_000;
  const replica = (identity: string) =>
    new VersionLease(leases, {
      namespace: NS,
      identity,
      leaseSeconds: 15,
      log: silentLog,
      now: () => now,
    });

  before(async () => {
    api = await FakeKubeApiServer.start();
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(api.kubeConfigOptions());
    leases = kc.makeApiClient(k8s.CoordinationV1Api) as unknown as LeaseApi;
  });
  after(() => api?.close());

  it("one epoch made once; the holder numbers contents; a follower only reads them", async () => {
    const one = replica("cp-1");
    const two = replica("cp-2");
    const [a, b] = await Promise.all([one.sync("h1"), two.sync("h1")]);
    assert.equal(a.epoch, b.epoch, "create-if-absent: the loser of the create reads the winner's");
    assert.equal(api.object("leases", NS, VERSION_LEASE)?.metadata.annotations[EPOCH_KEY], a.epoch);
    const holder = a.leader ? "cp-1" : "cp-2";
    const [lead, follow] = holder === "cp-1" ? [one, two] : [two, one];
    assert.equal(versionOf(await follow.sync("h1"), "h1"), 1);
    // The follower's content is newer: it gets no version until the holder numbers it.
    const ahead = await follow.sync("h2");
    assert.equal(ahead.leader, false);
    assert.equal(versionOf(ahead, "h2"), undefined);
    const numbered = await lead.sync("h2");
    assert.equal(versionOf(numbered, "h2"), 2);
    assert.equal(versionOf(await follow.sync("h2"), "h2"), 2);
    // Back to content h1 (a revert): a new version, never h1's old one.
    const reverted = await lead.sync("h1");
    assert.equal(versionOf(reverted, "h1"), 3);
    assert.deepEqual(
      reverted.history.map(([v]) => v),
      [1, 2, 3],
    );
    // Renewing with unchanged content adds no version.
    now += 10_000;
    assert.deepEqual((await lead.sync("h1")).history.length, 3);
  });

  it("the holder stops renewing: another replica takes over after leaseSeconds of its own clock and continues the sequence", async () => {
    const before = api.object("leases", NS, VERSION_LEASE);
    const holder = before?.spec.holderIdentity as string;
    const other = replica(holder === "cp-1" ? "cp-2" : "cp-1");
    assert.equal((await other.sync("h4")).leader, false, "the lease is still fresh");
    now += 16_000;
    const took = await other.sync("h4");
    assert.equal(took.leader, true);
    assert.equal(versionOf(took, "h4"), undefined, "a takeover numbers nothing in its write");
    assert.equal(other.takeovers, 1);
    assert.equal(versionOf(await other.sync("h4"), "h4"), 4, "the next round, after a re-list");
    const after = api.object("leases", NS, VERSION_LEASE);
    assert.equal(after?.spec.leaseTransitions, (before?.spec.leaseTransitions ?? 0) + 1);
    // The old holder, back, sees it lost the lease and writes nothing.
    const old = replica(holder);
    const seen = await old.sync("h5");
    assert.equal(seen.leader, false);
    assert.equal(versionOf(seen, "h5"), undefined);
  });

  it("two replicas racing for an expired lease with different contents: one wins, versions stay unique", async () => {
    now += 60_000;
    const x = replica("cp-x");
    const y = replica("cp-y");
    await Promise.all([x.sync(null), y.sync(null)]); // both observe the lease as it is
    now += 16_000;
    const [rx, ry] = await Promise.all([x.sync("hx"), y.sync("hy")]);
    assert.equal([rx.leader, ry.leader].filter(Boolean).length, 1, "one holder");
    await Promise.all([x.sync("hx"), y.sync("hy")]); // the holder numbers its content, the other not
    const final = await replica("cp-reader").sync(null);
    const versions = final.history.map(([v]) => v);
    assert.deepEqual(
      versions,
      [...new Set(versions)].sort((a, b) => a - b),
      "no version twice",
    );
  });
});

describe("the content every replica computes", () => {
  const cr = (doc: unknown, ns: string, created: string, generation = 1) => {
    const d = doc as { kind: string; metadata: { name: string }; spec: unknown };
    return {
      apiVersion: "lanemesh.io/v1alpha1",
      kind: d.kind,
      metadata: { name: d.metadata.name, namespace: ns, creationTimestamp: created, generation },
      spec: d.spec,
    };
  };
  const objs = [
    cr(route("a-route", "/a", "sc-a"), "mall", "2026-01-01T00:00:00Z"),
    cr(group("mall", ["a-route"], ["sc-a", "sc-b"]), "mall", "2026-01-01T00:00:01Z"),
    cr(headerLane("blue", "mall", "blue"), "mall", "2026-01-01T00:00:03Z"),
    cr(headerLane("gray", "mall", "gray"), "mall", "2026-01-01T00:00:02Z", 4),
  ];

  it("orders by creation, hashes the same whatever the watch order", () => {
    const a = assemble(objs, []);
    const b = assemble([...objs].reverse(), []);
    assert.equal(a.hash, b.hash);
    assert.deepEqual(
      a.resources.map((r) => (r as { metadata: { name: string } }).metadata.name),
      ["a-route", "mall", "gray", "blue"],
    );
    assert.deepEqual(a.statuses.get("Lane/mall/gray"), { accepted: true, observedGeneration: 4 });
  });

  it("refuses what the validator names, then what depended on it; the rest is served", () => {
    const badGroup = cr(group("mall", ["no-route"], ["sc-a"]), "mall", "2026-01-01T00:00:01Z");
    const c = assemble([objs[0], badGroup, objs[2], objs[3]] as typeof objs, []);
    assert.equal(c.statuses.get("LaneGroup/mall/mall")?.accepted, false);
    assert.match(c.statuses.get("LaneGroup/mall/mall")?.error ?? "", /spec\.entry\.routes/);
    for (const lane of ["gray", "blue"]) {
      const st = c.statuses.get(`Lane/mall/${lane}`);
      assert.equal(st?.accepted, false, lane);
      assert.match(st?.error ?? "", /spec\.group/);
    }
    assert.deepEqual(
      c.resources.map((r) => (r as { metadata: { name: string } }).metadata.name),
      ["a-route"],
    );
  });

  it("endpoints become sorted Instance documents with stable names", () => {
    const eps: Endpoint[] = [
      {
        service: "sc-b",
        address: "10.0.0.2",
        port: 8080,
        tag: null,
        weight: 100,
        healthy: true,
        metadata: {},
      },
      {
        service: "sc-a",
        address: "10.0.0.1",
        port: 8080,
        tag: "gray",
        weight: 100,
        healthy: true,
        metadata: { z: "1", a: "2" },
      },
    ];
    const docs = endpointDocuments(eps);
    assert.deepEqual(
      docs.map((d) => d.metadata.name),
      ["sc-a-gray-10.0.0.1-8080", "sc-b-base-10.0.0.2-8080"],
    );
    assert.deepEqual(Object.keys(docs[0]?.spec.metadata ?? {}), ["a", "z"]);
    assert.equal(assemble(objs, eps).hash, assemble(objs, [...eps].reverse()).hash);
  });
});
