// Micro benchmark of the lane context's per-request state (the sidecar's trace cache with its base filter, the gateway's trace table) and the trace cache's bytes per entry; prints figures, never asserts.
// Run: npm run build && node --expose-gc dist/bench/lane-context.bench.js   (BENCH_RUNS, BENCH_OPS to change the sizes)
import { EntryTraces } from "../src/lane/propagation/entry-traces.js";
import { type LaneContext, TagReader } from "../src/lane/propagation/tag.js";
import { TraceTagCache } from "../src/lane/propagation/trace-cache.js";
import { bench as timed } from "./timer.js";

/** One timed benchmark with this file's number of runs. */
const run = (name: string, ops: number, fn: (i: number) => void): void =>
  timed(name, RUNS, ops, fn);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const OPS = Number(process.env.BENCH_OPS ?? 200_000);
const IDS = 100_000;

const reader = new TagReader();
/** A distinct 32-hex trace id per (set, i): the set's digit, then i. */
const hex = (i: number, set: string): string => `${set}${i.toString(16).padStart(31, "0")}`;
/** Lane contexts as TagReader makes them from real headers (ids sliced from the traceparent). */
function contexts(n: number, set: string, tag: string | null): LaneContext[] {
  return Array.from({ length: n }, (_, i) => {
    const raw = ["traceparent", `00-${hex(i, set)}-00f067aa0ba902b7-01`];
    if (tag !== null) raw.push("x-lane-tag", tag);
    return reader.read(raw) as LaneContext;
  });
}

const gray = contexts(IDS, "a", "gray");
const base = contexts(IDS, "b", null);
const unknown = contexts(IDS, "c", null);
const untaggedGray = contexts(IDS, "a", null);
const at = (list: LaneContext[], i: number): LaneContext => list[i % IDS] as LaneContext;

const cache = new TraceTagCache({ maxEntries: IDS });
for (let i = 0; i < IDS; i++) cache.remember(at(gray, i), "gray");
let sink: unknown;
run("sidecar inbound: remember a base request (1 id)", OPS, (i) => {
  cache.remember(at(base, i), null);
});
run("sidecar inbound: remember a gray request, id known (1 id)", OPS, (i) => {
  cache.remember(at(gray, i), "gray");
});
run("sidecar outbound: recall a gray trace (hit)", OPS, (i) => {
  sink = cache.recall(at(untaggedGray, i));
});
run("sidecar outbound: recall a base trace (filter)", OPS, (i) => {
  sink = cache.recall(at(base, i));
});
run("sidecar outbound: recall an unknown trace", OPS, (i) => {
  sink = cache.recall(at(unknown, i));
});
const fresh = new TraceTagCache({ maxEntries: IDS });
run("sidecar inbound: remember a gray request, new id (full cache)", OPS, (i) => {
  fresh.remember(at(i % 2 === 0 ? gray : unknown, i >> 1), "gray");
});

const traces = new EntryTraces({ maxEntries: IDS });
run("gateway: claim a trace id (100 000 live)", OPS, (i) => {
  sink = traces.claim((at(i % 2 === 0 ? gray : base, i >> 1).traceId as string) ?? "", null);
});
void sink;

/** Heap bytes per entry of a cache filled with `n` gray requests' ids (needs --expose-gc). */
function bytesPerEntry(n: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    process.stdout.write("bytes per entry: run with node --expose-gc\n");
    return;
  }
  // The requests' own headers and contexts exist before and after: only the cache's part counts.
  const ctxs = contexts(n, "d", "gray");
  const c = new TraceTagCache({ maxEntries: n });
  gc();
  gc();
  const before = process.memoryUsage();
  for (const ctx of ctxs) c.remember(ctx, "gray");
  gc();
  gc();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed;
  process.stdout.write(
    `trace cache, ${c.size()} gray ids: ${(heap / 2 ** 20).toFixed(1)} MiB of heap = ${(heap / c.size()).toFixed(0)} bytes per entry; plus the base filter, ${c.baseFilterBytes} bytes outside the heap, fixed (${ctxs.length} requests)\n`,
  );
}
bytesPerEntry(IDS);
