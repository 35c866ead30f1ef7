// Issue 3, must-show 4 with real processes: killing the C-gray instance under steady load loses no request; gray falls back to base C and is counted.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Scenario, startScenario, sumMetric } from "../helpers/procs.js";

interface Outcome {
  gray: boolean;
  startedAt: number;
  status: number;
  body: string;
}

describe("chain failover: C-gray dies under load", { timeout: 180_000 }, () => {
  let s: Scenario;
  before(async () => {
    s = await startScenario();
  });
  after(async () => {
    await s?.close();
  });

  it("no request is lost, gray goes on to base C, lanemesh_fallback_total counts it, C gray is ejected", async () => {
    const LOOPS = 8;
    const RUN_MS = 4500;
    const outcomes: Outcome[] = [];
    const t0 = Date.now();
    let appKilledAt = Number.POSITIVE_INFINITY;
    let sidecarKilledAt = Number.POSITIVE_INFINITY;

    // The load runs until RUN_MS / 3 after the sidecar's death (RUN_MS in all on an idle machine).
    let stopAt = Number.POSITIVE_INFINITY;
    const loop = async (i: number): Promise<void> => {
      const gray = i % 2 === 0;
      while (Date.now() < stopAt) {
        const startedAt = Date.now();
        try {
          const r = await s.get("/a", gray ? { canary: "gray" } : {});
          outcomes.push({ gray, startedAt, status: r.status, body: r.body });
        } catch (err) {
          outcomes.push({ gray, startedAt, status: 0, body: String(err) });
        }
      }
    };
    const killer = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, RUN_MS / 3));
      // On a loaded machine the first answers can take longer than that: kill C gray once gray
      // traffic has reached it (waited for, not assumed).
      while (!outcomes.some((o) => o.body.includes("-> Cgray[")) && Date.now() - t0 < 30_000)
        await new Promise((r) => setTimeout(r, 20));
      await s.apps.cg.kill("SIGKILL");
      appKilledAt = Date.now();
      await new Promise((r) => setTimeout(r, RUN_MS / 3));
      await s.sidecars.cg.kill("SIGKILL");
      sidecarKilledAt = Date.now();
      stopAt = sidecarKilledAt + RUN_MS / 3;
    };
    await Promise.all([...Array.from({ length: LOOPS }, (_, i) => loop(i)), killer()]);

    const failed = outcomes.filter((o) => o.status !== 200);
    assert.deepEqual(
      failed.slice(0, 5).map((o) => `${o.status} ${o.body.trim()}`),
      [],
      `${failed.length} of ${outcomes.length} requests failed (started at ${failed
        .map((o) => o.startedAt - t0)
        .join(
          ", ",
        )} ms; app killed at ${appKilledAt - t0} ms, sidecar at ${sidecarKilledAt - t0} ms)`,
    );
    const grayOutcomes = outcomes.filter((o) => o.gray);
    const base = outcomes.filter((o) => !o.gray);
    assert.ok(
      grayOutcomes.length >= 10 && base.length >= 10,
      `too little load: ${outcomes.length}`,
    );
    for (const o of base) assert.match(o.body, /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[/);
    for (const o of grayOutcomes)
      assert.match(o.body, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C(gray)?\[/);

    const beforeKill = grayOutcomes.filter((o) => o.startedAt < appKilledAt - 50);
    const afterKill = grayOutcomes.filter((o) => o.startedAt > appKilledAt);
    assert.ok(beforeKill.length > 0 && afterKill.length > 0);
    assert.ok(
      beforeKill.some((o) => o.body.includes("-> Cgray[")),
      "gray never reached Cgray",
    );
    for (const o of afterKill)
      assert.match(o.body, / -> C\[/, "a request reached Cgray after it died");
    assert.ok(
      grayOutcomes.some((o) => o.startedAt > sidecarKilledAt),
      "no gray request after the sidecar died",
    );

    const m = await s.metrics();
    const fallbacks = sumMetric(m.b, "lanemesh_fallback_total", { service: "sc-c", tag: "gray" });
    assert.ok(fallbacks >= 1, `B's sidecar counted no fallback for sc-c/gray:\n${m.b}`);
    // Outlier detection with the CLI's defaults (5 failures in a row, 30 s): B's sidecar took the
    // dead C gray out of rotation once, and it is still out at the end of the run.
    const labels = { service: "sc-c", tag: "gray" };
    assert.equal(sumMetric(m.b, "lanemesh_ejections_total", labels), 1, m.b);
    assert.equal(sumMetric(m.b, "lanemesh_endpoints_ejected", labels), 1, m.b);
  });
});
