// Table test of the reconnect backoff: 0.5 s doubling to a 30 s cap, equal jitter.
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../../src/runtime/backoff.js";

test("backoff doubles from 0.5 s to the 30 s cap; jitter spans the upper half of the step", () => {
  const cases: [attempt: number, random: number, ms: number][] = [
    [0, 0, 250],
    [0, 0.999999, 500],
    [1, 1 - 1e-9, 1000],
    [2, 0.5, 1500],
    [5, 1 - 1e-9, 16000],
    [6, 1 - 1e-9, 30000],
    [6, 0, 15000],
    [40, 0, 15000],
    [1000, 0.5, 22500],
  ];
  for (const [attempt, r, ms] of cases)
    assert.equal(backoffDelay(attempt, { random: () => r }), ms, `attempt ${attempt}, random ${r}`);
});

test("backoff options override the initial step and the cap", () => {
  assert.equal(backoffDelay(0, { initialMs: 20, maxMs: 50, random: () => 0 }), 10);
  assert.equal(backoffDelay(3, { initialMs: 20, maxMs: 50, random: () => 0 }), 25);
});
