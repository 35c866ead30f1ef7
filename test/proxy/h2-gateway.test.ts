// gRPC through the gateway in one process: routes on /package.Service/Method, the lane from metadata, server streaming and bidi through gateway and sidecar, and a CONNECT stream refused.
import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { API_VERSION, type RuleSet } from "../../src/config/types.js";
import { type EchoClient, type EchoMsg, echoClient } from "../../src/demo/grpc-echo.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { type EchoServer, echoServer, ready, unary } from "../helpers/grpc.js";
import { endpoint, group, lane, loopbackGateway, loopbackSidecar } from "../helpers/mesh.js";

const RULES: RuleSet = {
  routes: [
    {
      apiVersion: API_VERSION,
      kind: "Route",
      metadata: { name: "echo" },
      spec: { gateway: "default", match: { prefix: "/lanemesh.demo.Echo/" }, service: "sc-b" },
    },
  ],
  groups: [group("mall", ["echo"], ["sc-b"])],
  lanes: [lane("gray", "gray", "canary", "gray")],
};

function collect(stream: grpc.ClientReadableStream<EchoMsg>): Promise<EchoMsg[]> {
  return new Promise((resolve, reject) => {
    const got: EchoMsg[] = [];
    stream.on("data", (m: EchoMsg) => got.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(got));
  });
}

describe("gRPC through the gateway", { timeout: 60_000 }, () => {
  let base: EchoServer;
  let gray: EchoServer;
  const sidecars: ProxyHandle[] = [];
  let gateway: ProxyHandle;
  let client: EchoClient;
  const live = new LiveConfig({ gateway: "default", random: () => 0 });

  before(async () => {
    base = await echoServer("B");
    gray = await echoServer("Bgray");
    const sb = await loopbackSidecar({ app: "sc-b", tag: null, appPort: base.port, live });
    const sg = await loopbackSidecar({ app: "sc-b", tag: "gray", appPort: gray.port, live });
    sidecars.push(sb, sg);
    gateway = await loopbackGateway({ live });
    live.setAll(
      RULES,
      [
        endpoint("sc-b", sb.ports.inbound as number),
        endpoint("sc-b", sg.ports.inbound as number, "gray"),
      ],
      "1",
    );
    client = echoClient(gateway.ports.gateway as number);
    await ready(client);
  });
  after(async () => {
    client?.close();
    await gateway?.close();
    for (const s of sidecars) await s.close();
    await base?.close();
    await gray?.close();
  });

  it("the lane comes from metadata: base without it, gray with canary: gray", async () => {
    assert.equal((await unary(client, { text: "x", n: 0 })).out?.text, "B:x");
    const g = await unary(client, { text: "x", n: 0 }, { canary: "gray" });
    assert.equal(g.out?.text, "Bgray:x");
    assert.equal(gray.calls.at(-1)?.metadata["x-lane-tag"], "gray");
  });

  it("server streaming and bidi pass through gateway and sidecar, 1,000 messages each way", async () => {
    const md = new grpc.Metadata();
    md.set("canary", "gray");
    const down = await collect(client.ServerStream({ text: "s", n: 1000 }, md));
    assert.equal(down.length, 1000);
    assert.ok(down.every((m) => m.text === "Bgray"));
    const call = client.Bidi(md);
    const got = collect(call);
    for (let i = 0; i < 1000; i++) call.write({ text: "b", n: i });
    call.end();
    const echoed = await got;
    assert.equal(echoed.length, 1000);
    assert.ok(echoed.every((m, i) => m.n === i && m.text === "Bgray"));
  });

  it("a CONNECT stream is refused with 400, the connection serves the next request", async () => {
    const session = connect(`http://127.0.0.1:${gateway.ports.gateway}`);
    session.on("error", () => {});
    try {
      const s = session.request({ ":method": "CONNECT", ":authority": "example.com:443" });
      s.on("error", () => {});
      const status = await new Promise<number>((resolve) => {
        s.on("response", (h) => resolve(Number(h[":status"])));
        s.on("close", () => resolve(-1));
      });
      assert.equal(status, 400);
    } finally {
      session.destroy();
    }
    assert.equal((await unary(client, { text: "y", n: 0 })).out?.text, "B:y");
  });
});
