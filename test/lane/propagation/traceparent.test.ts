// Table tests for traceparent parsing (W3C vectors) and generation with injected randomness.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newTraceparent, parseTraceparent } from "../../../src/lane/propagation/traceparent.js";

const ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

describe("parseTraceparent", () => {
  const cases: Array<[string, string, string | null]> = [
    ["valid, sampled", `00-${ID}-${PARENT}-01`, ID],
    ["valid, not sampled", `00-${ID}-${PARENT}-00`, ID],
    ["valid, other flags", `00-${ID}-${PARENT}-ff`, ID],
    ["all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`, null],
    ["all-zero parent id", `00-${ID}-${"0".repeat(16)}-01`, null],
    ["version ff", `ff-${ID}-${PARENT}-01`, null],
    ["upper-case trace id", `00-${ID.toUpperCase()}-${PARENT}-01`, null],
    ["upper-case flags", `00-${ID}-${PARENT}-0A`, null],
    ["upper-case version", `0A-${ID}-${PARENT}-01`, null],
    ["short trace id", `00-${ID.slice(1)}-${PARENT}-01`, null],
    ["long trace id", `00-${ID}0-${PARENT}-01`, null],
    ["short parent id", `00-${ID}-${PARENT.slice(1)}-01`, null],
    ["version 00 with a suffix", `00-${ID}-${PARENT}-01-extra`, null],
    ["version 00 one char too long", `00-${ID}-${PARENT}-011`, null],
    ["future version with a suffix", `01-${ID}-${PARENT}-01-what-ever`, ID],
    ["future version, exact length", `cc-${ID}-${PARENT}-01`, ID],
    ["future version, suffix without dash", `01-${ID}-${PARENT}-01what`, null],
    ["non-hex version", `0g-${ID}-${PARENT}-01`, null],
    ["non-hex flags", `00-${ID}-${PARENT}-0z`, null],
    ["wrong separators", `00_${ID}_${PARENT}_01`, null],
    ["leading space", ` 00-${ID}-${PARENT}-01`.slice(0, 55), null],
    ["empty", "", null],
  ];
  for (const [name, value, expected] of cases) {
    test(name, () => assert.equal(parseTraceparent(value), expected));
  }
});

describe("newTraceparent", () => {
  test("default source: valid, version 00, not sampled, distinct", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const value = newTraceparent();
      assert.equal(value.length, 55);
      assert.match(value, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      assert.equal(parseTraceparent(value), value.slice(3, 35));
      seen.add(value.slice(3, 35));
    }
    assert.equal(seen.size, 500);
  });

  test("injected source is used byte for byte; sampled sets 01", () => {
    const bytes = Uint8Array.from({ length: 24 }, (_, i) => i + 1);
    const value = newTraceparent(() => bytes, true);
    assert.equal(value, "00-0102030405060708090a0b0c0d0e0f10-1112131415161718-01");
  });

  test("an all-zero draw still gives a valid value", () => {
    const value = newTraceparent((size) => new Uint8Array(size));
    assert.equal(value, `00-${"0".repeat(31)}1-${"0".repeat(15)}1-00`);
    assert.notEqual(parseTraceparent(value), null);
  });

  test("a short draw is an error", () => {
    assert.throws(() => newTraceparent(() => new Uint8Array(8)), RangeError);
  });
});
