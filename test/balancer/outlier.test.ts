// Table tests of passive outlier detection (counts, ejection lengths, guards, returns) and of the picker skipping ejected instances; fake clock, no I/O.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_OUTLIER_POLICY,
  OutlierDetector,
  type OutlierPolicy,
  type OutlierTarget,
  outlierKey,
} from "../../src/balancer/outlier.js";
import { buildPickers } from "../../src/balancer/picker.js";
import { API_VERSION, type Endpoint, type RuleSet } from "../../src/config/types.js";
import { endpoint } from "../helpers/mesh.js";

const ep = endpoint;

const POLICY: OutlierPolicy = {
  consecutiveErrors: 3,
  baseEjectionMs: 1000,
  maxEjectionMs: 2500,
  maxEjectionPercent: 50,
};

function detector(targets: OutlierTarget[], policy: OutlierPolicy = POLICY) {
  const clock = { t: 10_000 };
  const d = new OutlierDetector(policy, () => clock.t);
  d.retain(targets);
  return { d, clock };
}

function fail(d: OutlierDetector, t: OutlierTarget, n: number) {
  let last = null;
  for (let i = 0; i < n; i++) last = d.failure(t);
  return last;
}

describe("outlier detection", () => {
  const base1 = ep("svc", 1);
  const base2 = ep("svc", 2);
  const gray = ep("svc", 3, "gray");

  it("ejects after N failures in a row, not before", () => {
    const { d, clock } = detector([base1, base2, gray]);
    assert.equal(fail(d, gray, 2), null);
    const e = d.failure(gray);
    assert.ok(e, "third failure ejects");
    assert.deepEqual(
      { ...e },
      {
        service: "svc",
        address: "127.0.0.1",
        port: 3,
        tag: "gray",
        count: 1,
        until: clock.t + 1000,
      },
    );
    assert.deepEqual([...d.ejectedKeys()], [outlierKey(gray)]);
    assert.equal(d.nextReturn(), clock.t + 1000);
  });

  it("a success in between resets the count", () => {
    const { d } = detector([base1, base2, gray]);
    fail(d, gray, 2);
    d.success(gray);
    assert.equal(fail(d, gray, 2), null);
    assert.ok(d.failure(gray));
  });

  it("failures of one instance do not count for another", () => {
    const { d } = detector([base1, base2, gray]);
    fail(d, base1, 2);
    fail(d, base2, 2);
    assert.equal(d.ejectedKeys().size, 0);
  });

  it("returns on time; the n-th ejection in a row lasts n times the base, capped", () => {
    const { d, clock } = detector([base1, base2, gray]);
    const lengths: number[] = [];
    for (let round = 0; round < 4; round++) {
      const e = fail(d, gray, 3);
      assert.ok(e, `round ${round} ejects`);
      lengths.push(e.until - clock.t);
      clock.t = e.until - 1;
      assert.deepEqual(d.expire(), [], "not before its time");
      clock.t = e.until;
      const back = d.expire();
      assert.equal(back.length, 1);
      assert.equal(d.ejectedKeys().size, 0);
      assert.equal(d.nextReturn(), null);
    }
    assert.deepEqual(lengths, [1000, 2000, 2500, 2500]);
  });

  it("a success after the return clears the history: the next ejection is a first one", () => {
    const { d, clock } = detector([base1, base2, gray]);
    let e = fail(d, gray, 3);
    clock.t = (e?.until ?? 0) + 1;
    d.expire();
    d.success(gray);
    e = fail(d, gray, 3);
    assert.equal(e?.count, 1);
    assert.equal((e?.until ?? 0) - clock.t, 1000);
  });

  it("answers of attempts made before the ejection change nothing while out", () => {
    const { d } = detector([base1, base2, gray]);
    const e = fail(d, gray, 3);
    assert.equal(fail(d, gray, 10), null);
    d.success(gray);
    assert.deepEqual(d.ejections(), [e]);
  });

  it("never ejects the last base instance", () => {
    const { d } = detector([base1, gray]);
    assert.equal(fail(d, base1, 10), null);
    assert.equal(d.ejectedKeys().size, 0);
  });

  it("never ejects a canary when no base instance would be left to fall back to", () => {
    const { d } = detector([gray, ep("svc", 4, "gray")]);
    assert.equal(fail(d, gray, 10), null);
  });

  it("ejects the single canary beside a single base (one may always be out)", () => {
    const { d } = detector([base1, gray]);
    assert.ok(fail(d, gray, 3));
  });

  it("caps ejections at the percentage of the service, at least one", () => {
    const four = [ep("svc", 1), ep("svc", 2), ep("svc", 3), ep("svc", 4)];
    const { d } = detector(four, { ...POLICY, maxEjectionPercent: 50 });
    assert.ok(fail(d, four[0] as Endpoint, 3));
    assert.ok(fail(d, four[1] as Endpoint, 3));
    assert.equal(fail(d, four[2] as Endpoint, 3), null, "third of four is over 50 %");
    const low = detector(four, { ...POLICY, maxEjectionPercent: 10 });
    assert.ok(fail(low.d, four[0] as Endpoint, 3), "10 % of 4 still allows one");
    assert.equal(fail(low.d, four[1] as Endpoint, 3), null);
  });

  it("a failure the guard refused ejects at the next failure once allowed", () => {
    const { d, clock } = detector([base1, base2, gray]);
    const first = fail(d, base1, 3);
    assert.ok(first);
    assert.equal(fail(d, base2, 3), null, "last base stays in");
    clock.t = first.until;
    d.expire();
    d.success(base1);
    assert.ok(d.failure(base2), "base1 is back: base2 goes at its next failure");
  });

  it("guards count per service", () => {
    const other = ep("other", 9);
    const { d } = detector([base1, base2, gray, other, ep("other", 10)]);
    assert.ok(fail(d, gray, 3));
    assert.ok(fail(d, other, 3));
  });

  it("forgets instances that left the config; one ejected is put back", () => {
    const { d } = detector([base1, base2, gray]);
    assert.ok(fail(d, gray, 3));
    assert.equal(d.retain([base1, base2]), true);
    assert.equal(d.ejectedKeys().size, 0);
    assert.equal(d.retain([base1, base2, gray]), false);
    assert.equal(fail(d, gray, 2), null, "it starts clean");
  });

  it("does nothing for an instance that is not in the config, or with detection off", () => {
    const { d } = detector([base1, base2]);
    assert.equal(fail(d, gray, 10), null);
    const off = detector([base1, base2, gray], { ...POLICY, consecutiveErrors: 0 });
    assert.equal(off.d.enabled, false);
    assert.equal(fail(off.d, gray, 10), null);
  });

  it("unhealthy instances do not count as base to fall back to", () => {
    const { d } = detector([base1, { ...base2, healthy: false }, gray]);
    assert.equal(fail(d, base1, 10), null);
  });

  it("the defaults: 5 failures, 30 s, at most 300 s, 50 %", () => {
    assert.deepEqual(
      { ...DEFAULT_OUTLIER_POLICY },
      {
        consecutiveErrors: 5,
        baseEjectionMs: 30_000,
        maxEjectionMs: 300_000,
        maxEjectionPercent: 50,
      },
    );
  });
});

describe("picker with ejected instances", () => {
  const rules: RuleSet = {
    routes: [],
    groups: [
      {
        apiVersion: API_VERSION,
        kind: "LaneGroup",
        metadata: { name: "g" },
        spec: { entry: { gateway: "default", routes: [] }, apps: ["svc"], mode: "content" },
      },
    ],
    lanes: [
      {
        apiVersion: API_VERSION,
        kind: "Lane",
        metadata: { name: "gray" },
        spec: { group: "g", tag: "gray", enabled: true },
      },
    ],
  };
  const b1 = ep("svc", 1);
  const b2 = ep("svc", 2);
  const g1 = ep("svc", 3, "gray");
  const g2 = ep("svc", 4, "gray");

  it("skips an ejected canary: same tag elsewhere, else base with no-tagged-instance", () => {
    const one = buildPickers([b1, b2, g1, g2], rules, { ejected: new Set([outlierKey(g1)]) });
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = one.get("svc")?.pick("gray");
      assert.ok(r?.ok);
      ports.add(r.endpoint.port);
      assert.equal(r.fallback, false);
    }
    assert.deepEqual([...ports], [4]);
    const both = buildPickers([b1, b2, g1, g2], rules, {
      ejected: new Set([outlierKey(g1), outlierKey(g2)]),
    });
    const r = both.get("svc")?.pick("gray");
    assert.ok(r?.ok);
    assert.equal(r.fallback, true);
    assert.equal(r.reason, "no-tagged-instance");
    assert.ok([1, 2].includes(r.endpoint.port));
  });

  it("skips an ejected base instance for base requests", () => {
    const t = buildPickers([b1, b2, g1], rules, { ejected: new Set([outlierKey(b1)]) });
    for (let i = 0; i < 10; i++) {
      const r = t.get("svc")?.pick(null);
      assert.ok(r?.ok);
      assert.equal(r.endpoint.port, 2);
    }
  });

  it("keys are per service: the same address:port ejected in another service stays in", () => {
    const t = buildPickers([b1, b2, g1], rules, {
      ejected: new Set([outlierKey({ ...g1, service: "other" })]),
    });
    const r = t.get("svc")?.pick("gray");
    assert.ok(r?.ok);
    assert.equal(r.endpoint.port, 3);
  });
});
