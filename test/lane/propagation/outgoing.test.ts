// Table tests for LaneWriter: what the next hop receives for tagged and base requests.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LaneWriter } from "../../../src/lane/propagation/outgoing.js";
import { type LaneContext, TagReader } from "../../../src/lane/propagation/tag.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const FRESH = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

describe("LaneWriter.write", () => {
  const writer = new LaneWriter();
  const cases: Array<{
    name: string;
    raw: string[];
    tag: string | null;
    traceparent?: string;
    out: string[];
  }> = [
    {
      name: "tag set: header and baggage written",
      raw: ["Host", "b", "Accept", "*/*"],
      tag: "gray",
      out: ["Host", "b", "Accept", "*/*", "x-lane-tag", "gray", "baggage", "lane=gray"],
    },
    {
      name: "stale spellings replaced, other baggage kept in order",
      raw: [
        "X-Lane-Tag",
        "blue",
        "Host",
        "b",
        "x_lane_tag",
        "z",
        "Baggage",
        "a=1",
        "baggage",
        "lane=blue,c=3",
      ],
      tag: "gray",
      out: ["Host", "b", "x-lane-tag", "gray", "baggage", "a=1,lane=gray,c=3"],
    },
    {
      name: "base: no tag header, no lane member",
      raw: ["x-lane-tag", "gray", "baggage", "a=1, lane=gray", "Host", "b"],
      tag: null,
      out: ["Host", "b", "baggage", "a=1"],
    },
    {
      name: "base: baggage with only a lane member disappears",
      raw: ["baggage", "lane=gray", "Host", "b"],
      tag: null,
      out: ["Host", "b"],
    },
    {
      name: "base: foreign baggage passes unchanged",
      raw: ["baggage", "a=1 , b=2", "Host", "b"],
      tag: null,
      out: ["Host", "b", "baggage", "a=1 , b=2"],
    },
    {
      name: "trace headers kept without a fresh traceparent",
      raw: ["traceparent", TP, "tracestate", "v=1"],
      tag: "gray",
      out: ["traceparent", TP, "tracestate", "v=1", "x-lane-tag", "gray", "baggage", "lane=gray"],
    },
    {
      name: "fresh traceparent replaces every traceparent and tracestate",
      raw: ["TraceParent", "bad", "Host", "b", "traceparent", TP, "TraceState", "v=1"],
      tag: null,
      traceparent: FRESH,
      out: ["Host", "b", "traceparent", FRESH],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const input = [...c.raw];
      assert.deepEqual(writer.write(input, c.tag, c.traceparent), c.out);
      assert.deepEqual(input, c.raw, "input not modified");
    });
  }

  test("configured x-mse-tag: writes it, leaves x-lane-tag alone", () => {
    const mse = new LaneWriter("X-MSE-Tag");
    assert.deepEqual(
      mse.write(["x-lane-tag", "keep", "X-Mse-Tag", "old", "x_mse_tag", "z"], "gray"),
      ["x-lane-tag", "keep", "x-mse-tag", "gray", "baggage", "lane=gray"],
    );
  });

  test("round trip: what is written reads back as the same lane", () => {
    const reader = new TagReader();
    const hostile = ["x_lane_tag", "blue", "X-Lane-Tag", "blue", "baggage", "lane=blue"];
    for (const tag of ["gray", "v1.2_x-y", null]) {
      const read = reader.read(writer.write(hostile, tag)) as LaneContext;
      assert.equal(read.ok, true);
      assert.equal(read.tag, tag);
    }
    // an app that forwards only baggage keeps the lane
    const written = writer.write(["Host", "b", "baggage", "u=1"], "gray");
    const baggageOnly: string[] = [];
    for (let i = 0; i < written.length; i += 2) {
      if (written[i] === "baggage") baggageOnly.push("baggage", written[i + 1] as string);
    }
    assert.deepEqual(baggageOnly, ["baggage", "u=1,lane=gray"]);
    assert.equal((reader.read(baggageOnly) as LaneContext).tag, "gray");
    assert.equal((reader.read(baggageOnly) as LaneContext).source, "baggage");
  });
});
