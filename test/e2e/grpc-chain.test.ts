// Issue 14, must-shows 1 and 2 with real processes: the seed's chains over gRPC (grpc-js apps forwarding only traceparent) through the gateway and sidecars, and C gray killed during a stream of unary calls: no call fails that was never sent, gray goes on to base C, the fallback is counted.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { type EchoClient, echoClient } from "../../src/demo/grpc-echo.js";
import { ready, unary } from "../helpers/grpc.js";
import { type Scenario, scenarioRules, startScenario, sumMetric } from "../helpers/procs.js";

const GRPC_RULES = scenarioRules().replace("prefix: /a }", "prefix: /lanemesh.demo.Echo/ }");
const BASE = /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[/;
const GRAY = /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> Cgray\[/;

interface Outcome {
  gray: boolean;
  startedAt: number;
  endedAt: number;
  code: number;
  text: string;
}

describe("the seed's chains over gRPC, real processes", { timeout: 240_000 }, () => {
  let s: Scenario;
  let client: EchoClient;
  before(async () => {
    assert.notEqual(GRPC_RULES, scenarioRules(), "the route prefix was replaced");
    s = await startScenario({ rules: GRPC_RULES, appExtra: ["--protocol", "grpc"] });
    client = echoClient(s.gatewayPort);
    await ready(client);
  });
  after(async () => {
    client?.close();
    await s?.close();
  });

  it("base calls go A → B → C, gray calls Agray → B → Cgray (apps forward only traceparent)", async () => {
    const base = await unary(client, { text: "x", n: 1 });
    assert.equal(base.err, undefined, String(base.err));
    assert.match(base.out?.text ?? "", BASE);
    const gray = await unary(client, { text: "x", n: 2 }, { canary: "gray" });
    assert.equal(gray.err, undefined, String(gray.err));
    assert.match(gray.out?.text ?? "", GRAY);
  });

  it("an unknown method gets the gateway's UNIMPLEMENTED with x-lanemesh-error", async () => {
    const other = new grpc.Client(`127.0.0.1:${s.gatewayPort}`, grpc.credentials.createInsecure());
    try {
      const code = await new Promise<grpc.ServiceError | null>((resolve) =>
        other.makeUnaryRequest(
          "/other.Service/Nope",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (err) => resolve(err),
        ),
      );
      assert.equal(code?.code, grpc.status.UNIMPLEMENTED);
      assert.deepEqual(code?.metadata.get("x-lanemesh-error"), ["LANEMESH_NO_ROUTE"]);
    } finally {
      other.close();
    }
  });

  it("C gray killed during unary calls: no call that was never sent fails, gray goes on to base C, counted, C gray ejected", async (t) => {
    const LOOPS = 6;
    const outcomes: Outcome[] = [];
    const t0 = Date.now();
    let appKilledAt = Number.POSITIVE_INFINITY;
    let sidecarKilledAt = Number.POSITIVE_INFINITY;
    let stopAt = Number.POSITIVE_INFINITY;
    const loop = async (i: number): Promise<void> => {
      const gray = i % 2 === 0;
      while (Date.now() < stopAt) {
        const startedAt = Date.now();
        const r = await unary(client, { text: "x", n: i }, gray ? { canary: "gray" } : {});
        outcomes.push({
          gray,
          startedAt,
          endedAt: Date.now(),
          code: r.err?.code ?? 0,
          text: r.err?.details ?? r.out?.text ?? "",
        });
      }
    };
    /** Waits (polling, bounded) until `n` gray calls started after `since` have succeeded. */
    const grayAfter = async (since: number, n: number, via?: string): Promise<void> => {
      const end = Date.now() + 60_000;
      const count = (): number =>
        outcomes.filter(
          (o) =>
            o.gray &&
            o.code === 0 &&
            o.startedAt > since &&
            (via === undefined || o.text.includes(via)),
        ).length;
      while (count() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    const killer = async (): Promise<void> => {
      await grayAfter(t0, 5, "-> Cgray[");
      await s.apps.cg.kill("SIGKILL");
      appKilledAt = Date.now();
      await grayAfter(appKilledAt, 10);
      await s.sidecars.cg.kill("SIGKILL");
      sidecarKilledAt = Date.now();
      await grayAfter(sidecarKilledAt, 10);
      stopAt = Date.now();
    };
    await Promise.all([...Array.from({ length: LOOPS }, (_, i) => loop(i)), killer()]);

    // A call may fail only if it was in flight when a process died (it may have reached it).
    const inFlightAtKill = (o: Outcome): boolean =>
      [appKilledAt, sidecarKilledAt].some((k) => o.startedAt <= k && o.endedAt >= k);
    const failed = outcomes.filter((o) => o.code !== 0);
    const unexplained = failed.filter((o) => !inFlightAtKill(o));
    assert.deepEqual(
      unexplained.slice(0, 5).map((o) => `${o.code} ${o.text}`),
      [],
      `${failed.length} of ${outcomes.length} calls failed; app killed at ${appKilledAt - t0} ms, sidecar at ${sidecarKilledAt - t0} ms`,
    );
    assert.ok(failed.length <= 2 * LOOPS, `${failed.length} calls failed`);
    t.diagnostic(`${outcomes.length} calls, ${failed.length} failed while in flight at a kill`);
    const grayOk = outcomes.filter((o) => o.gray && o.code === 0);
    const baseOk = outcomes.filter((o) => !o.gray && o.code === 0);
    assert.ok(baseOk.length > 0);
    for (const o of baseOk) assert.match(o.text, BASE);
    for (const o of grayOk)
      assert.match(o.text, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C(gray)?\[/);
    assert.ok(
      grayOk.some((o) => o.startedAt < appKilledAt && o.text.includes("-> Cgray[")),
      "gray never reached Cgray",
    );
    const afterKill = grayOk.filter((o) => o.startedAt > appKilledAt);
    assert.ok(afterKill.length > 0, "no gray call after the kill");
    for (const o of afterKill)
      assert.match(o.text, / -> C\[/, "a call reached Cgray after it died");
    assert.ok(
      grayOk.some((o) => o.startedAt > sidecarKilledAt),
      "no gray call after the sidecar died",
    );

    const m = await s.metrics();
    const fallbacks = sumMetric(m.b, "lanemesh_fallback_total", { service: "sc-c", tag: "gray" });
    assert.ok(fallbacks >= 1, `B's sidecar counted no fallback for sc-c/gray:\n${m.b}`);
    // Outlier detection sees gRPC attempts as it sees HTTP/1.1 ones: C gray is out of rotation.
    const labels = { service: "sc-c", tag: "gray" };
    assert.equal(sumMetric(m.b, "lanemesh_ejections_total", labels), 1, m.b);
    assert.equal(sumMetric(m.b, "lanemesh_endpoints_ejected", labels), 1, m.b);
  });
});
