// The load report on the wire: new field numbers only, so a control plane built on the proto before reports decodes a report as an empty message it ignores, and a new proxy's hello and ACK read as before.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { meshDefinition, PROTO_LOAD_OPTIONS, PROTO_PATH } from "../../src/protocol/wire.js";
import { LATENCY_BUCKETS } from "../../src/telemetry/load.js";

const dir = mkdtempSync(join(tmpdir(), "lanemesh-old-proto-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The service as a peer built before load reports sees it: the proto without ProxyMessage.report. */
function oldService(): grpc.ServiceDefinition {
  const text = readFileSync(PROTO_PATH, "utf8");
  const without = text.replace(/^\s*LoadReport report = 4;\n/m, "");
  assert.notEqual(without, text, "the report field is where the test expects it");
  const file = join(dir, "old.proto");
  writeFileSync(file, without);
  const def = protoLoader.loadSync(file, PROTO_LOAD_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    lanemesh: { v1: { Mesh: grpc.ServiceClientConstructor } };
  };
  return pkg.lanemesh.v1.Mesh.service;
}

test("an older control plane reads a report as a message with no known member (ignored), and the rest as before", () => {
  const now = meshDefinition().service.Stream as grpc.MethodDefinition<unknown, unknown>;
  const old = oldService().Stream as grpc.MethodDefinition<unknown, unknown>;
  const report = {
    report: {
      intervalMs: 5000,
      folded: 0,
      rows: [
        {
          direction: "inbound",
          service: "sc-c",
          tag: "gray",
          requests: 9_007_199_254_740_000,
          errors: 3,
          fallbacks: 0,
          latency: new Array(LATENCY_BUCKETS).fill(1),
        },
      ],
    },
  };
  const bytes = now.requestSerialize(report);
  const seenByOld = old.requestDeserialize(bytes) as Record<string, unknown>;
  assert.equal(seenByOld.message, undefined, "no oneof member the old peer knows");
  assert.equal(seenByOld.hello ?? null, null);
  const seenByNew = now.requestDeserialize(bytes) as {
    message: string;
    report: { rows: { requests: string; latency: number[] }[] };
  };
  assert.equal(seenByNew.message, "report");
  assert.equal(
    seenByNew.report.rows[0]?.requests,
    "9007199254740000",
    "uint64 as a decimal string",
  );
  assert.equal(seenByNew.report.rows[0]?.latency.length, LATENCY_BUCKETS);
  const ack = now.requestSerialize({ ack: { version: "3", nonce: "1-1" } });
  assert.deepEqual((old.requestDeserialize(ack) as { ack: unknown }).ack, {
    version: "3",
    nonce: "1-1",
  });
  assert.ok(bytes.length < 200, `a one-row report is small: ${bytes.length} bytes`);
});
