// Lane regexes: RE2 search semantics, refusal of backtracking constructs and oversized patterns, input cap, linear time.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  backtrackingConstruct,
  compileLaneRegex,
  MAX_INPUT_LENGTH,
  MAX_PATTERN_LENGTH,
} from "../../src/config/regex.js";

test("backtrackingConstruct names what RE2 cannot run", () => {
  const table: [string, string | null][] = [
    ["^(a+)\\1$", "backreference \\1"],
    ["(?<x>a)\\k<x>", "named backreference \\k<…>"],
    ["foo(?=bar)", "lookahead (?=…)"],
    ["foo(?!bar)", "negative lookahead (?!…)"],
    ["(?<=a)b", "lookbehind (?<=…)"],
    ["(?<!a)b", "negative lookbehind (?<!…)"],
    ["(?>a+)b", "atomic group (?>…)"],
    ["a++", "possessive quantifier"],
    ["^[a-zA-Z0-9]{32}$", null],
    ["\\\\1", null], // an escaped backslash then a literal 1
    ["[(?=]x", null], // inside a class nothing is a group
    ["[]\\1]", "backreference \\1"],
    ["\\Q(?=\\1\\E", null], // quoted literal
    ["(?P<n>a)|(?<n2>b)", null], // named groups are fine
    ["a+?", null], // lazy, not possessive
  ];
  for (const [pattern, want] of table) assert.equal(backtrackingConstruct(pattern), want, pattern);
});

test("compileLaneRegex refuses bad patterns with a reason", () => {
  const table: [string, string][] = [
    ["^(a+)\\1$", "unsafe"],
    ["(?=a)", "unsafe"],
    ["[a-z", "syntax"],
    ["a{1001}", "syntax"],
    ["(", "syntax"],
    ["x".repeat(MAX_PATTERN_LENGTH + 1), "too-long"],
    ["[\\s\\S]{1000}", "too-large"],
  ];
  for (const [pattern, problem] of table) {
    const r = compileLaneRegex(pattern);
    assert.equal(r.ok, false, pattern.slice(0, 40));
    if (!r.ok) {
      assert.equal(r.problem, problem, pattern.slice(0, 40));
      assert.ok(r.message.length > 10);
    }
  }
});

test("a lane regex is a search: anchors make it a whole-value match", () => {
  const table: [string, string, boolean][] = [
    ["^[a-zA-Z0-9]{32}$", "1234567890abcdef1234567890ABCDEF", true],
    ["^[a-zA-Z0-9]{32}$", "1234567890abcdef1234567890ABCDEF0", false],
    ["^[a-zA-Z0-9]{32}$", "1234567890abcdef1234567890ABCDE-", false],
    ["gray", "x-gray-1", true],
    ["^gray$", "x-gray-1", false],
    ["(?i)^GRAY$", "gray", true],
    ["^user-[0-9]+$", "user-42", true],
    ["^user-[0-9]+$", "user-42\n", false],
    ["^小明$", "小明", true],
  ];
  for (const [pattern, value, want] of table) {
    const r = compileLaneRegex(pattern);
    assert.ok(r.ok, pattern);
    if (r.ok) assert.equal(r.regex.test(value), want, `${pattern} on ${JSON.stringify(value)}`);
  }
});

test("values longer than MAX_INPUT_LENGTH never match", () => {
  const r = compileLaneRegex("a");
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.regex.test("a".repeat(MAX_INPUT_LENGTH)), true);
  assert.equal(r.regex.test("a".repeat(MAX_INPUT_LENGTH + 1)), false);
});

function timeOf(fn: () => void, runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)] as number;
}

test("^(a+)+$ on 50 KB of 'a' then '!' is false in linear time (no catastrophic backtracking)", () => {
  const r = compileLaneRegex("^(a+)+$", { maxInputLength: Number.POSITIVE_INFINITY });
  assert.ok(r.ok);
  if (!r.ok) return;
  const small = `${"a".repeat(50_000)}!`;
  const big = `${"a".repeat(200_000)}!`;
  assert.equal(r.regex.test(small), false);
  assert.equal(r.regex.test(big), false);
  const tSmall = timeOf(() => r.regex.test(small));
  const tBig = timeOf(() => r.regex.test(big));
  // 4× the input: linear means ~4× the time; quadratic would be ~16×. Generous bound for noisy CI.
  assert.ok(tBig < tSmall * 10 + 5_000_000, `50 KB ${tSmall} ns, 200 KB ${tBig} ns`);
  // A backtracking engine needs ~2^50000 steps; we need well under a second for 200 KB.
  assert.ok(tBig < 1e9, `200 KB took ${tBig} ns`);
});
