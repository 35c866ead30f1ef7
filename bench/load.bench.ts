// Micro benchmark of the load book: one request counted on its cell (the request path's cost of load reports) and one report drained; prints median ns/op, never asserts.
// Run: npx tsc -p . && node dist/bench/load.bench.js   (BENCH_RUNS, BENCH_OPS to change the sizes)
import { LoadBook } from "../src/telemetry/load.js";
import { bench as timed } from "./timer.js";

/** One timed benchmark with this file's number of runs. */
const run = (name: string, ops: number, fn: (i: number) => void): void =>
  timed(name, RUNS, ops, fn);
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const OPS = Number(process.env.BENCH_OPS ?? 1_000_000);

const book = new LoadBook();
const cell = book.cell("inbound", "sc-a", "gray");
run("LoadCell.record (one request)", OPS, (i) => cell.record(0.3 + (i % 1000), i % 50 === 0));

const wide = new LoadBook();
for (let s = 0; s < 1000; s++) wide.cell("outbound", `svc-${s}`, s % 3 === 0 ? "gray" : "base");
run("LoadBook.drain (1,000 active cells → 256 rows)", Math.max(1, Math.floor(OPS / 2000)), () => {
  for (let s = 0; s < 1000; s++)
    wide.cell("outbound", `svc-${s}`, s % 3 === 0 ? "gray" : "base").record(2, false);
  wide.drain(5000);
});
