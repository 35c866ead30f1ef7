// Tests for TraceTagCache: LRU eviction, sliding TTL on an injected clock, remember/recall by trace ids (the shared-trace rule: trace-cache-rule.test.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type LaneContext, TagReader } from "../../../src/lane/propagation/tag.js";
import { TraceTagCache } from "../../../src/lane/propagation/trace-cache.js";

function clock(start = 0) {
  const state = { t: start };
  return { state, now: () => state.t };
}

describe("TraceTagCache basics", () => {
  test("set, get, overwrite, delete, clear", () => {
    const cache = new TraceTagCache();
    assert.equal(cache.get("t1"), undefined);
    cache.set("t1", "gray");
    assert.equal(cache.get("t1"), "gray");
    cache.set("t1", "blue");
    assert.equal(cache.get("t1"), "blue");
    assert.equal(cache.size(), 1);
    assert.equal(cache.delete("t1"), true);
    assert.equal(cache.get("t1"), undefined);
    cache.set("t2", "gray");
    cache.clear();
    assert.equal(cache.size(), 0);
  });

  test("bad options are refused", () => {
    assert.throws(() => new TraceTagCache({ maxEntries: 0 }), RangeError);
    assert.throws(() => new TraceTagCache({ maxEntries: 1.5 }), RangeError);
    assert.throws(() => new TraceTagCache({ ttlMs: 0 }), RangeError);
    assert.throws(() => new TraceTagCache({ ttlMs: Number.NaN }), RangeError);
  });
});

describe("TraceTagCache LRU", () => {
  test("evicts the least recently used when full; get counts as use", () => {
    const cache = new TraceTagCache({ maxEntries: 3 });
    cache.set("a", "gray");
    cache.set("b", "gray");
    cache.set("c", "gray");
    assert.equal(cache.get("a"), "gray");
    cache.set("d", "gray");
    assert.equal(cache.size(), 3);
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.get("a"), "gray");
    assert.equal(cache.get("c"), "gray");
    assert.equal(cache.get("d"), "gray");
  });

  test("overwriting counts as use", () => {
    const cache = new TraceTagCache({ maxEntries: 2 });
    cache.set("a", "gray");
    cache.set("b", "gray");
    cache.set("a", "blue");
    cache.set("c", "gray");
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.get("a"), "blue");
  });

  test("never holds more than maxEntries", () => {
    const cache = new TraceTagCache({ maxEntries: 100 });
    for (let i = 0; i < 5_000; i++) {
      cache.set(`t${i}`, "gray");
      assert.ok(cache.size() <= 100);
    }
    assert.equal(cache.size(), 100);
    assert.equal(cache.get("t4899"), undefined);
    assert.equal(cache.get("t4900"), "gray");
  });
});

describe("TraceTagCache TTL (injected clock)", () => {
  test("expires ttlMs after the last set", () => {
    const { state, now } = clock(1_000);
    const cache = new TraceTagCache({ ttlMs: 60_000, now });
    cache.set("a", "gray");
    state.t = 1_000 + 59_999;
    cache.set("b", "gray");
    state.t = 1_000 + 60_000;
    assert.equal(cache.get("a"), undefined);
    assert.equal(cache.size(), 1, "an expired entry found by get is removed");
    assert.equal(cache.get("b"), "gray");
  });

  test("a hit slides the TTL", () => {
    const { state, now } = clock();
    const cache = new TraceTagCache({ ttlMs: 100, now });
    cache.set("a", "gray");
    for (let i = 1; i <= 10; i++) {
      state.t = i * 99;
      assert.equal(cache.get("a"), "gray", `at ${state.t}`);
    }
    state.t += 100;
    assert.equal(cache.get("a"), undefined);
  });

  test("set sweeps expired entries from the oldest end", () => {
    const { state, now } = clock();
    const cache = new TraceTagCache({ ttlMs: 100, now });
    cache.set("a", "gray");
    cache.set("b", "gray");
    state.t = 50;
    cache.set("c", "gray");
    state.t = 120;
    cache.set("d", "gray");
    assert.equal(cache.size(), 2);
    assert.equal(cache.get("c"), "gray");
    assert.equal(cache.get("d"), "gray");
  });
});

describe("TraceTagCache remember / recall", () => {
  const reader = new TagReader();
  const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const B3 = "463ac35c9f6413ad48485a3953bb6124";
  const read = (raw: string[]) => reader.read(raw) as LaneContext;

  test("the tag is recovered from whichever id the app forwards", () => {
    const cache = new TraceTagCache();
    const inbound = read([
      "x-lane-tag",
      "gray",
      "traceparent",
      TP,
      "x-b3-traceid",
      B3,
      "x-request-id",
      "r1",
    ]);
    cache.remember(inbound, inbound.tag);
    assert.equal(cache.size(), 3);
    const forwarded: string[][] = [
      ["traceparent", TP],
      ["x-b3-traceid", B3.toUpperCase()],
      ["x-request-id", "r1"],
      [
        "traceparent",
        "00-ffffffffffffffffffffffffffffffff-00f067aa0ba902b7-01",
        "x-request-id",
        "r1",
      ],
    ];
    for (const raw of forwarded) assert.equal(cache.recall(read(raw)), "gray", raw.join(" "));
    assert.equal(cache.recall(read(["x-request-id", "r2"])), undefined);
    assert.equal(cache.recall(read([])), undefined);
  });

  test("a fresh traceparent written by the inbound side is remembered too", () => {
    const cache = new TraceTagCache();
    const inbound = read(["baggage", "lane=blue"]);
    const fresh = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    cache.remember(inbound, inbound.tag, fresh);
    assert.equal(cache.recall(read(["traceparent", fresh])), "blue");
  });

  test("a base request turns a gray id ambiguous: its calls go base, it is not forgotten", () => {
    const cache = new TraceTagCache();
    cache.remember(read(["x-lane-tag", "gray", "traceparent", TP]), "gray");
    assert.equal(cache.recall(read(["traceparent", TP])), "gray");
    cache.remember(read(["traceparent", TP]), null);
    assert.equal(cache.recall(read(["traceparent", TP])), null);
    assert.equal(cache.get(TP.slice(3, 35)), null);
    assert.equal(cache.size(), 1);
  });

  test("stored ids and tags compare by value, not by identity", () => {
    const cache = new TraceTagCache();
    const long = `lane-${"x".repeat(40)}`;
    cache.remember(read(["baggage", `a=1,lane=${long}`, "traceparent", TP]), long);
    assert.equal(cache.get(TP.slice(3, 35)), long);
  });
});
