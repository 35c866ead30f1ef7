// Micro benchmark of the picker's hot path and its build; prints median ns/op, never asserts.
// Run: npx tsc -p . && node dist/bench/pick.bench.js   (BENCH_RUNS, BENCH_OPS to change the sizes)
import { buildPickers, type Picker } from "../src/balancer/picker.js";
import { API_VERSION, type Endpoint, type RuleSet } from "../src/config/types.js";
import { bench as timed } from "./timer.js";

/** One timed benchmark with this file's number of runs. */
const run = (name: string, ops: number, fn: (i: number) => void): void =>
  timed(name, RUNS, ops, fn);
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const OPS = Number(process.env.BENCH_OPS ?? 200_000);

let sink = 0;

function endpoints(mixedWeights: boolean): Endpoint[] {
  const list: Endpoint[] = [];
  for (let i = 0; i < 1000; i++) {
    list.push({
      service: "sc-a",
      address: `10.0.${i >> 8}.${i & 255}`,
      port: 8080,
      tag: i < 900 ? null : "gray",
      weight: mixedWeights ? 50 + (i % 4) * 50 : 100,
      healthy: i % 97 !== 0,
      metadata: {},
    });
  }
  return list;
}

const rules: RuleSet = {
  routes: [],
  groups: [
    {
      apiVersion: API_VERSION,
      kind: "LaneGroup",
      metadata: { name: "mall" },
      spec: { entry: { gateway: "default", routes: [] }, apps: ["sc-a", "sc-b"], mode: "content" },
    },
  ],
  lanes: [
    {
      apiVersion: API_VERSION,
      kind: "Lane",
      metadata: { name: "gray" },
      spec: { group: "mall", tag: "gray", enabled: true },
    },
  ],
};

function picker(list: Endpoint[]): Picker {
  const p = buildPickers(list, rules).get("sc-a");
  if (p === undefined) throw new Error("no picker");
  return p;
}

function pickBench(name: string, p: Picker, tag: string | null, exclude?: Endpoint): void {
  run(name, OPS, () => {
    const r = p.pick(tag, exclude);
    if (r.ok) sink += r.endpoint.port;
  });
}

const equal = endpoints(false);
const mixed = endpoints(true);
const pEqual = picker(equal);
const pMixed = picker(mixed);
const header = `picker bench: 1,000 instances of sc-a (900 base, 100 gray, ~1 % unhealthy), node ${process.version}\n`;
process.stdout.write(header);
pickBench("pick(null)  equal weights (round robin)", pEqual, null);
pickBench("pick(gray)  equal weights (round robin)", pEqual, "gray");
pickBench("pick(blue)  unknown tag → base fallback", pEqual, "blue");
pickBench("pick(gray, exclude) equal weights", pEqual, "gray", equal[950]);
pickBench("pick(null)  mixed weights (smooth WRR, n=900)", pMixed, null);
pickBench("pick(gray)  mixed weights (smooth WRR, n=100)", pMixed, "gray");
run("buildPickers(1,000 instances, 1 lane)", Math.max(1, Math.floor(OPS / 1000)), () => {
  sink += buildPickers(equal, rules).get("sc-a") === undefined ? 0 : 1;
});
run("buildPickers(1,000 instances, mixed weights)", Math.max(1, Math.floor(OPS / 1000)), () => {
  sink += buildPickers(mixed, rules).get("sc-a") === undefined ? 0 : 1;
});
process.stdout.write(`(sink ${sink % 10})\n`);
