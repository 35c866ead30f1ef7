// Tests the push pacing on virtual time: quiet period, max delay, coalescing during a flush, one push in flight.
import assert from "node:assert/strict";
import { test } from "node:test";
import { debounce, PushSlot } from "../../src/control-plane/debounce.js";
import { VirtualClock } from "../helpers/clock.js";

function setup(quietMs = 100, maxDelayMs = 1000) {
  const clock = new VirtualClock();
  const flushes: number[] = [];
  const d = debounce({ quietMs, maxDelayMs, clock, flush: () => void flushes.push(clock.now()) });
  return { clock, flushes, d };
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
  const clock = new VirtualClock();
  let release: () => void = () => {};
  const starts: number[] = [];
  const d = debounce({
    quietMs: 100,
    maxDelayMs: 1000,
    clock,
    flush: () => {
      starts.push(clock.now());
      return new Promise<void>((r) => {
        release = r;
      });
    },
  });
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
