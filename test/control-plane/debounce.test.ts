// Tests the push pacing on virtual time: quiet period, max delay, coalescing during a flush, one push in flight.
import assert from "node:assert/strict";
import { test } from "node:test";
import { debounce, PushSlot } from "../../src/control-plane/debounce.js";
import { VirtualClock } from "../helpers/clock.js";

function setup(quietMs = 100, maxDelayMs = 1000, leading = false) {
  const clock = new VirtualClock();
  const flushes: number[] = [];
  const d = debounce({
    quietMs,
    maxDelayMs,
    clock,
    leading,
    flush: () => void flushes.push(clock.now()),
  });
  return { clock, flushes, d };
}

/** A debouncer whose flush runs until `release()`; `starts` are the flushes' start times. */
function slowFlush(leading = false) {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const flush = { release: () => {} };
  const d = debounce({
    quietMs: 100,
    maxDelayMs: 1000,
    clock,
    leading,
    flush: () => {
      starts.push(clock.now());
      return new Promise<void>((r) => {
        flush.release = r;
      });
    },
  });
  return { clock, starts, d, release: () => flush.release() };
}

test("one trigger flushes after the quiet period, not before", () => {
  const { clock, flushes, d } = setup();
  d.trigger();
  clock.advance(99);
  assert.deepEqual(flushes, []);
  clock.advance(1);
  assert.deepEqual(flushes, [100]);
  clock.advance(1000);
  assert.deepEqual(flushes, [100], "no second flush without a new trigger");
});

test("a burst restarts the quiet period and gives one flush", () => {
  const { clock, flushes, d } = setup();
  for (let i = 0; i < 5; i++) {
    d.trigger();
    clock.advance(50);
  }
  // last trigger at t=200, quiet until 300
  assert.deepEqual(flushes, []);
  clock.advance(50);
  assert.deepEqual(flushes, [300]);
});

test("a burst that never goes quiet is cut at the max delay", () => {
  const { clock, flushes, d } = setup(100, 1000);
  for (let t = 0; t < 2500; t += 50) {
    d.trigger();
    clock.advance(50);
  }
  assert.deepEqual(flushes, [1000, 2000], "bursts start at 0 and at 1000");
});

test("triggers during an async flush wait for it, then give exactly one more flush", async () => {
  const { clock, starts, d, release } = slowFlush();
  d.trigger();
  clock.advance(100);
  assert.deepEqual(starts, [100]);
  d.trigger();
  d.trigger();
  clock.advance(500);
  assert.deepEqual(starts, [100], "no flush while one runs");
  release();
  await new Promise((r) => setImmediate(r));
  clock.advance(99);
  assert.deepEqual(starts, [100]);
  clock.advance(1);
  assert.deepEqual(starts, [100, 700], "one flush for both triggers, a quiet period after release");
});

test("close drops the pending flush", () => {
  const { clock, flushes, d } = setup();
  d.trigger();
  d.close();
  d.trigger();
  clock.advance(5000);
  assert.deepEqual(flushes, []);
  assert.equal(clock.pending(), 0);
});

test("push slot: one in flight, the latest waiting value replaces older ones", () => {
  const sent: string[] = [];
  const slot = new PushSlot<string>((v) => sent.push(v));
  slot.offer("v1");
  assert.deepEqual(sent, ["v1"]);
  assert.equal(slot.busy(), true);
  slot.offer("v2");
  slot.offer("v3");
  assert.deepEqual(sent, ["v1"], "nothing more until the answer");
  assert.equal(slot.next(), "v3");
  slot.settle();
  assert.deepEqual(sent, ["v1", "v3"], "v2 was coalesced away");
  slot.settle();
  assert.equal(slot.busy(), false);
  slot.settle();
  assert.deepEqual(sent, ["v1", "v3"], "a stray answer sends nothing");
  slot.offer("v4");
  assert.deepEqual(sent, ["v1", "v3", "v4"]);
});

const leading = (quietMs = 100, maxDelayMs = 1000) => setup(quietMs, maxDelayMs, true);

test("leading: a change after a quiet spell is flushed on the next turn, not after the quiet period", () => {
  const { clock, flushes, d } = leading();
  clock.advance(5000);
  d.trigger();
  d.trigger(); // the same turn: one flush for both
  assert.deepEqual(flushes, [], "not inside the trigger itself");
  clock.advance(0);
  assert.deepEqual(flushes, [5000]);
  clock.advance(1000);
  assert.deepEqual(flushes, [5000], "no second flush without a new trigger");
  d.trigger();
  clock.advance(0);
  assert.deepEqual(flushes, [5000, 6000], "quiet again since the last flush: at once again");
});

test("leading: what follows a flush within the quiet period waits for quiet, as a burst", () => {
  const { clock, flushes, d } = leading();
  d.trigger(); // t=0: at once
  clock.advance(0);
  for (let i = 0; i < 5; i++) {
    clock.advance(30);
    d.trigger(); // t=30..150
  }
  assert.deepEqual(flushes, [0]);
  clock.advance(99);
  assert.deepEqual(flushes, [0], "the burst's quiet period runs from its last trigger (t=150)");
  clock.advance(1);
  assert.deepEqual(flushes, [0, 250], "the burst's changes go out together");
});

test("leading: flushes stay at least the quiet period apart under a steady stream of changes", () => {
  const { clock, flushes, d } = leading(100, 1000);
  for (let t = 0; t < 3000; t += 40) {
    d.trigger();
    clock.advance(40);
  }
  clock.advance(2000);
  assert.equal(flushes[0], 0, "the first change at once");
  for (let i = 1; i < flushes.length; i++)
    assert.ok(
      (flushes[i] as number) - (flushes[i - 1] as number) >= 100,
      `flushes ${flushes.join(", ")}`,
    );
  // Then the max delay cuts the never-quiet burst, as without leading.
  assert.deepEqual(flushes, [0, 1040, 2040, 3040]);
});

test("leading: changes during a running flush wait for a quiet period after it, never at once", async () => {
  const { clock, starts, d, release } = slowFlush(true);
  d.trigger();
  clock.advance(0);
  assert.deepEqual(starts, [0]);
  clock.advance(500);
  d.trigger();
  release();
  await new Promise((r) => setImmediate(r));
  clock.advance(99);
  assert.deepEqual(starts, [0], "a burst that met a flush waits, however long ago it started");
  clock.advance(1);
  assert.deepEqual(starts, [0, 600]);
});

test("leading: close drops a flush armed for the next turn", () => {
  const { clock, flushes, d } = leading();
  d.trigger();
  d.close();
  clock.advance(1000);
  assert.deepEqual(flushes, []);
  assert.equal(clock.pending(), 0);
});
