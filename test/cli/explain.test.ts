// `lanemesh explain` answers the seed manual's examples as the manual does: the built CLI as a child process, plus the pure core.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { explain, toJson } from "../../src/cli/explain.js";
import { loadFiles, toEndpoint } from "../../src/config/load.js";
import { requestViewFromMaps } from "../../src/lane/rules/view.js";
import { REPO, runCli } from "../helpers/procs.js";

const fixture = (name: string): string => join(REPO, "test/fixtures/cli", name);

interface Case {
  what: string;
  lane: string;
  args: string[];
  tag: string | null;
}

/** The seed manual's examples (Step 4 and the condition table), then the ones that stay base. */
const SEED_CASES: Case[] = [
  { what: "canary: gray", lane: "lane-canary.yaml", args: ["-H", "canary: gray"], tag: "gray" },
  { what: "name == xiaoming", lane: "lane-eq.yaml", args: ["-H", "name: xiaoming"], tag: "gray" },
  {
    what: "name xiaoming1 != xiaoming",
    lane: "lane-ne.yaml",
    args: ["-H", "name: xiaoming1"],
    tag: "gray",
  },
  {
    what: "name xiaohong in [xiaoming, xiaohong]",
    lane: "lane-in.yaml",
    args: ["-H", "name: xiaohong"],
    tag: "gray",
  },
  {
    what: "32-char alphanumeric name matches ^[a-zA-Z0-9]{32}$",
    lane: "lane-regex.yaml",
    args: ["-H", "name: 1234567890abcdef1234567890ABCDEF"],
    tag: "gray",
  },
  { what: "no canary header", lane: "lane-canary.yaml", args: [], tag: null },
  { what: "canary: blue", lane: "lane-canary.yaml", args: ["-H", "canary: blue"], tag: null },
  {
    what: "name xiaoming1 == xiaoming",
    lane: "lane-eq.yaml",
    args: ["-H", "name: xiaoming1"],
    tag: null,
  },
  {
    what: "name xiaoming != xiaoming",
    lane: "lane-ne.yaml",
    args: ["-H", "name: xiaoming"],
    tag: null,
  },
  {
    what: "name xiaoli not in the list",
    lane: "lane-in.yaml",
    args: ["-H", "name: xiaoli"],
    tag: null,
  },
  {
    what: "31-char name fails the regex",
    lane: "lane-regex.yaml",
    args: ["-H", "name: 1234567890abcdef1234567890ABCDE"],
    tag: null,
  },
  {
    what: "canary: gray on a closed lane",
    lane: "lane-closed.yaml",
    args: ["-H", "canary: gray"],
    tag: null,
  },
  { what: "query in PATH", lane: "lane-any.yaml", args: [], tag: "gray" },
  { what: "--query", lane: "lane-any.yaml", args: ["--query", "user=xiaoming"], tag: "gray" },
  { what: "--cookie", lane: "lane-any.yaml", args: ["--cookie", "user=xiaoming"], tag: "gray" },
];

/** Run child processes a few at a time: the machine has two cores. */
async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe("lanemesh explain (CLI)", () => {
  it("answers the seed manual's examples, and base when nothing matches or the lane is closed", async () => {
    const results = await inBatches(SEED_CASES, 4, (c) => {
      const path = c.what === "query in PATH" ? "/a?user=xiaoming" : "/a";
      return runCli([
        "explain",
        "-f",
        fixture("mall.yaml"),
        "-f",
        fixture(c.lane),
        ...c.args,
        "--json",
        path,
      ]);
    });
    SEED_CASES.forEach((c, i) => {
      const r = results[i];
      assert.ok(r);
      assert.equal(r.code, 0, `${c.what}: ${r.stderr}`);
      const j = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(j.tag, c.tag, `${c.what}: ${r.stdout}`);
      assert.equal(j.route, "a-route", c.what);
      assert.equal(j.lane, c.tag === null ? null : "gray", c.what);
    });
  });

  it("--json prints one object with route, group, lane, tag, fallback and picks per hop", async () => {
    const r = await runCli([
      "explain",
      "-f",
      fixture("mall.yaml"),
      "-f",
      fixture("lane-canary.yaml"),
      "--endpoints",
      fixture("endpoints.yaml"),
      "-H",
      "canary: gray",
      "--json",
      "/a/items",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split("\n").length, 1);
    assert.deepEqual(JSON.parse(r.stdout), {
      route: "a-route",
      group: "mall",
      lane: "gray",
      tag: "gray",
      closedLane: null,
      // sc-b has no gray version and is not one of the lane's apps.
      fallback: { "sc-b": "not-in-lane" },
      picks: { "sc-a": "10.0.0.2:8080", "sc-b": "10.0.0.3:8080", "sc-c": "10.0.0.5:8080" },
    });
  });

  it("--json with nulls: no endpoints, no lane, no route", async () => {
    const base = [
      "explain",
      "-f",
      fixture("mall.yaml"),
      "-f",
      fixture("lane-canary.yaml"),
      "--json",
    ];
    const [noEndpoints, noRoute, baseTraffic] = await Promise.all([
      runCli([...base, "-H", "canary: gray", "/a"]),
      runCli([...base, "--endpoints", fixture("endpoints.yaml"), "/nowhere"]),
      runCli([...base, "--endpoints", fixture("endpoints.yaml"), "/a"]),
    ]);
    assert.deepEqual(JSON.parse(noEndpoints.stdout), {
      route: "a-route",
      group: "mall",
      lane: "gray",
      tag: "gray",
      closedLane: null,
      fallback: null,
      picks: null,
    });
    const nr = JSON.parse(noRoute.stdout) as Record<string, unknown>;
    assert.equal(nr.route, null);
    assert.equal(nr.group, null);
    assert.equal(nr.tag, null);
    assert.deepEqual(JSON.parse(baseTraffic.stdout), {
      route: "a-route",
      group: null,
      lane: null,
      tag: null,
      closedLane: null,
      fallback: {},
      picks: { "sc-a": "10.0.0.1:8080", "sc-b": "10.0.0.3:8080", "sc-c": "10.0.0.4:8080" },
    });
  });

  it("prints route, group, lane, tag and each hop's instance, saying where it fell back to base", async () => {
    const r = await runCli([
      "explain",
      "-f",
      fixture("mall.yaml"),
      "-f",
      fixture("lane-canary.yaml"),
      "--endpoints",
      fixture("endpoints.yaml"),
      "-H",
      "canary: gray",
      "/a",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^route\s+a-route -> service sc-a$/m);
    assert.match(r.stdout, /^group\s+mall \(mode content\)$/m);
    assert.match(r.stdout, /^lane\s+gray$/m);
    assert.match(r.stdout, /^tag\s+gray$/m);
    assert.match(r.stdout, /^\s+sc-a\s+10\.0\.0\.2:8080 gray$/m);
    assert.match(
      r.stdout,
      /^\s+sc-b\s+10\.0\.0\.3:8080 base \(fallback to base: sc-b does not take part/m,
    );
    assert.match(r.stdout, /^\s+sc-c\s+10\.0\.0\.5:8080 gray$/m);
  });

  it("ratio mode: --draw fixes the draw against the lanes' weights", async () => {
    const run = (draw: string) =>
      runCli(["explain", "-f", fixture("ratio.yaml"), "--draw", draw, "--json", "/a"]);
    const [low, high] = await Promise.all([run("0.1"), run("0.9")]);
    assert.equal(JSON.parse(low.stdout).tag, "gray", low.stderr);
    assert.equal(JSON.parse(high.stdout).tag, null, high.stderr);
  });

  it("invalid files: the validation errors and exit 1", async () => {
    const r = await runCli(["explain", "-f", fixture("invalid.yaml"), "--json", "/a"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.includes("Lane/bad-op"), r.stderr);
    assert.ok(r.stderr.includes(fixture("invalid.yaml")), r.stderr);
  });

  it("usage errors exit 1: no -f and no control plane, no PATH, a header without a colon", async () => {
    const [noFile, noPath, badHeader] = await Promise.all([
      runCli(["explain", "/a"], { LANEMESH_SERVER: "http://127.0.0.1:1" }),
      runCli(["explain", "-f", fixture("mall.yaml")]),
      runCli(["explain", "-f", fixture("mall.yaml"), "-H", "canary", "/a"]),
    ]);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:1/);
    assert.match(noFile.stderr, /lanemesh explain -f FILE… PATH/, "it says files work offline");
    assert.equal(noPath.code, 1);
    assert.match(noPath.stderr, /^error: missing PATH: the request path, starting with \//m);
    assert.equal(badHeader.code, 1);
    assert.match(badHeader.stderr, /name: value/);
  });
});

describe("explain (pure core)", () => {
  const loaded = loadFiles([
    fixture("mall.yaml"),
    fixture("lane-canary.yaml"),
    fixture("endpoints.yaml"),
  ]);
  if (!loaded.ok) throw new Error(`fixtures invalid: ${JSON.stringify(loaded.errors)}`);
  const endpoints = loaded.instances.map(toEndpoint);

  const table: {
    what: string;
    headers: Record<string, string>;
    endpoints: boolean;
    json: unknown;
  }[] = [
    {
      what: "gray request, every hop",
      headers: { Canary: "gray" },
      endpoints: true,
      json: {
        route: "a-route",
        group: "mall",
        lane: "gray",
        tag: "gray",
        closedLane: null,
        fallback: { "sc-b": "not-in-lane" },
        picks: { "sc-a": "10.0.0.2:8080", "sc-b": "10.0.0.3:8080", "sc-c": "10.0.0.5:8080" },
      },
    },
    {
      what: "base request never gets a gray instance",
      headers: {},
      endpoints: true,
      json: {
        route: "a-route",
        group: null,
        lane: null,
        tag: null,
        closedLane: null,
        fallback: {},
        picks: { "sc-a": "10.0.0.1:8080", "sc-b": "10.0.0.3:8080", "sc-c": "10.0.0.4:8080" },
      },
    },
    {
      what: "no endpoints",
      headers: { canary: "gray" },
      endpoints: false,
      json: {
        route: "a-route",
        group: "mall",
        lane: "gray",
        tag: "gray",
        closedLane: null,
        fallback: null,
        picks: null,
      },
    },
  ];
  for (const t of table) {
    it(t.what, () => {
      const e = explain(
        loaded.rules,
        t.endpoints ? endpoints : null,
        requestViewFromMaps({ path: "/a", headers: t.headers }),
      );
      assert.deepEqual(toJson(e), t.json);
    });
  }

  it("a service with no base instance is explained as an error, not a canary", () => {
    const onlyGray = endpoints.filter((e) => !(e.service === "sc-c" && e.tag === null));
    const e = explain(loaded.rules, onlyGray, requestViewFromMaps({ path: "/a" }));
    const c = e.hops?.find((h) => h.service === "sc-c");
    assert.deepEqual(c, {
      service: "sc-c",
      instance: null,
      instanceTag: null,
      fallback: null,
      error: "LANEMESH_NO_BASE_ENDPOINT",
    });
  });
});
