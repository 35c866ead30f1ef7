// The gateway's lane matcher: route choice, the seed's five ops, all/any, closed lanes, group order, ratio draws and the fixtures.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadFiles } from "../../../src/config/load.js";
import type { Condition, Lane, LaneGroup, Route, RuleSet } from "../../../src/config/types.js";
import { compileMatcher, NO_ROUTE, RuleCompileError } from "../../../src/lane/rules/matcher.js";
import { requestViewFromMaps } from "../../../src/lane/rules/view.js";

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

function route(
  name: string,
  match: Route["spec"]["match"],
  service = `svc-${name}`,
  gateway = "default",
): Route {
  return {
    apiVersion: "lanemesh.io/v1alpha1",
    kind: "Route",
    metadata: { name },
    spec: { gateway, match, service },
  };
}

function group(name: string, routes: string[], mode: "content" | "ratio" = "content"): LaneGroup {
  return {
    apiVersion: "lanemesh.io/v1alpha1",
    kind: "LaneGroup",
    metadata: { name },
    spec: { entry: { gateway: "default", routes }, apps: ["sc-a", "sc-b", "sc-c"], mode },
  };
}

function lane(name: string, spec: Partial<Lane["spec"]> & { group: string }): Lane {
  return {
    apiVersion: "lanemesh.io/v1alpha1",
    kind: "Lane",
    metadata: { name },
    spec: { tag: name, enabled: true, ...spec },
  };
}

function contentLane(
  name: string,
  conditions: Condition[],
  mode: "all" | "any" = "all",
  enabled = true,
): Lane {
  return lane(name, { group: "mall", enabled, match: { mode, conditions } });
}

const A_ROUTE = route("a-route", { prefix: "/a" }, "sc-a");

function seed(...lanes: Lane[]): RuleSet {
  return { routes: [A_ROUTE], groups: [group("mall", ["a-route"])], lanes };
}

const req = (
  headers: Record<string, string> = {},
  path = "/a",
  extra: { cookies?: Record<string, string>; query?: Record<string, string> } = {},
) => requestViewFromMaps({ path, headers, ...extra });

test("the seed examples: ==, !=, in and regex on the header `name`, and base otherwise", () => {
  const cases: { cond: Condition; headers: Record<string, string>; tag: string | null }[] = [
    {
      cond: { type: "header", name: "canary", op: "==", value: "gray" },
      headers: { canary: "gray" },
      tag: "gray",
    },
    {
      cond: { type: "header", name: "canary", op: "==", value: "gray" },
      headers: { canary: "blue" },
      tag: null,
    },
    {
      cond: { type: "header", name: "name", op: "==", value: "xiaoming" },
      headers: { name: "xiaoming" },
      tag: "gray",
    },
    {
      cond: { type: "header", name: "name", op: "!=", value: "xiaoming" },
      headers: { name: "xiaoming1" },
      tag: "gray",
    },
    {
      cond: { type: "header", name: "name", op: "!=", value: "xiaoming" },
      headers: { name: "xiaoming" },
      tag: null,
    },
    {
      cond: { type: "header", name: "name", op: "in", values: ["xiaoming", "xiaohong"] },
      headers: { name: "xiaohong" },
      tag: "gray",
    },
    {
      cond: { type: "header", name: "name", op: "in", values: ["xiaoming", "xiaohong"] },
      headers: { name: "xiaogang" },
      tag: null,
    },
    {
      cond: { type: "header", name: "name", op: "regex", value: "^[a-zA-Z0-9]{32}$" },
      headers: { name: "1234567890abcdef1234567890ABCDEF" },
      tag: "gray",
    },
    {
      cond: { type: "header", name: "name", op: "regex", value: "^[a-zA-Z0-9]{32}$" },
      headers: { name: "short" },
      tag: null,
    },
  ];
  for (const c of cases) {
    const m = compileMatcher(
      seed(lane("gray", { group: "mall", match: { mode: "all", conditions: [c.cond] } })),
      { gateway: "default" },
    );
    const d = m.match(req(c.headers));
    assert.equal(d.tag, c.tag, `${c.cond.op} ${JSON.stringify(c.headers)}`);
    assert.equal(d.route, "a-route");
    assert.equal(d.service, "sc-a");
    assert.equal(d.lane, c.tag === null ? null : "gray");
    assert.equal(d.group, c.tag === null ? null : "mall");
  }
});

test("a missing key makes every op false, != included", () => {
  const ops: Condition[] = [
    { type: "header", name: "name", op: "==", value: "" },
    { type: "header", name: "name", op: "!=", value: "xiaoming" },
    { type: "header", name: "name", op: "in", values: ["a"] },
    { type: "header", name: "name", op: "percentage", value: 100 },
    { type: "header", name: "name", op: "regex", value: ".*" },
  ];
  for (const cond of ops) {
    const m = compileMatcher(seed(contentLane("gray", [cond])), { gateway: "default" });
    assert.equal(m.match(req({})).tag, null, cond.op);
  }
});

test("header names are case-insensitive; cookie and query names are exact", () => {
  const m = compileMatcher(
    seed(
      contentLane("h", [{ type: "header", name: "X-Canary", op: "==", value: "1" }]),
      contentLane("c", [{ type: "cookie", name: "Lane", op: "==", value: "c" }]),
      contentLane("q", [{ type: "query", name: "lane", op: "==", value: "q" }]),
    ),
    { gateway: "default" },
  );
  assert.equal(m.match(req({ "x-canary": "1" })).tag, "h");
  assert.equal(m.match(req({}, "/a", { cookies: { Lane: "c" } })).tag, "c");
  assert.equal(m.match(req({}, "/a", { cookies: { lane: "c" } })).tag, null);
  assert.equal(m.match(req({}, "/a?lane=q")).tag, "q");
  assert.equal(m.match(req({}, "/a?Lane=q")).tag, null);
});

test("all needs every condition, any needs one", () => {
  const conds: Condition[] = [
    { type: "header", name: "a", op: "==", value: "1" },
    { type: "header", name: "b", op: "==", value: "2" },
  ];
  const all = compileMatcher(seed(contentLane("gray", conds, "all")), { gateway: "default" });
  const any = compileMatcher(seed(contentLane("gray", conds, "any")), { gateway: "default" });
  assert.equal(all.match(req({ a: "1" })).tag, null);
  assert.equal(all.match(req({ a: "1", b: "2" })).tag, "gray");
  assert.equal(any.match(req({ b: "2" })).tag, "gray");
  assert.equal(any.match(req({ a: "x", b: "y" })).tag, null);
});

test("a closed lane (enabled: false) is skipped; the next lane or base takes the request", () => {
  const cond: Condition = { type: "header", name: "canary", op: "==", value: "gray" };
  const closed = compileMatcher(seed(contentLane("gray", [cond], "all", false)), {
    gateway: "default",
  });
  assert.equal(closed.match(req({ canary: "gray" })).tag, null);
  const next = compileMatcher(
    seed(contentLane("gray", [cond], "all", false), contentLane("blue", [cond])),
    { gateway: "default" },
  );
  assert.equal(next.match(req({ canary: "gray" })).tag, "blue");
});

test("first match wins in declared order of groups, then lanes", () => {
  const cond: Condition = { type: "header", name: "canary", op: "in", values: ["x"] };
  const rules: RuleSet = {
    routes: [A_ROUTE],
    groups: [group("first", ["a-route"]), group("second", ["a-route"])],
    lanes: [
      lane("l2", { group: "second", match: { mode: "all", conditions: [cond] } }),
      lane("l1", { group: "first", match: { mode: "all", conditions: [cond] } }),
    ],
  };
  const d = compileMatcher(rules, { gateway: "default" }).match(req({ canary: "x" }));
  assert.equal(d.group, "first");
  assert.equal(d.lane, "l1");
});

test("percentage uses the murmur3 bucket of the key's value", () => {
  const m = compileMatcher(
    seed(contentLane("gray", [{ type: "cookie", name: "uid", op: "percentage", value: 10 }])),
    { gateway: "default" },
  );
  let hit = 0;
  for (let i = 0; i < 10_000; i++)
    if (m.match(req({}, "/a", { cookies: { uid: `user-${i}` } })).tag === "gray") hit++;
  assert.ok(hit > 850 && hit < 1150, `10 % lane took ${hit} of 10000`);
  const zero = compileMatcher(
    seed(contentLane("gray", [{ type: "cookie", name: "uid", op: "percentage", value: 0 }])),
    { gateway: "default" },
  );
  assert.equal(zero.match(req({}, "/a", { cookies: { uid: "anyone" } })).tag, null);
});

test("routes: exact beats prefix, longest prefix wins, prefixes match on segment boundaries", () => {
  const rules: RuleSet = {
    routes: [
      route("root", { prefix: "/" }),
      route("a", { prefix: "/a" }),
      route("a-b", { prefix: "/a/b" }),
      route("a-exact", { exact: "/a/b/c" }),
      route("slash", { prefix: "/s/" }),
      route("other-gw", { prefix: "/o" }, "svc-o", "edge"),
    ],
    groups: [],
    lanes: [],
  };
  const m = compileMatcher(rules, { gateway: "default" });
  const table: [string, string | null][] = [
    ["/a", "a"],
    ["/a/", "a"],
    ["/a/x", "a"],
    ["/ab", "root"],
    ["/a/b", "a-b"],
    ["/a/b/c", "a-exact"],
    ["/a/b/c/d", "a-b"],
    ["/a/bc", "a"],
    ["/s", "root"],
    ["/s/x", "slash"],
    ["/o", "root"],
    ["/", "root"],
  ];
  for (const [path, want] of table) assert.equal(m.match(req({}, path)).route, want, path);
  const noRoot = compileMatcher(
    { ...rules, routes: rules.routes.slice(1) },
    { gateway: "default" },
  );
  assert.deepEqual(noRoot.match(req({}, "/zzz")), NO_ROUTE);
  assert.equal(compileMatcher(rules, { gateway: "edge" }).match(req({}, "/o/1")).service, "svc-o");
});

test("lanes only apply to the entry routes of their group", () => {
  const rules: RuleSet = {
    routes: [A_ROUTE, route("b-route", { prefix: "/b" }, "sc-b")],
    groups: [group("mall", ["a-route"])],
    lanes: [contentLane("gray", [{ type: "header", name: "canary", op: "==", value: "gray" }])],
  };
  const m = compileMatcher(rules, { gateway: "default" });
  assert.equal(m.match(req({ canary: "gray" }, "/a")).tag, "gray");
  const b = m.match(req({ canary: "gray" }, "/b"));
  assert.equal(b.route, "b-route");
  assert.equal(b.tag, null);
});

test("ratio: one draw against cumulative weights, weights[route] over weight, remainder to base", () => {
  const rules: RuleSet = {
    routes: [A_ROUTE, route("b-route", { prefix: "/b" }, "sc-b")],
    groups: [group("g1", ["a-route", "b-route"], "ratio"), group("g2", ["a-route"], "ratio")],
    lanes: [
      lane("l30", { group: "g1", weight: 30, weights: { "b-route": 5 } }),
      lane("l-closed", { group: "g1", weight: 10, enabled: false }),
      lane("l20", { group: "g2", weight: 20 }),
    ],
  };
  let r = 0;
  let draws = 0;
  const m = compileMatcher(rules, {
    gateway: "default",
    random: () => {
      draws++;
      return r;
    },
  });
  const table: [string, number, string | null][] = [
    ["/a", 0, "l30"],
    ["/a", 0.2999, "l30"],
    ["/a", 0.3, "l20"], // the closed lane's 10 % goes to base, not to the next lane
    ["/a", 0.4999, "l20"],
    ["/a", 0.5, null],
    ["/a", 0.9999, null],
    ["/b", 0.04, "l30"],
    ["/b", 0.05, null],
  ];
  for (const [path, value, want] of table) {
    r = value;
    assert.equal(m.match(req({}, path)).tag, want, `${path} r=${value}`);
  }
  assert.equal(draws, table.length, "one draw per request");
});

test("content lanes are evaluated before the ratio draw; no draw when a content lane matched", () => {
  const rules: RuleSet = {
    routes: [A_ROUTE],
    groups: [group("ratio", ["a-route"], "ratio"), group("mall", ["a-route"])],
    lanes: [
      lane("r", { group: "ratio", weight: 100 }),
      contentLane("c", [{ type: "header", name: "canary", op: "==", value: "c" }]),
    ],
  };
  let draws = 0;
  const m = compileMatcher(rules, {
    gateway: "default",
    random: () => {
      draws++;
      return 0.5;
    },
  });
  assert.equal(m.match(req({ canary: "c" })).tag, "c");
  assert.equal(draws, 0);
  assert.equal(m.match(req({})).tag, "r");
  assert.equal(draws, 1);
});

test("conditions shared by many lanes are read once per request and never leak into the next", () => {
  const shared: Condition[] = [
    { type: "header", name: "x-env", op: "==", value: "prod" },
    { type: "header", name: "x-user", op: "regex", value: "^u-[0-9]+$" },
    { type: "cookie", name: "uid", op: "percentage", value: 50 },
  ];
  const lanes = [0, 1, 2].map((i) =>
    contentLane(`l${i}`, [...shared, { type: "header", name: "X-Lane", op: "==", value: `l${i}` }]),
  );
  const m = compileMatcher(seed(...lanes), { gateway: "default" });
  let reads = 0;
  const counting = (headers: Record<string, string>, uid: string) => {
    const inner = req(headers, "/a", { cookies: { uid } });
    return {
      method: inner.method,
      path: inner.path,
      header: (n: string) => {
        reads++;
        return inner.header(n);
      },
      cookie: (n: string) => inner.cookie(n),
      query: (n: string) => inner.query(n),
    };
  };
  // Find one uid inside the 50 % cohort and one outside it.
  const uids = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const inUid = uids.find(
    (u) =>
      m.match(
        req({ "x-env": "prod", "x-user": "u-1", "x-lane": "l0" }, "/a", { cookies: { uid: u } }),
      ).tag === "l0",
  );
  const outUid = uids.find(
    (u) =>
      m.match(
        req({ "x-env": "prod", "x-user": "u-1", "x-lane": "l0" }, "/a", { cookies: { uid: u } }),
      ).tag === null,
  );
  assert.ok(inUid !== undefined && outUid !== undefined);
  const sequence: [Record<string, string>, string, string | null][] = [
    [{ "x-env": "prod", "x-user": "u-1", "x-lane": "l2" }, inUid, "l2"],
    [{ "x-env": "dev", "x-user": "u-1", "x-lane": "l2" }, inUid, null],
    [{ "x-env": "prod", "x-user": "guest", "x-lane": "l2" }, inUid, null],
    [{ "x-env": "prod", "x-user": "u-2", "x-lane": "l1" }, inUid, "l1"],
    [{ "x-env": "prod", "x-user": "u-2", "x-lane": "l1" }, outUid, null],
    [{ "x-env": "prod", "x-user": "u-2", "x-lane": "l1" }, inUid, "l1"],
  ];
  for (const [headers, uid, want] of sequence) {
    reads = 0;
    assert.equal(m.match(counting(headers, uid)).tag, want, JSON.stringify({ headers, uid }));
    assert.ok(reads <= 3, `each header read at most once per request, got ${reads}`);
  }
});

test("no random draw on routes without ratio lanes", () => {
  const m = compileMatcher(seed(), {
    gateway: "default",
    random: () => {
      throw new Error("must not draw");
    },
  });
  assert.equal(m.match(req({})).tag, null);
});

test("decisions are shared frozen objects (no allocation per request)", () => {
  const m = compileMatcher(
    seed(contentLane("gray", [{ type: "header", name: "canary", op: "==", value: "gray" }])),
    { gateway: "default" },
  );
  const a = m.match(req({ canary: "gray" }));
  assert.equal(a, m.match(req({ canary: "gray" })));
  assert.ok(Object.isFrozen(a));
  assert.ok(Object.isFrozen(m.match(req({}))));
});

test("a rule validation would refuse throws RuleCompileError at compile time", () => {
  const bad = seed(
    contentLane("gray", [{ type: "header", name: "n", op: "regex", value: "(a)\\1" }]),
  );
  assert.throws(
    () => compileMatcher(bad, { gateway: "default" }),
    (e: unknown) =>
      e instanceof RuleCompileError &&
      e.code === "LANEMESH_BAD_RULE" &&
      e.where.includes("Lane/gray: spec.match.conditions[0].value"),
  );
  const closed = seed(
    contentLane(
      "gray",
      [{ type: "header", name: "n", op: "regex", value: "(a)\\1" }],
      "all",
      false,
    ),
  );
  assert.doesNotThrow(
    () => compileMatcher(closed, { gateway: "default" }),
    "closed lanes are not compiled",
  );
});

test("fixtures: seed-content routes canary: gray to the gray lane", () => {
  const v = loadFiles([fixture("seed-content.yaml")]);
  assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
  if (!v.ok) return;
  const m = compileMatcher(v.rules, { gateway: "default" });
  assert.deepEqual(
    { ...m.match(req({ canary: "gray" })) },
    { route: "a-route", service: "sc-a", group: "mall", lane: "gray", tag: "gray" },
  );
  assert.deepEqual(
    { ...m.match(req({})) },
    { route: "a-route", service: "sc-a", group: null, lane: null, tag: null },
  );
  assert.equal(m.match(req({ canary: "gray" }, "/b")).route, null);
  const closed = {
    ...v.rules,
    lanes: v.rules.lanes.map((l) => ({ ...l, spec: { ...l.spec, enabled: false } })),
  };
  assert.equal(
    compileMatcher(closed, { gateway: "default" }).match(req({ canary: "gray" })).tag,
    null,
  );
});

test("fixtures: seed-ratio sends 30 % of a-route to gray", () => {
  const v = loadFiles([fixture("seed-ratio.yaml")]);
  assert.ok(v.ok);
  if (!v.ok) return;
  let i = 0;
  const n = 1000;
  // An even sweep of [0, 1): exactly 30 % must land in the lane.
  const m = compileMatcher(v.rules, { gateway: "default", random: () => (i++ % n) / n });
  let gray = 0;
  for (let k = 0; k < n; k++) if (m.match(req({})).tag === "gray") gray++;
  assert.equal(gray, 300);
});
