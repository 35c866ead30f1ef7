// The interception front in one process: the first-bytes sniffer as a table, and a sidecar whose original destinations come from a fake reader (keyed by the client's loopback address) dispatching HTTP, opaque TCP, server-first ports and unredirected connections.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { createServer as createH2Server, connect as h2connect } from "node:http2";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { Interceptor, sniff } from "../../src/proxy/listen/intercept.js";
import type { OriginalDestination } from "../../src/proxy/listen/original-dst.js";
import { logger } from "../../src/telemetry/logger.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpoint, loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { runCli, sumMetric } from "../helpers/procs.js";
import { TestUpstream } from "../helpers/upstream.js";

describe("sniff: is this the start of an HTTP/1.x request?", () => {
  const http = (s: string) => sniff(Buffer.from(s, "latin1"));
  const rows: [string, Buffer | string, string][] = [
    ["whole GET head", "GET / HTTP/1.1\r\nHost: sc-b:8080\r\n\r\n", "http sc-b:8080"],
    ["HTTP/1.0, no Host", "GET /x HTTP/1.0\r\n\r\n", "http -"],
    ["Host in other case", "POST /p HTTP/1.1\r\nhOsT:  sc-c \r\nA: b\r\n\r\nbody", "http sc-c"],
    ["method still partial", "GE", "more"],
    ["method, no target yet", "DELETE ", "more"],
    ["line not ended", "GET /a HTTP/1.", "more"],
    ["head not ended", "GET / HTTP/1.1\r\nHost: x\r\n", "more"],
    ["lower-case method", "get / HTTP/1.1\r\n\r\n", "opaque"],
    ["unknown method", "HELLO / HTTP/1.1\r\n\r\n", "opaque"],
    ["no such method prefix", "HX", "opaque"],
    ["space in target", "GET /a b HTTP/1.1\r\n\r\n", "opaque"],
    ["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2"],
    ["HTTP/2 preface, partial", "PRI * HTTP/2", "more"],
    ["PRI, then not the preface", "PRI / HTTP/1.1\r\n\r\n", "opaque"],
    ["bare LF line end", "GET / HTTP/1.1\n\n", "opaque"],
    ["Postgres startup", Buffer.from("0000000804d2162f", "hex"), "opaque"],
    ["TLS ClientHello", Buffer.from("160301020001", "hex"), "opaque"],
    ["SSH banner", "SSH-2.0-OpenSSH_9.2\r\n", "opaque"],
    ["Redis inline", "PING\r\n", "opaque"],
  ];
  for (const [name, input, want] of rows) {
    it(name, () => {
      const s = typeof input === "string" ? http(input) : sniff(input);
      const got = s.kind === "http" ? `http ${s.head?.host ?? "-"}` : s.kind;
      assert.equal(got, want);
    });
  }
  it("a partial HTTP head counts as HTTP once the bytes stop coming", () => {
    assert.deepEqual(sniff(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n"), true), {
      kind: "http",
      head: null,
    });
    assert.equal(sniff(Buffer.from("GE"), true).kind, "http");
    assert.equal(sniff(Buffer.from([0x16, 3, 1]), true).kind, "opaque");
  });
  it("a head larger than the listener's limit is HTTP (the listener answers 431)", () => {
    const big = `GET / HTTP/1.1\r\nX: ${"a".repeat(17_000)}`;
    assert.deepEqual(sniff(Buffer.from(big)), { kind: "http", head: null });
  });
});

/** A TCP server that echoes what it gets and, after the client's FIN, sends it reversed and ends. */
async function echoServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => {
      got.push(d);
      s.write(d);
    });
    s.on("end", () => s.end(Buffer.from(Buffer.concat(got)).reverse()));
    s.on("error", () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

/** A server that speaks first (as MySQL or SMTP do). */
async function greeter(): Promise<Server> {
  const server = createServer((s) => {
    s.on("error", () => s.destroy());
    s.end("220 hello\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

/** A 200 answer whose (chunked) body is `body`. */
const okWith = (body: string) =>
  new RegExp(
    `^HTTP/1\\.1 200 OK\r\n[\\s\\S]*\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n$`,
  );

const portOf = (s: Server) => (s.address() as AddressInfo).port;

/**
 * Connect from `from` (a 127.0.0.x address), send `data`, half-close (not for HTTP: Node's HTTP
 * server drops the requests of a client that half-closes), collect until the end.
 */
function exchange(
  port: number,
  from: string,
  data: Buffer | null,
  halfClose = true,
): Promise<{ got: Buffer; error: string | null }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1", localAddress: from, allowHalfOpen: true });
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => got.push(d));
    s.on("connect", () => {
      if (data !== null && halfClose) s.end(data);
      else if (data !== null) s.write(data);
    });
    s.on("end", () => {
      if (data === null || !halfClose) s.end();
    });
    s.on("close", () => resolve({ got: Buffer.concat(got), error: null }));
    s.on("error", (err: NodeJS.ErrnoException) =>
      resolve({ got: Buffer.concat(got), error: err.code ?? err.message }),
    );
  });
}

describe("a sidecar with --intercept (original destinations from a fake reader)", () => {
  const metrics = new ProxyMetrics();
  const destinations = new Map<string, OriginalDestination>();
  let sidecar: ProxyHandle;
  let b: TestUpstream;
  let app: TestUpstream;
  let outside: TestUpstream;
  let echo: Server;
  let greet: Server;
  let closedPort: number;
  let out: number;
  let inb: number;

  const dst = (port: number): OriginalDestination => ({ address: "127.0.0.1", port, family: 4 });
  /** The client address that stands for "redirected, originally to `to`" (null: not redirected). */
  let next = 10;
  const from = (to: OriginalDestination | null): string => {
    const address = `127.0.0.${next++}`;
    if (to !== null) destinations.set(address, to);
    return address;
  };
  const intercepted = (direction: string, path: string) =>
    metrics.registry
      .metrics()
      .then((t) => sumMetric(t, "lanemesh_intercepted_connections_total", { direction, path }));

  before(async () => {
    b = await TestUpstream.start("B");
    app = await TestUpstream.start("A");
    outside = await TestUpstream.start("outside");
    echo = await echoServer();
    greet = await greeter();
    const closed = await greeter();
    closedPort = portOf(closed);
    await new Promise((r) => closed.close(r));
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [endpoint("sc-b", b.port)], "1");
    sidecar = await loopbackSidecar({
      app: "sc-a",
      tag: null,
      appPort: app.port,
      live,
      metrics,
      intercept: {
        opaquePorts: [portOf(greet)],
        detectTimeoutMs: 60_000,
        original: (s: Socket) => destinations.get(s.remoteAddress ?? "") ?? null,
      },
    });
    out = sidecar.ports.outbound as number;
    inb = sidecar.ports.inbound as number;
  });
  after(async () => {
    await sidecar.close();
    await Promise.all([b.close(), app.close(), outside.close()]);
    await Promise.all([echo, greet].map((s) => new Promise((r) => s.close(r))));
  });

  it("HTTP to a mesh service by name and plain port takes the lane-aware path", async () => {
    const before = b.received.length;
    const head = "GET /x HTTP/1.1\r\nHost: sc-b:8080\r\nConnection: close\r\n\r\n";
    const r = await exchange(out, from(dst(outside.port)), Buffer.from(head), false);
    assert.match(r.got.toString(), okWith("B"));
    assert.equal(b.received.length, before + 1, "B got the request, not the original destination");
    assert.equal(b.received.at(-1)?.url, "/x");
    assert.equal(await intercepted("outbound", "http"), 1);
    const text = await metrics.registry.metrics();
    assert.equal(
      sumMetric(text, "lanemesh_requests_total", { direction: "outbound", service: "sc-b" }),
      1,
    );
  });

  it("two pipelined requests in the first bytes are both answered", async () => {
    const get = (conn: string) => `GET /p HTTP/1.1\r\nHost: sc-b\r\nConnection: ${conn}\r\n\r\n`;
    const r = await exchange(
      out,
      from(dst(outside.port)),
      Buffer.from(get("keep-alive") + get("close")),
      false,
    );
    assert.equal(r.got.toString().match(/HTTP\/1\.1 200 OK/g)?.length, 2, r.got.toString());
  });

  it("HTTP to a host outside the mesh goes to the original destination unchanged", async () => {
    const head = "GET /ext HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    const r = await exchange(out, from(dst(outside.port)), Buffer.from(head), false);
    assert.match(r.got.toString(), okWith("outside"));
    assert.equal(outside.received.at(-1)?.headers.host, "example.test");
  });

  it("non-HTTP bytes are piped both ways byte for byte, FIN passed on each way", async () => {
    const data = Buffer.concat([
      Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]),
      randomBytes(200_000),
    ]);
    const tcpBefore = await intercepted("outbound", "tcp");
    const r = await exchange(out, from(dst(portOf(echo))), data);
    assert.equal(r.error, null);
    assert.ok(r.got.equals(Buffer.concat([data, Buffer.from(data).reverse()])), "echo + reversed");
    assert.equal(await intercepted("outbound", "tcp"), tcpBefore + 1);
  });

  it("a bytes-then-FIN client that never looks like HTTP is piped at its FIN", async () => {
    const r = await exchange(out, from(dst(portOf(echo))), Buffer.from("G"));
    assert.equal(r.got.toString(), "GG");
  });

  it("an opaque port is piped at once: a server-first protocol is not kept waiting", async () => {
    const started = Date.now();
    const r = await exchange(out, from(dst(portOf(greet))), null);
    assert.equal(r.got.toString(), "220 hello\r\n");
    assert.ok(Date.now() - started < 30_000, "not after the 60 s detection timeout");
  });

  it("a refused original destination resets the app's connection", async () => {
    const r = await exchange(out, from(dst(closedPort)), Buffer.from([1, 2, 3]));
    assert.equal(r.error, "ECONNRESET");
  });

  it("not redirected: the HTTP path as an HTTP proxy, nothing dialled for other bytes", async () => {
    const head = "GET http://sc-b/direct HTTP/1.1\r\nHost: sc-b\r\nConnection: close\r\n\r\n";
    const r = await exchange(out, from(null), Buffer.from(head), false);
    assert.match(r.got.toString(), okWith("B"));
    const bad = await exchange(out, from(null), Buffer.from([0, 0, 0, 8]));
    assert.match(bad.got.toString(), /^HTTP\/1\.1 400 /);
    assert.equal(await intercepted("outbound", "direct"), 2);
  });

  it("an original destination that is the sidecar itself is never dialled", async () => {
    const tcpBefore = await intercepted("outbound", "tcp");
    const r = await exchange(out, from(dst(out)), Buffer.from([0, 0, 0, 8]));
    assert.match(r.got.toString(), /^HTTP\/1\.1 400 /, "answered here as a direct connection");
    const r2 = await exchange(inb, from(dst(sidecar.ports.admin as number)), Buffer.from([9]));
    assert.match(r2.got.toString(), /^HTTP\/1\.1 400 /);
    assert.equal(await intercepted("outbound", "tcp"), tcpBefore);
  });

  it("inbound: HTTP to the app port takes the inbound path; another port is piped to the app host", async () => {
    const head = "GET /in HTTP/1.1\r\nHost: sc-a:8080\r\nConnection: close\r\n\r\n";
    const r = await exchange(inb, from(dst(app.port)), Buffer.from(head), false);
    assert.match(r.got.toString(), okWith("A"));
    assert.ok(
      app.received.at(-1)?.headers.traceparent,
      "went through the inbound side (traceparent added)",
    );
    const data = randomBytes(10_000);
    const e = await exchange(inb, from(dst(portOf(echo))), data);
    assert.ok(e.got.equals(Buffer.concat([data, Buffer.from(data).reverse()])));
    assert.equal(await intercepted("inbound", "http"), 1);
    assert.equal(await intercepted("inbound", "tcp"), 1);
  });
});

describe("closing a sidecar with --intercept", () => {
  it("cuts its piped connections (close does not wait for them)", async () => {
    const echo = await echoServer();
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [], "1");
    const sidecar = await loopbackSidecar({
      app: "sc-a",
      tag: null,
      appPort: 1,
      live,
      intercept: {
        opaquePorts: [],
        original: () => ({ address: "127.0.0.1", port: portOf(echo), family: 4 }),
      },
    });
    const client = connect(sidecar.ports.outbound as number, "127.0.0.1");
    client.on("error", () => {});
    const closed = new Promise<void>((r) => client.once("close", () => r()));
    client.write(Buffer.from([0, 1, 2]));
    await new Promise((r) => client.once("data", r));
    const timeout = new Promise((r) => setTimeout(() => r("timed out"), 5000).unref());
    assert.equal(await Promise.race([sidecar.close().then(() => "closed"), timeout]), "closed");
    await closed;
    await new Promise((r) => echo.close(r));
  });
});

describe("HTTP/2 under interception", () => {
  it("inbound: an h2c connection to the app port takes the lane-aware path (the lane remembered, traceparent added)", async () => {
    const app = createH2Server();
    const seen: Record<string, string | string[] | undefined>[] = [];
    app.on("stream", (stream, headers) => {
      seen.push(headers);
      stream.respond({ ":status": 200 });
      stream.end("ok");
    });
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    const appPort = (app.address() as AddressInfo).port;
    const metrics = new ProxyMetrics();
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [], "1");
    const sidecar = await loopbackSidecar({
      app: "sc-a",
      tag: "gray",
      appPort,
      live,
      metrics,
      intercept: {
        opaquePorts: [],
        detectTimeoutMs: 60_000,
        original: (sock: Socket) =>
          sock.remoteAddress === "127.0.0.201"
            ? { address: "127.0.0.1", port: appPort, family: 4 }
            : null,
      },
    });
    const inbound = sidecar.ports.inbound as number;
    const client = h2connect(`http://127.0.0.1:${inbound}`, {
      createConnection: () =>
        connect({ host: "127.0.0.1", port: inbound, localAddress: "127.0.0.201" }),
    });
    client.on("error", () => {});
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const r = client.request({ ":path": "/lanemesh.demo.Echo/Unary", "x-lane-tag": "gray" });
        r.on("response", (h) => resolve(Number(h[":status"])));
        r.on("error", reject);
        r.resume();
        r.end();
      });
      assert.equal(status, 200);
      assert.equal(seen.at(-1)?.["x-lane-tag"], "gray");
      assert.match(String(seen.at(-1)?.traceparent), /^00-/, "went through the inbound side");
      const text = await metrics.registry.metrics();
      assert.equal(
        sumMetric(text, "lanemesh_intercepted_connections_total", {
          direction: "inbound",
          path: "http",
        }),
        1,
      );
    } finally {
      client.destroy();
      await sidecar.close();
      await new Promise((r) => app.close(r));
    }
  });
});

describe("a silent connection on a port not listed as opaque", () => {
  it("is piped through once the detection timeout passes (a server-first protocol)", async () => {
    const greet = await greeter();
    const http = createHttpServer(() => assert.fail("no HTTP here"));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const front = new Interceptor(http, {
      direction: "outbound",
      original: () => ({ address: "127.0.0.1", port: portOf(greet), family: 4 }),
      ownPorts: [],
      opaquePorts: new Set(),
      detectTimeoutMs: 150,
      wantsHttp: () => true,
      wantsH2: () => true,
      passthroughTo: (d) => ({ host: d.address, port: d.port }),
      log: logger("test"),
      connections: new ProxyMetrics().interceptedConnections,
    });
    const started = Date.now();
    const r = await exchange(portOf(http as unknown as Server), "127.0.0.1", null);
    assert.equal(r.got.toString(), "220 hello\r\n");
    assert.ok(Date.now() - started >= 140, "waited for the first bytes first");
    front.close();
    await new Promise((r) => http.close(r));
    await new Promise((r) => greet.close(r));
  });
});

describe("lanemesh sidecar --intercept", () => {
  it("refuses to run as another user than --proxy-uid (its own connections would loop)", async () => {
    const r = await runCli([
      "sidecar",
      "--app",
      "sc-a",
      "--app-port",
      "1",
      "--intercept",
      "--proxy-uid",
      "4242",
      "--rules",
      "/nonexistent.yaml",
      "--discovery",
      "static:/nonexistent.yaml",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--intercept: the sidecar runs as uid \d+ but .* --proxy-uid 4242/);
  });
});

describe("the sidecar refuses --intercept where original destinations cannot be read", () => {
  it("starts with the native reader only when the addon loads", async () => {
    const { nativeOriginalDestination } = await import("../../src/proxy/listen/original-dst.js");
    if (process.platform !== "linux") {
      assert.throws(() => nativeOriginalDestination(), /needs Linux/);
      return;
    }
    // Built by `npm ci`: its absence is a failure here, not a skip.
    const read = nativeOriginalDestination();
    const server = createHttpServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const seen = new Promise<OriginalDestination | null>((resolve) =>
      server.once("connection", (s: Socket) => resolve(read(s))),
    );
    const c = connect(portOf(server as unknown as Server), "127.0.0.1");
    const got = await seen;
    c.destroy();
    server.close();
    // Not redirected: no conntrack entry (null), or the socket's own address.
    assert.ok(
      got === null || got.port === portOf(server as unknown as Server),
      JSON.stringify(got),
    );
  });
});
