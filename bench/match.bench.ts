// Micro benchmark of the gateway's lane matcher (50 lanes × 5 conditions); prints median ns/op per case, never asserts.
// Run: npx tsc -p . && node dist/bench/match.bench.js   (BENCH_RUNS, BENCH_MS tune the effort)
import type { Condition, Lane, RuleSet } from "../src/config/types.js";
import { percentBucket } from "../src/lane/rules/hash.js";
import { compileMatcher, type LaneDecision } from "../src/lane/rules/matcher.js";
import type { RequestView } from "../src/lane/rules/request.js";
import { requestViewFromIncoming } from "../src/lane/rules/view.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TARGET_MS = Number(process.env.BENCH_MS ?? 100);
const LANES = 50;
/** Distinct requests cycled through, so no per-value memo can carry over from one op to the next. */
const VARIANTS = 1024;
const PERCENT = 50;
/** Users whose bucket is ≥ PERCENT: the percentage discriminator hashes them and says no. */
const UIDS: string[] = [];
for (let i = 0; UIDS.length < VARIANTS; i++)
  if (percentBucket(`user-${i}`) >= PERCENT) UIDS.push(`user-${i}`);

/** Lane i: four conditions the request passes (==, in, !=, regex), then one that only lane 49 passes. */
function laneConditions(i: number): Condition[] {
  const last = i === LANES - 1;
  const discriminator: Condition =
    last || i % 2 === 0
      ? { type: "header", name: "x-lane", op: "==", value: `lane-${i}` }
      : // Every bench uid has bucket ≥ PERCENT: a real hash computed, never a match.
        { type: "cookie", name: "uid", op: "percentage", value: PERCENT };
  return [
    { type: "header", name: "x-env", op: "==", value: "prod" },
    {
      type: "cookie",
      name: "region",
      op: "in",
      values: ["cn-beijing", "cn-shanghai", "cn-hangzhou", "cn-shenzhen", "us-east"],
    },
    { type: "query", name: "debug", op: "!=", value: "1" },
    { type: "header", name: "x-user-id", op: "regex", value: "^u-[0-9]{4,12}$" },
    discriminator,
  ];
}

function rules(mode: "all" | "any"): RuleSet {
  const lanes: Lane[] = [];
  for (let i = 0; i < LANES; i++) {
    lanes.push({
      apiVersion: "lanemesh.io/v1alpha1",
      kind: "Lane",
      metadata: { name: `lane-${i}` },
      spec: {
        group: "mall",
        tag: `t${i}`,
        enabled: true,
        match: { mode, conditions: laneConditions(i) },
      },
    });
  }
  return {
    routes: [
      {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "Route",
        metadata: { name: "other" },
        spec: { gateway: "default", match: { prefix: "/other" }, service: "x" },
      },
      {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "Route",
        metadata: { name: "a-route" },
        spec: { gateway: "default", match: { prefix: "/a" }, service: "sc-a" },
      },
    ],
    groups: [
      {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "LaneGroup",
        metadata: { name: "mall" },
        spec: {
          entry: { gateway: "default", routes: ["a-route"] },
          apps: ["sc-a"],
          mode: "content",
        },
      },
    ],
    lanes,
  };
}

function incoming(lane: string, i: number) {
  return {
    method: "GET",
    url: `/a/orders/${i}?debug=0&page=3`,
    headers: {
      host: "shop.example.com",
      "user-agent": "bench/1.0",
      accept: "*/*",
      "x-env": "prod",
      "x-user-id": `u-${100000 + i}`,
      "x-lane": lane,
      cookie: `session=abcdef0123456789; uid=${UIDS[i]}; region=cn-hangzhou; theme=dark`,
    },
  };
}

/** VARIANTS views of one kind; `next()` cycles through them. */
function views(make: (i: number) => RequestView): () => RequestView {
  const list = Array.from({ length: VARIANTS }, (_, i) => make(i));
  let k = 0;
  return () => list[k++ & (VARIANTS - 1)] as RequestView;
}

let sink = 0;
function consume(d: LaneDecision): void {
  sink = (sink + (d.tag === null ? 1 : d.tag.length)) | 0;
}

function timeBatch(fn: () => void, n: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Median ns/op over RUNS runs of n iterations, after a warm-up that also sizes n. */
function measure(fn: () => void): { ns: number; n: number } {
  // Warm up (JIT, lazy parses) until a batch takes a quarter of the target, then size n from a
  // second, warm batch so each timed run lasts about BENCH_MS.
  let n = 1000;
  let ms = 0;
  for (;;) {
    ms = timeBatch(fn, n);
    if (ms >= TARGET_MS / 4 || n >= 1e8) break;
    n *= 4;
  }
  ms = timeBatch(fn, n);
  n = Math.max(1000, Math.round((n * TARGET_MS) / Math.max(ms, 0.001)));
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    times.push(Number(process.hrtime.bigint() - t) / n);
  }
  times.sort((a, b) => a - b);
  return { ns: times[Math.floor(times.length / 2)] as number, n };
}

function report(
  name: string,
  fn: () => void,
  expect?: string | null,
  probe?: () => LaneDecision,
): void {
  if (probe !== undefined) {
    const got = probe().tag;
    if (got !== expect) throw new Error(`${name}: expected tag ${expect}, got ${got}`);
  }
  const { ns, n } = measure(fn);
  process.stdout.write(
    `${name.padEnd(58)} ${ns.toFixed(0).padStart(7)} ns/op   (${n} ops/run, median of ${RUNS})\n`,
  );
}

const all = compileMatcher(rules("all"), { gateway: "default" });
const any = compileMatcher(rules("any"), { gateway: "default" });
const lastView = views((i) => requestViewFromIncoming(incoming("lane-49", i)));
const noneView = views((i) => requestViewFromIncoming(incoming("none", i)));
const firstView = views((i) => requestViewFromIncoming(incoming("lane-0", i)));
const anyNoneView = views((i) =>
  requestViewFromIncoming({
    method: "GET",
    url: `/a/orders/${i}?debug=1`,
    headers: {
      "x-env": "dev",
      "x-user-id": `guest-${i}`,
      "x-lane": "none",
      cookie: `uid=${UIDS[i]}; region=eu-west`,
    },
  }),
);
const noRouteView = views((i) =>
  requestViewFromIncoming({ method: "GET", url: `/zzz/${i}`, headers: {} }),
);
// Fresh raw requests: the view is built (and cookie + query parsed) inside the timed loop.
const raw = Array.from({ length: VARIANTS }, (_, i) => incoming("lane-49", i));
let rawK = 0;
const nextRaw = () => raw[rawK++ & (VARIANTS - 1)] as ReturnType<typeof incoming>;

process.stdout.write(
  `lanemesh match bench: ${LANES} lanes × 5 conditions (==, in, !=, regex, ==|percentage), node ${process.version}\n`,
);
report(
  "all, lane 0 matches (best case)",
  () => consume(all.match(firstView())),
  "t0",
  () => all.match(firstView()),
);
report(
  "all, last lane (49) matches: 4 true + 1 false per lane",
  () => consume(all.match(lastView())),
  "t49",
  () => all.match(lastView()),
);
report(
  "all, no lane matches → base",
  () => consume(all.match(noneView())),
  null,
  () => all.match(noneView()),
);
report(
  "any, no lane matches → base: all 250 conditions false",
  () => consume(any.match(anyNoneView())),
  null,
  () => any.match(anyNoneView()),
);
report(
  "no route matches",
  () => consume(all.match(noRouteView())),
  null,
  () => all.match(noRouteView()),
);
report(
  "view per request (cookie+query parse) + all, last lane",
  () => consume(all.match(requestViewFromIncoming(nextRaw()))),
  "t49",
  () => all.match(requestViewFromIncoming(nextRaw())),
);
let u = 0;
report('percentBucket("user-<n>") alone', () => {
  sink = (sink + percentBucket(UIDS[u++ & (VARIANTS - 1)] as string)) | 0;
});
if (sink === 42) process.stdout.write("\n");
