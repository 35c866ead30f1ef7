// Tests for BaseSightings: an id added is found for at least the TTL and never after twice it (lazy rotation on injected times), never a false "not seen", and a bounded false "seen" rate.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BaseSightings } from "../../../src/lane/propagation/base-sightings.js";

const TTL = 1_000;
const id = (i: number): string => i.toString(16).padStart(32, "0");

describe("BaseSightings horizon", () => {
  const cases: { name: string; addAt: number; probes: [number, boolean][] }[] = [
    {
      name: "found at once and until the TTL has passed",
      addAt: 0,
      probes: [
        [0, true],
        [999, true],
        [1_000, true],
        [1_999, true],
      ],
    },
    { name: "gone after twice the TTL", addAt: 0, probes: [[2_000, false]] },
    {
      name: "added late in a generation: still found a full TTL later",
      addAt: 999,
      probes: [
        [1_998, true],
        [1_999, true],
        [2_000, false],
      ],
    },
    {
      name: "a long quiet period clears both generations",
      addAt: 10,
      probes: [[50_000, false]],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const s = new BaseSightings(100, TTL);
      s.has(id(999_999), 0); // the first call starts the first generation at 0
      s.add(id(1), c.addAt);
      for (const [at, want] of c.probes) assert.equal(s.has(id(1), at), want, `at ${at}`);
    });
  }

  test("any time pattern: found for at least the TTL after the add, never past twice it", () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let run = 0; run < 200; run++) {
      const s = new BaseSightings(100, TTL);
      let t = rnd(5_000);
      s.has(id(0), t);
      t += rnd(3_000);
      s.add(id(1), t);
      const added = t;
      for (let probe = 0; probe < 20; probe++) {
        t += rnd(400);
        const found = s.has(id(1), t);
        if (t - added <= TTL) assert.ok(found, `run ${run}: lost ${t - added} ms after the add`);
        if (t - added >= 2 * TTL) assert.ok(!found, `run ${run}: kept ${t - added} ms`);
      }
    }
  });

  test("seen() refreshes an id found in the previous generation", () => {
    const s = new BaseSightings(100, TTL);
    s.add(id(1), 0);
    assert.equal(s.seen(id(1), 1_500), true); // rotated at 1 500: found in the previous one
    assert.equal(s.has(id(1), 2_600), true); // rotated at 2 600: the refresh moved along
    assert.equal(s.has(id(1), 4_000), false);
    assert.equal(s.seen(id(2), 4_000), false);
  });

  test("clear forgets everything", () => {
    const s = new BaseSightings(100, TTL);
    s.add(id(1), 0);
    s.clear();
    assert.equal(s.has(id(1), 1), false);
  });
});

describe("BaseSightings size and false 'seen' rate", () => {
  test("32 bits per expected id, at least 32 Kibit, two generations", () => {
    assert.equal(new BaseSightings(10, TTL).bits, 1 << 15);
    const s = new BaseSightings(100_000, TTL);
    assert.equal(s.bits, 1 << 22);
    assert.equal(s.bytes, 2 * (1 << 19));
  });

  test("never a false 'not seen'; false 'seen' about 0.1 % at the expected load, bounded at 4x", () => {
    for (const [load, maxRate] of [
      [1, 0.003],
      [4, 0.05],
    ] as const) {
      const expected = 10_000;
      const s = new BaseSightings(expected, TTL);
      const n = expected * load;
      for (let i = 0; i < n; i++) s.add(id(i), 0);
      for (let i = 0; i < n; i++) assert.ok(s.has(id(i), 1), `added id ${i} not seen`);
      let wrong = 0;
      const probes = 100_000;
      for (let i = 0; i < probes; i++) if (s.has(id(1_000_000 + i), 1)) wrong++;
      const rate = wrong / probes;
      assert.ok(rate < maxRate, `load ${load}: ${(rate * 100).toFixed(3)} % false "seen"`);
    }
  });
});
