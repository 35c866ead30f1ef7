// Table tests for the classify stage's carried decisions: carriedLane (header, baggage, trace cache, the shared-trace rule) and keepsTrace (the gateway's fresh trace for a trace id of another lane).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { carriedLane, keepsTrace } from "../../src/lane/classify.js";
import { EntryTraces } from "../../src/lane/propagation/entry-traces.js";
import { type LaneContext, TagReader } from "../../src/lane/propagation/tag.js";
import { TraceTagCache } from "../../src/lane/propagation/trace-cache.js";

const reader = new TagReader();
const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function read(raw: string[]): LaneContext {
  const ctx = reader.read(raw);
  assert.ok(ctx.ok);
  return ctx;
}

describe("carriedLane", () => {
  /** Inbound requests remembered first (their tags, null = base), then the outbound call's headers. */
  const cases: { name: string; inbound: (string | null)[]; call: string[]; want: string | null }[] =
    [
      {
        name: "the tag header wins over everything",
        inbound: [null],
        call: ["x-lane-tag", "blue", "traceparent", TP],
        want: "blue",
      },
      {
        name: "the baggage lane member, when no tag header",
        inbound: [],
        call: ["baggage", "lane=gray", "traceparent", TP],
        want: "gray",
      },
      {
        name: "no tag: the lane ONE gray request left under the trace id (no conflict)",
        inbound: ["gray"],
        call: ["traceparent", TP],
        want: "gray",
      },
      {
        name: "no tag: the same after several gray requests",
        inbound: ["gray", "gray"],
        call: ["traceparent", TP],
        want: "gray",
      },
      {
        name: "no tag: a trace id seen in gray and in base goes to base",
        inbound: ["gray", null],
        call: ["traceparent", TP],
        want: null,
      },
      {
        name: "no tag: base first, then gray: base",
        inbound: [null, "gray"],
        call: ["traceparent", TP],
        want: null,
      },
      {
        name: "no tag: two lanes: base",
        inbound: ["gray", "blue"],
        call: ["traceparent", TP],
        want: null,
      },
      {
        name: "no tag, trace id unknown: base",
        inbound: [],
        call: ["traceparent", TP],
        want: null,
      },
      { name: "no tag, no trace id: base", inbound: ["gray"], call: [], want: null },
    ];
  for (const c of cases) {
    test(c.name, () => {
      const cache = new TraceTagCache();
      for (const tag of c.inbound) {
        const raw = tag === null ? ["traceparent", TP] : ["x-lane-tag", tag, "traceparent", TP];
        cache.remember(read(raw), tag);
      }
      assert.equal(carriedLane(read(c.call), cache), c.want);
    });
  }
});

describe("keepsTrace", () => {
  /** Requests in order: [headers, lane], and whether each keeps its trace id. */
  const cases: { name: string; requests: [string[], string | null, boolean][] }[] = [
    {
      name: "requests of one lane share a trace id freely",
      requests: [
        [["traceparent", TP], "gray", true],
        [["traceparent", TP], "gray", true],
      ],
    },
    {
      name: "a second lane on the same trace id gets a fresh trace (base counts)",
      requests: [
        [["traceparent", TP], null, true],
        [["traceparent", TP], "gray", false],
        [["traceparent", TP], null, true],
      ],
    },
    {
      name: "no traceparent (or an invalid one): nothing to keep, nothing remembered",
      requests: [
        [[], "gray", true],
        [["traceparent", "00-zz"], null, true],
        [["x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"], null, true],
        [["traceparent", TP], "gray", true],
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const traces = new EntryTraces();
      c.requests.forEach(([raw, lane, want], i) => {
        assert.equal(keepsTrace(read(raw), lane, traces), want, `request ${i}`);
      });
    });
  }
});
