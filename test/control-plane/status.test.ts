// GET /v1/status over a real control plane fed by real proxy streams: load reports cross the wire (uint64 counts, histograms), land per group, lane, app and edge, count in lanemesh_cp_load_reports_total, and the read follows the API's token rules.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { refusal } from "../../src/control-plane/http-guard.js";
import type { StatusView } from "../../src/control-plane/status.js";
import {
  admin,
  docs,
  proxyToken,
  startCp,
  subscribe,
  tokenFile,
} from "../helpers/control-plane.js";
import { tempDir } from "../helpers/sync-fixtures.js";

const tmp = tempDir("lanemesh-status-");
const dir = tmp.path;
const cp = await startCp(join(dir, "data"), 1, 35, { loadWindowSeconds: 5 });
after(async () => {
  await cp.close();
  tmp.remove();
});

const V = "lanemesh.io/v1alpha1";
const resources = [
  {
    apiVersion: V,
    kind: "Route",
    metadata: { name: "a-route" },
    spec: { gateway: "default", match: { prefix: "/a" }, service: "sc-a" },
  },
  {
    apiVersion: V,
    kind: "LaneGroup",
    metadata: { name: "mall" },
    spec: {
      entry: { gateway: "default", routes: ["a-route"] },
      apps: ["sc-a", "sc-b"],
      mode: "content",
    },
  },
  {
    apiVersion: V,
    kind: "Lane",
    metadata: { name: "gray" },
    spec: {
      group: "mall",
      tag: "gray",
      match: { conditions: [{ type: "header", name: "canary", op: "==", value: "gray" }] },
      guard: { maxErrorRate: 0.5, minRequests: 1000 },
    },
  },
];

async function status(): Promise<StatusView> {
  const r = await admin(cp, "GET", "v1/status");
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.body as StatusView;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a gateway's and a sidecar's reports show as the app's lane and base traffic and as edges", async () => {
  const applied = await admin(cp, "POST", "v1/resources", docs(resources));
  assert.ok(applied.ok, applied.ok ? "" : applied.message);
  const gw = subscribe(cp.grpcTarget, join(dir, "gw.json"), "gw-1", cp, { reportIntervalMs: 100 });
  const sidecarToken = tokenFile(dir, "sc-a-gray", proxyToken(cp, "sidecar", "sc-a"));
  const sc = subscribe(cp.grpcTarget, join(dir, "sc.json"), "sc-a-gray-1", sidecarToken, {
    reportIntervalMs: 100,
    hello: {
      nodeId: "sc-a-gray-1",
      role: "sidecar",
      app: "sc-a",
      tag: "gray",
      address: "127.0.0.1:9",
    },
  });
  after(async () => {
    await gw.sub.close();
    await sc.sub.close();
  });
  const inbound = sc.metrics.load.cell("inbound", "sc-a", "gray");
  const entry = gw.metrics.load.cell("gateway", "sc-a", "gray");
  const feed = setInterval(() => {
    for (let i = 0; i < 10; i++) {
      inbound.record(i < 5 ? 2 : 40, i === 0);
      entry.record(3, false);
    }
  }, 50);
  after(() => clearInterval(feed));

  const v = await until("sc-a's gray traffic in status", async () => {
    const s = await status();
    const a = s.groups[0]?.lanes[0]?.apps.find((x) => x.app === "sc-a");
    return a && a.lane.requests > 50 ? s : undefined;
  });
  const lane = v.groups[0]?.lanes[0];
  assert.equal(lane?.name, "gray");
  assert.deepEqual(lane?.guard, {
    maxErrorRate: 0.5,
    maxP99Ms: null,
    minRequests: 1000,
    window: "30s",
    windowMs: 30_000,
  });
  const a = lane?.apps.find((x) => x.app === "sc-a");
  assert.ok(a);
  assert.ok(a.lane.rps > 0);
  assert.ok(Math.abs((a.lane.errorRate ?? 0) - 0.1) < 0.02, `error rate ${a.lane.errorRate}`);
  assert.ok((a.lane.p50Ms ?? 0) >= 1 && (a.lane.p50Ms ?? 0) <= 3, `p50 ${a.lane.p50Ms}`);
  assert.ok((a.lane.p99Ms ?? 0) >= 28 && (a.lane.p99Ms ?? 0) <= 57, `p99 ${a.lane.p99Ms}`);
  assert.equal(a.base.requests, 0, "nothing served by base");
  assert.deepEqual(a.instances, { gray: 1 }, "the registered sidecar's instance");
  const b = lane?.apps.find((x) => x.app === "sc-b");
  assert.equal(b?.lane.requests, 0);
  const edge = v.groups[0]?.edges.find((e) => e.from === "gateway:default" && e.to === "sc-a");
  assert.equal(edge?.tag, "gray");
  assert.ok((edge?.requests ?? 0) > 0);
  assert.ok(v.reporting >= 2);
  const metrics = await (await fetch(`${cp.url}/metrics`)).text();
  assert.match(metrics, /lanemesh_cp_load_reports_total [1-9]/);
  assert.equal(lane?.enabled, true, "a guard under minRequests does not close");

  const group = await admin(cp, "GET", "v1/status?group=none");
  assert.ok(group.ok);
  assert.deepEqual((group.body as StatusView).groups, []);
  const post = await admin(cp, "POST", "v1/status", {});
  assert.equal(post.ok, false);
});

test("the proxies receive lanes without their guard (an older proxy would refuse the field)", async () => {
  const c = await admin(cp, "GET", "v1/config");
  assert.ok(c.ok);
  const lanes = (c.body as { rules: { lanes: { spec: Record<string, unknown> }[] } }).rules.lanes;
  assert.equal(lanes[0]?.spec.guard, undefined);
  const stored = await admin(cp, "GET", "v1/resources/lanes/gray");
  assert.ok(stored.ok);
  assert.ok((stored.body as { spec: { guard?: unknown } }).spec.guard);
});

test("GET /v1/status is a read: open on loopback, the admin token elsewhere", () => {
  const req = { method: "GET", headers: {} } as never;
  assert.equal(refusal(req, "/v1/status", { adminToken: "t", readsOpen: true }), null);
  assert.equal(refusal(req, "/v1/status", { adminToken: "t", readsOpen: false })?.status, 401);
});
