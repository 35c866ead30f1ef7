// Table tests for the baggage lane member: reading, rewriting, W3C limits; pure, no I/O.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BAGGAGE_MAX_BYTES,
  BAGGAGE_MAX_MEMBERS,
  laneFromBaggage,
  withLane,
} from "../../../src/lane/propagation/baggage.js";

describe("laneFromBaggage", () => {
  const cases: Array<[string, string | null]> = [
    ["lane=gray", "gray"],
    ["  lane = gray  ", "gray"],
    ["\tlane\t=\tgray\t", "gray"],
    ["a=1,lane=gray,b=2", "gray"],
    ["a=1 , lane=gray , b=2", "gray"],
    ["lane=gray;p=1", "gray"],
    ["lane=gray;p", "gray"],
    ["lane=gray ; p = 1 ; q", "gray"],
    ["lane=%67ray", "gray"],
    ["lane=gr%20ay", null],
    ["lane=%zz", null],
    ["lane=%E0%A4%A", null],
    ["lane=", null],
    ["lane", null],
    ["lane=gr ay", null],
    ['lane="gray"', null],
    ["lane=gray;=x", null],
    ["lane=gray;=x,lane=blue", "blue"],
    ["lane=gray,lane=blue", "gray"],
    ["airplane=gray", null],
    ["xlane=gray", null],
    ["lanes=gray", null],
    ["Lane=gray", null],
    ["a=1", null],
    ["", null],
    [",,lane=gray,,", "gray"],
    ["lane=-gray", null],
    [`lane=${"a".repeat(64)}`, null],
  ];
  for (const [value, tag] of cases) {
    test(JSON.stringify(value), () => assert.equal(laneFromBaggage(value), tag));
  }
});

describe("withLane", () => {
  const cases: Array<[string | undefined, string | null, string | undefined]> = [
    [undefined, "gray", "lane=gray"],
    [undefined, null, undefined],
    ["", null, undefined],
    [" , ", "gray", "lane=gray"],
    ["a=1,b=2", "gray", "a=1,b=2,lane=gray"],
    ["a=1, lane=blue;p=1, b=2", "gray", "a=1,lane=gray,b=2"],
    ["a=1,lane=blue", null, "a=1"],
    ["lane=blue", null, undefined],
    ["lane=blue ;p=1", null, undefined],
    // nothing to change: byte for byte
    ["a=1 ,  b=2", null, "a=1 ,  b=2"],
    ["airplane=1 , x=2", null, "airplane=1 , x=2"],
    // every lane member goes, the new one takes the first one's place
    ["lane=x,a=1,lane=y", "gray", "lane=gray,a=1"],
    ["a=1,lane", "gray", "a=1,lane=gray"],
    ["a=1,,b=2,lane=c", null, "a=1,b=2"],
    ["a=%20x;p=1,lane=c", "gray", "a=%20x;p=1,lane=gray"],
    ["a=1,lane=gray", "gray", "a=1,lane=gray"],
  ];
  for (const [existing, tag, expected] of cases) {
    test(`${JSON.stringify(existing)} + ${tag}`, () => {
      assert.equal(withLane(existing, tag), expected);
    });
  }

  const members = (n: number, size = 3) =>
    Array.from({ length: n }, (_, i) => `k${i}=${"v".repeat(size)}`);

  test("member limit: lane kept, first 63 others kept in order", () => {
    const others = members(70);
    const out = withLane(others.join(","), "gray") as string;
    const parts = out.split(",");
    assert.equal(parts.length, BAGGAGE_MAX_MEMBERS);
    assert.deepEqual(parts, [...others.slice(0, 63), "lane=gray"]);
  });

  test("member limit: lane member keeps its place within what fits", () => {
    const others = members(70);
    const out = withLane(["lane=old", ...others].join(","), "gray") as string;
    assert.deepEqual(out.split(","), ["lane=gray", ...others.slice(0, 63)]);
  });

  test("member limit on removal: 64 others at most", () => {
    const out = withLane([...members(70), "lane=x"].join(","), null) as string;
    assert.deepEqual(out.split(","), members(64));
  });

  test("byte limit: lane kept, longest prefix that fits, commas counted", () => {
    const others = members(10, 1000); // each 1000 + 3 or 4 bytes
    const out = withLane(others.join(","), "gray") as string;
    assert.ok(out.length <= BAGGAGE_MAX_BYTES, `${out.length}`);
    const parts = out.split(",");
    assert.equal(parts.at(-1), "lane=gray");
    assert.deepEqual(parts.slice(0, -1), others.slice(0, parts.length - 1));
    // one more member would not have fitted
    const next = others[parts.length - 1] as string;
    assert.ok(out.length + next.length + 1 > BAGGAGE_MAX_BYTES);
  });

  test("byte limit: exactly 8192 bytes is kept whole", () => {
    const head = "a=";
    const filler = `${head}${"x".repeat(BAGGAGE_MAX_BYTES - "lane=gray".length - 1 - head.length)}`;
    const out = withLane(filler, "gray") as string;
    assert.equal(out.length, BAGGAGE_MAX_BYTES);
    assert.equal(out, `${filler},lane=gray`);
  });

  test("byte limit: an oversized member ends the kept prefix", () => {
    const out = withLane(`a=1,big=${"x".repeat(9000)},c=3`, "gray");
    assert.equal(out, "a=1,lane=gray");
  });
});
