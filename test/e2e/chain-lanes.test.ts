// The seed scenario as real processes on loopback (issue 3, must-show 1-3): the lane tag follows gateway → A → B → C.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  APP_KEYS,
  type AppKey,
  type Scenario,
  scenarioRules,
  startScenario,
  sumMetric,
} from "../helpers/procs.js";

const IP = String.raw`127\.0\.0\.1`;

describe("chain: gateway → A → B → C, rules and endpoints from files", { timeout: 180_000 }, () => {
  let s: Scenario;
  before(async () => {
    s = await startScenario({ forward: "traceparent" });
  });
  after(async () => {
    await s?.close();
  });

  /** The exact chain, each hop at its own demo app's port. */
  const chain = (a: "a" | "ag", c: "c" | "cg"): RegExp => {
    const p = s.ports;
    const name = (k: string, n: string) => (k.endsWith("g") ? `${n}gray` : n);
    return new RegExp(
      `^${name(a, "A")}\\[${IP}:${p[a].app}\\]\\[config=base\\] -> B\\[${IP}:${p.b.app}\\] -> ${name(c, "C")}\\[${IP}:${p[c].app}\\]\\n?$`,
    );
  };

  async function expectChains(mode: string): Promise<void> {
    const base = await s.get("/a");
    assert.equal(base.status, 200, `${mode}: ${base.body}\n${s.procs.dump()}`);
    assert.match(base.body, chain("a", "c"), mode);
    const gray = await s.get("/a", { canary: "gray" });
    assert.equal(gray.status, 200, `${mode}: ${gray.body}\n${s.procs.dump()}`);
    assert.match(gray.body, chain("ag", "cg"), mode);
  }

  it("GET /a → A -> B -> C; with canary: gray → Agray -> B -> Cgray (apps forward only traceparent)", async () => {
    await expectChains("traceparent");
  });

  it("the same chain when the apps forward only baggage", async () => {
    await s.setForward("baggage");
    await expectChains("baggage");
  });

  it("the same chain when the apps forward only the tag header", async () => {
    await s.setForward("tag-header:x-lane-tag");
    await expectChains("tag header");
  });

  it("untagged traffic never reaches a gray instance (responses and metrics)", async () => {
    await s.setForward("traceparent");
    const grayServed = async (): Promise<number> => {
      const m = await s.metrics();
      return (
        APP_KEYS.reduce(
          (n, k) => n + sumMetric(m[k], "lanemesh_requests_total", { tag: "gray" }),
          0,
        ) + sumMetric(m.gateway, "lanemesh_requests_total", { tag: "gray" })
      );
    };
    const before = await grayServed();
    const bodies: string[] = [];
    // 200 untagged requests, 8 at a time; some spoof the tag, which the gateway must strip.
    for (let i = 0; i < 25; i++) {
      const batch = await Promise.all(
        Array.from({ length: 8 }, (_, j) =>
          s.get("/a", j % 4 === 0 ? { "x-lane-tag": "gray", baggage: "lane=gray" } : {}),
        ),
      );
      for (const r of batch) {
        assert.equal(r.status, 200, r.body);
        bodies.push(r.body);
      }
    }
    assert.equal(bodies.length, 200);
    for (const b of bodies) assert.match(b, chain("a", "c"));
    assert.equal(await grayServed(), before, "a gray instance served untagged traffic");
    // The metric does move when gray traffic is sent (so the check above can fail).
    for (let i = 0; i < 5; i++)
      assert.match((await s.get("/a", { canary: "gray" })).body, chain("ag", "cg"));
    assert.ok((await grayServed()) > before);
  });

  it("/metrics: requests by service and tag agree with the requests sent; endpoints per tag", async () => {
    await s.setForward("traceparent");
    const m0 = await s.metrics();
    const count = (m: string, labels: Record<string, string>): number =>
      sumMetric(m, "lanemesh_requests_total", labels);
    for (let i = 0; i < 7; i++) assert.equal((await s.get("/a", { canary: "gray" })).status, 200);
    for (let i = 0; i < 11; i++) assert.equal((await s.get("/a")).status, 200);
    const m1 = await s.metrics();
    const delta = (k: "gateway" | AppKey, labels: Record<string, string>): number =>
      count(m1[k], labels) - count(m0[k], labels);
    const gw = { direction: "gateway", service: "sc-a", code: "200" };
    assert.equal(delta("gateway", { ...gw, tag: "gray" }), 7);
    assert.equal(delta("gateway", { ...gw, tag: "base" }), 11);
    assert.equal(delta("ag", { direction: "inbound", service: "sc-a", tag: "gray" }), 7);
    assert.equal(delta("a", { direction: "inbound", service: "sc-a", tag: "base" }), 11);
    assert.equal(delta("b", { direction: "inbound", service: "sc-b", tag: "base" }), 18);
    assert.equal(delta("b", { direction: "outbound", service: "sc-c", tag: "gray" }), 7);
    assert.equal(delta("b", { direction: "outbound", service: "sc-c", tag: "base" }), 11);
    assert.equal(delta("cg", { direction: "inbound", service: "sc-c", tag: "gray" }), 7);
    assert.equal(delta("c", { direction: "inbound", service: "sc-c", tag: "base" }), 11);
    // Every proxy knows the five instances: one base and one gray of sc-a and sc-c, one base sc-b.
    for (const k of ["gateway", ...APP_KEYS] as const) {
      const gauge = (service: string, tag: string): number =>
        sumMetric(m1[k], "lanemesh_endpoints", { service, tag });
      assert.deepEqual(
        [
          gauge("sc-a", "base"),
          gauge("sc-a", "gray"),
          gauge("sc-b", "base"),
          gauge("sc-b", "gray"),
        ],
        [1, 1, 1, 0],
        k,
      );
      assert.deepEqual([gauge("sc-c", "base"), gauge("sc-c", "gray")], [1, 1], k);
    }
  });

  it("a closed lane sends everything to base", async () => {
    await s.setRules(scenarioRules({ enabled: false }));
    for (let i = 0; i < 20; i++) {
      const r = await s.get("/a", { canary: "gray" });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, chain("a", "c"));
    }
  });

  it("a lane whose apps leave out C sends gray traffic to base C", async () => {
    await s.setRules(scenarioRules({ apps: ["sc-a", "sc-b"] }));
    for (let i = 0; i < 20; i++) {
      const r = await s.get("/a", { canary: "gray" });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, chain("ag", "c"));
    }
    const m = await s.metrics();
    assert.ok(
      sumMetric(m.b, "lanemesh_fallback_total", { service: "sc-c", tag: "gray" }) >= 20,
      `B's sidecar did not count the fallbacks:\n${m.b}`,
    );
  });
});
