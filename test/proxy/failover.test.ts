// Failures on the request path: refused, reset and app-down instances are retried once elsewhere for idempotent requests, never for a request whose body could not be replayed.
import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import { endpoint, loopbackSidecar, type Mesh, seedRules, startMesh } from "../helpers/mesh.js";
import { sample, send } from "../helpers/upstream.js";

const GRAY = { canary: "gray" };

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server that accepts connections and resets them as soon as a byte arrives. */
async function resetter(): Promise<{ server: Server; port: number; connections: () => number }> {
  let n = 0;
  const server = createServer((socket: Socket) => {
    n++;
    socket.once("data", () => socket.resetAndDestroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, connections: () => n };
}

async function metricsOf(port: number): Promise<string> {
  return (await send(port, { path: "/metrics" })).body;
}

describe("retries", () => {
  let mesh: Mesh;
  let gw: number;
  let dead: number;
  const rules = seedRules();
  before(async () => {
    mesh = await startMesh({ rules });
    gw = mesh.gateway.ports.gateway as number;
    dead = await closedPort();
  });
  after(() => mesh.close());
  beforeEach(() => mesh.live.setAll(rules, mesh.endpoints(), "1"));

  it("a refused gray instance: each request is retried on the other gray C", async () => {
    mesh.live.setAll(rules, [endpoint("sc-c", dead, "gray"), ...mesh.endpoints()], "2");
    const cg = mesh.instances.cg?.app.received.length ?? 0;
    for (let n = 0; n < 4; n++) {
      const r = await send(gw, { path: "/a", headers: GRAY });
      assert.equal(r.status, 200);
      assert.equal(r.body, "Agray -> B -> Cgray");
    }
    assert.equal(mesh.instances.cg?.app.received.length, cg + 4);
  });

  it("a reset before the response: retried elsewhere, the reset instance was tried", async () => {
    const rs = await resetter();
    try {
      mesh.live.setAll(rules, [endpoint("sc-c", rs.port, "gray"), ...mesh.endpoints()], "3");
      for (let n = 0; n < 3; n++) {
        const r = await send(gw, { path: "/a", headers: GRAY });
        assert.equal(r.body, "Agray -> B -> Cgray");
      }
      assert.ok(rs.connections() >= 1);
    } finally {
      rs.server.close();
    }
  });

  it("the only gray C refuses: the retry goes to base C and counts a fallback", async () => {
    const others = mesh.endpoints().filter((e) => !(e.service === "sc-c" && e.tag === "gray"));
    mesh.live.setAll(rules, [endpoint("sc-c", dead, "gray"), ...others], "4");
    const admin = mesh.instances.b?.sidecar.ports.admin as number;
    const before = sample(await metricsOf(admin), "lanemesh_fallback_total", {
      service: "sc-c",
      tag: "gray",
    });
    const r = await send(gw, { path: "/a", headers: GRAY });
    assert.equal(r.body, "Agray -> B -> C");
    const after = sample(await metricsOf(admin), "lanemesh_fallback_total", {
      service: "sc-c",
      tag: "gray",
    });
    assert.equal(after - before, 1);
  });

  it("a peer sidecar whose app is down answers 503 APP_UNAVAILABLE; the caller retries", async () => {
    const outbound = mesh.instances.b?.sidecar.ports.outbound as number;
    await mesh.instances.cg?.app.close();
    // Directly at C gray's inbound: the proxy's own 503.
    const direct = await send(mesh.instances.cg?.sidecar.ports.inbound as number, {
      headers: { "x-lane-tag": "gray" },
    });
    assert.equal(direct.status, 503);
    assert.equal(direct.headers["x-lanemesh-error"], "LANEMESH_APP_UNAVAILABLE");
    assert.match(
      direct.body,
      /^app sc-c is unavailable: connection refused by 127\.0\.0\.1:\d+\n$/,
    );
    // Through B's outbound: retried on base C.
    const r = await send(outbound, { headers: { host: "sc-c", "x-lane-tag": "gray" } });
    assert.equal(r.status, 200);
    assert.equal(r.body, "C");
    // Not idempotent: the peer's 503 is passed on as is.
    const post = await send(outbound, {
      method: "POST",
      headers: { host: "sc-c", "x-lane-tag": "gray" },
    });
    assert.equal(post.status, 503);
    assert.equal(post.headers["x-lanemesh-error"], "LANEMESH_APP_UNAVAILABLE");
  });
});

describe("an app that dies with a request in flight", () => {
  it("idempotent: 503 APP_UNAVAILABLE (the caller retries); POST: 502 UPSTREAM_RESET", async () => {
    const rs = await resetter();
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(seedRules(), [], "1");
    const sidecar = await loopbackSidecar({ app: "sc-c", tag: "gray", appPort: rs.port, live });
    try {
      const inbound = sidecar.ports.inbound as number;
      const get = await send(inbound, { headers: { "x-lane-tag": "gray" } });
      assert.equal(get.status, 503);
      assert.equal(get.headers["x-lanemesh-error"], "LANEMESH_APP_UNAVAILABLE");
      const post = await send(inbound, { method: "POST", body: "order" });
      assert.equal(post.status, 502);
      assert.equal(post.headers["x-lanemesh-error"], "LANEMESH_UPSTREAM_RESET");
      assert.ok(rs.connections() >= 2);
    } finally {
      await sidecar.close();
      rs.server.close();
    }
  });
});

describe("bodies and retries", () => {
  let mesh: Mesh;
  let outbound: number;
  let dead: number;
  const rules = seedRules();
  before(async () => {
    mesh = await startMesh({ rules });
    outbound = mesh.instances.b?.sidecar.ports.outbound as number;
    dead = await closedPort();
    const others = mesh.endpoints().filter((e) => !(e.service === "sc-c" && e.tag === "gray"));
    mesh.live.setAll(rules, [endpoint("sc-c", dead, "gray"), ...others], "2");
  });
  after(() => mesh.close());

  it("POST to a refused instance is not retried: 503 LANEMESH_UPSTREAM_CONNECT", async () => {
    const c = mesh.instances.c?.app.received.length;
    const r = await send(outbound, {
      method: "POST",
      headers: { host: "sc-c", "x-lane-tag": "gray" },
      body: "order",
    });
    assert.equal(r.status, 503);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_UPSTREAM_CONNECT");
    assert.match(r.body, /^sc-c: connection refused by 127\.0\.0\.1:\d+\n$/);
    assert.equal(mesh.instances.c?.app.received.length, c);
  });

  it("PUT whose body was never sent (refused connect) is retried with its body intact", async () => {
    const c = mesh.instances.c?.app.received.length ?? 0;
    const r = await send(outbound, {
      method: "PUT",
      path: "/stock/1",
      headers: { host: "sc-c", "x-lane-tag": "gray" },
      body: "x".repeat(100_000),
    });
    assert.equal(r.status, 200);
    const got = mesh.instances.c?.app.received[c];
    assert.equal(got?.method, "PUT");
    assert.equal(got?.url, "/stock/1");
    assert.equal(got?.body.length, 100_000);
  });
});
