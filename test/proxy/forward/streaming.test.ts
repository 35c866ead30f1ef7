// The forwarder: bodies stream both ways without buffering, keep-alive pools are reused and closed when instances leave, timeouts and mid-body failures are reported honestly.
import assert from "node:assert/strict";
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../../src/live/live-config.js";
import type { ForwardOutcome } from "../../../src/proxy/forward/contract.js";
import { H1Forwarder } from "../../../src/proxy/forward/h1/forwarder.js";
import type { ProxyHandle } from "../../../src/proxy/handle.js";
import { endpoint, loopbackGateway, seedRules } from "../../helpers/mesh.js";
import { send } from "../../helpers/upstream.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}

describe("streaming through the gateway", () => {
  let handler: Handler = () => {};
  let upstream: { server: Server; port: number };
  let gateway: ProxyHandle;
  let connections = 0;

  before(async () => {
    upstream = await listen((req, res) => handler(req, res));
    upstream.server.on("connection", () => connections++);
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [endpoint("sc-a", upstream.port)], "1");
    gateway = await loopbackGateway({ live });
  });
  after(async () => {
    await gateway.close();
    await closeServer(upstream.server);
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
    const before = connections;
    for (let n = 0; n < 5; n++) await send(gateway.ports.gateway as number, { path: "/a" });
    assert.equal(connections, before);
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

describe("H1Forwarder", () => {
  it("reports no response headers in time as a timeout, not retryable", async () => {
    const silent = await listen(() => {});
    const fwd = new H1Forwarder({ headersTimeoutMs: 100 });
    let outcome: ForwardOutcome | undefined;
    const proxy = await listen(async (_req, res) => {
      outcome = await fwd.forward({
        upstream: { address: "127.0.0.1", port: silent.port },
        method: "GET",
        path: "/",
        headers: [],
        body: null,
        interceptAppUnavailable: false,
        res,
        onHead: () => {},
      });
      res.end();
    });
    try {
      await send(proxy.port);
      assert.deepEqual(outcome, {
        ok: false,
        kind: "timeout",
        detail: `no response headers from 127.0.0.1:${silent.port} within 100 ms`,
        retryable: false,
      });
    } finally {
      await fwd.destroy();
      await closeServer(proxy.server);
      await closeServer(silent.server);
    }
  });

  it("closes the pools of instances that left the config", async () => {
    const up = await listen((_req, res) => res.end("ok"));
    const fwd = new H1Forwarder();
    const proxy = await listen((req, res) => {
      void fwd.forward({
        upstream: { address: "127.0.0.1", port: up.port },
        method: "GET",
        path: req.url ?? "/",
        headers: [],
        body: null,
        interceptAppUnavailable: false,
        res,
        onHead: () => {},
      });
    });
    try {
      assert.equal((await send(proxy.port)).body, "ok");
      assert.deepEqual(fwd.upstreams(), [`127.0.0.1:${up.port}`]);
      fwd.retain([{ address: "127.0.0.1", port: up.port }]);
      assert.deepEqual(fwd.upstreams(), [`127.0.0.1:${up.port}`]);
      fwd.retain([{ address: "127.0.0.1", port: 1 }]);
      assert.deepEqual(fwd.upstreams(), []);
    } finally {
      await fwd.destroy();
      await closeServer(proxy.server);
      await closeServer(up.server);
    }
  });
});
