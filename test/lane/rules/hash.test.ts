// Pins the percentage hash (MurmurHash3 x86_32, seed 0, UTF-8) with published vectors and checks its spread and cohort stability.
import assert from "node:assert/strict";
import { test } from "node:test";
import { murmur3, murmur3Bytes, percentBucket } from "../../../src/lane/rules/hash.js";

// Published MurmurHash3_x86_32 vectors (SMHasher; Python mmh3; the widely quoted seed 0x9747b28c set).
const STRING_VECTORS: [string, number, number][] = [
  ["", 0, 0x00000000],
  ["", 1, 0x514e28b7],
  ["", 0xffffffff, 0x81f16f39],
  ["abc", 0, 0xb3dd93fa],
  ["hello", 0, 0x248bfa47],
  ["foo", 0, 0xf6a5c420],
  ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
  ["a", 0x9747b28c, 0x7fa09ea6],
  ["abc", 0x9747b28c, 0xc84a62dd],
  ["abcd", 0x9747b28c, 0xf0478627],
  ["aaaa", 0x9747b28c, 0x5a97808a],
  ["Hello, world!", 0x9747b28c, 0x24884cba],
  ["ππππππππ", 0x9747b28c, 0xd58063c1],
  ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
];

const BYTE_VECTORS: [number[], number, number][] = [
  [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
  [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
  [[0x21, 0x43, 0x65, 0x87], 0x5082edee, 0x2362f9de],
  [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
  [[0x21, 0x43], 0, 0xa0f7b07a],
  [[0x21], 0, 0x72661cf4],
  [[0, 0, 0, 0], 0, 0x2362f9de],
  [[0, 0, 0], 0, 0x85f0b427],
  [[0, 0], 0, 0x30f4c306],
  [[0], 0, 0x514e28b7],
];

test("murmur3 of strings matches the published vectors", () => {
  for (const [input, seed, want] of STRING_VECTORS) {
    assert.equal(murmur3(input, seed), want, `murmur3(${JSON.stringify(input)}, ${seed})`);
  }
});

test("murmur3 of bytes matches the published vectors", () => {
  for (const [bytes, seed, want] of BYTE_VECTORS) {
    assert.equal(murmur3Bytes(Uint8Array.from(bytes), seed), want, `bytes ${bytes}`);
  }
});

test("murmur3 hashes the UTF-8 bytes (TextEncoder rules) of any string", () => {
  const samples = [
    "xiaoming",
    "小明",
    "😀 emoji",
    "mixed ä ö ü ß",
    "\u{10ffff}",
    "lone \ud800 high",
    "lone \udc00 low",
    "end \ud83d",
  ];
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let i = 0; i < 300; i++) {
    let s = "";
    const len = next() % 12;
    for (let j = 0; j < len; j++) s += String.fromCharCode(next() % 0x10000);
    samples.push(s);
  }
  const encoder = new TextEncoder();
  for (const s of samples) {
    assert.equal(murmur3(s), murmur3Bytes(encoder.encode(s)), JSON.stringify(s));
  }
});

test("percentBucket is murmur3 mod 100, unsigned", () => {
  assert.equal(percentBucket("hello"), 0x248bfa47 % 100);
  assert.equal(percentBucket("foo"), 0xf6a5c420 % 100); // above 2^31: must not go negative
  for (const s of ["", "111", "user-1", "小明"]) {
    const b = percentBucket(s);
    assert.ok(Number.isInteger(b) && b >= 0 && b < 100, `${s} → ${b}`);
  }
});

test("100,000 keys user-<i> put 10 % ± 0.5 % in a 10 % lane, and 20 % keeps every one of them", () => {
  const n = 100_000;
  let in10 = 0;
  let in20 = 0;
  let lost = 0;
  for (let i = 0; i < n; i++) {
    const b = percentBucket(`user-${i}`);
    const a = b < 10;
    if (a) in10++;
    if (b < 20) in20++;
    if (a && !(b < 20)) lost++;
  }
  assert.ok(Math.abs(in10 / n - 0.1) <= 0.005, `10 % lane got ${(in10 / n) * 100} %`);
  assert.ok(Math.abs(in20 / n - 0.2) <= 0.005, `20 % lane got ${(in20 / n) * 100} %`);
  assert.equal(lost, 0);
});
