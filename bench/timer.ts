// The micro benchmarks' one timer: warm up, time batches of calls, print the median ns per call; it never asserts.

/**
 * Warms up with a quarter of `ops` calls, then times `runs` batches of `ops` calls of `fn(i)` and
 * prints the median ns per call with the min and max batch.
 */
export function bench(name: string, runs: number, ops: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.max(1, Math.floor(ops / 4)); i++) fn(i);
  const perOp: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    perOp.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[Math.floor(perOp.length / 2)] as number;
  const min = perOp[0] as number;
  const max = perOp[perOp.length - 1] as number;
  process.stdout.write(
    `${name.padEnd(64)} ${median.toFixed(1).padStart(10)} ns/op  (min ${min.toFixed(1)}, max ${max.toFixed(1)}, ${runs} runs x ${ops})\n`,
  );
}
