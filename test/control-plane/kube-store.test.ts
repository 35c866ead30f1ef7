// `--store kubernetes` with two control-plane replicas against the fake API server (custom resources, status subresource, watch, Lease with conflicts) and real gRPC proxies: a Lane applied as a custom resource reaches proxies on both, an invalid one gets a status naming the field and is pushed by neither, a proxy moved between replicas never sees its version go backwards.
import assert from "node:assert/strict";
import { createServer, type Server, Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { noAuthentication } from "../../src/control-plane/identity.js";
import { KubeStore } from "../../src/control-plane/kube-store.js";
import { VERSION_LEASE, VERSIONS_KEY } from "../../src/control-plane/kube-versions.js";
import type { RunningControlPlane } from "../../src/control-plane/start.js";
import { admin, type SubscribedProxy, startCp, subscribe } from "../helpers/control-plane.js";
import { FakeKubeApiServer } from "../helpers/kube-api-server.js";
import { until } from "../helpers/procs.js";
import { group, headerLane, route, silentLog, tempDir } from "../helpers/sync-fixtures.js";

const NS = "mall";
const CP_NS = "lanemesh-system";
const GROUP = "lanemesh.io";
const VERSION = "v1alpha1";
const PLURAL: Record<string, string> = { Route: "routes", LaneGroup: "lanegroups", Lane: "lanes" };

/** A lanemesh document as the custom resource `kubectl apply` would create. */
function cr(doc: unknown): {
  kind: string;
  metadata: { name: string; namespace: string };
  [k: string]: unknown;
} {
  const d = doc as { kind: string; metadata: { name: string }; spec: unknown };
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: d.kind,
    metadata: { name: d.metadata.name, namespace: NS },
    spec: d.spec,
  };
}

/** A TCP front that forwards to one replica at a time, like a Service's VIP; `move` cuts and repoints. */
async function front(target: number): Promise<{
  port: number;
  move(to: number): void;
  close(): Promise<void>;
}> {
  let backend = target;
  const conns = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = new Socket();
    conns.add(c).add(up);
    const drop = () => {
      c.destroy();
      up.destroy();
      conns.delete(c);
      conns.delete(up);
    };
    c.on("error", drop).on("close", drop);
    up.on("error", drop).on("close", drop);
    up.connect(backend, "127.0.0.1", () => {
      c.pipe(up).pipe(c);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    move(to) {
      backend = to;
      for (const s of [...conns]) s.destroy();
    },
    close: () =>
      new Promise((r) => {
        for (const s of [...conns]) s.destroy();
        server.close(() => r());
      }),
  };
}

/** What a proxy applied, in order: version and the rules (endpoints aside). */
type Seen = { version: string; rules: string }[];

function record(p: SubscribedProxy): Seen {
  const seen: Seen = [];
  p.live.onChange(() => {
    const c = p.live.current();
    if (c) seen.push({ version: c.version, rules: JSON.stringify(c.rules) });
  });
  return seen;
}

const lanes = (p: SubscribedProxy) =>
  p.live.current()?.rules.lanes.map((l) => l.metadata.name) ?? [];

describe("two control-plane replicas over custom resources (--store kubernetes)", {
  timeout: 120_000,
}, () => {
  let api: FakeKubeApiServer;
  let dir: ReturnType<typeof tempDir>;
  let custom: k8s.CustomObjectsApi;
  const stores: KubeStore[] = [];
  const cps: RunningControlPlane[] = [];
  const proxies: SubscribedProxy[] = [];
  let moved: SubscribedProxy;
  let movedSeen: Seen;
  let vip: Awaited<ReturnType<typeof front>>;

  const create = (doc: unknown) => {
    const o = cr(doc);
    return custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: PLURAL[o.kind] ?? "",
      body: o,
    });
  };

  before(async () => {
    api = await FakeKubeApiServer.start();
    dir = tempDir("kube-store");
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(api.kubeConfigOptions());
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    // The seed's route and group exist before the replicas start.
    for (const d of [
      route("a-route", "/a", "sc-a"),
      group("mall", ["a-route"], ["sc-a", "sc-b", "sc-c"]),
    ])
      await create(d);
    for (const id of ["cp-1", "cp-2"]) {
      // Each replica with its own token, so the fake API server can tell their watches apart.
      const own = new k8s.KubeConfig();
      own.loadFromOptions({
        ...api.kubeConfigOptions(),
        users: [{ name: "lanemesh", token: `${id}-token` }],
      });
      const store = await KubeStore.start({
        kubeConfig: own,
        namespaces: null,
        leaseNamespace: CP_NS,
        identity: id,
        log: silentLog,
        pollMs: 200,
        leaseSeconds: 10,
      });
      stores.push(store);
      await store.ready(30_000);
      cps.push(
        await startCp(join(dir.path, id), 1, 35, { feed: store, proxyAuth: noAuthentication }),
      );
    }
    const [one, two] = cps as [RunningControlPlane, RunningControlPlane];
    proxies.push(subscribe(one.grpcTarget, join(dir.path, "gw-on-1.json"), "gw-on-1"));
    proxies.push(subscribe(two.grpcTarget, join(dir.path, "gw-on-2.json"), "gw-on-2"));
    vip = await front(one.grpcPort);
    moved = subscribe(`127.0.0.1:${vip.port}`, join(dir.path, "gw-moved.json"), "gw-moved");
    movedSeen = record(moved);
  });

  after(async () => {
    for (const p of [...proxies, moved]) await p?.sub.close();
    for (const cp of cps) await cp?.close();
    for (const s of stores) await s?.close();
    await vip?.close();
    await api?.close();
    dir?.remove();
  });

  it("both replicas serve the same epoch and version for the same content", async () => {
    const [one, two] = cps as [RunningControlPlane, RunningControlPlane];
    await until(
      "both replicas at the same version",
      async () => [one.controlPlane.current(), two.controlPlane.current()],
      ([a, b]) => a?.version === b?.version,
    );
    const a = one.controlPlane.current();
    const b = two.controlPlane.current();
    assert.equal(a.epoch, b.epoch, "one epoch shared by the replicas");
    assert.deepEqual(a, b, "the same version is the same snapshot");
    assert.deepEqual(
      a.routes.map((r) => (JSON.parse(r) as { metadata: { name: string } }).metadata.name),
      ["a-route"],
    );
    const lease = api.object("leases", CP_NS, VERSION_LEASE);
    assert.ok(lease, "the version lease exists");
    assert.match(lease.spec.holderIdentity, /^cp-[12]$/);
  });

  it("a Lane applied as a custom resource reaches proxies on both replicas; its status says accepted", async () => {
    await create(headerLane("gray", "mall", "gray"));
    for (const p of [...proxies, moved])
      await until(
        "gray on every proxy",
        async () => lanes(p),
        (l) => l.includes("gray"),
      );
    const [p1, p2] = proxies as [SubscribedProxy, SubscribedProxy];
    assert.equal(p1.live.current()?.version, p2.live.current()?.version);
    assert.deepEqual(p1.live.current()?.rules, p2.live.current()?.rules);
    const gray = await until(
      "gray's status",
      async () => api.object("lanes", NS, "gray"),
      (o) => o?.status?.accepted === true,
    );
    assert.equal(gray?.status.observedGeneration, 1);
    assert.equal(gray?.status.error, undefined);
  });

  it("an invalid Lane gets a status naming the field and is pushed by neither replica; the rest keeps serving", async () => {
    const bad = headerLane("broken", "no-such-group", "blue") as { spec: Record<string, unknown> };
    bad.spec.weight = -5;
    await create(bad);
    const refused = await until(
      "broken's status",
      async () => api.object("lanes", NS, "broken"),
      (o) => o?.status?.accepted === false,
    );
    assert.match(refused?.status.error, /spec\.(group|weight)/, refused?.status.error);
    // A later valid change proves both replicas went past the refused lane's arrival.
    await create(headerLane("blue", "mall", "blue"));
    for (const p of proxies)
      await until(
        "blue on both",
        async () => lanes(p),
        (l) => l.includes("blue"),
      );
    for (const p of proxies) assert.deepEqual(lanes(p), ["gray", "blue"]);
    for (const st of stores) assert.equal(st.stats().refused, 1, "counted on every replica");
    assert.equal(stores.filter((st) => st.stats().leader).length, 1, "one lease holder");
    for (const cp of cps) {
      const text = cp.controlPlane.current().lanes.join("\n");
      assert.ok(!text.includes('"broken"'), "no replica serves the refused lane");
    }
    // The HTTP API reads the same, and refuses changes: they go through kubectl.
    const one = cps[0] as RunningControlPlane;
    const got = await admin(one, "GET", "v1/resources/lanes");
    assert.ok(got.ok);
    assert.deepEqual(
      (got.body as { items: { metadata: { name: string } }[] }).items.map((l) => l.metadata.name),
      ["gray", "blue"],
    );
    const write = await admin(one, "POST", "v1/resources", {
      documents: [{ file: "x.yaml", doc: 0, value: route("b", "/b", "sc-b") }],
    });
    assert.ok(!write.ok);
    assert.equal(write.status, 409);
    assert.match(write.message, /LANEMESH_STORE_READ_ONLY/);
    assert.match(write.message, /kubectl apply/);
  });

  it("a proxy moved from replica 1 to replica 2 keeps its version monotonic and its config", async () => {
    const [one, two] = cps as [RunningControlPlane, RunningControlPlane];
    await until(
      "moved proxy on blue",
      async () => lanes(moved),
      (l) => l.includes("blue"),
    );
    const before = moved.live.current();
    assert.ok(before);
    assert.ok(one.controlPlane.proxies().some((p) => p.nodeId === "gw-moved"));
    vip.move(two.grpcPort);
    await until(
      "the moved proxy ACKed on replica 2",
      async () => two.controlPlane.proxies().find((p) => p.nodeId === "gw-moved"),
      (p) => p?.status === "in-sync",
    );
    assert.equal(moved.live.current()?.version, before.version);
    assert.deepEqual(moved.live.current()?.rules, before.rules, "the same config");
    // A change made while it is on replica 2 arrives with a higher version.
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: "lanes",
        name: "blue",
        body: { spec: { enabled: false } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await until(
      "blue disabled on the moved proxy",
      async () => moved.live.current()?.rules.lanes.find((l) => l.metadata.name === "blue"),
      (l) => l?.spec.enabled === false,
    );
    const blue = await until(
      "blue's status follows its generation",
      async () => api.object("lanes", NS, "blue"),
      (o) => o?.status?.observedGeneration === 2,
    );
    assert.equal(blue?.metadata.generation, 2);
    assert.equal(blue?.status.accepted, true);
    const versions = movedSeen.map((s) => Number(s.version));
    for (let i = 1; i < versions.length; i++)
      assert.ok(
        (versions[i] ?? 0) >= (versions[i - 1] ?? 0),
        `versions went back: ${versions.join(", ")}`,
      );
    for (let i = 1; i < movedSeen.length; i++)
      if (movedSeen[i]?.version === movedSeen[i - 1]?.version)
        assert.equal(movedSeen[i]?.rules, movedSeen[i - 1]?.rules, "one version, one content");
    const lease = api.object("leases", CP_NS, VERSION_LEASE);
    const history = JSON.parse(lease?.metadata.annotations[VERSIONS_KEY]) as [number, string][];
    assert.equal(history[history.length - 1]?.[0], Number(moved.live.current()?.version));
  });

  it("a proxy moved to a replica whose watch lags refuses its older snapshot, keeps the newer config, and takes the same version once it caught up", async () => {
    const holder = api.object("leases", CP_NS, VERSION_LEASE)?.spec.holderIdentity as string;
    const leader = cps[holder === "cp-1" ? 0 : 1] as RunningControlPlane;
    const follower = cps[holder === "cp-1" ? 1 : 0] as RunningControlPlane;
    const followerId = holder === "cp-1" ? "cp-2" : "cp-1";
    vip.move(leader.grpcPort);
    await until(
      "the moved proxy in sync on the lease holder",
      async () => leader.controlPlane.proxies().find((p) => p.nodeId === "gw-moved"),
      (p) => p?.status === "in-sync",
    );
    const release = api.lagWatches(`Bearer ${followerId}-token`);
    try {
      await create(headerLane("green", "mall", "green"));
      await until(
        "green on the moved proxy",
        async () => lanes(moved),
        (l) => l.includes("green"),
      );
      const newer = moved.live.current();
      assert.ok(newer);
      assert.ok(
        Number(follower.controlPlane.current().version) < Number(newer.version),
        "the lagging replica still serves the older version",
      );
      vip.move(follower.grpcPort);
      const seen = await until(
        "the lagging replica's older snapshot refused",
        async () => follower.controlPlane.proxies().find((p) => p.nodeId === "gw-moved"),
        (p) => p?.lastNack?.code === "DOWNGRADE",
      );
      assert.equal(seen?.ackedVersion, newer.version, "the proxy says it keeps the newer version");
      assert.equal(moved.live.current()?.version, newer.version);
      assert.deepEqual(moved.live.current()?.rules, newer.rules, "nothing older was applied");
    } finally {
      release();
    }
    const caught = await until(
      "the follower caught up",
      async () => follower.controlPlane.current(),
      (c) => c.lanes.some((l) => l.includes('"green"')),
    );
    assert.deepEqual(caught, leader.controlPlane.current(), "same version, same snapshot");
    await until(
      "the moved proxy in sync on the follower",
      async () => follower.controlPlane.proxies().find((p) => p.nodeId === "gw-moved"),
      (p) => p?.status === "in-sync",
    );
    const versions = movedSeen.map((x) => Number(x.version));
    for (let i = 1; i < versions.length; i++)
      assert.ok(
        (versions[i] ?? 0) >= (versions[i - 1] ?? 0),
        `versions went back: ${versions.join(", ")}`,
      );
    const byVersion = new Map<string, string>();
    for (const x of movedSeen) {
      const was = byVersion.get(x.version);
      if (was !== undefined) assert.equal(x.rules, was, `version ${x.version} with two contents`);
      byVersion.set(x.version, x.rules);
    }
  });

  it("the holder dies while the other replica's watch lags: the new holder re-lists before numbering, so no older content gets a higher version", async () => {
    const holder = api.object("leases", CP_NS, VERSION_LEASE)?.spec.holderIdentity as string;
    const h = holder === "cp-1" ? 0 : 1;
    const f = 1 - h;
    const follower = cps[f] as RunningControlPlane;
    const followerId = f === 0 ? "cp-1" : "cp-2";
    const release = api.lagWatches(`Bearer ${followerId}-token`);
    let released = false;
    try {
      await create(headerLane("late", "mall", "late"));
      const leader = cps[h] as RunningControlPlane;
      const numbered = await until(
        "the holder numbered the lane",
        async () => leader.controlPlane.current(),
        (c) => c.lanes.some((l) => l.includes('"late"')),
      );
      // The holder goes away (its pod deleted): it renews no more.
      await stores[h]?.close();
      await leader.close();
      stores.splice(h, 1, undefined as unknown as KubeStore);
      cps.splice(h, 1, undefined as unknown as RunningControlPlane);
      const served = await until(
        "the follower took over and serves the lane",
        async () => follower.controlPlane.current(),
        (c) => c.lanes.some((l) => l.includes('"late"')),
        40_000,
      );
      assert.deepEqual(served, numbered, "the same version and content the old holder numbered");
      const lease = api.object("leases", CP_NS, VERSION_LEASE);
      assert.equal(lease?.spec.holderIdentity, followerId);
      const history = JSON.parse(lease?.metadata.annotations[VERSIONS_KEY]) as [number, string][];
      assert.equal(
        history[history.length - 1]?.[0],
        Number(numbered.version),
        "nothing renumbered",
      );
      release();
      released = true;
    } finally {
      if (!released) release();
    }
  });
});

describe("one replica limited to --watch-namespace, through a compaction (410) of the API server's history", {
  timeout: 60_000,
}, () => {
  let api: FakeKubeApiServer;
  let store: KubeStore;
  const names = () =>
    (store.current()?.resources ?? []).map(
      (r) =>
        `${(r as { kind: string }).kind}/${(r as { metadata: { name: string } }).metadata.name}`,
    );
  const put = (plural: string, doc: unknown, ns: string) => {
    const d = doc as { metadata: { name: string }; spec: unknown };
    api.apply(plural as "lanes", {
      metadata: { name: d.metadata.name, namespace: ns },
      spec: d.spec,
    });
  };

  before(async () => {
    api = await FakeKubeApiServer.start();
    put("routes", route("a-route", "/a", "sc-a"), NS);
    put("lanegroups", group("mall", ["a-route"], ["sc-a", "sc-b"]), NS);
    put("lanes", headerLane("gray", "mall", "gray"), NS);
    put("lanes", headerLane("elsewhere", "mall", "blue"), "other");
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(api.kubeConfigOptions());
    store = await KubeStore.start({
      kubeConfig: kc,
      namespaces: [NS],
      leaseNamespace: CP_NS,
      identity: "cp-ns",
      log: silentLog,
      pollMs: 200,
    });
    await store.ready(30_000);
  });
  after(async () => {
    await store?.close();
    await api?.close();
  });

  it("serves its namespaces' resources only, and writes no status outside them", async () => {
    assert.deepEqual(names(), ["Route/a-route", "LaneGroup/mall", "Lane/gray"]);
    await until(
      "gray accepted",
      async () => api.object("lanes", NS, "gray")?.status?.accepted,
      (a) => a === true,
    );
    assert.equal(api.object("lanes", "other", "elsewhere")?.status, undefined);
    // Statuses are written when they change, not every round: ten more rounds add no write.
    const statusWrites = () =>
      api.requests.filter((r) => r.method === "PATCH" && r.name !== null).length;
    const leaseReads = () =>
      api.requests.filter((r) => r.method === "GET" && r.resource === "leases").length;
    const writes = statusWrites();
    const reads = leaseReads();
    await until(
      "ten more rounds",
      async () => leaseReads(),
      (n) => n >= reads + 10,
    );
    assert.equal(statusWrites(), writes);
    assert.ok(writes >= 3 && writes <= 6, `${writes} status writes for 3 resources`);
    const watched = new Set(api.requests.filter((r) => r.watch).map((r) => r.namespace));
    assert.deepEqual([...watched], [NS], "no cluster-wide watch");
  });

  it("after a compaction the informers re-list (410) and keep following", async () => {
    // A write elsewhere first: every informer's resourceVersion is then older than the compaction.
    api.apply("configmaps", { metadata: { name: "unrelated", namespace: "x" }, data: {} });
    api.compact();
    api.closeWatches();
    put("lanes", headerLane("blue", "mall", "blue"), NS);
    await until(
      "blue served",
      async () => names(),
      (n) => n.includes("Lane/blue"),
    );
    assert.ok(
      api.requests.filter((r) => !r.watch && r.resource === "lanes").length >= 2,
      "lanes were listed again",
    );
  });
});
