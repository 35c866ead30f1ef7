// The sidecar's outbound side: which service a Host or absolute-form target names, where the tag comes from (header, baggage, trace cache), and its error answers.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { startSidecar } from "../../src/proxy/sidecar.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpoint, seedRules } from "../helpers/mesh.js";
import { sample, send, sendRaw, TestUpstream } from "../helpers/upstream.js";

const TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("outbound", () => {
  let c: TestUpstream;
  let cgray: TestUpstream;
  let xgray: TestUpstream;
  let app: TestUpstream;
  let sidecar: ProxyHandle;
  let idle: ProxyHandle;
  const metrics = new ProxyMetrics();
  let out: number;

  before(async () => {
    c = await TestUpstream.start("C");
    cgray = await TestUpstream.start("Cgray");
    xgray = await TestUpstream.start("Xgray");
    app = await TestUpstream.start("B");
    const live = new LiveConfig({ gateway: "default" });
    const rules = seedRules();
    rules.groups[0]?.spec.apps.push("sc-x");
    live.setAll(
      rules,
      [
        endpoint("sc-c", c.port),
        endpoint("sc-c", cgray.port, "gray"),
        endpoint("sc-x", xgray.port, "gray"),
      ],
      "1",
    );
    const common = {
      app: "sc-b",
      tag: null,
      appHost: "127.0.0.1",
      appPort: app.port,
      bindHost: "127.0.0.1",
      inboundPort: 0,
      outboundPort: 0,
      adminPort: 0,
      tagHeader: "x-lane-tag",
      accessLog: false,
      drainSeconds: 1,
    };
    sidecar = await startSidecar({ ...common, live, metrics });
    idle = await startSidecar({ ...common, live: new LiveConfig(), metrics: new ProxyMetrics() });
    out = sidecar.ports.outbound as number;
  });
  after(async () => {
    await Promise.all([sidecar.close(), idle.close()]);
    await Promise.all([c.close(), cgray.close(), xgray.close(), app.close()]);
  });

  const hosts: [string, string][] = [
    ["sc-c", "C"],
    ["SC-C:8080", "C"],
    ["sc-c.default.svc.cluster.local", "C"],
    ["sc-c.default.svc.cluster.local.:80", "C"],
    ["sc-c.default.svc:80", "C"],
    ["sc-c.default", "C"],
  ];
  for (const [host, served] of hosts) {
    it(`Host: ${host} → service sc-c`, async () => {
      const r = await send(out, { path: "/stock", headers: { host } });
      assert.equal(r.status, 200);
      assert.equal(r.body, served);
    });
  }

  it("an instance's ip:port names its service; the lane still picks the instance", async () => {
    const r = await send(out, { headers: { host: `127.0.0.1:${cgray.port}` } });
    assert.equal(r.body, "C");
    const g = await send(out, {
      headers: { host: `127.0.0.1:${c.port}`, "x-lane-tag": "gray" },
    });
    assert.equal(g.body, "Cgray");
  });

  it("absolute-form target (HTTP proxy style) wins over Host and becomes origin-form", async () => {
    const seen = c.received.length;
    const r = await sendRaw(
      out,
      "GET http://sc-c.default/p?q=1 HTTP/1.1\r\nHost: elsewhere\r\nConnection: close\r\n\r\n",
    );
    assert.equal(r.status, 200);
    assert.equal(c.received[seen]?.url, "/p?q=1");
    assert.equal(c.received[seen]?.headers.host, "elsewhere");
  });

  const refused: [string, Record<string, string>, number, string][] = [
    ["unknown name", { host: "sc-z" }, 503, "LANEMESH_UNKNOWN_SERVICE"],
    [
      "three labels without .svc",
      { host: "sc-c.default.example" },
      503,
      "LANEMESH_UNKNOWN_SERVICE",
    ],
    ["unknown ip:port", { host: "127.0.0.1:1" }, 503, "LANEMESH_UNKNOWN_SERVICE"],
    ["a service of the rules with no instance", { host: "sc-a" }, 503, "LANEMESH_NO_ENDPOINT"],
    [
      "untagged call to a service with canaries only",
      { host: "sc-x" },
      503,
      "LANEMESH_NO_BASE_ENDPOINT",
    ],
    ["malformed host", { host: "sc-c:99999" }, 400, "LANEMESH_BAD_REQUEST"],
  ];
  for (const [name, headers, status, code] of refused) {
    it(`${name} → ${status} ${code}`, async () => {
      const r = await send(out, { headers });
      assert.equal(r.status, status);
      assert.equal(r.headers["x-lanemesh-error"], code);
    });
  }

  it("names the cause in the body", async () => {
    assert.equal(
      (await send(out, { headers: { host: "sc-x" } })).body,
      "no base instance of service sc-x (untagged requests never go to canaries)\n",
    );
    assert.equal(
      (await send(out, { headers: { host: "sc-z" } })).body,
      "unknown service sc-z: no instance is registered under that name\n",
    );
  });

  it("https:// absolute-form is refused", async () => {
    const r = await sendRaw(
      out,
      "GET https://sc-c/ HTTP/1.1\r\nHost: sc-c\r\nConnection: close\r\n\r\n",
    );
    assert.equal(r.status, 400);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_BAD_REQUEST");
  });

  it("the tag comes from baggage when there is no tag header, and is written as both", async () => {
    const seen = cgray.received.length;
    const r = await send(out, { headers: { host: "sc-c", baggage: "a=1, lane=gray" } });
    assert.equal(r.body, "Cgray");
    assert.equal(cgray.received[seen]?.headers["x-lane-tag"], "gray");
    assert.equal(cgray.received[seen]?.headers.baggage, "a=1,lane=gray");
  });

  it("the tag comes from the trace cache the inbound side filled", async () => {
    const inbound = sidecar.ports.inbound as number;
    const traced = { host: "sc-c", traceparent: TRACE };
    assert.equal((await send(out, { headers: traced })).body, "C");
    await send(inbound, { headers: { "x-lane-tag": "gray", traceparent: TRACE } });
    const seen = cgray.received.length;
    assert.equal((await send(out, { headers: traced })).body, "Cgray");
    assert.equal(cgray.received[seen]?.headers["x-lane-tag"], "gray");
    // A base request on the same trace makes the inbound side forget it.
    await send(inbound, { headers: { traceparent: TRACE } });
    assert.equal((await send(out, { headers: traced })).body, "C");
  });

  it("an unknown tag goes to base, counted as a fallback under tag `unknown` (bounded labels)", async () => {
    const count = async (tag: string) =>
      sample(await metrics.registry.metrics(), "lanemesh_fallback_total", { service: "sc-c", tag });
    const before = await count("unknown");
    const r = await send(out, { headers: { host: "sc-c", "x-lane-tag": "blue" } });
    assert.equal(r.body, "C");
    assert.equal((await count("unknown")) - before, 1);
    assert.equal(await count("blue"), 0);
  });

  it("before any config: 503 LANEMESH_NOT_READY", async () => {
    const r = await send(idle.ports.outbound as number, { headers: { host: "sc-c" } });
    assert.equal(r.status, 503);
    assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_NOT_READY");
  });
});
