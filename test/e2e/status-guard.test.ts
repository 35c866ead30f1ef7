// Issue 13's must-shows 1 and 2 in real processes (control plane, gateway, five sidecars, five demo apps under gray and base load): `lanemesh status` shows each app's gray and base traffic and its errors move when C gray fails half its requests; a guarded lane holds while healthy and is closed within its window + 1 s once its canary fails, gray then reaches base, and the reason is in status.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusView } from "../../src/control-plane/status.js";
import {
  type CpMesh,
  chainOf,
  cpFixture,
  type Load,
  pollFor,
  startCpMesh,
  startLoad,
} from "../helpers/control-plane-procs.js";
import { runCli, scenarioRules, sumMetric } from "../helpers/procs.js";

/** Short enough for a test, long enough for several 300 ms reports. */
const LOAD_WINDOW_MS = 3000;
const LOAD_WINDOW = `${LOAD_WINDOW_MS / 1000}s`;
const GUARD_WINDOW_MS = 5000;
/**
 * Each restart of C gray's app leaves its sidecar answering "app unavailable" for a moment, and B's
 * sidecar may eject C gray for that (5 in a row). At the default 30 s that ejection starves C gray
 * of gray traffic, so nothing can be judged until it ends, and a second restart doubles it. A
 * short ejection keeps both tests about C gray's answers, each test independent of the restarts
 * before it; outlier detection has tests of its own.
 */
const EJECTION_TIME = "1s";

describe("status and guarded lanes (real processes)", { timeout: 300_000 }, () => {
  let mesh: CpMesh;
  let load: Load;
  let rules: string;

  before(async () => {
    mesh = await startCpMesh({
      initial: [cpFixture("base.yaml")],
      cpArgs: ["--load-window", LOAD_WINDOW],
      proxyArgs: ["--report-interval", "300ms", "--outlier-ejection-time", EJECTION_TIME],
    });
    rules = join(mesh.dir, "rules.yaml");
    writeFileSync(rules, scenarioRules());
    const applied = await mesh.apply(rules);
    assert.equal(applied.code, 0, applied.stderr);
    load = startLoad(mesh.gatewayPort, 4, 20);
  });

  after(async () => {
    await load?.stop();
    await mesh?.close();
  });

  /** `lanemesh status -o json` through the CLI. */
  const status = async (): Promise<StatusView> => {
    const r = await runCli(["status", "-o", "json", "--server", mesh.server]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StatusView;
  };
  const laneOf = (v: StatusView) => {
    const lane = v.groups.find((g) => g.name === "mall")?.lanes.find((l) => l.name === "gray");
    assert.ok(lane, JSON.stringify(v));
    return lane;
  };
  const appOf = (v: StatusView, app: string) => {
    const a = laneOf(v).apps.find((x) => x.app === app);
    assert.ok(a, `${app} in ${JSON.stringify(v)}`);
    return a;
  };

  it("shows gray and base traffic for A and C, base only for B, and C gray's errors when it fails half", async () => {
    const seen = await pollFor("gray and base traffic at A and C", 60_000, async () => {
      const v = await status();
      const [a, b, c] = ["sc-a", "sc-b", "sc-c"].map((app) => appOf(v, app));
      if (!a || !b || !c) return undefined;
      const both = [a, c].every((x) => x.lane.rps > 0 && x.base.rps > 0);
      return both && b.base.rps > 0 ? v : undefined;
    });
    const b = appOf(seen, "sc-b");
    assert.equal(b.lane.rps, 0, "B has no gray instance: its gray column stays empty");
    assert.equal(b.lane.requests, 0);
    assert.deepEqual(b.instances, { base: 1 });
    assert.deepEqual(appOf(seen, "sc-c").instances, { base: 1, gray: 1 });
    assert.equal(appOf(seen, "sc-c").lane.errorRate, 0, "C gray healthy so far");
    assert.ok(laneOf(seen).enabled);
    assert.ok(
      seen.groups[0]?.edges.some((e) => e.from === "sc-b" && e.to === "sc-c" && e.tag === "gray"),
      `B → C gray edge: ${JSON.stringify(seen.groups[0]?.edges)}`,
    );

    const table = await runCli(["status", "--server", mesh.server]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /LANE gray \(tag gray\): enabled, content: header canary == gray/);
    assert.match(table.stdout, /^\s+sc-b\s+base=1\s+0 \/ /m);

    await mesh.restartApp("cg", ["--fail-ratio", "0.5"]);
    // Judged once the load window holds only the new app's answers (the refusals while it was
    // down, all failures, have left it) and enough of them for a rate.
    const restarted = Date.now();
    const failing = await pollFor("C gray's error rate up", 60_000, async () => {
      const v = await status();
      const c = appOf(v, "sc-c");
      const settled = Date.now() - restarted > LOAD_WINDOW_MS + 1000 && c.lane.requests >= 15;
      return settled && (c.lane.errorRate ?? 0) >= 0.35 ? v : undefined;
    });
    const c = appOf(failing, "sc-c");
    assert.ok((c.lane.errorRate ?? 0) <= 0.75, `about half fail: ${c.lane.errorRate}`);
    assert.equal(c.base.errorRate, 0, "C base is not failing");
    // A gray's rate need not move: B's sidecar retries a failed GET once elsewhere (C base) and
    // ejects C gray after consecutive errors, so most of A gray's requests still succeed.
    assert.equal(appOf(failing, "sc-a").base.errorRate, 0);
  });

  it("closes a guarded lane within window + 1 s of its canary failing, never a healthy one", async (t) => {
    await mesh.restartApp("cg", []);
    const guarded = join(mesh.dir, "guarded.yaml");
    writeFileSync(
      guarded,
      `${scenarioRules()}  guard: { maxErrorRate: 0.2, minRequests: 10, window: ${GUARD_WINDOW_MS / 1000}s }\n`,
    );
    const applied = await mesh.apply(guarded);
    assert.equal(applied.code, 0, applied.stderr);
    const appliedAt = Date.now();

    // Healthy under the same load: judged over full windows with enough requests, never closed.
    await pollFor("two healthy guard windows", 60_000, async () => {
      const v = await status();
      const c = appOf(v, "sc-c");
      assert.equal(laneOf(v).guardTrip, null, "a healthy canary is not closed");
      assert.ok(laneOf(v).enabled);
      return Date.now() - appliedAt > 2 * GUARD_WINDOW_MS + 1000 && c.lane.requests >= 30
        ? true
        : undefined;
    });

    // C gray fails from the moment its healthy app is killed (the sidecar's own 502s, then the
    // new app's 500s): closing counts from there. The client may never see a failure (B's sidecar
    // retries a GET once elsewhere), so this is the honest start.
    const firstFailure = Date.now();
    await mesh.restartApp("cg", ["--fail-ratio", "0.5"]);
    const tripped = await pollFor(
      "the guard closes the lane",
      60_000,
      async () => {
        const lane = laneOf(await status());
        return lane.guardTrip === null ? undefined : lane;
      },
      200,
    );
    const trip = tripped.guardTrip;
    assert.ok(trip);
    assert.equal(tripped.enabled, false);
    assert.match(trip.reason, /error rate .* > maxErrorRate 20\.0%/);
    const after = trip.closedAtMs - firstFailure;
    t.diagnostic(`closed ${after} ms after C gray started failing: ${trip.reason}`);
    assert.ok(
      after <= GUARD_WINDOW_MS + 1000,
      `closed ${after} ms after the first failure (window ${GUARD_WINDOW_MS} ms + 1 s)`,
    );

    // Gray requests reach base once the close is served.
    await pollFor("gray served by base", 30_000, async () => {
      const r = await mesh.get({ canary: "gray" });
      return r.status === 200 && chainOf(r.body) === "base" ? true : undefined;
    });
    const afterClose = (start: number): boolean =>
      performance.timeOrigin + start > trip.closedAtMs + 1000;
    await pollFor("gray load a second after the close", 30_000, async () =>
      load.samples.filter((s) => s.gray && afterClose(s.start)).length >= 5 ? true : undefined,
    );
    for (const s of load.samples.filter((x) => x.gray && afterClose(x.start)))
      assert.equal(s.chain, "base", `gray request 1 s after the close: ${s.status} ${s.detail}`);

    // The reason: in get/describe (the Lane's status), the metric, the log.
    const got = await runCli(["get", "lanes", "gray", "-o", "json", "--server", mesh.server]);
    assert.equal(got.code, 0, got.stderr);
    const doc = JSON.parse(got.stdout) as {
      spec: { enabled: boolean };
      status?: { guard?: { reason: string } };
    };
    assert.equal(doc.spec.enabled, false);
    assert.equal(doc.status?.guard?.reason, trip.reason);
    const metrics = await (await fetch(`${mesh.server}/metrics`)).text();
    assert.equal(sumMetric(metrics, "lanemesh_cp_guard_trips_total", { lane: "gray" }), 1);
    const described = await runCli(["describe", "lane", "gray", "--server", mesh.server]);
    assert.match(described.stdout, /closed by its guard/i);

    // It stays closed: the control plane never reopens it; a user does, with apply.
    const reopened = await mesh.apply(rules);
    assert.equal(reopened.code, 0, reopened.stderr);
    const v = await status();
    assert.equal(laneOf(v).enabled, true);
    assert.equal(laneOf(v).guardTrip, null);
  });
});
