// Bounded waiting through the proxies: a stalled request body gets 408 and frees its upstream connection, a client that stops reading is cut, a busy instance answers 503 LANEMESH_OVERLOADED fast (and a caller's sidecar retries elsewhere), tunnels are capped and closed when idle; each counted.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import type { ProxyLimits } from "../../src/proxy/limits.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpoint, loopbackGateway, loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { sample, send } from "../helpers/upstream.js";

const BIG = Buffer.alloc(8 * 1024 * 1024, "x");

/** An app: `/big` answers 8 MiB, `/hold` never answers, `/upload` reads the body; WebSocket-ish upgrades echo. */
async function app(): Promise<{
  port: number;
  closed: () => number;
  held: () => number;
  close: () => Promise<void>;
}> {
  let closed = 0;
  let held = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.socket.once("close", () => closed++);
    if (req.url?.endsWith("/hold")) {
      held++;
      return;
    }
    if (req.url?.endsWith("/big")) {
      res.writeHead(200, { "content-length": String(BIG.length) });
      res.end(BIG);
      return;
    }
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  server.on("upgrade", (_req, socket: Socket) => {
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n",
    );
    socket.on("data", (d: Buffer) => socket.write(d));
    socket.on("error", () => {});
    // As WebSocket servers do: the peer's FIN ends the connection.
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    closed: () => closed,
    held: () => held,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Write `bytes` on a new connection; resolves with what came back when the connection closed. */
function raw(port: number, bytes: string): { socket: Socket; closed: Promise<string> } {
  const socket = connect(port, "127.0.0.1");
  socket.write(bytes);
  let text = "";
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => {
    text += d;
  });
  socket.on("error", () => {});
  return { socket, closed: new Promise((r) => socket.once("close", () => r(text))) };
}

const SHORT: Partial<ProxyLimits> = {
  clientBodyTimeoutMs: 300,
  sendTimeoutMs: 300,
  pendingTimeoutMs: 300,
  tunnelIdleMs: 300,
  maxTunnels: 2,
};

/** An app behind a gateway with `limits`, opened in before() and closed in after(). */
function gatewayRig(limits: Partial<ProxyLimits>) {
  const rig = {
    a: undefined as unknown as Awaited<ReturnType<typeof app>>,
    gateway: undefined as unknown as ProxyHandle,
    metrics: new ProxyMetrics(),
    gw: 0,
  };
  before(async () => {
    rig.a = await app();
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [endpoint("sc-a", rig.a.port)], "1");
    rig.gateway = await loopbackGateway({ live, metrics: rig.metrics, limits });
    rig.gw = rig.gateway.ports.gateway as number;
  });
  after(async () => {
    await rig.gateway.close();
    await rig.a.close();
  });
  return rig;
}

describe("slow clients at the gateway", () => {
  const rig = gatewayRig({ ...SHORT, connectionsPerInstance: 2, clientReserve: 0 });
  const metrics = rig.metrics;

  const count = async (metric: string, labels: Record<string, string>) =>
    sample(await metrics.registry.metrics(), metric, labels);

  it("a request body that stalls: 408, the connection closed, the upstream connection freed", async () => {
    const before = rig.a.closed();
    const started = performance.now();
    const c = raw(rig.gw, "POST /a/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhello");
    const text = await c.closed;
    const took = performance.now() - started;
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /x-lanemesh-error: LANEMESH_REQUEST_TIMEOUT/);
    assert.match(text, /connection: close/i);
    assert.ok(took < 3_000, `ended after ${took} ms`);
    await until(() => rig.a.closed() > before, "the upstream connection closed");
    assert.equal(
      await count("lanemesh_client_timeouts_total", { direction: "gateway", kind: "body" }),
      1,
    );
  });

  it("a client that stops reading: its connection is reset and the upstream one freed", async () => {
    const before = rig.a.closed();
    const started = performance.now();
    const c = raw(rig.gw, "GET /a/big HTTP/1.1\r\nhost: x\r\n\r\n");
    c.socket.pause();
    await until(() => rig.a.closed() > before, "the upstream connection closed");
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 5_000, `upstream freed after ${took} ms`);
    assert.equal(
      await count("lanemesh_client_timeouts_total", { direction: "gateway", kind: "send" }),
      1,
    );
    // The client, reading again, finds its connection already reset.
    const resumed = performance.now();
    c.socket.resume();
    await c.closed;
    assert.ok(performance.now() - resumed < 2_000);
  });

  it("a busy instance: 503 LANEMESH_OVERLOADED after the pending timeout, nothing sent", async () => {
    const holds = [raw(rig.gw, "GET /a/hold HTTP/1.1\r\nhost: x\r\n\r\n")];
    holds.push(raw(rig.gw, "GET /a/hold HTTP/1.1\r\nhost: x\r\n\r\n"));
    await until(() => rig.a.held() === 2, "both connections held");
    const started = performance.now();
    const r = await send(rig.gw, { path: "/a/next" });
    const took = performance.now() - started;
    assert.equal(r.status, 503);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_OVERLOADED");
    assert.ok(took >= 290 && took < 3_000, `answered after ${took} ms`);
    assert.equal(rig.a.held(), 2);
    assert.equal(
      await count("lanemesh_overloaded_total", { direction: "gateway", service: "sc-a" }),
      1,
    );
    for (const h of holds) h.socket.destroy();
  });
});

describe("tunnels", () => {
  const rig = gatewayRig(SHORT);
  const metrics = rig.metrics;

  const UPGRADE = "GET /a/ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n";

  /** Open a tunnel; resolves once the 101 arrived. */
  function tunnel(): Promise<{
    socket: Socket;
    closed: Promise<void>;
    echo: (s: string) => Promise<void>;
  }> {
    return new Promise((resolve, reject) => {
      const socket = connect(rig.gw, "127.0.0.1");
      socket.setEncoding("latin1");
      let text = "";
      const closed = new Promise<void>((r) => socket.once("close", () => r()));
      socket.on("error", () => {});
      socket.write(UPGRADE);
      const onHead = (d: string) => {
        text += d;
        if (!text.includes("\r\n\r\n")) return;
        socket.off("data", onHead);
        if (!text.startsWith("HTTP/1.1 101")) {
          reject(new Error(text));
          return;
        }
        resolve({
          socket,
          closed,
          echo: (s) =>
            new Promise((ok) => {
              socket.once("data", () => ok());
              socket.write(s);
            }),
        });
      };
      socket.on("data", onHead);
    });
  }

  it("at --max-tunnels, the next Upgrade gets 503 LANEMESH_OVERLOADED", async () => {
    const open = [await tunnel(), await tunnel()];
    const third = raw(rig.gw, UPGRADE);
    const text = await third.closed;
    assert.match(text, /^HTTP\/1\.1 503 /);
    assert.match(text, /x-lanemesh-error: LANEMESH_OVERLOADED/);
    for (const t of open) t.socket.destroy();
    await Promise.all(open.map((t) => t.closed));
    const again = await tunnel();
    again.socket.destroy();
  });

  it("a tunnel with traffic stays open; an idle one is closed after --tunnel-idle-timeout", async () => {
    const busy = await tunnel();
    const idle = await tunnel();
    const started = performance.now();
    let idleClosed = 0;
    void idle.closed.then(() => {
      idleClosed = performance.now() - started;
    });
    // Traffic every 100 ms for a second keeps `busy` open well past the 300 ms idle limit.
    for (let n = 0; n < 10; n++) {
      await busy.echo(`ping ${n}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(idleClosed > 0 && idleClosed < 1_000, `idle tunnel closed after ${idleClosed} ms`);
    assert.equal(busy.socket.destroyed, false);
    await busy.closed;
    assert.ok(
      (await sample(await metrics.registry.metrics(), "lanemesh_client_timeouts_total", {
        direction: "gateway",
        kind: "tunnel-idle",
      })) >= 2,
    );
  });
});

describe("a sidecar whose app is busy", () => {
  it("answers 503 LANEMESH_OVERLOADED; the gateway retries the GET on another instance", async () => {
    const busy = await app();
    const free = await app();
    const live = new LiveConfig({ gateway: "default" });
    const sidecar = await loopbackSidecar({
      app: "sc-a",
      tag: null,
      appPort: busy.port,
      live,
      limits: { connectionsPerInstance: 1, clientReserve: 0, maxPendingRequests: 0 },
    });
    const gateway = await loopbackGateway({ live });
    try {
      const inbound = sidecar.ports.inbound as number;
      live.setAll(seedRules(), [endpoint("sc-a", inbound)], "1");
      const hold = raw(inbound, "GET /hold HTTP/1.1\r\nhost: x\r\n\r\n");
      await until(() => busy.held() === 1, "the app's one connection held");
      const direct = await send(inbound, { path: "/a" });
      assert.equal(direct.status, 503);
      assert.equal(direct.headers["x-lanemesh-error"], "LANEMESH_OVERLOADED");
      live.setAll(seedRules(), [endpoint("sc-a", inbound), endpoint("sc-a", free.port)], "2");
      for (let n = 0; n < 4; n++) {
        const r = await send(gateway.ports.gateway as number, { path: "/a" });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.body, "ok");
      }
      hold.socket.destroy();
    } finally {
      await gateway.close();
      await sidecar.close();
      await busy.close();
      await free.close();
    }
  });
});
