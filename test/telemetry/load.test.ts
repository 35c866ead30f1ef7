// The load book's histogram, merge, quantiles and size bounds: what a report carries and how large it can get.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bucketBoundMs,
  bucketOf,
  LATENCY_BUCKETS,
  LoadBook,
  MAX_CELLS,
  MAX_REPORT_ROWS,
  mergeRow,
  OTHER_SERVICE,
  quantileMs,
} from "../../src/telemetry/load.js";

test("a latency falls in the bucket whose bounds hold it, the last one takes everything above", () => {
  for (const ms of [0, 0.1, 0.25, 0.3, 1, 2.5, 17, 123.4, 999, 60_000]) {
    const i = bucketOf(ms);
    assert.ok(ms <= bucketBoundMs(i), `${ms} <= bound ${i}`);
    if (i > 0) assert.ok(ms > bucketBoundMs(i - 1), `${ms} > bound ${i - 1}`);
  }
  assert.equal(bucketOf(10_000_000), LATENCY_BUCKETS - 1);
  assert.equal(bucketBoundMs(LATENCY_BUCKETS - 1), Number.POSITIVE_INFINITY);
});

test("quantiles of merged histograms are within one bucket (a factor √2) of the true value", () => {
  const book = new LoadBook();
  const fast = book.cell("inbound", "a", "base");
  const slow = book.cell("inbound", "a", "gray");
  for (let i = 0; i < 98; i++) fast.record(5, false);
  for (let i = 0; i < 2; i++) slow.record(400, true);
  const { rows } = book.drain(1000);
  const merged = { requests: 0, errors: 0, fallbacks: 0, latency: [] as number[] };
  for (const r of rows) mergeRow(merged, r);
  assert.equal(merged.requests, 100);
  assert.equal(merged.errors, 2);
  const p50 = quantileMs(merged.latency, 0.5) ?? 0;
  const p99 = quantileMs(merged.latency, 0.99) ?? 0;
  assert.ok(p50 > 5 / Math.SQRT2 && p50 < 5 * Math.SQRT2, `p50 ${p50}`);
  assert.ok(p99 > 400 / Math.SQRT2 && p99 < 400 * Math.SQRT2, `p99 ${p99}`);
  assert.equal(quantileMs([], 0.5), null);
});

test("drain zeroes the cells the request path keeps, and skips the idle ones", () => {
  const book = new LoadBook();
  const c = book.cell("outbound", "b", "gray");
  c.record(1, false);
  c.fallbacks++;
  assert.equal(book.drain(500).rows.length, 1);
  assert.deepEqual(book.drain(500).rows, []);
  c.record(1, true);
  const [row] = book.drain(500).rows;
  assert.deepEqual([row?.requests, row?.errors, row?.fallbacks], [1, 1, 0]);
  assert.equal(book.cell("outbound", "b", "gray"), c, "the same cell: no allocation per request");
});

test("a report is at most MAX_REPORT_ROWS rows whatever the number of services; the rest is folded and said", () => {
  const book = new LoadBook();
  for (let i = 0; i < 1000; i++)
    book.cell("outbound", `svc-${i}`, "base").record(1 + (i % 7), false);
  const r = book.drain(5000);
  assert.ok(r.rows.length <= MAX_REPORT_ROWS);
  assert.equal(r.rows.length, MAX_REPORT_ROWS - 3 + 1, "the busiest rows and one (other) row");
  assert.equal(r.folded, 1000 - (MAX_REPORT_ROWS - 3));
  const other = r.rows.find((x) => x.service === OTHER_SERVICE);
  assert.equal(other?.requests, r.folded);
  assert.equal(
    r.rows.reduce((n, x) => n + x.requests, 0),
    1000,
    "folding loses no request",
  );
  assert.ok(JSON.stringify(r).length < 64 * 1024, "a report stays small");
});

test("cells are bounded: past MAX_CELLS, new services count on the (other) cell", () => {
  const book = new LoadBook();
  for (let i = 0; i < MAX_CELLS + 10; i++) book.cell("inbound", `s${i}`, "base").record(1, false);
  const r = book.drain(1000, Number.MAX_SAFE_INTEGER);
  assert.equal(r.rows.length, MAX_CELLS + 1);
  assert.equal(r.rows.find((x) => x.service === OTHER_SERVICE)?.requests, 10);
});
