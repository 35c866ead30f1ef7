// Table tests for TraceTagCache's shared-trace rule (issue 10, item 2): a trace id seen in two lanes (base included) is ambiguous and goes to base, counted; eviction and TTL never give a base id a lane.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type LaneContext, TagReader } from "../../../src/lane/propagation/tag.js";
import { TraceTagCache } from "../../../src/lane/propagation/trace-cache.js";

const reader = new TagReader();
const T1 = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2 = "0af7651916cd43dd8448eb211c80319c";
const B3 = "463ac35c9f6413ad48485a3953bb6124";

interface Ids {
  tp?: string;
  b3?: string;
  rid?: string;
}

/** The lane context of a request with these ids and tag (null = none). */
function ctx(tag: string | null, ids: Ids = { tp: T1 }): LaneContext {
  const raw: string[] = [];
  if (tag !== null) raw.push("x-lane-tag", tag);
  if (ids.tp !== undefined) raw.push("traceparent", `00-${ids.tp}-00f067aa0ba902b7-01`);
  if (ids.b3 !== undefined) raw.push("x-b3-traceid", ids.b3);
  if (ids.rid !== undefined) raw.push("x-request-id", ids.rid);
  const read = reader.read(raw);
  assert.ok(read.ok);
  return read;
}

type Step =
  /** An inbound request of lane `in` (null = base) is remembered. */
  | { in: string | null; ids?: Ids }
  /** An untagged outbound call with these ids: the lane the cache gives it. */
  | { out: string | null | undefined; ids?: Ids }
  /** The clock moves to `at` ms. */
  | { at: number }
  /** `fill` other gray trace ids are remembered (pushing older entries out of a small cache). */
  | { fill: number };

interface Case {
  name: string;
  steps: Step[];
  /** Every onLaneLost call, in order. */
  lost: [string, number][];
  maxEntries?: number;
}

const TTL = 60_000;

const CASES: Case[] = [
  {
    name: "one gray request, no conflict: its untagged calls stay gray (the point of the cache)",
    steps: [{ in: "gray" }, { out: "gray" }, { at: 30_000 }, { out: "gray" }],
    lost: [],
  },
  {
    name: "several gray requests on one trace id: still gray",
    steps: [{ in: "gray" }, { in: "gray" }, { out: "gray" }, { in: "gray" }, { out: "gray" }],
    lost: [],
  },
  {
    name: "base only: its calls go base (known base), nothing counted",
    steps: [{ in: null }, { out: null }, { in: null }, { out: null }],
    lost: [],
  },
  { name: "an id nobody remembered: unknown", steps: [{ out: undefined }], lost: [] },
  {
    name: "gray then base: ambiguous, every call goes base; the pending gray request is counted",
    steps: [{ in: "gray" }, { in: null }, { out: null }, { out: null }],
    lost: [["gray", 1]],
  },
  {
    name: "base then gray: the gray request is counted on arrival and its calls go base",
    steps: [{ in: null }, { in: "gray" }, { out: null }],
    lost: [["gray", 1]],
  },
  {
    name: "gray, gray, then base: both pending gray requests are counted, once",
    steps: [{ in: "gray" }, { in: "gray" }, { in: null }, { in: null }, { out: null }],
    lost: [["gray", 2]],
  },
  {
    name: "a gray call made before base arrived stayed gray; the request is still counted (upper bound)",
    steps: [{ in: "gray" }, { out: "gray" }, { in: null }, { out: null }],
    lost: [["gray", 1]],
  },
  {
    name: "ambiguous wins over later single-tag writes: each later gray request is counted",
    steps: [{ in: "gray" }, { in: null }, { in: "gray" }, { in: "gray" }, { out: null }],
    lost: [
      ["gray", 1],
      ["gray", 1],
      ["gray", 1],
    ],
  },
  {
    name: "two tags (gray, blue): ambiguous, both counted",
    steps: [{ in: "gray" }, { in: "blue" }, { out: null }, { in: "gray" }, { out: null }],
    lost: [
      ["blue", 1],
      ["gray", 1],
      ["gray", 1],
    ],
  },
  {
    name: "other trace ids are untouched",
    steps: [
      { in: "gray", ids: { tp: T2 } },
      { in: "gray" },
      { in: null },
      { out: "gray", ids: { tp: T2 } },
    ],
    lost: [["gray", 1]],
  },
  {
    name: "the ambiguous mark slides with every write and lookup",
    steps: [
      { in: "gray" },
      { in: null },
      { at: 50_000 },
      { in: "gray" },
      { at: 100_000 },
      { out: null },
      { at: 150_000 },
      { out: null },
      { at: 209_000 },
      { in: "gray" },
      { out: null },
    ],
    lost: [
      ["gray", 1],
      ["gray", 1],
      ["gray", 1],
    ],
  },
  {
    name: "after a full TTL with no request or call on the id, it is free again",
    steps: [{ in: "gray" }, { in: null }, { at: 3 * TTL }, { in: "gray" }, { out: "gray" }],
    lost: [["gray", 1]],
  },
  {
    name: "a base sighting 59 s old still makes a gray request ambiguous",
    steps: [{ in: null }, { at: 59_000 }, { in: "gray" }, { out: null }],
    lost: [["gray", 1]],
  },
  {
    name: "eviction: an ambiguous id pushed out of a full cache stays ambiguous for a new gray write",
    maxEntries: 4,
    steps: [{ in: "gray" }, { in: null }, { fill: 10 }, { in: "gray" }, { out: null }],
    lost: [
      ["gray", 1],
      ["gray", 1],
    ],
  },
  {
    name: "eviction: two tags (no base sighting) pushed out stay ambiguous too",
    maxEntries: 4,
    steps: [{ in: "gray" }, { in: "blue" }, { fill: 10 }, { in: "gray" }, { out: null }],
    lost: [
      ["blue", 1],
      ["gray", 1],
      ["gray", 1],
    ],
  },
  {
    name: "base ids never fill the cache: a base sighting survives any number of gray entries",
    maxEntries: 4,
    steps: [{ in: null }, { fill: 1000 }, { in: "gray" }, { out: null }],
    lost: [["gray", 1]],
  },
  {
    name: "an outbound lookup refreshes a base sighting (a base trace still calling out stays base)",
    steps: [
      { in: null },
      { at: 61_000 },
      { out: undefined, ids: { tp: T2 } },
      { at: 100_000 },
      { out: null },
      { at: 122_000 },
      { out: undefined, ids: { tp: T2 } },
      { at: 150_000 },
      { in: "gray" },
      { out: null },
    ],
    lost: [["gray", 1]],
  },
  {
    name: "without that lookup the same base sighting is gone by then",
    steps: [
      { in: null },
      { at: 61_000 },
      { out: undefined, ids: { tp: T2 } },
      { at: 122_000 },
      { out: undefined, ids: { tp: T2 } },
      { at: 150_000 },
      { in: "gray" },
      { out: "gray" },
    ],
    lost: [],
  },
  {
    name: "a gray request's ids all shared with a base request: counted once",
    steps: [
      { in: null, ids: { tp: T1, b3: B3, rid: "r1" } },
      { in: "gray", ids: { tp: T1, b3: B3, rid: "r1" } },
      { out: null, ids: { b3: B3 } },
    ],
    lost: [["gray", 1]],
  },
  {
    name: "a base request sharing all ids of a gray one: the gray request is counted once",
    steps: [
      { in: "gray", ids: { tp: T1, b3: B3, rid: "r1" } },
      { in: null, ids: { tp: T1, b3: B3, rid: "r1" } },
      { out: null, ids: { rid: "r1" } },
    ],
    lost: [["gray", 1]],
  },
  {
    name: "only the x-request-id is shared: calls forwarding the unique traceparent stay gray",
    steps: [
      { in: null, ids: { tp: T2, rid: "r1" } },
      { in: "gray", ids: { tp: T1, rid: "r1" } },
      { out: "gray", ids: { tp: T1 } },
      { out: null, ids: { rid: "r1" } },
      { out: null, ids: { tp: T2, rid: "r1" } },
    ],
    lost: [["gray", 1]],
  },
  {
    name: "the first known id decides: a base traceparent stops a gray x-request-id",
    steps: [
      { in: null, ids: { tp: T2 } },
      { in: "gray", ids: { tp: T1, rid: "r9" } },
      { out: null, ids: { tp: T2, rid: "r9" } },
      { out: "gray", ids: { tp: "ffffffffffffffffffffffffffffffff", rid: "r9" } },
    ],
    lost: [],
  },
];

describe("TraceTagCache: a trace id seen in two lanes goes to base, counted", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const clock = { t: 0 };
      const lost: [string, number][] = [];
      const cache = new TraceTagCache({
        ttlMs: TTL,
        now: () => clock.t,
        maxEntries: c.maxEntries ?? 100_000,
        onLaneLost: (tag, n) => lost.push([tag, n]),
      });
      let filled = 0;
      c.steps.forEach((step, i) => {
        if ("at" in step) clock.t = step.at;
        else if ("fill" in step) {
          for (let n = 0; n < step.fill; n++, filled++) {
            cache.remember(ctx("gray", { tp: filled.toString(16).padStart(32, "a") }), "gray");
          }
        } else if ("in" in step) cache.remember(ctx(step.in, step.ids), step.in);
        else assert.equal(cache.recall(ctx(null, step.ids)), step.out, `step ${i}`);
      });
      assert.deepEqual(lost, c.lost);
      if (c.maxEntries !== undefined) assert.ok(cache.size() <= c.maxEntries);
    });
  }
});

describe("TraceTagCache: base safety under random interleavings", () => {
  test("no base call is ever given a lane while its base sighting is within the TTL", () => {
    // A small cache, a few shared trace ids, random arrivals of both lanes and calls of either
    // request: every call of a base request made within the TTL of its arrival finds base.
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const clock = { t: 0 };
    const cache = new TraceTagCache({ maxEntries: 8, ttlMs: TTL, now: () => clock.t });
    const ids = Array.from({ length: 24 }, (_, i) => i.toString(16).padStart(32, "b"));
    const inFlight: { id: string; lane: string | null; at: number }[] = [];
    let baseCalls = 0;
    for (let step = 0; step < 50_000; step++) {
      clock.t += rnd(50);
      if (inFlight.length === 0 || rnd(3) === 0) {
        const id = ids[rnd(ids.length)] as string;
        const lane = rnd(2) === 0 ? null : "gray";
        cache.remember(ctx(lane, { tp: id }), lane);
        inFlight.push({ id, lane, at: clock.t });
        if (inFlight.length > 40) inFlight.shift();
        continue;
      }
      const r = inFlight[rnd(inFlight.length)] as { id: string; lane: string | null; at: number };
      const got = cache.recall(ctx(null, { tp: r.id }));
      if (r.lane === null && clock.t - r.at < TTL) {
        baseCalls++;
        assert.notEqual(got, "gray", `step ${step}: a base call of ${r.id} was given gray`);
      }
    }
    assert.ok(baseCalls > 5_000, `only ${baseCalls} base calls checked`);
  });
});
