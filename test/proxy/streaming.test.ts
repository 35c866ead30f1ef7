// Bodies stream through the gateway both ways without buffering, keep-alive connections to an instance are reused, and an upstream failing mid-body cuts the client's response.
import assert from "node:assert/strict";
import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { listenHttp, type Up } from "../helpers/forward.js";
import { endpoint, loopbackGateway, seedRules } from "../helpers/mesh.js";
import { send } from "../helpers/upstream.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe("streaming through the gateway", () => {
  let handler: Handler = () => {};
  let upstream: Up;
  let gateway: ProxyHandle;

  before(async () => {
    upstream = await listenHttp((req, res) => handler(req, res));
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [endpoint("sc-a", upstream.port)], "1");
    gateway = await loopbackGateway({ live });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  it("passes the first response chunk on before the upstream has finished", async () => {
    let finish = () => {};
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first;");
      finish = () => res.end("last");
    };
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        { port: gateway.ports.gateway, host: "127.0.0.1", path: "/a", agent: false },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            if (text === "") finish();
            text += c.toString();
          });
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(body, "first;last");
  });

  it("passes the first request chunk on before the client has finished", async () => {
    let firstSeen = () => {};
    const seen = new Promise<void>((r) => {
      firstSeen = r;
    });
    handler = (req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c.toString();
        firstSeen();
      });
      req.on("end", () => res.end(`got ${text}`));
    };
    const answer = new Promise<string>((resolve, reject) => {
      const req = request(
        {
          port: gateway.ports.gateway,
          host: "127.0.0.1",
          path: "/a/upload",
          method: "POST",
          agent: false,
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString();
          });
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.write("part1;");
      void seen.then(() => req.end("part2"));
    });
    assert.equal(await answer, "got part1;part2");
  });

  it("reuses keep-alive connections to an instance", async () => {
    handler = (_req, res) => res.end("ok");
    await send(gateway.ports.gateway as number, { path: "/a" });
    const before = upstream.connections();
    for (let n = 0; n < 5; n++) await send(gateway.ports.gateway as number, { path: "/a" });
    assert.equal(upstream.connections(), before);
  });

  it("cuts the response when the upstream fails mid-body", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("only ten b");
      setImmediate(() => res.socket?.destroy());
    };
    await assert.rejects(send(gateway.ports.gateway as number, { path: "/a" }));
  });
});
