// Micro benchmark of the load book: one request counted on its cell (the request path's cost of load reports) and one report drained; prints median ns/op, never asserts.
// Run: npx tsc -p . && node dist/bench/load.bench.js   (BENCH_RUNS, BENCH_OPS to change the sizes)
import { LoadBook } from "../src/telemetry/load.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const OPS = Number(process.env.BENCH_OPS ?? 1_000_000);

/** Warms up, then times `runs` batches of `ops` calls; prints the median ns per call. */
function bench(name: string, ops: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.max(1, Math.floor(ops / 4)); i++) fn(i);
  const perOp: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    perOp.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(perOp.length / 2)] as number;
  process.stdout.write(
    `${name.padEnd(48)} ${median.toFixed(1).padStart(10)} ns/op  (${RUNS} runs x ${ops})\n`,
  );
}

const book = new LoadBook();
const cell = book.cell("inbound", "sc-a", "gray");
bench("LoadCell.record (one request)", OPS, (i) => cell.record(0.3 + (i % 1000), i % 50 === 0));

const wide = new LoadBook();
for (let s = 0; s < 1000; s++) wide.cell("outbound", `svc-${s}`, s % 3 === 0 ? "gray" : "base");
bench("LoadBook.drain (1,000 active cells → 256 rows)", Math.max(1, Math.floor(OPS / 2000)), () => {
  for (let s = 0; s < 1000; s++)
    wide.cell("outbound", `svc-${s}`, s % 3 === 0 ? "gray" : "base").record(2, false);
  wide.drain(5000);
});
