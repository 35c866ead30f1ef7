// Outlier detection through a real sidecar: a failing canary is ejected (its lane goes to base with no attempt on it), returns on time, is ejected longer when it fails again, and takes traffic once healthy; real HTTP on loopback.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { OutlierPolicy } from "../../src/balancer/outlier.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { VirtualClock } from "../helpers/clock.js";
import { endpoint, loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { sample, send, TestUpstream } from "../helpers/upstream.js";

type Mode = "reset" | "ok" | "503" | "500";

/** A canary instance whose behaviour the test switches; it counts the connections it accepted. */
class Canary {
  mode: Mode = "reset";
  accepted = 0;
  answered = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Canary> {
    const server = createServer();
    const c = new Canary(server);
    server.on("connection", (s) => c.accept(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return c;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  private accept(s: Socket): void {
    this.accepted++;
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => {});
    if (this.mode === "reset") {
      s.resetAndDestroy();
      return;
    }
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      while (buf.includes("\r\n\r\n")) {
        buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
        const status =
          this.mode === "ok" ? "200 OK" : this.mode === "503" ? "503 Busy" : "500 Oops";
        this.answered++;
        s.write(`HTTP/1.1 ${status}\r\ncontent-length: 4\r\n\r\ngray`);
      }
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

interface Rig {
  sidecar: ProxyHandle;
  base: TestUpstream;
  canary: Canary;
  /** One request to sc-c through the sidecar's outbound listener; tag null = no tag header. */
  get(tag?: string | null): Promise<{ status: number; body: string }>;
  metrics(): Promise<string>;
  config(): Promise<{ ejected: { port: number; tag: string; ejections: number }[] }>;
  close(): Promise<void>;
}

async function rig(outlier: OutlierPolicy, clock?: VirtualClock): Promise<Rig> {
  const base = await TestUpstream.start("C", (_req, _r, res) => res.end("C"));
  const canary = await Canary.start();
  const live = new LiveConfig();
  live.setAll(
    seedRules(),
    [endpoint("sc-c", base.port), endpoint("sc-c", canary.port, "gray")],
    "1",
  );
  const sidecar = await loopbackSidecar({
    app: "sc-b",
    tag: null,
    appPort: 9,
    live,
    outlier,
    ...(clock ? { clock } : {}),
  });
  const out = sidecar.ports.outbound as number;
  const admin = sidecar.ports.admin as number;
  return {
    sidecar,
    base,
    canary,
    async get(tag: string | null = "gray") {
      const headers: Record<string, string> = { host: "sc-c" };
      if (tag !== null) headers["x-lane-tag"] = tag;
      const a = await send(out, { headers });
      return { status: a.status, body: a.body };
    },
    metrics: async () => (await send(admin, { path: "/metrics" })).body,
    config: async () => JSON.parse((await send(admin, { path: "/config" })).body),
    async close() {
      await sidecar.close();
      await base.close();
      await canary.close();
    },
  };
}

const POLICY: OutlierPolicy = {
  consecutiveErrors: 3,
  baseEjectionMs: 1000,
  maxEjectionMs: 6000,
  maxEjectionPercent: 50,
};

describe("outlier detection in the sidecar", () => {
  let r: Rig;
  // Ejections and returns run on virtual time: the test moves it.
  const clock = new VirtualClock();
  before(async () => {
    r = await rig(POLICY, clock);
  });
  after(() => r.close());

  it("a canary that resets connections is ejected after 3 failures; its lane then goes straight to base", async () => {
    for (let i = 0; i < 3; i++) {
      const a = await r.get();
      assert.deepEqual(a, { status: 200, body: "C" }, "retried on base, nobody sees the failure");
    }
    assert.equal(r.canary.accepted, 3, "each of the 3 requests tried the canary first");
    for (let i = 0; i < 10; i++) assert.deepEqual(await r.get(), { status: 200, body: "C" });
    assert.equal(r.canary.accepted, 3, "no attempt on the ejected canary");
    const m = await r.metrics();
    assert.equal(sample(m, "lanemesh_ejections_total", { service: "sc-c", tag: "gray" }), 1);
    assert.equal(sample(m, "lanemesh_endpoints_ejected", { service: "sc-c", tag: "gray" }), 1);
    assert.equal(sample(m, "lanemesh_fallback_total", { service: "sc-c", tag: "gray" }), 13);
    const cfg = await r.config();
    assert.deepEqual(
      cfg.ejected.map((e) => [e.port, e.tag, e.ejections]),
      [[r.canary.port, "gray", 1]],
    );
  });

  it("returns after the ejection time; failing again ejects it for twice as long", async () => {
    clock.advance(POLICY.baseEjectionMs);
    assert.deepEqual((await r.config()).ejected, [], "back in rotation");
    const before = r.canary.accepted;
    for (let i = 0; i < 3; i++) assert.deepEqual(await r.get(), { status: 200, body: "C" });
    assert.equal(r.canary.accepted, before + 3, "tried again after its return");
    assert.deepEqual(
      (await r.config()).ejected.map((e) => e.ejections),
      [2],
    );
    clock.advance(POLICY.baseEjectionMs);
    assert.equal((await r.config()).ejected.length, 1, "still out: the second ejection is 2 × 1 s");
    for (let i = 0; i < 3; i++) await r.get();
    assert.equal(r.canary.accepted, before + 3, "no attempt while out");
  });

  it("once healthy it takes its lane's traffic again and the gauge goes back to 0", async () => {
    r.canary.mode = "ok";
    clock.advance(POLICY.baseEjectionMs); // the second ejection (2 s) ends exactly now
    for (let i = 0; i < 5; i++) assert.deepEqual(await r.get(), { status: 200, body: "gray" });
    assert.deepEqual((await r.config()).ejected, []);
    const m = await r.metrics();
    assert.equal(sample(m, "lanemesh_endpoints_ejected", { service: "sc-c", tag: "gray" }), 0);
    assert.equal(sample(m, "lanemesh_ejections_total", { service: "sc-c", tag: "gray" }), 2);
    assert.deepEqual(await r.get("none-such"), { status: 200, body: "C" });
  });
});

describe("what counts as a failure", () => {
  it("answers never do, whatever the status: a canary answering 503 or 500 keeps its traffic", async () => {
    const r = await rig(POLICY);
    try {
      for (const mode of ["503", "500"] as const) {
        r.canary.mode = mode;
        for (let i = 0; i < 6; i++) {
          assert.deepEqual(await r.get(), { status: Number(mode), body: "gray" });
        }
      }
      assert.equal(r.canary.answered, 12);
      assert.deepEqual((await r.config()).ejected, []);
    } finally {
      await r.close();
    }
  });

  it("refused connections do: a canary whose port is closed is ejected after 3", async () => {
    const r = await rig(POLICY);
    try {
      const port = r.canary.port;
      await r.canary.close();
      for (let i = 0; i < 3; i++) assert.deepEqual(await r.get(), { status: 200, body: "C" });
      const cfg = await r.config();
      assert.deepEqual(
        cfg.ejected.map((e) => [e.port, e.tag]),
        [[port, "gray"]],
      );
    } finally {
      await r.sidecar.close();
      await r.base.close();
    }
  });

  it("with detection off (0 errors), every request tries the failing canary first", async () => {
    const r = await rig({ ...POLICY, consecutiveErrors: 0 });
    try {
      for (let i = 0; i < 10; i++) assert.deepEqual(await r.get(), { status: 200, body: "C" });
      assert.equal(r.canary.accepted, 10);
      assert.equal(sample(await r.metrics(), "lanemesh_ejections_total"), 0);
      assert.equal((await r.config()).ejected.length, 0);
    } finally {
      await r.close();
    }
  });

  it("the last base instance is never ejected: base requests keep trying it", async () => {
    const r = await rig(POLICY);
    try {
      await r.base.close();
      for (let i = 0; i < 6; i++) {
        const a = await r.get(null);
        assert.equal(a.status, 503, a.body);
        assert.match(a.body, /connection refused/);
      }
      assert.deepEqual((await r.config()).ejected, []);
    } finally {
      await r.canary.close();
      await r.sidecar.close();
    }
  });
});
