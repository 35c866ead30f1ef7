// A guarded lane on `--store kubernetes`: the rules are custom resources the API refuses to change, so the guard closes the lane at its source (spec.enabled: false on the Lane custom resource), and the control plane then serves it closed, with the reason in status.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { noAuthentication } from "../../src/control-plane/identity.js";
import { KubeStore } from "../../src/control-plane/kube-store.js";
import type { RunningControlPlane } from "../../src/control-plane/start.js";
import { LoadBook } from "../../src/telemetry/load.js";
import { startCp } from "../helpers/control-plane.js";
import { FakeKubeApiServer } from "../helpers/kube-api-server.js";
import { until } from "../helpers/procs.js";
import { group, headerLane, route, silentLog, tempDir } from "../helpers/sync-fixtures.js";

const NS = "mall";
const GROUP = "lanemesh.io";
const VERSION = "v1alpha1";

let api: FakeKubeApiServer;
let dir: ReturnType<typeof tempDir>;
let store: KubeStore;
let cp: RunningControlPlane;

before(async () => {
  api = await FakeKubeApiServer.start();
  dir = tempDir("kube-guard");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(api.kubeConfigOptions());
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const lane = headerLane("gray", "mall", "gray") as { spec: Record<string, unknown> };
  const gray = {
    ...lane,
    spec: { ...lane.spec, guard: { maxErrorRate: 0.2, minRequests: 10, window: "2s" } },
  };
  for (const d of [route("a-route", "/a", "sc-a"), group("mall", ["a-route"], ["sc-a"]), gray]) {
    const o = d as { kind: string; metadata: { name: string }; spec: unknown };
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: `${o.kind.toLowerCase()}s`,
      body: { ...o, apiVersion: `${GROUP}/${VERSION}`, metadata: { ...o.metadata, namespace: NS } },
    });
  }
  store = await KubeStore.start({
    kubeConfig: kc,
    namespaces: null,
    leaseNamespace: "lanemesh-system",
    identity: "cp-1",
    log: silentLog,
    pollMs: 200,
    leaseSeconds: 10,
  });
  await store.ready(30_000);
  cp = await startCp(join(dir.path, "cp"), 1, 35, { feed: store, proxyAuth: noAuthentication });
});

after(async () => {
  await cp?.close();
  await store?.close();
  await api?.close();
  dir?.remove();
});

test("a failing canary's guard closes the Lane custom resource; the lane is then served closed, the reason in status", async () => {
  const lanes = () => cp.controlPlane.list("lanes") as { spec: { enabled?: boolean } }[];
  await until(
    "the guarded lane served open",
    async () => lanes(),
    (l) => l[0] !== undefined && l[0].spec.enabled !== false,
    30_000,
  );
  // What the proxies of sc-a would report: gray fails half of its requests, base none.
  const books = { gray: new LoadBook(), base: new LoadBook() };
  const report = (tag: "gray" | "base") => {
    const cell = books[tag].cell("inbound", "sc-a", tag);
    for (let i = 0; i < 10; i++) cell.record(5, tag === "gray" && i % 2 === 0);
    const hello = {
      nodeId: `sc-a-${tag}`,
      role: "sidecar",
      app: "sc-a",
      tag: tag === "gray" ? "gray" : "",
    };
    cp.controlPlane.traffic.report({ ...hello, gateway: "" } as never, books[tag].drain(200));
  };
  const closed = await until(
    "the Lane custom resource closed by its guard",
    async () => {
      report("gray");
      report("base");
      await new Promise((r) => setTimeout(r, 200));
      return api.object("lanes", NS, "gray");
    },
    (o) => o?.spec?.enabled === false,
    60_000,
  );
  assert.equal(closed?.spec?.guard?.maxErrorRate, 0.2, "the rest of the spec is kept");
  const served = await until(
    "the control plane serving the lane closed",
    async () => lanes(),
    (l) => l[0]?.spec.enabled === false,
  );
  const trip = (served[0] as { status?: { guard?: { reason?: string } } }).status?.guard;
  assert.match(trip?.reason ?? "", /error rate/);
});
