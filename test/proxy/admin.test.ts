// The admin listener (/healthz, /ready, /metrics, /config) and drain: in-flight requests finish with Connection: close, new connections are refused.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import { endpoint, loopbackGateway, seedRules } from "../helpers/mesh.js";
import { type Reply, send, TestUpstream } from "../helpers/upstream.js";

async function gatewayTo(reply: Reply | undefined, drainSeconds = 5, ready = true) {
  const upstream = await TestUpstream.start("A", reply);
  const live = new LiveConfig({ gateway: "default" });
  const status = { ready, detail: { controlPlane: "connected" } };
  const handle = await loopbackGateway({ live, drainSeconds, status: () => status });
  const gw = handle.ports.gateway as number;
  const admin = handle.ports.admin as number;
  const configure = () => live.setAll(seedRules(), [endpoint("sc-a", upstream.port)], "7");
  const close = async () => {
    await handle.close();
    await upstream.close();
  };
  return { upstream, live, handle, gw, admin, status, configure, close };
}

describe("admin listener", () => {
  it("is not ready and has no config before the first snapshot", async () => {
    const t = await gatewayTo(undefined);
    try {
      assert.equal((await send(t.admin, { path: "/healthz" })).status, 200);
      const ready = await send(t.admin, { path: "/ready" });
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), {
        ready: false,
        role: "gateway",
        draining: false,
        version: null,
        detail: { controlPlane: "connected" },
      });
      assert.equal((await send(t.admin, { path: "/config" })).status, 503);
      const early = await send(t.gw, { path: "/a" });
      assert.equal(early.status, 503);
      assert.equal(early.headers["x-lanemesh-error"], "LANEMESH_NOT_READY");

      t.configure();
      const now = await send(t.admin, { path: "/ready" });
      assert.equal(now.status, 200);
      assert.equal(JSON.parse(now.body).version, "7");
      const config = JSON.parse((await send(t.admin, { path: "/config" })).body);
      assert.equal(config.version, "7");
      assert.equal(config.routes[0].metadata.name, "a-route");
      assert.equal(config.lanes[0].spec.tag, "gray");
      assert.deepEqual(config.endpoints, [endpoint("sc-a", t.upstream.port)]);

      t.status.ready = false;
      assert.equal((await send(t.admin, { path: "/ready" })).status, 503);
      assert.equal((await send(t.admin, { path: "/nope" })).status, 404);
      assert.equal((await send(t.admin, { method: "POST", path: "/ready" })).status, 405);
    } finally {
      await t.close();
    }
  });

  it("/metrics serves the registry in Prometheus text", async () => {
    const t = await gatewayTo(undefined);
    try {
      t.configure();
      await send(t.gw, { path: "/a" });
      const m = await send(t.admin, { path: "/metrics" });
      assert.equal(m.status, 200);
      assert.match(String(m.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
      assert.match(
        m.body,
        /lanemesh_requests_total\{direction="gateway",service="sc-a",tag="base",code="200"\} 1/,
      );
      assert.match(m.body, /lanemesh_config_age_seconds \d/);
    } finally {
      await t.close();
    }
  });
});

describe("client keep-alive", () => {
  it("an idle client connection is still served after 6 s (60 s idle timeout, not Node's 5 s)", async () => {
    const t = await gatewayTo(undefined);
    const sock = connect(t.gw, "127.0.0.1");
    try {
      t.configure();
      sock.setEncoding("latin1");
      let got = "";
      sock.on("data", (d: string) => {
        got += d;
      });
      const closed = new Promise<string>((r) => sock.once("close", () => r("closed")));
      const answers = async (n: number) => {
        while ((got.match(/HTTP\/1\.1 200/g) ?? []).length < n) {
          const r = await Promise.race([closed, new Promise((ok) => setTimeout(ok, 20))]);
          if (r === "closed") assert.fail(`connection closed after ${n - 1} answers: ${got}`);
        }
      };
      sock.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      await answers(1);
      assert.match(got, /keep-alive: timeout=60/i);
      await new Promise((r) => setTimeout(r, 6000));
      sock.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      await answers(2);
    } finally {
      sock.destroy();
      await t.close();
    }
  });
});

describe("drain", () => {
  it("finishes a slow request with Connection: close, refuses new connections, fails /ready", async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const t = await gatewayTo((req, _r, res) => {
      if (req.url === "/a/slow") void gate.then(() => res.end("slow answer"));
      else res.end("fast answer");
    });
    try {
      t.configure();
      // An idle keep-alive connection, to be closed by the drain.
      const idle = connect(t.gw, "127.0.0.1");
      const idleClosed = new Promise<void>((r) => idle.on("close", () => r()));
      idle.on("error", () => {});
      idle.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise<void>((r) => idle.once("data", () => r()));
      await t.upstream.receivedCount(1);

      const slow = send(t.gw, { path: "/a/slow" });
      await t.upstream.receivedCount(2);
      const drained = t.handle.drain();

      const ready = await send(t.admin, { path: "/ready" });
      assert.equal(ready.status, 503);
      assert.equal(JSON.parse(ready.body).draining, true);
      await assert.rejects(send(t.gw, { path: "/a" }), { code: "ECONNREFUSED" });
      await idleClosed;

      release();
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.body, "slow answer");
      assert.equal(r.headers.connection, "close");
      await drained;
    } finally {
      release();
      await t.close();
    }
  });

  it("cuts the requests still in flight after drainSeconds", async () => {
    const t = await gatewayTo(() => {}, 0.2);
    try {
      t.configure();
      const stuck = send(t.gw, { path: "/a" });
      const failed = assert.rejects(stuck);
      await t.upstream.receivedCount(1);
      const started = performance.now();
      await t.handle.drain();
      const took = performance.now() - started;
      assert.ok(took >= 150 && took < 2000, `drain took ${took} ms`);
      await failed;
    } finally {
      await t.close();
    }
  });
});
