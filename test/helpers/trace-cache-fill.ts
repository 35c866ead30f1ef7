// A child-process probe of the trace-id cache's memory: fills a TraceTagCache through `remember` with N requests' ids and prints the retained heap per stored id as JSON; run with --expose-gc, it asserts nothing.
import { randomBytes } from "node:crypto";
import { TagReader } from "../../src/lane/propagation/tag.js";
import { TraceTagCache } from "../../src/lane/propagation/trace-cache.js";

/*
 * Usage: node --expose-gc trace-cache-fill.js N MODE [MAX_ENTRIES]. MODE: `w3c` (a traceparent per
 * request, 32-hex trace ids), `rid` (only a 128-character x-request-id per request: the largest
 * key the reader accepts), `all` (traceparent, x-b3-traceid and a 128-character x-request-id per
 * request: three ids each). Output: {ids, stored, heapBytes,
 * perEntry, heapTotalBytes, rssBytes}, the heap figures taken after two full collections.
 */

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
const n = Number(process.argv[2] ?? 150_000);
const mode = process.argv[3] ?? "w3c";
const maxEntries = Number(process.argv[4] ?? 100_000);

gc();
gc();
const before = process.memoryUsage();
const cache = new TraceTagCache({ maxEntries });
const reader = new TagReader();
for (let i = 0; i < n; i++) {
  const raw = ["host", "a", "x-lane-tag", "gray"];
  if (mode !== "rid") {
    const parent = randomBytes(8).toString("hex");
    raw.push("traceparent", `00-${randomBytes(16).toString("hex")}-${parent}-01`);
  }
  if (mode === "all") raw.push("x-b3-traceid", randomBytes(16).toString("hex"));
  if (mode !== "w3c") raw.push("x-request-id", randomBytes(64).toString("hex"));
  const ctx = reader.read(raw);
  if (ctx.ok) cache.remember(ctx, ctx.tag);
}
gc();
gc();
const after = process.memoryUsage();
const heapBytes = after.heapUsed - before.heapUsed;
process.stdout.write(
  `${JSON.stringify({
    ids: n,
    stored: cache.size(),
    heapBytes,
    perEntry: Math.round(heapBytes / cache.size()),
    heapTotalBytes: after.heapTotal - before.heapTotal,
    rssBytes: after.rss - before.rss,
  })}\n`,
);
