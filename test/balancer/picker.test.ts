// Table tests of the picker snapshot (same tag, base fallback, weights, exclude, errors); no I/O.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPickers, type PickResult } from "../../src/balancer/picker.js";
import { WeightedRing } from "../../src/balancer/weighted.js";
import {
  API_VERSION,
  type Endpoint,
  type Lane,
  type LaneGroup,
  type RuleSet,
} from "../../src/config/types.js";

function ep(
  service: string,
  port: number,
  tag: string | null = null,
  more: Partial<Endpoint> = {},
): Endpoint {
  return {
    service,
    address: "10.0.0.1",
    port,
    tag,
    weight: 100,
    healthy: true,
    metadata: {},
    ...more,
  };
}

function group(name: string, apps: string[]): LaneGroup {
  return {
    apiVersion: API_VERSION,
    kind: "LaneGroup",
    metadata: { name },
    spec: { entry: { gateway: "default", routes: [] }, apps, mode: "content" },
  };
}

function lane(name: string, grp: string, tag: string, more: Partial<Lane["spec"]> = {}): Lane {
  return {
    apiVersion: API_VERSION,
    kind: "Lane",
    metadata: { name },
    spec: { group: grp, tag, enabled: true, ...more },
  };
}

const NO_RULES: RuleSet = { routes: [], groups: [], lanes: [] };

/** The seed's mall: gray takes A and C (and a service with gray instances only), blue takes everyone, red is closed. */
const MALL: RuleSet = {
  routes: [],
  groups: [group("mall", ["sc-a", "sc-b", "sc-c", "sc-gray-only", "sc-down"])],
  lanes: [
    lane("gray", "mall", "gray", { apps: ["sc-a", "sc-c", "sc-gray-only"] }),
    lane("blue", "mall", "blue"),
    lane("red", "mall", "red", { enabled: false }),
  ],
};

const MALL_ENDPOINTS: Endpoint[] = [
  ep("sc-a", 1),
  ep("sc-a", 2, "gray"),
  ep("sc-a", 3, "gray"),
  ep("sc-a", 4, "blue", { weight: 0 }),
  ep("sc-b", 11),
  ep("sc-b", 12, "gray"),
  ep("sc-c", 21),
  ep("sc-c", 22),
  ep("sc-c", 23, "gray"),
  ep("sc-c", 24, "red"),
  ep("sc-c", 25, "blue", { healthy: false }),
  ep("sc-gray-only", 31, "gray"),
  ep("sc-down", 41, null, { healthy: false }),
];

type Want =
  | { ports: number[]; fallback: false }
  | { ports: number[]; fallback: true; reason: string }
  | { code: string };

/** Served by one of `ports`, no fallback. */
const to = (...ports: number[]): Want => ({ ports, fallback: false });
/** Fell back to base, one of `ports`, for `reason`. */
const fb = (reason: string, ...ports: number[]): Want => ({ ports, fallback: true, reason });
const err = (code: string): Want => ({ code });

interface Extra {
  rules?: RuleSet;
  endpoints?: Endpoint[];
  /** Port of the endpoint to exclude (same service, same address). */
  exclude?: number;
}

/** [name, service, tag, want, extra] */
const cases: [string, string, string | null, Want, Extra?][] = [
  ["same tag preferred", "sc-a", "gray", to(2, 3)],
  ["untagged gets base only", "sc-a", null, to(1)],
  ["empty tag is untagged", "sc-a", "", to(1)],
  ["untagged, two bases", "sc-c", null, to(21, 22)],
  [
    "not in lane (lane.apps leaves it out), even with a gray instance",
    "sc-b",
    "gray",
    fb("not-in-lane", 11),
  ],
  ["lane closed", "sc-c", "red", fb("lane-closed", 21, 22)],
  ["takes part but no instance with the tag", "sc-b", "blue", fb("no-tagged-instance", 11)],
  ["unhealthy tagged instance skipped", "sc-c", "blue", fb("no-tagged-instance", 21, 22)],
  ["drained (weight 0) tagged instance skipped", "sc-a", "blue", fb("no-tagged-instance", 1)],
  ["unknown tag", "sc-a", "purple", fb("unknown-tag", 1)],
  [
    "no lanes at all (file mode): tag unknown",
    "sc-a",
    "gray",
    fb("unknown-tag", 1),
    { rules: NO_RULES },
  ],
  [
    "tagged instances only: untagged errors",
    "sc-gray-only",
    null,
    err("LANEMESH_NO_BASE_ENDPOINT"),
  ],
  ["tagged instances only: its tag is served", "sc-gray-only", "gray", to(31)],
  [
    "tagged instances only: other tag errors",
    "sc-gray-only",
    "blue",
    err("LANEMESH_NO_BASE_ENDPOINT"),
  ],
  ["no healthy endpoint", "sc-down", null, err("LANEMESH_NO_ENDPOINT")],
  ["no healthy endpoint, tagged", "sc-down", "blue", err("LANEMESH_NO_ENDPOINT")],
  ["exclude one of two tagged: the other", "sc-a", "gray", to(3), { exclude: 2 }],
  [
    "exclude the only tagged: base",
    "sc-c",
    "gray",
    fb("no-tagged-instance", 21, 22),
    { exclude: 23 },
  ],
  ["exclude one of two bases", "sc-c", null, to(22), { exclude: 21 }],
  [
    "exclude the only base, tagged left",
    "sc-a",
    null,
    err("LANEMESH_NO_BASE_ENDPOINT"),
    { exclude: 1 },
  ],
  [
    "exclude the only base, nothing else",
    "sc-b",
    "blue",
    err("LANEMESH_NO_ENDPOINT"),
    { exclude: 11, endpoints: [ep("sc-b", 11)] },
  ],
  [
    "exclude the only tagged, no base",
    "sc-gray-only",
    "gray",
    err("LANEMESH_NO_BASE_ENDPOINT"),
    { exclude: 31 },
  ],
];

function check(result: PickResult, want: Want, service: string): void {
  if ("code" in want) {
    assert.deepEqual(result, { ok: false, code: want.code, service });
    return;
  }
  assert.equal(result.ok, true);
  if (!result.ok) return;
  assert.ok(want.ports.includes(result.endpoint.port), `port ${result.endpoint.port}`);
  assert.equal(result.endpoint.service, service);
  assert.equal(result.fallback, want.fallback);
  assert.equal(result.reason, want.fallback ? want.reason : undefined);
}

describe("picker: lane semantics", () => {
  for (const [name, service, tag, want, extra = {}] of cases) {
    it(name, () => {
      const table = buildPickers(extra.endpoints ?? MALL_ENDPOINTS, extra.rules ?? MALL, {
        random: () => 0,
      });
      const picker = table.get(service);
      assert.ok(picker, `picker for ${service}`);
      const exclude = extra.exclude === undefined ? undefined : ep(service, extra.exclude);
      const seen = new Set<number>();
      for (let i = 0; i < 50; i++) {
        const r = picker.pick(tag, exclude);
        check(r, want, service);
        if (r.ok) seen.add(r.endpoint.port);
      }
      if (!("code" in want))
        assert.deepEqual(
          [...seen].sort((x, y) => x - y),
          want.ports,
        );
    });
  }

  it("a canary instance never receives untagged traffic over many picks", () => {
    const endpoints = [ep("s", 1), ep("s", 2, "gray", { weight: 1000 }), ep("s", 3, "gray")];
    const picker = buildPickers(endpoints, MALL).get("s");
    assert.ok(picker);
    for (let i = 0; i < 5000; i++) {
      const r = picker.pick(null);
      assert.ok(r.ok && r.endpoint.tag === null && !r.fallback);
    }
  });

  it("a tag in two groups: any enabled lane that includes the service is enough", () => {
    const rules: RuleSet = {
      routes: [],
      groups: [group("mall", ["sc-a", "sc-b"]), group("shop", ["sc-c", "sc-d"])],
      lanes: [
        lane("mall-gray", "mall", "gray", { apps: ["sc-a"] }),
        lane("shop-gray", "shop", "gray"),
        lane("mall-blue", "mall", "blue", { enabled: false }),
        lane("shop-blue", "shop", "blue", { apps: ["sc-d"] }),
      ],
    };
    const endpoints = ["sc-a", "sc-b", "sc-c", "sc-d"].flatMap((s, i) => [
      ep(s, 10 * i),
      ep(s, 10 * i + 1, "gray"),
      ep(s, 10 * i + 2, "blue"),
    ]);
    const table = buildPickers(endpoints, rules);
    // [service, tag, reason]; reason undefined = served by the tag.
    const want: [string, string, string | undefined][] = [
      ["sc-a", "gray", undefined],
      ["sc-b", "gray", "not-in-lane"],
      ["sc-c", "gray", undefined],
      ["sc-d", "gray", undefined],
      // blue is closed in mall (a, b take part there) and enabled in shop for d only.
      ["sc-a", "blue", "lane-closed"],
      ["sc-b", "blue", "lane-closed"],
      ["sc-c", "blue", "not-in-lane"],
      ["sc-d", "blue", undefined],
    ];
    for (const [service, tag, reason] of want) {
      const r = table.get(service)?.pick(tag);
      assert.ok(r?.ok, `${service} ${tag}`);
      assert.equal(r.fallback, reason !== undefined, `${service} ${tag}`);
      assert.equal(r.reason, reason, `${service} ${tag}`);
      assert.equal(r.endpoint.tag, reason === undefined ? tag : null, `${service} ${tag}`);
    }
  });

  it("a lane with no apps and no known group takes no service", () => {
    const rules: RuleSet = { routes: [], groups: [], lanes: [lane("x", "missing", "gray")] };
    const r = buildPickers([ep("s", 1), ep("s", 2, "gray")], rules)
      .get("s")
      ?.pick("gray");
    assert.ok(r?.ok);
    assert.equal(r.reason, "not-in-lane");
  });
});

function share(picks: number[], port: number): number {
  return picks.filter((p) => p === port).length / picks.length;
}

function longestRun(picks: number[], port: number): number {
  let best = 0;
  let run = 0;
  for (const p of picks) {
    run = p === port ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

describe("picker: load balancing", () => {
  const weightCases: { name: string; weights: number[]; random: number }[] = [
    { name: "1:3", weights: [1, 3], random: 0 },
    { name: "1:3, other start", weights: [1, 3], random: 0.7 },
    { name: "fractions 0.5:1.5", weights: [0.5, 1.5], random: 0.3 },
    { name: "5:1:1", weights: [5, 1, 1], random: 0.5 },
    { name: "equal 100:100:100:100", weights: [100, 100, 100, 100], random: 0.9 },
  ];
  for (const c of weightCases) {
    for (const tag of [null, "gray"]) {
      it(`weights ${c.name} (${tag ?? "base"}) over 10,000 picks, smoothly`, () => {
        const endpoints = c.weights.map((w, i) => ep("sc-a", i + 1, tag, { weight: w }));
        endpoints.push(ep("sc-a", 99, tag === null ? "gray" : null));
        const picker = buildPickers(endpoints, MALL, { random: () => c.random }).get("sc-a");
        assert.ok(picker);
        const picks: number[] = [];
        for (let i = 0; i < 10_000; i++) {
          const r = picker.pick(tag);
          assert.ok(r.ok && !r.fallback);
          picks.push(r.endpoint.port);
        }
        const total = c.weights.reduce((a, b) => a + b, 0);
        c.weights.forEach((w, i) => {
          const got = share(picks, i + 1);
          assert.ok(Math.abs(got - w / total) < 0.01, `port ${i + 1}: ${got} vs ${w / total}`);
          // Smooth: an instance with share s never runs longer than ceil(s / (1 - s)) + 1 picks.
          const s = w / total;
          const bound = s === 1 ? picks.length : Math.ceil(s / (1 - s)) + 1;
          assert.ok(longestRun(picks, i + 1) <= bound, `run of port ${i + 1}`);
        });
      });
    }
  }

  it("1:3 gives the nginx sequence b a b b", () => {
    const picker = buildPickers(
      [ep("s", 1, null, { weight: 1 }), ep("s", 2, null, { weight: 3 })],
      NO_RULES,
      {
        random: () => 0,
      },
    ).get("s");
    const seq = Array.from({ length: 8 }, () => {
      const r = picker?.pick(null);
      return r?.ok ? r.endpoint.port : -1;
    });
    assert.deepEqual(seq, [2, 1, 2, 2, 2, 1, 2, 2]);
  });

  it("the starting offset comes from opts.random", () => {
    const endpoints = [1, 2, 3, 4].map((p) => ep("s", p));
    const first = (x: number) => {
      const r = buildPickers(endpoints, NO_RULES, { random: () => x })
        .get("s")
        ?.pick(null);
      return r?.ok ? r.endpoint.port : -1;
    };
    assert.deepEqual([0, 0.25, 0.5, 0.99].map(first), [1, 2, 3, 4]);
  });

  it("weight 0 is drained: never picked, even when nothing else is left", () => {
    const endpoints = [
      ep("s", 1),
      ep("s", 2, null, { weight: 0 }),
      ep("t", 3, null, { weight: 0 }),
    ];
    const table = buildPickers(endpoints, NO_RULES);
    for (let i = 0; i < 100; i++) {
      const r = table.get("s")?.pick(null);
      assert.ok(r?.ok && r.endpoint.port === 1);
    }
    assert.deepEqual(table.get("t")?.pick(null), {
      ok: false,
      code: "LANEMESH_NO_ENDPOINT",
      service: "t",
    });
  });

  it("exclude on weighted candidates skips only the excluded one", () => {
    const endpoints = [1, 2, 3].map((p) => ep("s", p, null, { weight: p }));
    const picker = buildPickers(endpoints, NO_RULES).get("s");
    const picks: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const r = picker?.pick(null, ep("s", 3));
      assert.ok(r?.ok);
      picks.push(r.endpoint.port);
    }
    assert.ok(Math.abs(share(picks, 1) - 1 / 3) < 0.01);
    assert.ok(Math.abs(share(picks, 2) - 2 / 3) < 0.01);
  });

  it("duplicate address:port counts once", () => {
    const endpoints = [ep("s", 1), ep("s", 1), ep("s", 1), ep("s", 2)];
    const picker = buildPickers(endpoints, NO_RULES).get("s");
    const picks = Array.from({ length: 100 }, () => {
      const r = picker?.pick(null);
      return r?.ok ? r.endpoint.port : -1;
    });
    assert.equal(share(picks, 1), 0.5);
  });

  it("ring with nothing left returns -1", () => {
    assert.equal(new WeightedRing([]).next(), -1);
    const one = new WeightedRing([ep("s", 1)]);
    assert.equal(one.next(ep("s", 1)), -1);
    assert.equal(one.next(ep("s", 2)), 0);
  });
});

describe("picker: table", () => {
  const table = buildPickers(MALL_ENDPOINTS, MALL);

  it("services() lists every service with endpoints, sorted", () => {
    assert.deepEqual([...table.services()], ["sc-a", "sc-b", "sc-c", "sc-down", "sc-gray-only"]);
  });

  it("get() of an unknown service is undefined", () => {
    assert.equal(table.get("sc-z"), undefined);
  });

  it("byAddress finds any endpoint, healthy or not", () => {
    const cases: [string, number, string | undefined][] = [
      ["10.0.0.1", 23, "sc-c"],
      ["10.0.0.1", 41, "sc-down"],
      ["10.0.0.1", 99, undefined],
      ["10.0.0.2", 23, undefined],
    ];
    for (const [address, port, service] of cases) {
      assert.equal(table.byAddress(address, port)?.service, service, `${address}:${port}`);
    }
  });

  it("byAddress prefers the healthy endpoint on a shared address", () => {
    const t = buildPickers([ep("old", 1, null, { healthy: false }), ep("new", 1)], NO_RULES);
    assert.equal(t.byAddress("10.0.0.1", 1)?.service, "new");
  });

  it("results are frozen and reused, not allocated per pick", () => {
    const picker = buildPickers([ep("s", 1)], MALL).get("s");
    const a = picker?.pick("purple");
    const b = picker?.pick("purple");
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
    assert.deepEqual(a, { ok: true, endpoint: ep("s", 1), fallback: true, reason: "unknown-tag" });
  });
});
