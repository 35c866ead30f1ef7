// WebSocket (HTTP/1.1 Upgrade) through the gateway and the sidecars: the handshake takes the lane like any request, the tunnel then carries bytes both ways; refusals, failover and hostile upgrades; real sockets on loopback.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpoint, loopbackGateway, loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { sample, send } from "../helpers/upstream.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = createHash("sha1")
  .update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
  .digest("base64");

/** A WebSocket-speaking app: answers the handshake (or refuses it), then echoes `NAME:` + bytes. */
class EchoApp {
  upgrades: IncomingHttpHeaders[] = [];
  refuse = false;
  private readonly sockets = new Set<Socket>();
  private constructor(
    readonly name: string,
    private readonly server: Server,
  ) {}

  static async start(name: string): Promise<EchoApp> {
    const server = createServer((_req, res) => res.end(`${name} plain`));
    const app = new EchoApp(name, server);
    server.on("upgrade", (req, socket: Socket) => {
      app.sockets.add(socket);
      socket.on("close", () => app.sockets.delete(socket));
      app.upgrades.push(req.headers);
      if (app.refuse) {
        socket.end(
          "HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\nconnection: close\r\n\r\nno ws\n",
        );
        return;
      }
      const accept = createHash("sha1")
        .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest("base64");
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
          `sec-websocket-accept: ${accept}\r\nx-served-by: ${name}\r\n\r\n`,
      );
      socket.on("data", (d: Buffer) => socket.write(`${name}:${d.toString()}`));
      // As the `ws` library does: the peer's FIN ends the connection (the server socket is half-open).
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return app;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Tunnels open at the app now. */
  get open(): number {
    return this.sockets.size;
  }

  /** The app ends every tunnel (as a server closing its WebSockets). */
  hangUp(): void {
    for (const s of this.sockets) s.end();
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

interface Opened {
  status: number;
  head: string;
  socket: Socket;
  /** Send `text` and wait for `expect` to arrive after it. */
  say(text: string, expect: string): Promise<void>;
}

/** Open a WebSocket handshake on `port` and read the answer head. */
function openWs(port: number, headers: Record<string, string>, path = "/a"): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buf = "";
    socket.setEncoding("latin1");
    socket.on("error", reject);
    socket.once("connect", () => {
      let head = `GET ${path} HTTP/1.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\n`;
      head += `sec-websocket-key: ${KEY}\r\nsec-websocket-version: 13\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      socket.write(`${head}\r\n`);
    });
    const onHead = (d: string) => {
      buf += d;
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onHead);
      const head = buf.slice(0, end);
      let rest = buf.slice(end + 4);
      const status = Number(head.split(" ")[1]);
      resolve({
        status,
        head,
        socket,
        say(text, expect) {
          return new Promise((ok, fail) => {
            const onData = (more: string) => {
              rest += more;
              if (!rest.includes(expect)) return;
              socket.off("data", onData);
              rest = "";
              ok();
            };
            socket.on("data", onData);
            socket.once("close", () => fail(new Error(`closed before "${expect}": ${rest}`)));
            socket.write(text);
          });
        },
      });
    };
    socket.on("data", onHead);
    socket.once("close", () => reject(new Error(`closed before an answer head: ${buf}`)));
  });
}

describe("WebSocket through the mesh", () => {
  let a: EchoApp;
  let agray: EchoApp;
  let sidecar: ProxyHandle;
  let gateway: ProxyHandle;
  let gatewayMetrics: ProxyMetrics;
  let live: LiveConfig;

  before(async () => {
    a = await EchoApp.start("A");
    agray = await EchoApp.start("Agray");
    live = new LiveConfig({ gateway: "default" });
    // A gray sits behind its sidecar (inbound → app); base A is reached directly.
    sidecar = await loopbackSidecar({ app: "sc-a", tag: "gray", appPort: agray.port, live });
    gatewayMetrics = new ProxyMetrics();
    gateway = await loopbackGateway({ live, metrics: gatewayMetrics });
    live.setAll(
      seedRules(),
      [endpoint("sc-a", a.port), endpoint("sc-a", sidecar.ports.inbound as number, "gray")],
      "1",
    );
  });
  after(async () => {
    await gateway.close();
    await sidecar.close();
    await a.close();
    await agray.close();
  });

  it("gateway: `canary: gray` opens the tunnel on A gray through its sidecar; bytes flow both ways", async () => {
    const gw = gateway.ports.gateway as number;
    const ws = await openWs(gw, { host: "mall.example", canary: "gray" });
    try {
      assert.equal(ws.status, 101, ws.head);
      assert.match(ws.head, /x-served-by: Agray/);
      assert.match(
        ws.head,
        new RegExp(`sec-websocket-accept: ${ACCEPT.replace(/[+/=]/g, "\\$&")}`),
      );
      await ws.say("hello", "Agray:hello");
      await ws.say("again", "Agray:again");
    } finally {
      ws.socket.destroy();
    }
    const seen = agray.upgrades.at(-1) ?? {};
    assert.equal(seen["x-lane-tag"], "gray", "the app behind the sidecar sees the lane");
    assert.match(String(seen.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.equal(seen.upgrade, "websocket");
    assert.match(String(seen.connection), /upgrade/i);
    assert.equal(seen["sec-websocket-key"], KEY);
  });

  it("gateway: no lane → base A; a client's own tag is stripped", async () => {
    const gw = gateway.ports.gateway as number;
    const ws = await openWs(gw, { host: "mall.example", "x-lane-tag": "gray" });
    try {
      assert.equal(ws.status, 101, ws.head);
      await ws.say("hi", "A:hi");
    } finally {
      ws.socket.destroy();
    }
    assert.equal(a.upgrades.at(-1)?.["x-lane-tag"], undefined);
  });

  it("sidecar outbound: Host sc-a with the tag header reaches A gray", async () => {
    const out = sidecar.ports.outbound as number;
    const ws = await openWs(out, { host: "sc-a", "x-lane-tag": "gray" }, "/chat");
    try {
      assert.equal(ws.status, 101, ws.head);
      await ws.say("x", "Agray:x");
    } finally {
      ws.socket.destroy();
    }
  });

  it("either end closing closes the whole chain (client → gateway → sidecar → app and back)", async () => {
    const gw = gateway.ports.gateway as number;
    const waitFor = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!ok()) {
        if (Date.now() > deadline) assert.fail(what);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await waitFor("earlier tunnels closed at the app", () => agray.open === 0);
    const first = await openWs(gw, { host: "m", canary: "gray" });
    await first.say("1", "Agray:1");
    assert.equal(agray.open, 1);
    first.socket.end();
    await waitFor("the app's side closed after the client's FIN", () => agray.open === 0);
    const second = await openWs(gw, { host: "m", canary: "gray" });
    await second.say("2", "Agray:2");
    const closed = new Promise<void>((r) => second.socket.once("close", () => r()));
    agray.hangUp();
    await closed;
    await waitFor("nothing left open at the app", () => agray.open === 0);
  });

  it("a refused handshake (403) reaches the client as the app sent it", async () => {
    agray.refuse = true;
    try {
      const ws = await openWs(gateway.ports.gateway as number, { host: "m", canary: "gray" });
      assert.equal(ws.status, 403, ws.head);
      ws.socket.destroy();
    } finally {
      agray.refuse = false;
    }
  });

  it("the gray instance unreachable: the handshake is retried on base", async () => {
    const down = await EchoApp.start("gone");
    const port = down.port;
    await down.close();
    live.setAll(seedRules(), [endpoint("sc-a", a.port), endpoint("sc-a", port, "gray")], "2");
    try {
      const ws = await openWs(gateway.ports.gateway as number, { host: "m", canary: "gray" });
      assert.equal(ws.status, 101, ws.head);
      await ws.say("z", "A:z");
      ws.socket.destroy();
    } finally {
      live.setAll(
        seedRules(),
        [endpoint("sc-a", a.port), endpoint("sc-a", sidecar.ports.inbound as number, "gray")],
        "3",
      );
    }
  });

  it("hostile upgrades are refused at every listener and reach nobody", async () => {
    const before = a.upgrades.length + agray.upgrades.length;
    for (const port of [
      gateway.ports.gateway as number,
      sidecar.ports.outbound as number,
      sidecar.ports.inbound as number,
    ]) {
      const dup = await openWs(port, { host: "sc-a", "x-lane-tag": "gray\r\nx-lane-tag: blue" });
      assert.equal(dup.status, 400, dup.head);
      assert.match(dup.head, /x-lanemesh-error: LANEMESH_BAD_TAG_HEADER/);
      dup.socket.destroy();
      const te = await openWs(port, { host: "sc-a", "transfer-encoding": "gzip, chunked" });
      assert.equal(te.status, 400, te.head);
      te.socket.destroy();
    }
    assert.equal(a.upgrades.length + agray.upgrades.length, before);
  });

  it("the gateway counts tunnels with code 101 and plain answers stay plain", async () => {
    const m = (await send(gateway.ports.admin as number, { path: "/metrics" })).body;
    assert.ok(
      sample(m, "lanemesh_requests_total", {
        direction: "gateway",
        service: "sc-a",
        code: "101",
      }) >= 3,
      m,
    );
    const plain = await send(gateway.ports.gateway as number, {
      path: "/a",
      headers: { canary: "gray" },
    });
    assert.equal(plain.body, "Agray plain");
  });
});
