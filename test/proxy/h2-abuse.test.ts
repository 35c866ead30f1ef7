// HTTP/2 abuse at a proxy listener, with raw frames and a real client: rapid reset, a CONTINUATION flood, an oversized header list and too many streams each get a bounded, counted refusal while other clients keep being served.
import assert from "node:assert/strict";
import { constants, connect as h2connect } from "node:http2";
import { type Socket, connect as tcpConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import type { EchoClient } from "../../src/demo/grpc-echo.js";
import { echoClient } from "../../src/demo/grpc-echo.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { H2_PREFACE } from "../../src/proxy/listen/h2.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { type EchoServer, echoServer, ready, unary } from "../helpers/grpc.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";
import { sumMetric } from "../helpers/procs.js";

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK literal field without indexing, new name (RFC 7541 §6.2.2); short strings only. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/** Frame types seen on a raw connection, and whether it closed. */
function watch(socket: Socket): { types: Set<number>; closed: Promise<void> } {
  const types = new Set<number>();
  let buf = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      types.add(buf[3] as number);
      buf = buf.subarray(9 + len);
    }
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { types, closed };
}

describe("HTTP/2 abuse at a sidecar's outbound listener", { timeout: 120_000 }, () => {
  let app: EchoServer;
  let caller: ProxyHandle;
  let callee: ProxyHandle;
  let client: EchoClient;
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ gateway: "default" });
  let port: number;

  before(async () => {
    app = await echoServer("B");
    callee = await loopbackSidecar({ app: "sc-b", tag: null, appPort: app.port, live });
    caller = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live, metrics });
    live.setAll(
      { routes: [], groups: [], lanes: [] },
      [endpoint("sc-b", callee.ports.inbound as number)],
      "1",
    );
    port = caller.ports.outbound as number;
    client = echoClient(port, "sc-b");
    await ready(client);
  });
  after(async () => {
    client?.close();
    await caller?.close();
    await callee?.close();
    await app?.close();
  });

  const refused = async (reason: string): Promise<number> =>
    sumMetric(await metrics.registry.metrics(), "lanemesh_http2_refused_total", {
      direction: "outbound",
      reason,
    });

  it("rapid reset: thousands of streams opened and reset get the connection closed, others served", async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    let goaway: number | null = null;
    session.on("goaway", (code: number) => {
      goaway ??= code;
    });
    await new Promise((r) => session.once("connect", r));
    let opened = 0;
    const other = unary(client, { text: "during", n: 1 });
    for (let i = 0; i < 5000 && !session.closed && !session.destroyed && goaway === null; i++) {
      try {
        const s = session.request(
          {
            ":method": "POST",
            ":path": "/lanemesh.demo.Echo/Unary",
            ":authority": "sc-b",
            "content-type": "application/grpc",
          },
          { endStream: false },
        );
        s.on("error", () => {});
        s.close(constants.NGHTTP2_CANCEL);
        opened++;
      } catch {
        break;
      }
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await new Promise<void>((resolve) => {
      if (session.destroyed) resolve();
      else session.once("close", () => resolve());
    });
    assert.equal(goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM, `after ${opened} streams`);
    assert.ok((await refused("rapid-reset")) >= 1);
    assert.equal((await other).out?.text, "B:during");
    const after = await unary(client, { text: "after", n: 2 });
    assert.equal(after.out?.text, "B:after");
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < 64 * 1024 * 1024, `heap grew ${grown} bytes`);
  });

  it("CONTINUATION flood: an endless header block closes the connection, others served", async () => {
    const before = await refused("protocol");
    const socket = tcpConnect(port, "127.0.0.1");
    const seen = watch(socket);
    await new Promise((r) => socket.once("connect", r));
    const block = Buffer.concat([
      Buffer.from([0x83, 0x86, 0x84]), // :method POST, :scheme http, :path /
      Buffer.from([0x01, 4]),
      Buffer.from("sc-b"), // :authority sc-b (indexed name, literal value)
    ]);
    socket.write(Buffer.concat([H2_PREFACE, frame(4, 0, 0, Buffer.alloc(0))]));
    socket.write(frame(1, 0, 1, block)); // HEADERS without END_HEADERS
    const cont = frame(9, 0, 1, literal("x-flood", "a".repeat(100)));
    let sent = 0;
    let closed = false;
    void seen.closed.then(() => {
      closed = true;
    });
    while (!closed && sent < 100_000) {
      const ok = socket.write(cont);
      sent++;
      if (!ok) await new Promise((r) => socket.once("drain", r).once("close", r));
      else if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await seen.closed;
    assert.ok(closed, `the connection was closed (${sent} frames written)`);
    assert.ok(seen.types.has(7), "a GOAWAY frame came first");
    assert.ok((await refused("protocol")) > before);
    assert.equal((await unary(client, { text: "still", n: 3 })).out?.text, "B:still");
  });

  it("an oversized header list resets the stream, the connection serves the next one", async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    try {
      const big = session.request({
        ":method": "GET",
        ":path": "/",
        ":authority": "sc-b",
        "x-big": "b".repeat(20 * 1024),
      });
      big.on("error", () => {});
      big.end();
      const code = await new Promise<number>((resolve) => {
        big.on("response", (h) => resolve(Number(h[":status"])));
        big.on("close", () => resolve(big.rstCode ?? -1));
      });
      assert.notEqual(code, 200);
      assert.equal((await unary(client, { text: "fine", n: 4 })).out?.text, "B:fine");
    } finally {
      session.destroy();
    }
  });

  it("a client connection is told it may open at most 100 concurrent streams", async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    await new Promise((r) => session.once("remoteSettings", r));
    assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
    session.destroy();
  });
});
