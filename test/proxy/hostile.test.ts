// The hostile edge: spoofed, duplicated, comma-joined and underscore tag headers, framing tricks and header floods get their documented 4xx and never reach the upstream.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import { startGateway } from "../../src/proxy/gateway.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { InsecureParserError, refuseInsecureParser } from "../../src/proxy/listen/listener.js";
import { startSidecar } from "../../src/proxy/sidecar.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpoint, seedRules } from "../helpers/mesh.js";
import { sample, send, sendRaw, TestUpstream } from "../helpers/upstream.js";

const HOST = "Host: mesh.test\r\n";
const CLOSE = "Connection: close\r\n";

/** Raw requests and the answer each must get. */
const HOSTILE: { name: string; raw: string; status: number; code: string }[] = [
  {
    name: "tag header twice",
    raw: `GET /a HTTP/1.1\r\n${HOST}x-lane-tag: gray\r\nX-Lane-Tag: gray\r\n${CLOSE}\r\n`,
    status: 400,
    code: "LANEMESH_BAD_TAG_HEADER",
  },
  {
    name: "comma-joined tag header",
    raw: `GET /a HTTP/1.1\r\n${HOST}x-lane-tag: gray,blue\r\n${CLOSE}\r\n`,
    status: 400,
    code: "LANEMESH_BAD_TAG_HEADER",
  },
  {
    name: "underscore tag header",
    raw: `GET /a HTTP/1.1\r\n${HOST}x_lane_tag: gray\r\n${CLOSE}\r\n`,
    status: 400,
    code: "LANEMESH_BAD_TAG_HEADER",
  },
  {
    name: "Transfer-Encoding: ,chunked",
    raw: `POST /a HTTP/1.1\r\n${HOST}Transfer-Encoding: ,chunked\r\n${CLOSE}\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    code: "LANEMESH_BAD_REQUEST",
  },
  {
    name: "Transfer-Encoding: gzip, chunked",
    raw: `POST /a HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n${CLOSE}\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    code: "LANEMESH_BAD_REQUEST",
  },
  {
    name: "Content-Length with Transfer-Encoding",
    raw: `POST /a HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n${CLOSE}\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
    code: "LANEMESH_BAD_REQUEST",
  },
  {
    name: "two Host headers",
    raw: `GET /a HTTP/1.1\r\n${HOST}Host: other.test\r\n${CLOSE}\r\n`,
    status: 400,
    code: "LANEMESH_BAD_REQUEST",
  },
  {
    name: "oversize headers (20 KiB)",
    raw: `GET /a HTTP/1.1\r\n${HOST}x-big: ${"b".repeat(20 * 1024)}\r\n${CLOSE}\r\n`,
    status: 431,
    code: "LANEMESH_HEADERS_TOO_LARGE",
  },
  {
    name: "too many headers (150)",
    raw: `GET /a HTTP/1.1\r\n${HOST}${Array.from({ length: 150 }, (_, i) => `x-h${i}: v\r\n`).join("")}${CLOSE}\r\n`,
    status: 431,
    code: "LANEMESH_HEADERS_TOO_LARGE",
  },
  {
    name: "obs-fold",
    raw: `GET /a HTTP/1.1\r\n${HOST}x-a: a\r\n b\r\n${CLOSE}\r\n`,
    status: 400,
    code: "LANEMESH_BAD_REQUEST",
  },
];

describe("hostile requests", () => {
  let upstream: TestUpstream;
  let gateway: ProxyHandle;
  let trusting: ProxyHandle;
  let sidecar: ProxyHandle;
  const live = new LiveConfig({ gateway: "default" });
  const gatewayMetrics = new ProxyMetrics();
  const proxy = {
    bindHost: "127.0.0.1",
    adminPort: 0,
    tagHeader: "x-lane-tag",
    live,
    accessLog: false,
    drainSeconds: 1,
  };

  before(async () => {
    upstream = await TestUpstream.start("A");
    live.setAll(seedRules(), [endpoint("sc-a", upstream.port)], "1");
    const gw = { ...proxy, gateway: "default", port: 0 };
    gateway = await startGateway({ ...gw, trustTagHeader: false, metrics: gatewayMetrics });
    trusting = await startGateway({ ...gw, trustTagHeader: true, metrics: new ProxyMetrics() });
    sidecar = await startSidecar({
      ...proxy,
      app: "sc-a",
      tag: null,
      appHost: "127.0.0.1",
      appPort: upstream.port,
      inboundPort: 0,
      outboundPort: 0,
      metrics: new ProxyMetrics(),
    });
  });
  after(async () => {
    await Promise.all([gateway.close(), trusting.close(), sidecar.close()]);
    await upstream.close();
  });

  for (const listener of ["gateway", "inbound", "outbound"] as const) {
    for (const h of HOSTILE) {
      it(`${listener}: ${h.name} → ${h.status} ${h.code}, nothing forwarded`, async () => {
        const port = (listener === "gateway" ? gateway : sidecar).ports[listener] as number;
        const seen = upstream.received.length;
        const r = await sendRaw(port, h.raw);
        assert.equal(r.status, h.status);
        assert.equal(r.headers["x-lanemesh-error"], h.code);
        assert.ok(r.body.length > 1, "a body naming the cause");
        assert.equal(upstream.received.length, seen);
      });
    }
  }

  it("refusals after parsing are counted under service unknown", async () => {
    const text = await gatewayMetrics.registry.metrics();
    const refused = { direction: "gateway", service: "unknown", tag: "base" };
    // Tag header (3) and framing (,chunked, gzip chunked, two Host) refusals; the parser's own
    // refusals (CL+TE, obs-fold, oversize) happen before there is a request to count.
    assert.equal(sample(text, "lanemesh_requests_total", { ...refused, code: "400" }), 6);
    assert.equal(sample(text, "lanemesh_requests_total", { ...refused, code: "431" }), 1);
  });

  it("gateway without trust: a spoofed tag and baggage lane are stripped", async () => {
    const seen = upstream.received.length;
    const r = await send(gateway.ports.gateway as number, {
      path: "/a",
      headers: { "x-lane-tag": "gray", baggage: "lane=gray,user=7" },
    });
    assert.equal(r.status, 200);
    const got = upstream.received[seen];
    assert.equal(got?.headers["x-lane-tag"], undefined);
    assert.equal(got?.headers.baggage, "user=7");
  });

  it("gateway with --trust-tag-header keeps a valid client tag", async () => {
    const seen = upstream.received.length;
    const r = await send(trusting.ports.gateway as number, {
      path: "/a",
      headers: { "x-lane-tag": "gray" },
    });
    assert.equal(r.status, 200);
    assert.equal(upstream.received[seen]?.headers["x-lane-tag"], "gray");
  });

  it("an invalid tag value is refused even by a trusting gateway", async () => {
    const r = await send(trusting.ports.gateway as number, {
      path: "/a",
      headers: { "x-lane-tag": "gray;x=1" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_BAD_TAG_HEADER");
  });

  it("hop-by-hop headers are not forwarded; a chunked body is re-framed", async () => {
    const seen = upstream.received.length;
    const r = await sendRaw(
      gateway.ports.gateway as number,
      `POST /a HTTP/1.1\r\n${HOST}Connection: close, x-secret\r\nx-secret: 1\r\nKeep-Alive: timeout=5\r\n` +
        `TE: trailers\r\nProxy-Authorization: Basic eA==\r\nTransfer-Encoding: chunked\r\n\r\n` +
        "5\r\nhello\r\n0\r\n\r\n",
    );
    assert.equal(r.status, 200);
    const got = upstream.received[seen];
    assert.equal(got?.body, "hello");
    for (const name of ["x-secret", "keep-alive", "te", "proxy-authorization"]) {
      assert.equal(got?.headers[name], undefined, name);
    }
    assert.notEqual(got?.headers.connection, "close, x-secret");
  });

  it("a process with the lenient HTTP parser refuses to start", () => {
    assert.throws(
      () => refuseInsecureParser(["--insecure-http-parser"], undefined),
      InsecureParserError,
    );
    assert.throws(
      () => refuseInsecureParser([], "--max-old-space-size=100 --insecure-http-parser"),
      /NODE_OPTIONS/,
    );
    assert.doesNotThrow(() => refuseInsecureParser([], "--max-old-space-size=100"));
  });
});
