// Table tests for TagReader: tag precedence, hostile-edge refusals, trace ids; pure, no I/O.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type LaneContext,
  TagHeaderName,
  TagHeaderNameError,
  type TagRead,
  TagReader,
} from "../../../src/lane/propagation/tag.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TP_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

function ok(read: TagRead): LaneContext {
  assert.equal(read.ok, true, `expected ok, got ${JSON.stringify(read)}`);
  return read as LaneContext;
}

describe("TagReader: where the tag comes from", () => {
  const reader = new TagReader();
  const cases: Array<{ name: string; raw: string[]; tag: string | null; source: string | null }> = [
    { name: "tag header", raw: ["x-lane-tag", "gray"], tag: "gray", source: "header" },
    {
      name: "header wins over baggage",
      raw: ["baggage", "lane=blue", "x-lane-tag", "gray"],
      tag: "gray",
      source: "header",
    },
    { name: "baggage only", raw: ["baggage", "lane=blue"], tag: "blue", source: "baggage" },
    { name: "nothing", raw: ["host", "a", "accept", "*/*"], tag: null, source: null },
    { name: "empty headers", raw: [], tag: null, source: null },
    { name: "upper-case name", raw: ["X-LANE-TAG", "gray"], tag: "gray", source: "header" },
    { name: "mixed-case name", raw: ["X-Lane-Tag", "gray"], tag: "gray", source: "header" },
    { name: "baggage name case", raw: ["Baggage", "lane=gray"], tag: "gray", source: "baggage" },
    {
      name: "baggage with spaces and properties",
      raw: ["baggage", "user=1 , lane = gray ;p=1"],
      tag: "gray",
      source: "baggage",
    },
    {
      name: "percent-encoded baggage value",
      raw: ["baggage", "lane=%67ray"],
      tag: "gray",
      source: "baggage",
    },
    {
      name: "several baggage headers",
      raw: ["baggage", "a=1", "x", "y", "baggage", "lane=gray"],
      tag: "gray",
      source: "baggage",
    },
    {
      name: "malformed lane member skipped",
      raw: ["baggage", "lane=gr ay,lane=%zz", "baggage", "lane=blue"],
      tag: "blue",
      source: "baggage",
    },
    {
      name: "first valid lane member wins",
      raw: ["baggage", "lane=gray,lane=blue"],
      tag: "gray",
      source: "baggage",
    },
    {
      name: "baggage keys are case-sensitive",
      raw: ["baggage", "Lane=gray"],
      tag: null,
      source: null,
    },
    {
      name: "longest valid tag (63)",
      raw: ["x-lane-tag", `a${"b".repeat(62)}`],
      tag: `a${"b".repeat(62)}`,
      source: "header",
    },
    { name: "tag punctuation", raw: ["x-lane-tag", "v1.2_x-y"], tag: "v1.2_x-y", source: "header" },
    {
      name: "odd trailing name ignored",
      raw: ["x-lane-tag", "gray", "dangling"],
      tag: "gray",
      source: "header",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const read = ok(reader.read(c.raw));
      assert.equal(read.tag, c.tag);
      assert.equal(read.source, c.source);
    });
  }

  test("configured header x-mse-tag: x-lane-tag is an ordinary header", () => {
    const mse = new TagReader("X-MSE-Tag");
    assert.equal(ok(mse.read(["x-mse-tag", "gray"])).tag, "gray");
    assert.equal(ok(mse.read(["x-lane-tag", "gray"])).tag, null);
    assert.equal(ok(mse.read(["x-lane-tag", "a", "x-lane-tag", "b"])).tag, null);
    assert.deepEqual(mse.read(["x_mse_tag", "gray"]), {
      ok: false,
      code: "LANEMESH_BAD_TAG_HEADER",
      reason: "underscore-spelling",
    });
  });
});

describe("TagReader: hostile edges are refused", () => {
  const reader = new TagReader();
  const cases: Array<{ name: string; raw: string[]; reason: string }> = [
    { name: "twice", raw: ["x-lane-tag", "gray", "x-lane-tag", "blue"], reason: "duplicate" },
    { name: "twice, same value", raw: ["x-lane-tag", "g", "x-lane-tag", "g"], reason: "duplicate" },
    {
      name: "case variants",
      raw: ["X-Lane-Tag", "gray", "x-lane-tag", "gray"],
      reason: "duplicate",
    },
    { name: "comma", raw: ["x-lane-tag", "gray,blue"], reason: "comma-joined" },
    { name: "comma and space", raw: ["x-lane-tag", "gray, blue"], reason: "comma-joined" },
    { name: "lone comma", raw: ["x-lane-tag", ","], reason: "comma-joined" },
    { name: "underscores", raw: ["x_lane_tag", "gray"], reason: "underscore-spelling" },
    { name: "upper underscores", raw: ["X_LANE_TAG", "gray"], reason: "underscore-spelling" },
    { name: "one underscore", raw: ["x-lane_tag", "gray"], reason: "underscore-spelling" },
    {
      name: "underscore beside the real one",
      raw: ["x-lane-tag", "gray", "x_lane_tag", "blue"],
      reason: "underscore-spelling",
    },
    {
      name: "underscore even when baggage has a lane",
      raw: ["baggage", "lane=gray", "x_lane_tag", "gray"],
      reason: "underscore-spelling",
    },
    { name: "empty value", raw: ["x-lane-tag", ""], reason: "invalid-value" },
    { name: "leading dash", raw: ["x-lane-tag", "-gray"], reason: "invalid-value" },
    { name: "space inside", raw: ["x-lane-tag", "gr ay"], reason: "invalid-value" },
    { name: "semicolon", raw: ["x-lane-tag", "gray;q=1"], reason: "invalid-value" },
    { name: "64 characters", raw: ["x-lane-tag", "a".repeat(64)], reason: "invalid-value" },
    { name: "non-ASCII", raw: ["x-lane-tag", "gr\u00e4y"], reason: "invalid-value" },
    { name: "CR LF", raw: ["x-lane-tag", "gray\r\nx: y"], reason: "invalid-value" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(reader.read(c.raw), {
        ok: false,
        code: "LANEMESH_BAD_TAG_HEADER",
        reason: c.reason,
      });
    });
  }
});

describe("TagReader: trace ids", () => {
  const reader = new TagReader();
  const B3 = "463AC35C9F6413AD48485A3953BB6124";
  const cases: Array<{
    name: string;
    raw: string[];
    traceId: string | null;
    traceparent: boolean;
    b3: string | null;
    requestId: string | null;
  }> = [
    {
      name: "traceparent",
      raw: ["traceparent", TP],
      traceId: TP_ID,
      traceparent: true,
      b3: null,
      requestId: null,
    },
    {
      name: "traceparent name case",
      raw: ["TraceParent", TP],
      traceId: TP_ID,
      traceparent: true,
      b3: null,
      requestId: null,
    },
    {
      name: "traceparent first, all ids returned",
      raw: ["x-request-id", "r-1", "X-B3-TraceId", B3, "traceparent", TP],
      traceId: TP_ID,
      traceparent: true,
      b3: B3.toLowerCase(),
      requestId: "r-1",
    },
    {
      name: "invalid traceparent falls to b3",
      raw: ["traceparent", TP.toUpperCase(), "x-b3-traceid", "463ac35c9f6413ad"],
      traceId: "463ac35c9f6413ad",
      traceparent: false,
      b3: "463ac35c9f6413ad",
      requestId: null,
    },
    {
      name: "duplicate traceparent is invalid",
      raw: ["traceparent", TP, "traceparent", TP, "x-request-id", "abc"],
      traceId: "abc",
      traceparent: false,
      b3: null,
      requestId: "abc",
    },
    {
      name: "request id only",
      raw: ["X-Request-Id", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"],
      traceId: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
      traceparent: false,
      b3: null,
      requestId: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    },
    {
      name: "bad b3 (all zero, wrong length) and long request id",
      raw: ["x-b3-traceid", "0".repeat(16), "x-request-id", "r".repeat(129)],
      traceId: null,
      traceparent: false,
      b3: null,
      requestId: null,
    },
    {
      name: "b3 of 20 hex",
      raw: ["x-b3-traceid", "a".repeat(20)],
      traceId: null,
      traceparent: false,
      b3: null,
      requestId: null,
    },
    {
      name: "duplicate request ids",
      raw: ["x-request-id", "a", "x-request-id", "b"],
      traceId: null,
      traceparent: false,
      b3: null,
      requestId: null,
    },
    {
      name: "request id with a space",
      raw: ["x-request-id", "a b"],
      traceId: null,
      traceparent: false,
      b3: null,
      requestId: null,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const read = ok(reader.read(c.raw));
      assert.equal(read.traceId, c.traceId);
      assert.equal(read.traceparent, c.traceparent);
      assert.equal(read.b3TraceId, c.b3);
      assert.equal(read.requestId, c.requestId);
    });
  }
});

describe("TagHeaderName", () => {
  const bad = ["", "x lane", "x-lane:tag", "baggage", "Traceparent", "X_Request_Id", "Host"];
  for (const name of bad) {
    test(`refuses ${JSON.stringify(name)}`, () => {
      assert.throws(
        () => new TagHeaderName(name),
        (error: unknown) =>
          error instanceof TagHeaderNameError && error.code === "LANEMESH_BAD_TAG_HEADER_NAME",
      );
    });
  }

  test("matches case and underscore variants, nothing else", () => {
    const name = new TagHeaderName("X-Lane-Tag");
    assert.equal(name.name, "x-lane-tag");
    const table: Array<[string, string | null]> = [
      ["x-lane-tag", "exact"],
      ["X-LANE-TAG", "exact"],
      ["x_lane_tag", "variant"],
      ["X-Lane_Tag", "variant"],
      ["x-lane-tags", null],
      ["x-lane-taG ", null],
      ["y-lane-tag", null],
    ];
    for (const [raw, expected] of table) assert.equal(name.match(raw), expected, raw);
  });
});
