// HTTP/1.1 response trailers through a sidecar pair (client → outbound → inbound → app): a chunked answer's trailers arrive with it, its Trailer header too; an answer without trailers is unchanged.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";

function get(port: number, path: string): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: "sc-b" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ res, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP/1.1 trailers through the sidecars", () => {
  const app = createServer((req, res) => {
    if (req.url === "/plain") {
      res.end("plain");
      return;
    }
    res.writeHead(200, { trailer: "x-checksum, x-status" });
    res.write("part one, ");
    res.addTrailers({ "x-checksum": "abc123", "x-status": "done" });
    res.end("part two");
  });
  let caller: ProxyHandle;
  let callee: ProxyHandle;
  const live = new LiveConfig({ gateway: "default" });

  before(async () => {
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    const appPort = (app.address() as AddressInfo).port;
    callee = await loopbackSidecar({ app: "sc-b", tag: null, appPort, live });
    caller = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live });
    live.setAll(
      { routes: [], groups: [], lanes: [] },
      [endpoint("sc-b", callee.ports.inbound as number)],
      "1",
    );
  });
  after(async () => {
    await caller?.close();
    await callee?.close();
    app.close();
  });

  it("a chunked answer's trailers and its Trailer header arrive", async () => {
    const { res, body } = await get(caller.ports.outbound as number, "/t");
    assert.equal(res.statusCode, 200);
    assert.equal(body, "part one, part two");
    assert.equal(res.headers.trailer, "x-checksum, x-status");
    assert.deepEqual(res.trailers, { "x-checksum": "abc123", "x-status": "done" });
  });

  it("an answer without trailers has none", async () => {
    const { res, body } = await get(caller.ports.outbound as number, "/plain");
    assert.equal(body, "plain");
    assert.deepEqual(res.trailers, {});
  });
});
