// Tests for EntryTraces, the gateway's table of incoming trace ids' lanes: the first lane keeps an id, another lane is refused, TTL slides on an injected clock, the table stays bounded.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EntryTraces } from "../../../src/lane/propagation/entry-traces.js";

const T1 = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2 = "0af7651916cd43dd8448eb211c80319c";
const id = (i: number): string => i.toString(16).padStart(32, "c");

describe("EntryTraces.claim", () => {
  /** [time, id, lane, may keep the id]. */
  const cases: { name: string; steps: [number, string, string | null, boolean][] }[] = [
    {
      name: "a new id keeps its trace, and so do later requests of the same lane",
      steps: [
        [0, T1, "gray", true],
        [1, T1, "gray", true],
        [2, T2, null, true],
        [3, T2, null, true],
      ],
    },
    {
      name: "another lane (base counts) is refused; the first lane keeps the id",
      steps: [
        [0, T1, "gray", true],
        [1, T1, null, false],
        [2, T1, "blue", false],
        [3, T1, "gray", true],
        [4, T2, null, true],
        [5, T2, "gray", false],
      ],
    },
    {
      name: "the lane slides with every request of it and is free after a quiet TTL",
      steps: [
        [0, T1, "gray", true],
        [50_000, T1, "gray", true],
        [109_999, T1, null, false],
        [169_999, T1, null, true],
        [170_000, T1, "gray", false],
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const clock = { t: 0 };
      const traces = new EntryTraces({ now: () => clock.t, ttlMs: 60_000 });
      c.steps.forEach(([at, traceId, lane, want], i) => {
        clock.t = at;
        assert.equal(traces.claim(traceId, lane), want, `step ${i}`);
      });
    });
  }

  test("bounded: slots are the next power of two of twice the ids, 14 bytes each; a full table keeps working", () => {
    const traces = new EntryTraces({ maxEntries: 100_000 });
    assert.equal(traces.slots, 262_144);
    assert.equal(traces.bytes, 262_144 * 14);
    const small = new EntryTraces({ maxEntries: 64 });
    for (let i = 0; i < 10_000; i++) assert.equal(small.claim(id(i), "gray"), true);
    // The newest ids are remembered (a bucket replaces the slot that expires first).
    assert.equal(small.claim(id(9_999), null), false);
    // Old ones were pushed out: forgetting only means no restart (the sidecars still hold).
    let remembered = 0;
    for (let i = 0; i < 1_000; i++) if (!small.claim(id(i), null)) remembered++;
    assert.ok(
      remembered <= small.slots,
      `${remembered} old ids still remembered in ${small.slots} slots`,
    );
  });

  test("at the default size, 100 000 live ids are nearly all remembered", () => {
    const traces = new EntryTraces();
    for (let i = 0; i < 100_000; i++) traces.claim(id(i), "gray");
    let kept = 0;
    for (let i = 0; i < 100_000; i++) if (!traces.claim(id(i), null)) kept++;
    assert.ok(kept > 99_000, `only ${kept} of 100 000 remembered`);
  });

  test("bad options are refused", () => {
    assert.throws(() => new EntryTraces({ maxEntries: 0 }), RangeError);
    assert.throws(() => new EntryTraces({ ttlMs: 0 }), RangeError);
  });
});
