// The request path in one process: gateway → sidecars → apps carry the lane tag hop by hop, fall back to base, never leak canaries, and count it all in /metrics.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Mesh, seedRules, startMesh } from "../helpers/mesh.js";
import { sample, send } from "../helpers/upstream.js";

const GRAY = { canary: "gray" };

async function scrape(port: number): Promise<string> {
  const r = await send(port, { path: "/metrics" });
  assert.equal(r.status, 200);
  return r.body;
}

for (const forward of [["traceparent"], ["baggage"], ["x-lane-tag"]]) {
  describe(`chain gateway → A → B → C, apps forwarding only ${forward[0]}`, () => {
    let mesh: Mesh;
    before(async () => {
      mesh = await startMesh({ rules: seedRules(), forward });
    });
    after(() => mesh.close());

    it("base request goes to base instances only", async () => {
      const r = await send(mesh.gateway.ports.gateway as number, { path: "/a" });
      assert.equal(r.status, 200);
      assert.equal(r.body, "A -> B -> C");
    });

    it("gray request reaches A gray, base B (no gray B), then C gray", async () => {
      const r = await send(mesh.gateway.ports.gateway as number, { path: "/a", headers: GRAY });
      assert.equal(r.status, 200);
      assert.equal(r.body, "Agray -> B -> Cgray");
    });
  });
}

describe("chain details (apps forward only traceparent)", () => {
  let mesh: Mesh;
  let gw: number;
  before(async () => {
    mesh = await startMesh({ rules: seedRules() });
    gw = mesh.gateway.ports.gateway as number;
  });
  after(() => mesh.close());

  it("writes the tag, baggage and a traceparent on the wire to each app", async () => {
    const i = mesh.instances;
    const before = { ag: i.ag?.app.received.length ?? 0, b: i.b?.app.received.length ?? 0 };
    const r = await send(gw, { path: "/a?x=1", headers: { ...GRAY, baggage: "user=7" } });
    assert.equal(r.body, "Agray -> B -> Cgray");
    const atA = i.ag?.app.received[before.ag];
    assert.ok(atA);
    assert.equal(atA.url, "/a?x=1");
    assert.equal(atA.headers["x-lane-tag"], "gray");
    assert.equal(atA.headers.baggage, "user=7,lane=gray");
    assert.match(String(atA.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.equal(atA.headers["x-forwarded-proto"], "http");
    assert.match(String(atA.headers["x-forwarded-for"]), /127\.0\.0\.1, 127\.0\.0\.1$/);
    // B got only a traceparent from A; its sidecars found the lane through the trace cache.
    const atB = i.b?.app.received[before.b];
    assert.ok(atB);
    assert.equal(atB.headers["x-lane-tag"], "gray");
    assert.equal(atB.headers.baggage, "lane=gray");
    assert.equal(
      String(atB.headers.traceparent).slice(3, 35),
      String(atA.headers.traceparent).slice(3, 35),
    );
  });

  it("untagged traffic never reaches a gray instance", async () => {
    const ag = mesh.instances.ag?.app.received.length;
    const cg = mesh.instances.cg?.app.received.length;
    const answers = await Promise.all(Array.from({ length: 30 }, () => send(gw, { path: "/a/x" })));
    for (const r of answers) assert.equal(r.body, "A -> B -> C");
    assert.equal(mesh.instances.ag?.app.received.length, ag);
    assert.equal(mesh.instances.cg?.app.received.length, cg);
  });

  it("a client's own tag is ignored at the gateway (no trust)", async () => {
    const r = await send(gw, {
      path: "/a",
      headers: { "x-lane-tag": "gray", baggage: "lane=gray" },
    });
    assert.equal(r.body, "A -> B -> C");
  });

  it("/metrics counts requests by service and tag, and the base fallback at B", async () => {
    const m0 = await scrape(mesh.gateway.ports.admin as number);
    const a0 = await scrape(mesh.instances.ag?.sidecar.ports.admin as number);
    const gray0 = sample(m0, "lanemesh_requests_total", { direction: "gateway", tag: "gray" });
    const base0 = sample(m0, "lanemesh_requests_total", { direction: "gateway", tag: "base" });
    const fb0 = sample(a0, "lanemesh_fallback_total", { service: "sc-b", tag: "gray" });
    for (let n = 0; n < 3; n++) await send(gw, { path: "/a", headers: GRAY });
    for (let n = 0; n < 5; n++) await send(gw, { path: "/a" });
    const m1 = await scrape(mesh.gateway.ports.admin as number);
    const labels = { direction: "gateway", service: "sc-a", code: "200" };
    assert.equal(sample(m1, "lanemesh_requests_total", { ...labels, tag: "gray" }) - gray0, 3);
    assert.equal(sample(m1, "lanemesh_requests_total", { ...labels, tag: "base" }) - base0, 5);
    assert.equal(
      sample(m1, "lanemesh_request_duration_seconds_count", {
        direction: "gateway",
        service: "sc-a",
        tag: "gray",
      }),
      sample(m1, "lanemesh_requests_total", { direction: "gateway", service: "sc-a", tag: "gray" }),
    );
    const a1 = await scrape(mesh.instances.ag?.sidecar.ports.admin as number);
    assert.equal(sample(a1, "lanemesh_fallback_total", { service: "sc-b", tag: "gray" }) - fb0, 3);
    assert.ok(
      sample(a1, "lanemesh_requests_total", {
        direction: "inbound",
        service: "sc-a",
        tag: "gray",
        code: "200",
      }) >= 3,
    );
    const c1 = await scrape(mesh.instances.cg?.sidecar.ports.admin as number);
    assert.ok(sample(c1, "lanemesh_requests_total", { direction: "inbound", tag: "gray" }) >= 3);
    assert.equal(sample(c1, "lanemesh_requests_total", { tag: "base" }), 0);
  });

  it("no route → 404 LANEMESH_NO_ROUTE, counted under service unknown", async () => {
    const r = await send(gw, { path: "/nowhere" });
    assert.equal(r.status, 404);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_NO_ROUTE");
    assert.equal(r.body, "no route for /nowhere\n");
    const m = await scrape(mesh.gateway.ports.admin as number);
    assert.equal(
      sample(m, "lanemesh_requests_total", { service: "unknown", code: "404", tag: "base" }),
      1,
    );
  });
});

describe("lane membership", () => {
  it("a closed lane sends everything to base", async () => {
    const mesh = await startMesh({ rules: seedRules({ enabled: false }) });
    try {
      const r = await send(mesh.gateway.ports.gateway as number, { path: "/a", headers: GRAY });
      assert.equal(r.body, "A -> B -> C");
    } finally {
      await mesh.close();
    }
  });

  it("a lane whose apps leave out C sends gray traffic to base C, counted as fallback", async () => {
    const mesh = await startMesh({ rules: seedRules({ apps: ["sc-a", "sc-b"] }) });
    try {
      const r = await send(mesh.gateway.ports.gateway as number, { path: "/a", headers: GRAY });
      assert.equal(r.body, "Agray -> B -> C");
      const m = await scrape(mesh.instances.b?.sidecar.ports.admin as number);
      assert.equal(sample(m, "lanemesh_fallback_total", { service: "sc-c", tag: "gray" }), 1);
    } finally {
      await mesh.close();
    }
  });
});
