// Guarded lanes on the virtual clock: the load window, the verdict against base, minRequests, the close asked once and never undone, a fresh window after a change, and a healthy canary under the same load never closed.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { guardOf, judge } from "../../src/control-plane/guard.js";
import { GuardKeeper, TRIPS_FILE } from "../../src/control-plane/guard-keeper.js";
import { LoadStore } from "../../src/control-plane/load.js";
import { ControlPlaneMetrics } from "../../src/control-plane/metrics.js";
import { LoadBook } from "../../src/telemetry/load.js";
import { VirtualClock } from "../helpers/clock.js";
import { silentLog } from "../helpers/sync-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "lanemesh-guard-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const group = {
  apiVersion: "lanemesh.io/v1alpha1",
  kind: "LaneGroup",
  metadata: { name: "mall" },
  spec: { apps: ["sc-a", "sc-c"], mode: "content" },
};
const lane = (guard: Record<string, unknown>, enabled = true) => ({
  apiVersion: "lanemesh.io/v1alpha1",
  kind: "Lane",
  metadata: { name: "gray" },
  spec: { group: "mall", tag: "gray", enabled, guard },
});

/** One proxy per (app, tag) reporting `n` requests per 500 ms report, `failEvery` of them failing. */
function reporter(load: LoadStore, app: string, tag: string | null) {
  const book = new LoadBook();
  const hello = { nodeId: `${app}-${tag ?? "base"}`, role: "sidecar", app, tag, gateway: "" };
  return (n: number, failShare: number, ms = 5) => {
    const cell = book.cell("inbound", app, tag ?? "base");
    let debt = 0;
    for (let i = 0; i < n; i++) {
      debt += failShare;
      const fail = debt >= 1;
      if (fail) debt -= 1;
      cell.record(ms, fail);
    }
    const body = book.drain(500);
    load.add(hello, { ...body, rows: body.rows.map((r) => ({ ...r })) });
  };
}

function rig(guard: Record<string, unknown>, dataDir = mkdtempSync(join(dir, "cp-"))) {
  const clock = new VirtualClock();
  const load = new LoadStore(clock, 600_000);
  let resources: unknown[] = [group, lane(guard)];
  const closes: { lane: string; reason: string; at: number }[] = [];
  const metrics = new ControlPlaneMetrics();
  const keeper = new GuardKeeper({
    dataDir,
    load,
    metrics,
    log: silentLog,
    clock,
    resources: () => resources,
    close: async (name, reason) => {
      closes.push({ lane: name, reason, at: clock.now() });
      resources = [group, lane(guard, false)];
      keeper.observe(resources);
      return 7;
    },
  });
  keeper.start();
  const gray = reporter(load, "sc-c", "gray");
  const base = reporter(load, "sc-c", null);
  /** Advance by reports of 500 ms each, judging on each as the control plane does. */
  const run = async (seconds: number, grayFail: number, baseFail = 0, grayMs = 5) => {
    for (let i = 0; i < seconds * 2; i++) {
      clock.advance(500);
      gray(10, grayFail, grayMs);
      base(10, baseFail);
      keeper.onReport();
      await Promise.resolve();
      await Promise.resolve();
    }
  };
  const set = (r: unknown[]) => {
    resources = r;
    keeper.observe(r);
  };
  return { clock, keeper, closes, run, metrics, set, dataDir, load };
}

test("guardOf applies the defaults: minRequests 20, window 30s", () => {
  const g = guardOf(lane({ maxErrorRate: 0.1 }));
  assert.deepEqual(g, {
    maxErrorRate: 0.1,
    maxP99Ms: null,
    minRequests: 20,
    window: "30s",
    windowMs: 30_000,
  });
  assert.equal(guardOf({ spec: {} }), null);
});

test("a healthy canary under the same load is never closed, over many windows", async () => {
  const r = rig({ maxErrorRate: 0.05, maxP99Ms: 200, minRequests: 10, window: "5s" });
  await r.run(60, 0);
  assert.equal(r.closes.length, 0);
  assert.equal(r.keeper.trip("gray"), undefined);
  r.keeper.close();
});

test("a failing canary is closed within the window + 1 s, once, and stays closed", async () => {
  const r = rig({ maxErrorRate: 0.2, minRequests: 10, window: "5s" });
  await r.run(10, 0);
  const failingFrom = r.clock.now();
  await r.run(20, 0.5);
  assert.equal(r.closes.length, 1, "asked to close once");
  const closed = r.closes[0];
  assert.ok(closed && closed.at - failingFrom <= 5000 + 1000, `closed after ${closed?.at}`);
  assert.match(
    closed?.reason ?? "",
    /^sc-c: lane gray error rate \d+\.\d% > maxErrorRate 20\.0% \(base 0\.0%\) over 5s/,
  );
  const trip = r.keeper.trip("gray");
  assert.equal(trip?.version, 7);
  assert.equal(trip?.reason, closed?.reason);
  assert.ok((trip?.lane.errorRate ?? 0) > 0.2);
  assert.equal(trip?.base.errorRate, 0);
  const text = await r.metrics.registry.metrics();
  assert.match(text, /lanemesh_cp_guard_trips_total\{lane="gray"\} 1/);
  await r.run(20, 0);
  assert.equal(r.closes.length, 1, "never reopened nor closed again by itself");
  assert.ok(r.keeper.trip("gray"), "the reason stays while the lane stays closed");
  r.keeper.close();
});

test("nothing is judged before minRequests lane requests in the window", async () => {
  const r = rig({ maxErrorRate: 0.1, minRequests: 1000, window: "5s" });
  await r.run(20, 1);
  assert.equal(r.closes.length, 0);
  r.keeper.close();
});

test("a canary no worse than base is not blamed (base failing as much)", async () => {
  const r = rig({ maxErrorRate: 0.1, minRequests: 10, window: "5s" });
  await r.run(20, 0.5, 0.5);
  assert.equal(r.closes.length, 0);
  r.keeper.close();
});

test("a slow canary breaks maxP99Ms", async () => {
  const r = rig({ maxP99Ms: 100, minRequests: 10, window: "5s" });
  await r.run(10, 0, 0, 5);
  assert.equal(r.closes.length, 0);
  await r.run(10, 0, 0, 800);
  assert.equal(r.closes.length, 1);
  assert.match(r.closes[0]?.reason ?? "", /p99 \d+\.\d ms > maxP99Ms 100/);
  r.keeper.close();
});

test("reopened by a user: the trip is cleared and the window starts afresh", async () => {
  const guard = { maxErrorRate: 0.2, minRequests: 10, window: "10s" };
  const r = rig(guard);
  await r.run(12, 0.5);
  assert.equal(r.closes.length, 1);
  r.set([group, lane({ ...guard, minRequests: 11 })]);
  assert.equal(r.keeper.trip("gray"), undefined, "applied open again: no trip");
  await r.run(8, 0);
  assert.equal(r.closes.length, 1, "the failures from before the reopening are not judged");
  r.keeper.close();
});

test("judge names the app and compares with base over the window only", () => {
  const clock = new VirtualClock();
  const load = new LoadStore(clock, 600_000);
  const gray = reporter(load, "sc-a", "gray");
  const base = reporter(load, "sc-a", null);
  const g = guardOf(lane({ maxErrorRate: 0.1, minRequests: 5, window: "2s" }));
  assert.ok(g);
  clock.advance(500);
  gray(10, 1);
  base(10, 0);
  assert.match(judge(g, "gray", ["sc-a"], load.window(g.windowMs))?.reason ?? "", /^sc-a: /);
  clock.advance(2500);
  gray(10, 0);
  base(10, 0);
  assert.equal(judge(g, "gray", ["sc-a"], load.window(g.windowMs)), null, "old failures aged out");
});

test("why a lane was closed survives a control-plane restart, while it stays closed", async () => {
  const guard = { maxErrorRate: 0.2, minRequests: 10, window: "5s" };
  const r = rig(guard);
  await r.run(10, 0.5);
  assert.equal(r.closes.length, 1);
  r.keeper.close();
  const file = join(r.dataDir, TRIPS_FILE);
  const deadline = Date.now() + 10_000;
  while (!existsSync(file) && Date.now() < deadline) await new Promise((x) => setTimeout(x, 20));
  const reopen = (resources: unknown[]) =>
    new GuardKeeper({
      dataDir: r.dataDir,
      load: r.load,
      metrics: new ControlPlaneMetrics(),
      log: silentLog,
      clock: new VirtualClock(),
      resources: () => resources,
      close: async () => null,
    });
  const after = reopen([group, lane(guard, false)]);
  assert.match(after.trip("gray")?.reason ?? "", /error rate/);
  const opened = reopen([group, lane(guard, true)]);
  assert.equal(opened.trip("gray"), undefined, "opened while down: no trip");
});
