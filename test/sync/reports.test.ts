// A proxy's load reports on the virtual clock: one per interval covering exactly that interval, empty ones too, none queued while the stream is down or backed up.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type { MeshStream } from "../../src/protocol/wire.js";
import { startReports } from "../../src/sync/reports.js";
import { LoadBook, type LoadReportBody } from "../../src/telemetry/load.js";
import { VirtualClock } from "../helpers/clock.js";

class FakeStream extends EventEmitter {
  readonly sent: LoadReportBody[] = [];
  full = false;
  write(m: { report: LoadReportBody }): boolean {
    this.sent.push(m.report);
    return !this.full;
  }
}

test("one report per interval, empty ones included, each covering its interval", () => {
  const clock = new VirtualClock();
  const load = new LoadBook();
  const stream = new FakeStream();
  const r = startReports({
    clock,
    everyMs: 1000,
    load,
    stream: () => stream as unknown as MeshStream,
  });
  load.cell("outbound", "sc-b", "base").record(3, false);
  clock.advance(1000);
  clock.advance(1000);
  assert.equal(stream.sent.length, 2);
  assert.equal(stream.sent[0]?.rows[0]?.requests, 1);
  assert.equal(stream.sent[0]?.intervalMs, 1000);
  assert.deepEqual(stream.sent[1]?.rows, [], "an idle interval is reported");
  r.close();
  clock.advance(5000);
  assert.equal(stream.sent.length, 2, "closed: no more");
});

test("no stream, or a stream backed up: the interval's counts are dropped, not queued", () => {
  const clock = new VirtualClock();
  const load = new LoadBook();
  const stream = new FakeStream();
  let up = false;
  const r = startReports({
    clock,
    everyMs: 500,
    load,
    stream: () => (up ? (stream as unknown as MeshStream) : undefined),
  });
  const cell = load.cell("inbound", "sc-a", "gray");
  cell.record(1, false);
  clock.advance(500);
  assert.equal(stream.sent.length, 0);
  up = true;
  cell.record(1, false);
  stream.full = true;
  clock.advance(500);
  assert.equal(stream.sent.length, 1, "written; the buffer is now full");
  assert.equal(stream.sent[0]?.rows[0]?.requests, 1, "the dropped interval's request is not in it");
  cell.record(1, false);
  clock.advance(500);
  clock.advance(500);
  assert.equal(stream.sent.length, 1, "nothing more until the stream drains");
  stream.full = false;
  stream.emit("drain");
  clock.advance(500);
  assert.equal(stream.sent.length, 2);
  assert.deepEqual(stream.sent[1]?.rows, [], "the counts of the blocked intervals were dropped");
  r.close();
});
