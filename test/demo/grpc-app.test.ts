// The gRPC demo app alone: it answers its name and address, and --fail-ratio fails that share of calls with INTERNAL, spread evenly, as the HTTP app does.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startGrpcDemoApp } from "../../src/demo/grpc-app.js";
import { echoClient } from "../../src/demo/grpc-echo.js";

test("a gRPC demo app with --fail-ratio 0.5 fails every other call with INTERNAL and answers the rest", async (t) => {
  const app = await startGrpcDemoApp({
    name: "C",
    tag: "gray",
    host: "127.0.0.1",
    port: 0,
    next: null,
    proxy: null,
    configLabel: null,
    forward: ["traceparent"],
    failRatio: 0.5,
  });
  const client = echoClient(app.port);
  t.after(async () => {
    client.close();
    await app.close();
  });
  const outcomes: string[] = [];
  for (let n = 0; n < 6; n++) {
    outcomes.push(
      await new Promise<string>((resolve) =>
        client.Unary({ text: "", n }, new grpc.Metadata(), {}, (err, out) =>
          resolve(err ? `${grpc.status[err.code]}: ${err.details}` : (out?.text ?? "")),
        ),
      ),
    );
  }
  const failed = outcomes.filter((o) => o.startsWith("INTERNAL: "));
  assert.equal(failed.length, 3, outcomes.join("\n"));
  assert.match(
    failed[0] ?? "",
    /^INTERNAL: Cgray\[127\.0\.0\.1:\d+\] FAILED \(--fail-ratio 0\.5\)$/,
  );
  for (const o of outcomes.filter((x) => !x.startsWith("INTERNAL")))
    assert.match(o, /^Cgray\[127\.0\.0\.1:\d+\]$/);
});
